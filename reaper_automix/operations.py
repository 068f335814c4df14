"""A :class:`~reaper_automix.changes.ChangeSet` resolved into the ordered primitive edits that carry it out.

The data flow ends ``decisions (ChangeSet) -> operations -> project``: :func:`resolve` does all the reasoning
about the project's folder hierarchy (where a new bus folder goes, which tracks move first, which folder depths
change, which items are audio), once, against the :class:`~reaper_automix.session.Session` of the project the
edit is for. The two executors only carry the operations out, in order, with no topology of their own:
:func:`reaper_automix.rpp.apply.execute` (a project file) and :func:`reaper_automix.live.ops.apply_plan` (REAPER,
the operations sent as JSON by :mod:`reaper_automix.live.apply`).

Tracks are named by reference: the GUID of a track of the session, or ``new:N`` for the track the N-th
:class:`InsertFolderTrack` of the same list creates. Values are physical: linear gains, pan -1..1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .changes import EXT_BUS, EXT_CREATED, BusChange, ChangeSet
from .errors import AutomixError
from .layout import created_buses, gather_moves
from .session import Session, Track
from .strip import Compressor, EqBand
from .units import db_to_gain

NEW_TRACK = "new:"  # prefix of the reference to a track an InsertFolderTrack creates


@dataclass(frozen=True)
class SetVolume:
    """Set a track's fader (linear gain, REAPER's ``D_VOL``)."""

    track: str
    volume: float


@dataclass(frozen=True)
class SetPan:
    """Set a track's pan (-1 left .. 1 right, REAPER's ``D_PAN``)."""

    track: str
    pan: float


@dataclass(frozen=True)
class ScaleTakes:
    """Multiply the active take's volume of the track's items ``items`` (indices in the track's item order: the
    items that play audio) by ``factor`` (linear)."""

    track: str
    items: tuple[int, ...]
    factor: float


@dataclass(frozen=True)
class MoveTracks:
    """Move ``tracks``, in this order, to directly below ``after``. All are top-level, non-folder tracks placed
    after ``after``, which is one too, so no other track changes folder."""

    tracks: tuple[str, ...]
    after: str


@dataclass(frozen=True)
class InsertFolderTrack:
    """Insert a new track ``track`` (a ``new:N`` reference) named ``name`` directly above ``before``, with folder
    depth 1 (it opens a folder), tagged as created by this tool (``EXT_CREATED`` = ``"1"``)."""

    track: str
    before: str
    name: str


@dataclass(frozen=True)
class SetFolderDepth:
    """Set a track's folder depth (REAPER's ``I_FOLDERDEPTH``: 1 opens a folder, 0 normal, -n closes n)."""

    track: str
    depth: int


@dataclass(frozen=True)
class SetExt:
    """Set one entry of a track's extension data (REAPER's ``P_EXT:key``)."""

    track: str
    key: str
    value: str


@dataclass(frozen=True)
class ReplaceTaggedFx:
    """Replace the effects this tool added to the track earlier (listed in its ``EXT_FX`` tag) with a ReaEQ
    holding ``eq`` (when given), then a ReaComp holding ``compressor`` (when given), first in the chain, and
    list the new ones in ``EXT_FX``."""

    track: str
    eq: tuple[EqBand, ...] | None
    compressor: Compressor | None


Operation = SetVolume | SetPan | ScaleTakes | MoveTracks | InsertFolderTrack | SetFolderDepth | SetExt | ReplaceTaggedFx


@dataclass(frozen=True)
class Step:
    """Operations that belong together, with what they do in words (``"bus 'Drums'"``): the unit a live run
    reports its progress in."""

    label: str
    operations: tuple[Operation, ...]


def operations(steps: tuple[Step, ...]) -> list[Operation]:
    """Every operation of ``steps``, in order."""
    return [op for step in steps for op in step.operations]


def resolve(session: Session, changes: ChangeSet) -> tuple[Step, ...]:
    """The steps that carry ``changes`` out on the project ``session`` describes: faders, take gains, then one
    step per bus. Raises :class:`AutomixError` for a track not in the session and for a bus that cannot be
    laid out (the messages of :func:`reaper_automix.layout.gather_moves` and :func:`wrap_in_folder`)."""
    _check_tracks(session, changes)
    by_guid = {t.guid: t for t in session.tracks}
    steps = [Step(f"faders: {len(changes.faders)}",
                  tuple(SetVolume(f.track_guid, f.volume_after) for f in changes.faders))]
    takes = []
    for take in changes.take_gains:
        audio = tuple(j for j, item in enumerate(by_guid[take.track_guid].items) if item.is_audio)
        takes.append(ScaleTakes(take.track_guid, audio, db_to_gain(take.gain_db)))
    steps.append(Step(f"take volumes: {sum(len(t.items) for t in takes)} items", tuple(takes)))
    model = session  # the project as the operations so far leave it
    created = 0
    for bus in changes.buses:
        ops, model, made = _bus(model, bus, f"{NEW_TRACK}{created}")
        created += made
        steps.append(Step(f"bus {bus.group!r}", tuple(ops)))
    return tuple(steps)


def _check_tracks(session: Session, changes: ChangeSet) -> None:
    named = {f.track_guid: f.track_name for f in changes.faders}
    named.update((t.track_guid, t.track_name) for t in changes.take_gains)
    for bus in changes.buses:
        named.update((g, g) for g in bus.member_guids)
        if bus.folder_guid is not None:
            named[bus.folder_guid] = f"{bus.group} folder"
    known = {t.guid for t in session.tracks}
    missing = [f"{name!r} ({guid})" for guid, name in named.items() if guid not in known]
    if len(missing) == 1:
        raise AutomixError(f"{session.path}: track {missing[0]} is no longer in the project")
    if missing:
        raise AutomixError(f"{session.path}: tracks {', '.join(missing)} are no longer in the project")


def _bus(model: Session, bus: BusChange, ref: str) -> tuple[list[Operation], Session, int]:
    """A bus's operations, the project after them, and how many tracks they insert (0 or 1)."""
    ops: list[Operation] = []
    made = 0
    earlier = created_buses(model)  # this tool's buses from an earlier run
    if bus.folder_guid is not None:
        target = bus.folder_guid
    elif bus.group in earlier:
        target = model.tracks[earlier[bus.group]].guid
    else:
        if not bus.member_guids:
            raise AutomixError(f"group {bus.group!r}: a new bus needs member tracks")
        index = {t.guid: t.index for t in model.tracks}
        members = tuple(sorted(index[g] for g in bus.member_guids))
        moves = gather_moves(model, bus.group, members)
        if moves:
            after = max(m for m in members if m < moves[0])  # the end of the run that starts at the first member
            ops.append(MoveTracks(tuple(model.tracks[m].guid for m in moves), model.tracks[after].guid))
            model = _moved(model, moves, after)
            index = {t.guid: t.index for t in model.tracks}
            members = tuple(sorted(index[g] for g in bus.member_guids))
        wrap, model = wrap_in_folder(model, members[0], model.subtree(members[-1])[-1], bus.group, ref)
        ops += wrap
        target, made = ref, 1
    ops.append(SetExt(target, EXT_BUS, bus.group))
    if bus.volume is not None:
        ops.append(SetVolume(target, bus.volume))
    if bus.pan is not None:
        ops.append(SetPan(target, bus.pan))
    if bus.eq is not None or bus.compressor is not None:
        ops.append(ReplaceTaggedFx(target, bus.eq, bus.compressor))
    return ops, model, made


