"""Edits of a parsed project, as pure functions on the tree; each rewrites only the lines it must.

Track folder structure follows REAPER's ``ISBUS a b`` line: ``0 0`` a normal track, ``1 1`` a folder parent,
``2 -n`` a track that closes ``n`` folder levels after itself (``b`` is ReaScript's ``I_FOLDERDEPTH``).

Per-track extension data (ReaScript ``P_EXT:key``) is stored, per the community "State Chunk Definitions", as an
``<EXT`` sub-chunk of ``<TRACK`` with one ``key value`` line per entry. That layout is **unverified** (no
REAPER-written file holding it was found); its details live in ``data/reaper_rpp.yaml`` (``track_ext``).
"""

from __future__ import annotations

import math
import string
import uuid
from collections.abc import Callable

from reaper_automix.errors import AutomixError
from reaper_automix.rpp.document import Chunk, Document, Line, parse_fragment
from reaper_automix.rpp.facts import rpp_facts
from reaper_automix.rpp.tokens import format_number, format_token


def track_chunks(doc: Document) -> list[Chunk]:
    """The ``<TRACK`` chunks in project order (the master track is not one of them)."""
    return doc.root.chunks("TRACK")


def new_guid() -> str:
    """A new GUID in REAPER's form: ``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}``, upper case."""
    return "{" + str(uuid.uuid4()).upper() + "}"


def _track_label(track: Chunk) -> str:
    name = track.find_line("NAME")
    tokens = name.tokens if name is not None else []
    return repr(tokens[1]) if len(tokens) > 1 else f"at line {track.open.lineno}"


def _check_name(name: str) -> None:
    if any(c in name for c in "\r\n\x00"):
        raise ValueError(f"a track name cannot hold a line break or NUL: {name!r}")


# A new value this close to the one in the file keeps the file's token: a re-run on its own output recomputes
# its values with floating-point noise (about 1e-9 relative), and must not rewrite lines for it. 1e-6 relative
# is 0.00001 dB of gain or a millionth of the pan range: far below anything audible.
SETTLED_REL = 1e-6
# Stage 2's bus settings (pan, EQ, compressor) are a numerical search's answer. Run again on its own output,
# the search starts from stems that differ in their last float32 bits (the first run's take gains are now in
# the items) and lands up to about 1e-4 relative away (6e-5 measured on the demo). 1e-3 relative is 0.009 dB
# of EQ gain, 1.7 cents of frequency, a thousandth of the pan: inaudible, and finer than REAPER displays.
SEARCH_SETTLED_REL = 1e-3


def settled(old: float, new: float, tolerance: float = SETTLED_REL) -> bool:
    """True when ``new`` is ``old`` up to recomputation noise (``tolerance`` relative: :data:`SETTLED_REL`, or
    :data:`SEARCH_SETTLED_REL` for the stage-2 search's values)."""
    return math.isclose(old, new, rel_tol=tolerance, abs_tol=1e-12)


def _set_fields(line: Line, values: dict[int, float], tolerance: float = SETTLED_REL) -> None:
    """Set numeric fields (1-based, after the key) of a line, keeping every other token, and keeping a field's
    token when its value is :func:`settled` within ``tolerance`` (the line is then left exactly as it was)."""
    tokens = line.tokens
    changed = False
    for field, value in values.items():
        if len(tokens) <= field:
            raise AutomixError(f"line {line.lineno}: {line.key} has no field {field}: {line.content!r}")
        try:
            current = float(tokens[field])
        except ValueError:
            current = math.nan
        if math.isfinite(current) and settled(current, value, tolerance):
            continue
        tokens[field] = format_number(value)
        changed = True
    if changed:
        line.set_tokens(tokens)


# --- volume and pan ---------------------------------------------------------------------------------------
def set_track_volume(track: Chunk, volume: float) -> None:
    """Set the track fader (linear gain, REAPER's ``D_VOL``): ``VOLPAN`` field 1 only."""
    if not (math.isfinite(volume) and volume >= 0):
        raise ValueError(f"track volume must be a finite linear gain >= 0, got {volume}")
    _set_fields(_volpan(track), {1: volume})


