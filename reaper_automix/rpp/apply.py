"""Write a :class:`~reaper_automix.changes.ChangeSet` into a project file.

Only the lines a change needs are rewritten (``VOLPAN`` of a track, a take's volume, new bus tracks, FX blocks);
everything else stays byte for byte. The input file is never replaced unless ``in_place`` is given, and then a
timestamped backup is written first.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..changes import ChangeSet
from ..errors import AutomixError
from ..session import Session
from .document import Chunk, Document, Line, write_document
from .edit import set_take_volume, set_track_volume_pan, track_chunks
from .tokens import format_token


@dataclass(frozen=True)
class Written:
    path: Path
    backup: Path | None = None


def apply_changes(document: Document, session: Session, changes: ChangeSet) -> None:
    """Apply faders and take gains to ``document`` (which must be the tree ``session`` was read from)."""
    chunks = track_chunks(document)
    if len(chunks) != len(session.tracks):
        raise AutomixError(f"{session.path}: the project changed since it was read ({len(chunks)} tracks now)")
    by_guid = {t.guid: (t, chunks[t.index]) for t in session.tracks}

    def lookup(guid: str, name: str):
        if guid not in by_guid:
            raise AutomixError(f"{session.path}: track {name!r} ({guid}) is no longer in the project")
        return by_guid[guid]

    for fader in changes.faders:
        _, chunk = lookup(fader.track_guid, fader.track_name)
        set_track_volume_pan(chunk, volume=fader.volume_after)
    for take in changes.take_gains:
        track, chunk = lookup(take.track_guid, take.track_name)
        factor = 10.0 ** (take.gain_db / 20.0)
        for item, item_chunk in zip(track.items, chunk.chunks("ITEM")):
            if item.is_audio:
                _scale_active_take(item_chunk, factor)


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

