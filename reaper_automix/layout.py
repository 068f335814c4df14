"""Where each group's bus goes, decided from the session alone, before any audio is rendered.

Each group's bus must carry that group alone, since its EQ and compressor process everything routed through it:

* a group whose REAPER folder holds exactly its tracks uses that folder track as its bus;
* a group without a folder (grouped by name or by the settings file), or whose folder also holds other groups'
  tracks (a "Vocals" folder with a nested "Backing Vocals" folder), gets a new folder track above its own
  tracks, named after the group (:func:`bus_name`); a second run finds it as a plain folder group. A bus this
  tool created for the group in an earlier run (tagged in the track's extension data) is reused.

A new bus wraps its members where they are when they are consecutive siblings (each with whatever its folder
holds). Top-level tracks scattered between others are first moved together, below the first run of them (their
order among themselves, and everyone else's, is kept). Any other arrangement cannot get a bus of its own, and
:func:`plan_layout` refuses it, in seconds, before minutes of analysis and matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .changes import EXT_BUS, EXT_CREATED
from .errors import AutomixError
from .grouping import Group
from .session import Session


@dataclass(frozen=True)
class BusLayout:
    """One group's bus.

    ``name``: the bus track's name. ``track``: the bus track when it exists already (the group's own folder, or a
    bus this tool created in an earlier run); None when a new folder track is to be inserted directly above the
    first member, closing after the last one's subtree. ``created``: the bus is this tool's track (inserted now
    or by an earlier run), not the user's folder, so the group's level stays on the member faders and the bus
    fader carries only the stage-2 gain. ``members``: the tracks the bus carries. ``moves``: members first moved
    up, in order, to follow the run of members that starts at the first one (scattered top-level tracks)."""

    group: Group
    name: str
    members: tuple[int, ...]
    track: int | None
    created: bool
    moves: tuple[int, ...] = ()


def bus_name(group: Group) -> str:
    """The name of a new bus track: a name-keyword group's name capitalised ("Drums"); inside the group's own
    folder (which also holds other groups), the folder's name plus " bus" ("Vocals bus")."""
    if group.folder is not None:
        return f"{group.name} bus"
    return group.name.capitalize() if group.source == "name" else group.name


def needs_new_bus(session: Session, group: Group) -> bool:
    """True when ``group`` has no folder track that carries exactly its tracks (see the module docstring)."""
    if group.folder is None:
        return True
    members = set(group.members)
    return any(session.tracks[t].has_audio and t not in members for t in session.subtree(group.folder)[1:])


def plan_layout(session: Session, groups: Sequence[Group]) -> list[BusLayout]:
    """One :class:`BusLayout` per group, in order; raises :class:`AutomixError` for a group that cannot get a bus
    of its own (module docstring)."""
    created = created_buses(session)
    out = []
    for group in groups:
        members = tuple(sorted(group.members))
        if not needs_new_bus(session, group):
            out.append(BusLayout(group, group.name, members, group.folder, created=False))
            continue
        name = bus_name(group)
        if name in created:
            out.append(BusLayout(group, name, members, created[name], created=True))
            continue
        out.append(BusLayout(group, name, members, None, created=True, moves=gather_moves(session, name, members)))
    return out


def created_buses(session: Session) -> dict[str, int]:
    """The bus tracks this tool created in earlier runs: bus name -> track index."""
    return {t.ext[EXT_BUS]: t.index for t in session.tracks if t.ext.get(EXT_CREATED) == "1" and EXT_BUS in t.ext}


def gather_moves(session: Session, name: str, members: tuple[int, ...]) -> tuple[int, ...]:
    """The members (sorted indices) to move so that a new folder named ``name`` can wrap them all (see
    :class:`BusLayout`); raises :class:`AutomixError` when no moves can bring them together."""
    covered = {t for m in members for t in session.subtree(m)}
    siblings = len({session.parent(m) for m in members}) == 1
    if siblings and covered == set(range(members[0], max(covered) + 1)):
        return ()
    if any(session.parent(m) is not None or session.tracks[m].folder_depth != 0 for m in members):
        raise AutomixError(
            f"group {name!r}: its tracks are spread over several folders; put them in one folder (or group them "
            "with a settings file) to get a bus"
        )
    run_end = members[0]
    while run_end + 1 in members:
        run_end += 1
    return tuple(m for m in members if m > run_end)