def set_track_pan(track: Chunk, pan: float) -> None:
    """Set the track pan (-1..1, REAPER's ``D_PAN``): ``VOLPAN`` field 2 only. Only buses' pans are set, and
    they come from the stage-2 search: a value within :data:`SEARCH_SETTLED_REL` keeps the file's token."""
    if not (math.isfinite(pan) and -1.0 <= pan <= 1.0):
        raise ValueError(f"pan must be in -1..1, got {pan}")
    _set_fields(_volpan(track), {2: pan}, SEARCH_SETTLED_REL)


def _volpan(track: Chunk) -> Line:
    line = track.find_line("VOLPAN")
    if line is None:
        raise AutomixError(f"track {_track_label(track)} has no VOLPAN line")
    return line


def set_take_volume(item: Chunk, volume: float, *, keep_polarity: bool = True) -> None:
    """Set the first take's volume (linear): field 3 of the item's ``VOLPAN`` line.

    REAPER stores an inverted-polarity take as a negative volume. With ``keep_polarity`` (the default),
    ``volume`` is a magnitude (>= 0) and the take keeps its current polarity; otherwise ``volume`` is written
    as given, a negative value meaning inverted polarity.
    """
    if not math.isfinite(volume) or (keep_polarity and volume < 0):
        raise ValueError(f"take volume must be a finite linear gain{' >= 0' if keep_polarity else ''}, got {volume}")
    line = item.find_line("VOLPAN")
    if line is None:
        raise AutomixError(f"the item at line {item.open.lineno} has no take (no VOLPAN line)")
    tokens = line.tokens
    if keep_polarity and len(tokens) > 3:
        try:
            current = float(tokens[3])
        except ValueError:
            raise AutomixError(f"line {line.lineno}: take volume is not a number: {tokens[3]!r}") from None
        volume = math.copysign(volume, current)
    _set_fields(line, {3: volume})


# --- tracks and folders -----------------------------------------------------------------------------------
def insert_track(doc: Document, index: int, name: str, guid: str | None = None) -> Chunk:
    """Insert a new, empty track so that it becomes track ``index``; returns its chunk.

    The block is the one REAPER writes for a new track (``track_template`` in ``data/reaper_rpp.yaml``).
    """
    _check_name(name)
    tracks = track_chunks(doc)
    if not 0 <= index <= len(tracks):
        raise IndexError(f"track index {index} out of range 0..{len(tracks)}")
    guid = guid or new_guid()
    text = string.Template(rpp_facts()["track_template"]).substitute(GUID=guid, NAME=format_token(name))
    (chunk,) = parse_fragment(text)
    root = doc.root
    if index < len(tracks):
        position = root.index(tracks[index])
    elif tracks:
        position = root.index(tracks[-1]) + 1
    else:
        extensions = root.find_chunk("EXTENSIONS")
        position = root.index(extensions) if extensions is not None else len(root.children)
    root.insert(position, chunk)
    return chunk


def set_folder_depth(track: Chunk, depth: int) -> None:
    """Write ``ISBUS`` as REAPER does: ``0 0`` (normal), ``1 1`` (folder parent), ``2 -n`` (closes n levels)."""
    if depth > 1:
        raise ValueError(f"folder depth must be <= 1 (1 opens one folder), got {depth}")
    tokens = ["ISBUS", "0", "0"] if depth == 0 else ["ISBUS", "1", "1"] if depth == 1 else ["ISBUS", "2", str(depth)]
    line = track.find_line("ISBUS")
    if line is None:
        anchor = track.find_line("IPHASE")
        line = Line("")
        track.insert(track.index(anchor) + 1 if anchor is not None else 0, line)
    line.set_tokens(tokens)


# --- FX ---------------------------------------------------------------------------------------------------
def add_fx(track: Chunk, fx_block_text: str, position: int | None = None) -> Chunk:
    """Put an FX block into the track's FX chain (created if missing): at chain slot ``position`` (0 = first;
    past the end or None = last). Returns the plugin chunk.

    ``fx_block_text`` is the block as REAPER writes it: a ``BYPASS`` line, the plugin chunk (``<VST``, ``<JS``
    ...), then ``FLOATPOS``, ``FXID``, ``WAK`` and the like.
    """
    nodes = parse_fragment(fx_block_text)
    if not nodes or not isinstance(nodes[0], Line) or nodes[0].key != "BYPASS":
        raise ValueError("an FX block must start with a BYPASS line")
    plugins = [n for n in nodes if isinstance(n, Chunk)]
    if not plugins:
        raise ValueError("an FX block must hold a plugin chunk")
    chain = track.find_chunk("FXCHAIN")
    if chain is None:
        facts = rpp_facts()
        chain = Chunk.new(["FXCHAIN"], [Line(text) for text in facts["fxchain_header"]])
        before = set(facts["fxchain_before_tags"])
        position = next(
            (i for i, c in enumerate(track.children) if isinstance(c, Chunk) and c.tag in before),
            len(track.children),
        )
        track.insert(position, chain)
    blocks = _fx_blocks(chain)
    if position is None or position >= len(blocks):
        for node in nodes:
            chain.append(node)
    else:
        at = blocks[max(0, position)][0]
        for offset, node in enumerate(nodes):
            chain.insert(at + offset, node)
    return plugins[0]


