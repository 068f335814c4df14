"""Build a :class:`~reaper_automix.session.Session` from an ``.rpp`` file.

What is read, per the ReaTeam "State Chunk Definitions" and checked on the REAPER-written fixtures:

- project: ``SAMPLERATE rate ...`` field 1; a project without it gets ``default_sample_rate`` from
  ``data/reaper_rpp.yaml`` (44100, REAPER's default device rate).
- track: ``<TRACK {GUID}`` (else ``TRACKID``), ``NAME``, ``VOLPAN vol pan``, ``MUTESOLO mute solo``,
  ``ISBUS`` field 2 (folder depth), ``NCHAN``, the ``<EXT`` extension data. ``Track.index`` is the position in
  :func:`~reaper_automix.rpp.edit.track_chunks`, so ``session.tracks[i]`` is ``track_chunks(doc)[i]``.
  The FX chain and ``AUXRECV`` receives: :mod:`reaper_automix.rpp.fx`.
- item: ``POSITION``, ``LENGTH``, ``LOOP``, ``MUTE``, ``FADEIN``/``FADEOUT`` (fields in the YAML: shape, length,
  auto-fade length which wins when > 0, curve), ``VOLPAN`` field 1 (item volume).
- the active take only: takes after the first start at a ``TAKE`` line, and ``TAKE SEL`` marks the active one
  (none marked: the first take). The first take's volume and pan are ``VOLPAN`` fields 3 and 2, a later
  take's ``TAKEVOLPAN`` fields 2 and 1 (negative volume = inverted polarity); ``SOFFS``, ``PLAYRATE rate
  preservepitch``, and the ``<SOURCE`` chunk. ``TAKE NULL`` is an empty take.
- sources: audio types give ``AUDIO`` with ``FILE`` resolved against the project folder (Windows separators
  accepted; absolute paths, Windows ones included, kept as written); ``_OFFLINE_`` types count as their type.
  ``SECTION`` (``STARTPOS``, ``LENGTH``, ``MODE``) is flattened onto the inner source.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from reaper_automix.errors import ProjectParseError
from reaper_automix.rpp.document import Chunk, Document, Line, read_document
from reaper_automix.rpp.edit import get_track_ext, track_chunks
from reaper_automix.changes import EXT_FX
from reaper_automix.rpp.facts import rpp_facts
from reaper_automix.rpp.fx import fx_chain, fx_chain_enabled, receives
from reaper_automix.session import (
    Fade,
    FadeShape,
    Item,
    Session,
    Source,
    SourceKind,
    Take,
    Track,
)

# Sanity ranges of what is read (wider than anything REAPER writes; beyond them a file is damaged or hostile).
_BIG = 1e12
_SAMPLE_RATES = (1000.0, 1_536_000.0)  # REAPER's device rates run 8 kHz-768 kHz
_SECONDS = (-1e7, 1e7)  # positions, lengths, offsets: about 115 days
_VOLUME = (0.0, 1e4)  # linear gains (REAPER's faders stop at +12 dB; VOLPAN can hold more, up to +80 dB here)
_PLAYRATE = (1e-4, 1e4)
_PAN_LAW_GAIN = (-1e3, 1e3)  # linear centre gain; < 0 on a track = the project's law
_MAX_DEPTH = 1 << 16  # folder levels closed by one track
_MAX_CHANNELS = 128  # REAPER's track channel limit

_WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")


class _Reader:
    def __init__(self, doc: Document, path: Path):
        self.doc = doc
        self.path = path
        self.folder = Path(os.path.abspath(path)).parent
        facts = rpp_facts()
        self.fade_fields = facts["fade_fields"]
        self.kinds = {
            word: SourceKind[kind.upper()] for kind, words in facts["source_types"].items() for word in words
        }
        self.offline_prefix = facts["offline_prefix"]
        self.reverse_modes = set(facts["section_reverse_modes"])
        self.section_unused_modes = set(facts["section_unused_modes"])

    # --- fields -------------------------------------------------------------------------------------------
    def number(self, line: Line | None, field: int, default: float, lo: float = -_BIG, hi: float = _BIG) -> float:
        """Field ``field`` (1-based, after the key) of ``line`` as a finite number in ``[lo, hi]``; ``default``
        when absent. Anything else is a ProjectParseError naming the line."""
        if line is None:
            return default
        tokens = line.tokens
        if len(tokens) <= field:
            return default
        try:
            value = float(tokens[field])
        except ValueError:
            raise ProjectParseError(
                self.path, line.lineno or 0, f"{line.key} field {field} is not a number: {tokens[field]!r}"
            ) from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ProjectParseError(
                self.path, line.lineno or 0, f"{line.key} field {field} is {tokens[field]}, outside {lo:g} .. {hi:g}"
            )
        return value

    def integer(self, line: Line | None, field: int, default: int, lo: int, hi: int) -> int:
        """Like :meth:`number`, for a whole number."""
        value = self.number(line, field, default, lo, hi)
        if value != int(value):
            raise ProjectParseError(self.path, line.lineno or 0, f"{line.key} field {field} is {value:g}, not a "
                                                                 "whole number")
        return int(value)

    def text(self, line: Line | None, field: int = 1, default: str = "") -> str:
        if line is None:
            return default
        tokens = line.tokens
        return tokens[field] if len(tokens) > field else default

    # --- project ------------------------------------------------------------------------------------------
    def session(self) -> Session:
        root = self.doc.root
        rate = self.number(root.find_line("SAMPLERATE"), 1, rpp_facts()["default_sample_rate"], *_SAMPLE_RATES)
        pan_law = self.number(root.find_line("PANLAW"), 1, 1.0, *_PAN_LAW_GAIN)
        if pan_law <= 0:
            raise ProjectParseError(self.path, root.find_line("PANLAW").lineno or 0, f"PANLAW {pan_law:g} is not > 0")
        tracks = tuple(self.track(i, chunk) for i, chunk in enumerate(track_chunks(self.doc)))
        check_unique_guids(self.path, tracks, track_chunks(self.doc))
        return Session(path=self.path, sample_rate=int(round(rate)), tracks=tracks, pan_law_gain=pan_law)

    def track(self, index: int, chunk: Chunk) -> Track:
        tokens = chunk.tokens
        guid = tokens[1] if len(tokens) > 1 else self.text(chunk.find_line("TRACKID"))
        volpan = chunk.find_line("VOLPAN")
        mutesolo = chunk.find_line("MUTESOLO")
        ext = get_track_ext(chunk)
        if self.number(volpan, 3, -1.0, *_PAN_LAW_GAIN) == 0:
            raise ProjectParseError(self.path, volpan.lineno or 0, "VOLPAN field 3 (pan law) is 0: not a pan law")
        return Track(
            index=index,
            name=self.text(chunk.find_line("NAME")),
            guid=guid,
            volume=self.number(volpan, 1, 1.0, *_VOLUME),
            pan=self.number(volpan, 2, 0.0, -1.0, 1.0),
            mute=self.number(mutesolo, 1, 0) != 0,
            solo=self.number(mutesolo, 2, 0) != 0,
            folder_depth=self.integer(chunk.find_line("ISBUS"), 2, 0, -_MAX_DEPTH, 1),
            n_channels=self.integer(chunk.find_line("NCHAN"), 1, 2, 1, _MAX_CHANNELS),
            items=tuple(self.item(item) for item in chunk.chunks("ITEM")),
            ext=ext,
            fx=fx_chain(chunk, frozenset(ext.get(EXT_FX, "").split())),
            fx_enabled=fx_chain_enabled(chunk),
            receives=receives(chunk),
            pan_law_gain=self.number(volpan, 3, -1.0, *_PAN_LAW_GAIN),
            pan_law_flags=self.integer(chunk.find_line("PANLAWFLAGS"), 1, 0, 0, 3),
        )

    # --- items --------------------------------------------------------------------------------------------
    def fade(self, line: Line | None) -> Fade:
        fields = self.fade_fields
        length = self.number(line, 1 + fields["length_s"], 0.0, *_SECONDS)
        auto = self.number(line, 1 + fields["auto_length_s"], 0.0, *_SECONDS)
        shape_code = int(self.number(line, 1 + fields["shape"], 0))
        shape = FadeShape(shape_code) if shape_code in FadeShape._value2member_map_ else FadeShape.LINEAR
        curve = min(1.0, max(-1.0, self.number(line, 1 + fields["curve"], 0.0)))
        return Fade(length_s=max(0.0, auto if auto > 0 else length), shape=shape, curve=curve)

    def item(self, chunk: Chunk) -> Item:
        volpan = chunk.find_line("VOLPAN")
        return Item(
            position_s=self.number(chunk.find_line("POSITION"), 1, 0.0, *_SECONDS),
            length_s=self.number(chunk.find_line("LENGTH"), 1, 0.0, 0.0, _SECONDS[1]),
            take=self.active_take(chunk),
            volume=self.number(volpan, 1, 1.0, *_VOLUME),
            mute=self.number(chunk.find_line("MUTE"), 1, 0) != 0,
            loop=self.number(chunk.find_line("LOOP"), 1, 0) != 0,
            fade_in=self.fade(chunk.find_line("FADEIN")),
            fade_out=self.fade(chunk.find_line("FADEOUT")),
        )

    def active_take(self, item: Chunk) -> Take | None:
        """The active take: the segment after a ``TAKE ... SEL`` line, else the first take."""
        segments: list[tuple[Line | None, list]] = [(None, [])]
        for child in item.children:
            if isinstance(child, Line) and child.key == "TAKE":
                segments.append((child, []))
            else:
                segments[-1][1].append(child)
        chosen = next((s for s in segments[1:] if "SEL" in s[0].tokens[1:]), segments[0])
        take_line, nodes = chosen
        if take_line is not None and "NULL" in take_line.tokens[1:]:
            return None
        lines = {}
        for node in nodes:
            if isinstance(node, Line) and node.key not in lines:
                lines[node.key] = node
        source_chunk = next((n for n in nodes if isinstance(n, Chunk) and n.tag == "SOURCE"), None)
        if take_line is None and source_chunk is None and "NAME" not in lines:
            return None  # an empty item: no take at all
        take_volume = (-_VOLUME[1], _VOLUME[1])  # negative: polarity inverted
        if take_line is None:
            pan = self.number(lines.get("VOLPAN"), 2, 0.0, -1.0, 1.0)
            volume = self.number(lines.get("VOLPAN"), 3, 1.0, *take_volume)
        else:
            pan = self.number(lines.get("TAKEVOLPAN"), 1, 0.0, -1.0, 1.0)
            volume = self.number(lines.get("TAKEVOLPAN"), 2, 1.0, *take_volume)
        playrate = lines.get("PLAYRATE")
        return Take(
            name=self.text(lines.get("NAME")),
            volume=volume,
            pan=pan,
            start_offset_s=self.number(lines.get("SOFFS"), 1, 0.0, *_SECONDS),
            playrate=self.number(playrate, 1, 1.0, *_PLAYRATE),
            preserve_pitch=self.number(playrate, 2, 1) != 0,
            source=self.source(source_chunk) if source_chunk is not None else Source(SourceKind.EMPTY),
        )

    # --- sources ------------------------------------------------------------------------------------------
    def source(self, chunk: Chunk) -> Source:
        tokens = chunk.tokens
        source_type = tokens[1] if len(tokens) > 1 else ""
        if source_type == "SECTION":
            return self.section(chunk)
        word = source_type.removeprefix(self.offline_prefix)
        kind = self.kinds.get(word, SourceKind.OTHER)
        file_line = chunk.find_line("FILE")
        file = self.resolve(self.text(file_line)) if file_line is not None and self.text(file_line) else None
        if kind is SourceKind.AUDIO and file is None:
            raise ProjectParseError(
                self.path, chunk.open.lineno or 0, f"<SOURCE {source_type} has no FILE line"
            )
        return Source(kind=kind, file=file, source_type=source_type)

    def section(self, chunk: Chunk) -> Source:
        inner_chunk = chunk.find_chunk("SOURCE")
        if inner_chunk is None:
            raise ProjectParseError(self.path, chunk.open.lineno or 0, "<SOURCE SECTION holds no inner <SOURCE")
        inner = self.source(inner_chunk)
        mode = int(self.number(chunk.find_line("MODE"), 1, 0))
        reverse = mode in self.reverse_modes
        if mode in self.section_unused_modes:
            start, length = 0.0, None
        else:
            start = self.number(chunk.find_line("STARTPOS"), 1, 0.0, *_SECONDS)
            length_s = self.number(chunk.find_line("LENGTH"), 1, 0.0, *_SECONDS)
            length = length_s if length_s > 0 else None
        # A section of a section: offsets add up, and the inner section bounds the outer one.
        if inner.section_length_s is not None:
            length = inner.section_length_s - start if length is None else min(length, inner.section_length_s - start)
        return Source(
            kind=inner.kind,
            file=inner.file,
            source_type=inner.source_type,
            section_start_s=inner.section_start_s + start,
            section_length_s=length,
            reversed=inner.reversed != reverse,
        )

    def resolve(self, name: str) -> Path:
        """A media path from ``FILE``: absolute ones are kept, relative ones join the project folder."""
        if _WINDOWS_ABSOLUTE.match(name):
            return Path(name)  # a Windows absolute path, meaningless here: kept so that it can be reported
        if name.startswith("/"):
            return Path(name)
        return Path(os.path.normpath(self.folder / name.replace("\\", "/")))


def check_unique_guids(path: Path, tracks, chunks) -> None:
    """Refuse a project where two tracks share a GUID (changes are addressed by GUID: they would all land on
    one of them), naming both lines."""
    seen: dict[str, int] = {}
    for track, chunk in zip(tracks, chunks):
        if not track.guid:
            continue
        line = chunk.open.lineno or 0
        first = seen.setdefault(track.guid.upper(), line)
        if first != line:
            raise ProjectParseError(
                path, line, f"track {track.name!r} has the GUID {track.guid} of the track at line {first}: "
                f"each track needs its own GUID (lines {first} and {line})"
            )


def session_from_document(doc: Document, path: Path | str) -> Session:
    """The session of an already parsed project; ``path`` locates relative media."""
    return _Reader(doc, Path(path)).session()


def load_session(path: Path | str) -> tuple[Session, Document]:
    """Read a project file: the session model and the lossless tree (for edits), which correspond track by
    track: ``session.tracks[i]`` comes from ``track_chunks(document)[i]``."""
    path = Path(path)
    doc = read_document(path)
    return session_from_document(doc, path), doc
