"""Read the project open in REAPER into the session model, and get track audio through REAPER.

Reading is one round-trip: :func:`reaper_automix.live.ops.read_project` gathers every track, item, take and
source inside REAPER and returns plain data. Audio comes from REAPER's own renderer (pre-fader stems of the
tracks asked for, rendered to a temporary folder with the project's render settings restored afterwards);
when that fails (REAPER refuses, or the stems do not appear) the offline renderer reads the source files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..changes import EXT_FX
from ..cleanup import temp_folder
from ..errors import AutomixError
from ..reaper.mappings import pan_taper
from ..rpp.document import Chunk, parse_fragment
from ..rpp.facts import rpp_facts
from ..rpp.fx import fx_chain, fx_chain_enabled, receives
from ..session import Fade, FadeShape, Item, Session, Source, SourceKind, Take, Track
from . import ops
from .bridge import Bridge


@dataclass(frozen=True)
class LiveSession:
    session: Session
    selected_guids: tuple[str, ...]  # tracks selected in REAPER, in project order
    round_trips: int


def _source_kind(type_word: str) -> SourceKind:
    facts = rpp_facts()
    word = type_word.removeprefix(facts["offline_prefix"])
    for kind, words in facts["source_types"].items():
        if word in words:
            return SourceKind[kind.upper()]
    return SourceKind.OTHER


def _fade(values: list) -> Fade:
    length_s, shape, curve = values
    try:
        shape = FadeShape(int(shape))
    except ValueError:
        shape = FadeShape.LINEAR
    return Fade(float(length_s), shape, float(curve))


def _check_pan_law(track: dict) -> None:
    """Refuse a pan law the console cannot follow (as the ``.rpp`` reader does), naming the track."""
    gain, flags = track["pan_law_gain"], track["pan_law_flags"]
    if not math.isfinite(gain) or gain == 0:
        raise AutomixError(f"track {track['index'] + 1} {track['name']!r}: pan law D_PANLAW {gain:g} is not usable"
                           " (< 0 = the project's law, else the centre gain > 0)")
    try:
        pan_taper(flags)
    except ValueError as exc:
        raise AutomixError(f"track {track['index'] + 1} {track['name']!r}: I_PANLAW_FLAGS: {exc}") from None


def session_from_data(data: dict, name: str = "live project") -> Session:
    """The session model from :func:`ops.read_project`'s data.

    Tracks keep their own pan law. The project's default law (``.rpp`` ``PANLAW``) is not among the values the
    ReaScript API reports (``GetSetProjectInfo`` has no key for it), so tracks that follow it (``D_PANLAW`` < 0)
    and new buses pan with REAPER's default, 0 dB; the saved file's law is used offline."""
    project_file = data.get("project_file") or ""
    path = Path(project_file) if project_file else Path.cwd() / f"{name}.rpp"
    tracks = []
    for t in data["tracks"]:
        items = []
        for it in t["items"]:
            take = None
            if it["take"] is not None:
                tk, src = it["take"], it["take"]["source"]
                kind = _source_kind(src["type"])
                file = Path(src["file"]) if src["file"] else None
                if file is not None and not file.is_absolute():
                    file = path.parent / file
                take = Take(name=tk["name"], volume=tk["volume"], pan=tk["pan"], start_offset_s=tk["start_offset_s"],
                            playrate=tk["playrate"], preserve_pitch=tk["preserve_pitch"],
                            source=Source(kind, file, src["type"], src["section_start_s"], src["section_length_s"],
                                          src["reversed"]))
            items.append(Item(position_s=it["position_s"], length_s=it["length_s"], take=take, volume=it["volume"],
                              mute=it["mute"], loop=it["loop"], fade_in=_fade(it["fade_in"]),
                              fade_out=_fade(it["fade_out"])))
        # The FX chain and receives: REAPER's own track state text, read as the .rpp reader reads it.
        chunk = next((n for n in parse_fragment(t.get("fx_chunk") or "<TRACK\n>") if isinstance(n, Chunk)), None)
        chunk = chunk or Chunk.new(["TRACK"])
        ours = frozenset(t["ext"].get(EXT_FX, "").split())
        _check_pan_law(t)
        tracks.append(Track(index=t["index"], name=t["name"], guid=t["guid"], volume=t["volume"], pan=t["pan"],
                            mute=t["mute"], solo=t["solo"], folder_depth=t["folder_depth"],
                            n_channels=t["n_channels"], pan_law_gain=float(t["pan_law_gain"]),
                            pan_law_flags=int(t["pan_law_flags"]), items=tuple(items), ext=dict(t["ext"]),
                            fx=fx_chain(chunk, ours), fx_enabled=fx_chain_enabled(chunk), receives=receives(chunk)))
    return Session(path=path, sample_rate=int(data["sample_rate"]), tracks=tuple(tracks))


def read_live_session(bridge: Bridge) -> LiveSession:
    """The open project as a Session (one round-trip), with REAPER's track selection."""
    before = bridge.round_trips
    data = bridge.call(ops.read_project)
    session = session_from_data(data)
    selected = tuple(t["guid"] for t in data["tracks"] if t["selected"])
    return LiveSession(session, selected, bridge.round_trips - before)


@dataclass
class TrackAudio:
    """Pre-fader audio per track, from REAPER's renderer or the offline one; ``method`` says which."""

    session: Session
    method: Literal["reaper", "offline"]
    stems: dict[str, Path]  # guid -> rendered file ("reaper")
    reason: str = ""  # why the offline renderer was used

    @property
    def renders_fx(self) -> bool:
        """REAPER's stems carry the tracks' plug-ins; the offline fallback's do not (see stage1.renders_fx)."""
        return self.method == "reaper"

    def __call__(self, session: Session, track: Track) -> np.ndarray:
        return self.render_track(session, track)

    def render_track(self, session: Session, track: Track) -> np.ndarray:
        """Same contract as :func:`reaper_automix.audio.render.render_track`: float32 (channels, samples)."""
        if self.method == "reaper" and track.guid in self.stems:
            import soundfile as sf

            audio, _ = sf.read(self.stems[track.guid], dtype="float32", always_2d=True)
            n = int(round(session.length_s * session.sample_rate))
            out = np.zeros((2, n), dtype=np.float32)
            m = min(n, audio.shape[0])
            out[:, :m] = audio[:m, :2].T if audio.shape[1] >= 2 else np.repeat(audio[:m, :1].T, 2, axis=0)
            return out
        from ..audio.render import render_track

        return render_track(session, track)


def track_audio(bridge: Bridge, session: Session, guids: list[str], folder: Path | None = None) -> TrackAudio:
    """Render ``guids`` through REAPER into ``folder`` (a new temporary folder by default); fall back to the
    offline renderer on the source files when REAPER's render fails or writes nothing."""
    folder = Path(folder) if folder else temp_folder("automix_stems_")  # removed at exit at the latest
    try:
        written = bridge.request(ops.render_stems, [list(guids), str(folder)], what="rendering stems")
    except AutomixError as exc:
        return TrackAudio(session, "offline", {}, f"REAPER's render failed: {exc}")
    missing = [g for g in guids if g not in written]
    if missing:
        names = [session.track_by_guid(g).name for g in missing]
        return TrackAudio(session, "offline", {}, "REAPER wrote no stem for: " + ", ".join(names))
    return TrackAudio(session, "reaper", {g: Path(p) for g, p in written.items()})
