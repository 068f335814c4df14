"""Write a :class:`~reaper_automix.changes.ChangeSet` into a project file.

The ChangeSet is first resolved into operations (:func:`reaper_automix.operations.resolve`, which holds every
decision about the folder hierarchy); :func:`execute` only carries them out on the parsed file. Only the lines
an operation needs are rewritten (``VOLPAN`` of a track, a take's volume, ``ISBUS``, new bus tracks, FX
blocks); everything else stays byte for byte. The input file is never replaced unless ``in_place`` is given,
and then a timestamped backup is written first.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..changes import EXT_CREATED, EXT_FX, ChangeSet
from ..errors import AutomixError
from ..operations import (
    InsertFolderTrack,
    MoveTracks,
    ReplaceTaggedFx,
    ScaleTakes,
    SetExt,
    SetFolderDepth,
    SetPan,
    SetVolume,
    Step,
    operations,
    resolve,
)
from ..reaper.fxstate import FxStateError, ReaCompState, decode_fx_state, fx_block_lines
from ..reaper.mappings import plugin_file, reacomp_state, reaeq_state
from ..session import Session
from .document import Chunk, Document, Line, write_document
from .edit import (
    add_fx,
    get_track_ext,
    insert_track,
    remove_fx,
    set_folder_depth,
    set_take_volume,
    set_track_ext,
    set_track_pan,
    set_track_volume,
    SEARCH_SETTLED_REL,
    settled,
    track_chunks,
)
from .tokens import format_token


@dataclass(frozen=True)
class Written:
    path: Path
    backup: Path | None = None


def apply_changes(document: Document, session: Session, changes: ChangeSet) -> None:
    """Apply faders, take gains and buses to ``document`` (which must be the tree ``session`` was read from)."""
    execute(document, session, resolve(session, changes))


def execute(document: Document, session: Session, steps: tuple[Step, ...]) -> None:
    """Carry out ``steps`` (resolved against ``session``, which must have been read from ``document``) in order.

    Tracks are found by reference through the chunks captured before any operation, so inserted and moved
    tracks do not disturb the lookups."""
    chunks = track_chunks(document)
    if len(chunks) != len(session.tracks):
        raise AutomixError(f"{session.path}: the project changed since it was read ({len(chunks)} tracks now)")
    track = {t.guid: chunks[t.index] for t in session.tracks}
    platform = project_platform(document)
    root = document.root
    for op in operations(steps):
        match op:
            case SetVolume():
                set_track_volume(track[op.track], op.volume)
            case SetPan():
                set_track_pan(track[op.track], op.pan)
            case ScaleTakes():
                items = track[op.track].chunks("ITEM")
                for j in op.items:
                    _scale_active_take(items[j], op.factor)
            case MoveTracks():
                moving = [track[ref] for ref in op.tracks]
                for chunk in moving:
                    root.remove(chunk)
                at = root.index(track[op.after]) + 1
                for offset, chunk in enumerate(moving):
                    root.insert(at + offset, chunk)
            case InsertFolderTrack():
                before = track[op.before]
                folder = insert_track(document, next(i for i, c in enumerate(track_chunks(document)) if c is before),
                                      op.name)
                set_folder_depth(folder, 1)
                set_track_ext(folder, EXT_CREATED, "1")
                track[op.track] = folder
            case SetFolderDepth():
                set_folder_depth(track[op.track], op.depth)
            case SetExt():
                set_track_ext(track[op.track], op.key, op.value)
            case ReplaceTaggedFx():
                _replace_tagged_fx(track[op.track], op, platform)
            case _:
                raise TypeError(f"not an operation: {op!r}")


def _replace_tagged_fx(folder: Chunk, op: ReplaceTaggedFx, platform: str) -> None:
    """Our FX (ReaEQ, then ReaComp) first in the chain; FX a previous run added are replaced.

    Ours go first in the chain, before the user's FX: they were computed on the group stem, which is exactly
    what enters the chain's first slot, and the user's bus FX (a glue compressor) still see a matched stem."""
    previous = get_track_ext(folder).get(EXT_FX, "").split()
    present = []  # our FX still on the track; their FXIDs are reused so a re-run writes the same file

    def ours(plugin: Chunk) -> bool:
        fxid = _fxid_of(plugin)
        if fxid in previous:
            present.append(fxid)
            return True
        return False

    fx = []
    if op.eq is not None:
        fx.append((reaeq_state(op.eq), plugin_file("reaeq", platform), "Automix EQ"))
    if op.compressor is not None:
        fx.append((reacomp_state(op.compressor), plugin_file("reacomp", platform), "Automix Comp"))
    if _fx_settled(folder, previous, [state for state, _, _ in fx]):
        return  # a re-run on its own output: the FX already hold these settings
    remove_fx(folder, ours)
    added = []
    for k, (state, file, name) in enumerate(fx):
        lines = fx_block_lines(state, file, custom_name=name, fxid=present[k] if k < len(present) else None)
        add_fx(folder, "\n".join(lines) + "\n", position=k)
        added.append(next(line.split()[1] for line in lines if line.startswith("FXID ")))
    set_track_ext(folder, EXT_FX, " ".join(added))


def _fx_settled(folder: Chunk, previous: list[str], states: list) -> bool:
    """True when the FX this tool added earlier (FXIDs ``previous``, in order) hold ``states`` up to the
    search's recomputation noise (:data:`~reaper_automix.rpp.edit.SEARCH_SETTLED_REL`), so that rewriting
    them would change nothing audible."""
    chain = folder.find_chunk("FXCHAIN")
    if chain is None or len(previous) != len(states):
        return False
    existing = {}
    for plugin in chain.chunks("VST"):
        fxid = _fxid_of(plugin)
        if fxid in previous:
            try:
                existing[fxid] = decode_fx_state([line.content for line in plugin.lines()])
            except FxStateError:
                return False
    if list(existing) != previous:
        return False
    return all(_state_settled(existing[fxid], state) for fxid, state in zip(previous, states))


def _state_settled(old, new) -> bool:
    if type(old) is not type(new):
        return False
    if isinstance(new, ReaCompState):
        values_old, values_new = old.params, new.params
    else:
        if len(old.bands) != len(new.bands) or old.version != new.version:
            return False
        if any(a.type != b.type or a.enabled != b.enabled for a, b in zip(old.bands, new.bands)):
            return False
        values_old = [v for b in old.bands for v in (b.freq_hz, b.gain_linear, b.bandwidth_oct)]
        values_new = [v for b in new.bands for v in (b.freq_hz, b.gain_linear, b.bandwidth_oct)]
    return len(values_old) == len(values_new) and all(
        settled(a, b, SEARCH_SETTLED_REL) for a, b in zip(values_old, values_new)
    )


def project_platform(document: Document) -> str:
    """The ``sys.platform``-style platform that wrote the project, from its header (``"7.0/win64"``), so the
    FX we add name the plug-in file that platform has; this machine's platform when the header says nothing."""
    tokens = document.root.tokens
    version = tokens[2].lower() if len(tokens) > 2 else ""
    if "/win" in version:
        return "win32"
    if "/osx" in version or "/macos" in version:
        return "darwin"
    if "/linux" in version:
        return "linux"
    return sys.platform