def _fx_blocks(chain: Chunk) -> list[tuple[int, int]]:
    """(start, end) child ranges of the FX blocks: each runs from a BYPASS line to the next one."""
    starts = [i for i, c in enumerate(chain.children) if isinstance(c, Line) and c.key == "BYPASS"]
    return list(zip(starts, starts[1:] + [len(chain.children)]))


def remove_fx(track: Chunk, predicate: Callable[[Chunk], bool]) -> int:
    """Remove every FX block whose plugin chunk satisfies ``predicate``; returns how many were removed.

    ``LASTSEL``/``SHOW`` (selected / shown FX) are reset only when they would point past the remaining FX.
    """
    chain = track.find_chunk("FXCHAIN")
    if chain is None:
        return 0
    blocks = _fx_blocks(chain)
    doomed = []
    for start, end in blocks:
        plugin = next((c for c in chain.children[start:end] if isinstance(c, Chunk)), None)
        if plugin is not None and predicate(plugin):
            doomed.append((start, end))
    for start, end in reversed(doomed):
        for node in chain.children[start:end]:
            chain.remove(node)
    remaining = len(blocks) - len(doomed)
    for key, limit in (("LASTSEL", remaining - 1), ("SHOW", remaining)):  # LASTSEL 0-based, SHOW 1-based
        line = chain.find_line(key)
        if doomed and line is not None:
            try:
                out_of_range = int(line.tokens[1]) > max(limit, 0)
            except (IndexError, ValueError):
                continue
            if out_of_range:
                _set_fields(line, {1: 0})
    return len(doomed)


# --- per-track extension data (P_EXT) ---------------------------------------------------------------------
def get_track_ext(track: Chunk) -> dict[str, str]:
    """The track's extension data (``P_EXT:key`` -> value); empty when it has none."""
    chunk = track.find_chunk(rpp_facts()["track_ext"]["tag"])
    result: dict[str, str] = {}
    if chunk is None:
        return result
    for line in chunk.lines():
        tokens = line.tokens
        if not tokens:
            continue
        if len(tokens) <= 2:
            result[tokens[0]] = tokens[1] if len(tokens) == 2 else ""
        else:  # an unquoted value with spaces: the rest of the line
            result[tokens[0]] = line.content.partition(" ")[2].strip(" \t")
    return result


def set_track_ext(track: Chunk, key: str, value: str) -> None:
    """Set one extension-data entry; an empty ``value`` deletes it (as ReaScript's P_EXT does)."""
    if not key or any(c in key for c in " \t\r\n\x00"):
        raise ValueError(f"an extension key must be one word: {key!r}")
    if any(c in value for c in "\r\n\x00"):
        raise ValueError(f"an extension value cannot hold a line break or NUL: {value!r}")
    facts = rpp_facts()["track_ext"]
    chunk = track.find_chunk(facts["tag"])
    existing = None
    if chunk is not None:
        existing = next((line for line in chunk.lines() if line.key == key), None)
    if not value:
        if existing is not None:
            chunk.remove(existing)
            if not chunk.children:
                track.remove(chunk)
        return
    if existing is not None:
        existing.set_tokens([key, value])
        return
    if chunk is None:
        chunk = Chunk.new([facts["tag"]])
        before = set(facts["insert_before_keys"])
        position = next(
            (i for i, c in enumerate(track.children) if isinstance(c, Chunk) or c.key in before),
            len(track.children),
        )
        track.insert(position, chunk)
    line = Line("")
    chunk.append(line)
    line.set_tokens([key, value])
