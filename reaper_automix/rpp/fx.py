"""FX chains and receives of a ``<TRACK`` chunk, as plain session data.

Read from the same text in both front ends: the ``.rpp`` reader passes the track's chunk, the live bridge the
track state chunk REAPER returns (``GetTrackStateChunk``, the same format). What each field means is data
(``data/reaper_fx.yaml``, with how sure each fact is):

- ``<FXCHAIN``: each plug-in is a ``BYPASS bypassed offline ...`` line, a plug-in chunk (``<VST "VST3: Amp
  (Vendor)" file 0 "custom name" ...``, ``<JS path "custom name"``), then ``FXID {GUID}``. The track's ``FX 0``
  line bypasses the whole chain. ``<FXCHAIN_REC`` (input FX, heard only while recording) is not read.
- ``AUXRECV source mode volume pan mute ... dstchan ...``: a receive from track ``source`` (0-based).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from ..session import FxFormat, FxInfo, Receive, SendMode
from .document import Chunk, Line


@functools.cache
def fx_facts() -> dict[str, Any]:
    """The parsed ``reaper_fx.yaml`` (shared: do not modify the returned mapping)."""
    text = resources.files("reaper_automix").joinpath("data/reaper_fx.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _field(line: Line | None, index: int, default: float) -> float:
    tokens = line.tokens[1:] if line is not None else []
    try:
        return float(tokens[index]) if index < len(tokens) else default
    except ValueError:
        return default


def classify_plugin(tag: str, first_token: str) -> tuple[FxFormat, bool, str]:
    """Format, instrument flag and plug-in name from a plug-in chunk's tag and first token
    (``("VST", "VST3i: Podolski (u-he)")`` -> ``(VST3, True, "Podolski (u-he)")``)."""
    facts = fx_facts()
    if tag in facts["path_named_tags"]:
        return FxFormat(facts["path_named_tags"][tag]), False, first_token
    prefix, sep, rest = first_token.partition(": ")
    if sep and prefix + ":" in facts["name_prefixes"]:
        fmt, instrument = facts["name_prefixes"][prefix + ":"]
        return FxFormat(fmt), bool(instrument), rest.strip()
    return FxFormat.OTHER, False, first_token


def fx_chain(track: Chunk, ours: frozenset[str] = frozenset()) -> tuple[FxInfo, ...]:
    """The plug-ins of ``track``'s ``<FXCHAIN``, in order; ``ours``: FXIDs of the plug-ins this tool added."""
    chain = track.find_chunk("FXCHAIN")
    if chain is None:
        return ()
    facts = fx_facts()
    tags = set(facts["plugin_tags"])
    fields = facts["bypass_fields"]
    result: list[FxInfo] = []
    bypass: Line | None = None
    pending: dict | None = None

    def finish(fxid: str = "") -> None:
        nonlocal pending
        if pending is not None:
            result.append(FxInfo(**pending, fxid=fxid, ours=bool(fxid) and fxid in ours))
            pending = None

    for child in chain.children:
        if isinstance(child, Line):
            if child.key == "BYPASS":
                finish()
                bypass = child
            elif child.key == "FXID" and pending is not None:
                finish(child.tokens[1] if len(child.tokens) > 1 else "")
            continue
        if child.tag not in tags:
            continue
        finish()
        tokens = child.tokens
        first = tokens[1] if len(tokens) > 1 else ""
        fmt, instrument, plugin = classify_plugin(child.tag, first)
        custom_at = facts["custom_name_token"].get(child.tag)
        custom = tokens[1 + custom_at] if custom_at is not None and len(tokens) > 1 + custom_at else ""
        pending = dict(
            name=custom or plugin,
            plugin=plugin,
            format=fmt,
            instrument=instrument,
            bypassed=_field(bypass, fields["bypassed"], 0) != 0,
            offline=_field(bypass, fields["offline"], 0) != 0,
        )
        bypass = None
    finish()
    return tuple(result)


def fx_chain_enabled(track: Chunk) -> bool:
    """False when the track's whole FX chain is bypassed."""
    return _field(track.find_line(fx_facts()["chain_enabled_key"]), 0, 1) != 0


def receives(track: Chunk) -> tuple[Receive, ...]:
    """The track's ``AUXRECV`` lines, in order."""
    facts = fx_facts()
    fields = facts["auxrecv_fields"]
    modes = {int(k): SendMode(v) for k, v in facts["send_modes"].items()}
    out = []
    for line in track.lines("AUXRECV"):
        mode = int(_field(line, fields["mode"], 0))
        out.append(
            Receive(
                source=int(_field(line, fields["source"], -1)),
                mode=modes.get(mode, SendMode.POST_FADER),
                volume=_field(line, fields["volume"], 1.0),
                mute=_field(line, fields["mute"], 0) != 0,
                dest_channel=int(_field(line, fields["dest_channel"], 0)),
                audio=_field(line, fields["source_channel"], 0) >= 0,
            )
        )
    return tuple(r for r in out if r.source >= 0)