def _fxid_of(plugin: Chunk) -> str | None:
    """The ``FXID`` that follows a plugin chunk inside its FX chain block."""
    chain = plugin.parent
    if chain is None:
        return None
    for child in chain.children[chain.index(plugin) + 1 :]:
        if isinstance(child, Line) and child.key == "BYPASS":
            return None
        if isinstance(child, Line) and child.key == "FXID":
            tokens = child.tokens
            return tokens[1] if len(tokens) > 1 else None
    return None


def _scale_active_take(item: Chunk, factor: float) -> None:
    """Multiply the active take's volume: the item's ``VOLPAN`` field 3 for the first take, else the
    ``TAKEVOLPAN`` field 2 of the selected take (the layout the reader follows)."""
    selected: Line | None = None
    in_selected = False
    for child in item.children:
        if isinstance(child, Line) and child.key == "TAKE":
            in_selected = "SEL" in child.tokens[1:]
            continue
        if in_selected and isinstance(child, Line) and child.key == "TAKEVOLPAN":
            selected = child
    if selected is None:
        volpan = item.find_line("VOLPAN")
        current = float(volpan.tokens[3]) if volpan is not None and len(volpan.tokens) > 3 else 1.0
        set_take_volume(item, abs(current) * factor)
        return
    tokens = selected.tokens
    tokens[2] = f"{float(tokens[2]) * factor:.14g}"
    selected.set_tokens(tokens)


def relocate_media(document: Document, source_folder: Path, target_folder: Path) -> int:
    """Rewrite relative ``FILE`` paths so they still find the media from ``target_folder``; returns how many."""
    if source_folder.resolve() == target_folder.resolve():
        return 0
    count = 0
    stack: list[Chunk] = [document.root]
    while stack:
        chunk = stack.pop()
        for child in chunk.children:
            if isinstance(child, Chunk):
                stack.append(child)
            elif chunk.tag == "SOURCE" and child.key == "FILE":
                tokens = child.tokens
                name = tokens[1].replace("\\", "/") if len(tokens) > 1 else ""
                if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
                    continue
                absolute = (source_folder / name).resolve()
                tokens[1] = os.path.relpath(absolute, target_folder.resolve())
                child.raw = child.indent + " ".join(
                    [tokens[0], format_token(tokens[1], force_quotes=True), *map(format_token, tokens[2:])]
                )
                count += 1
    return count


def write_project(
    document: Document,
    session: Session,
    changes: ChangeSet,
    target: Path,
    *,
    in_place: bool = False,
    force: bool = False,
) -> Written:
    """Apply ``changes`` and write the project to ``target``.

    - ``target`` equal to the input requires ``in_place``; the input is first copied to
      ``NAME-automix-backup-YYYYmmdd-HHMMSS.rpp`` beside it.
    - An existing ``target`` (other than the input) is replaced only with ``force``.
    - Relative media paths are rewritten when ``target`` is in another folder.
    """
    source = Path(session.path)
    target = Path(target)
    same_file = target.exists() and source.exists() and os.path.samefile(target, source)
    if same_file and not in_place:
        raise AutomixError(f"{target} is the input project; pass --in-place to replace it (a backup is kept)")
    if not target.parent.is_dir():
        raise AutomixError(f"{target.parent}: output folder does not exist")
    apply_changes(document, session, changes)
    relocate_media(document, source.parent, target.parent)
    backup = None
    if same_file:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = source.with_name(f"{source.stem}-automix-backup-{stamp}{source.suffix}")
        shutil.copy2(source, backup)
    write_document(document, target, overwrite=same_file or force)
    return Written(target, backup)