def wrap_in_folder(session: Session, first: int, last: int, name: str, ref: str) -> tuple[list[Operation], Session]:
    """Operations that put tracks ``first..last`` into a new folder track ``ref`` named ``name``, inserted above
    them, and the project after them.

    The range must be whole sibling subtrees at one level. Its last track, which may already close several
    levels, closes one more, so every other track keeps its folder. Tracks in the range whose closing was
    clamped (closing more levels than were open, which REAPER clamps) get their effective depth written,
    since one more level is open around them now. A range ending with the project's last track may end with a
    folder parent that has no tracks in it."""
    tracks = session.tracks
    if not 0 <= first <= last < len(tracks):
        raise IndexError(f"track range {first}..{last} out of range 0..{len(tracks) - 1}")
    levels = [session.folder_level(j) for j in range(first, last + 1)]  # levels[k]: track first + k
    depths = [t.folder_depth for t in tracks[first : last + 1]]
    base = levels[0]
    for k, level in enumerate(levels):
        if level < base:
            raise AutomixError(
                f"tracks {first}..{last} are not at one folder level: track {first + k} {tracks[first + k].name!r} "
                f"is outside the folder of track {first}"
            )
    after = max(0, levels[-1] + depths[-1])
    if after > base and last != len(tracks) - 1:
        raise AutomixError(
            f"track {last} {tracks[last].name!r} opens a folder whose tracks are not all in the range {first}..{last}"
        )
    ops: list[Operation] = [InsertFolderTrack(ref, tracks[first].guid, name)]
    new_depths = dict(enumerate(depths))
    for k in range(len(depths) - 1):
        effective = max(0, levels[k] + depths[k]) - levels[k]
        if effective != depths[k]:
            new_depths[k] = effective
    if after <= base:
        new_depths[len(depths) - 1] = after - levels[-1] - 1
    # else: the project's last track opens a folder with no tracks in it; nothing follows, nothing to close
    for k, depth in new_depths.items():
        if depth != depths[k]:
            ops.append(SetFolderDepth(tracks[first + k].guid, depth))
    changed = [replace(t, folder_depth=new_depths.get(t.index - first, t.folder_depth)) for t in tracks]
    folder = Track(first, name, ref, folder_depth=1, ext={EXT_CREATED: "1"})
    return ops, _reindexed(session, changed[:first] + [folder] + changed[first:])


def _moved(session: Session, moves: tuple[int, ...], after: int) -> Session:
    """``session`` with tracks ``moves`` moved, in order, to directly below track ``after`` (see MoveTracks)."""
    moving = set(moves)
    kept = [t for t in session.tracks if t.index not in moving]
    at = next(k for k, t in enumerate(kept) if t.index == after) + 1
    return _reindexed(session, kept[:at] + [session.tracks[m] for m in moves] + kept[at:])


def _reindexed(session: Session, tracks: list[Track]) -> Session:
    """The project with ``tracks`` in this order: a model of its folder hierarchy and tags only (receives still
    name the old indices)."""
    return replace(session, tracks=tuple(replace(t, index=i) for i, t in enumerate(tracks)))
