"""Turn a song and a track list into each track's signal on the song's timeline, one track at a time.

Dry renders of parts are shared (kick in and kick out play one performance; every drum part feeds the
overheads and rooms) and freed once the last track needing them is done, so memory stays at a few tracks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pretty_midi

from . import arrangement, mics, synth
from .arrangement import PartSpec, Region, Song
from .tracks import KIT_PARTS, TrackSpec

TAIL_MAX_S = 3.0  # the timeline runs this far past the song's last bar, for ringing notes and reverb
PREROLL_S = 0.05  # items start this much before their first bar line, so the fade-in misses the downbeat


@dataclass(frozen=True)
class TrackSignal:
    spec: TrackSpec
    audio: np.ndarray  # float32, (n,) or (n, 2), on the song's timeline (sample 0 = project start)
    spans: tuple[tuple[int, int], ...]  # sample ranges [start, stop) the track's items cover, in order


def timeline_samples(song: Song, sample_rate: int) -> int:
    return int(round((song.length_s + TAIL_MAX_S) * sample_rate))


class _Parts:
    """Notes and dry renders of parts for one song, renders kept only while a pending track needs them."""

    def __init__(self, song: Song, sample_rate: int, uses: Counter, player: synth.SoundFontPlayer | None = None):
        self.song, self.sample_rate, self.uses = song, sample_rate, uses
        self.n_samples = timeline_samples(song, sample_rate)
        self._notes: dict[tuple[str, int], list[pretty_midi.Note]] = {}
        self._renders: dict[tuple[str, int], np.ndarray] = {}
        self._mono: dict[tuple[str, int], np.ndarray] = {}
        self._player = player or synth.SoundFontPlayer(sample_rate)

    def notes(self, part: PartSpec, take: int) -> list[pretty_midi.Note]:
        key = (part.name, take)
        if key not in self._notes:
            written = arrangement.compose(self.song, part).notes
            self._notes[key] = arrangement.humanise(written, self.song, part, take)
        return self._notes[key]

    def render(self, part: PartSpec, take: int) -> np.ndarray:
        key = (part.name, take)
        if key not in self._renders:
            notes = self.notes(part, take)
            if part.sound == "sf2":
                audio = self._player.render(notes, part.program, part.is_drum, self.n_samples)
            else:
                rng = arrangement.rng_for(self.song, part.name, "fx", take)
                audio = synth.synthesise_fx(part.sound, notes, self.n_samples, self.sample_rate, rng)
            self._renders[key] = audio
        return self._renders[key]

    def mono(self, part: PartSpec, take: int) -> np.ndarray:
        key = (part.name, take)
        if key not in self._mono:
            self._mono[key] = mics.to_mono(self.render(part, take))
        return self._mono[key]

    def release(self, part: PartSpec, take: int) -> None:
        key = (part.name, take)
        self.uses[key] -= 1
        if self.uses[key] <= 0:
            self._renders.pop(key, None)
            self._mono.pop(key, None)


def _needs(spec: TrackSpec) -> list[tuple[PartSpec, int]]:
    """The (part, take) renders a track is made from."""
    needs = [(spec.part, spec.take)] if spec.mic.kit_side is None else []
    needs += [(KIT_PARTS[name], 0) for name, _ in spec.mic.bleed]
    if spec.mic.kit_side is not None:
        needs += [(p, 0) for p in KIT_PARTS.values()]
    return needs


def _spans(regions: list[Region], tail_s: float, sample_rate: int, n_samples: int) -> list[tuple[int, int]]:
    """Item sample ranges: each region from a little before its first bar line to ``tail_s`` after its end,
    never reaching into the next item."""
    spans = []
    for i, region in enumerate(regions):
        start = max(0.0, region.start_s - PREROLL_S)
        limit = regions[i + 1].start_s - 2 * PREROLL_S if i + 1 < len(regions) else n_samples / sample_rate
        stop = min(region.end_s + tail_s, limit)
        spans.append((int(round(start * sample_rate)), int(round(stop * sample_rate))))
    return spans


def track_signals(song: Song, specs: list[TrackSpec], sample_rate: int, seed: int,
                  player: synth.SoundFontPlayer | None = None) -> Iterator[TrackSignal]:
    """Each track's signal and item spans, in the order of ``specs``. ``player``: the SoundFont player to use
    (default: a new one on TimGM6mb; pass one to reuse a loaded SoundFont across songs)."""
    uses = Counter((p.name, t) for spec in specs for p, t in _needs(spec))
    parts = _Parts(song, sample_rate, uses, player)
    room_ir = mics.room_response(np.random.default_rng([seed, 0x200]), sample_rate)
    kit_notes = None
    for spec in specs:
        if spec.mic.kit_side is not None:
            if kit_notes is None:
                kit_notes = sorted((n for p in KIT_PARTS.values() for n in parts.notes(p, 0)), key=lambda n: n.start)
            notes, tail_s = kit_notes, 2.0
            own = None
        else:
            # items follow the written part; a later take's timing drift stays inside the pre-roll
            notes, tail_s = parts.notes(spec.part, 0), spec.part.release_s
            own = parts.render(spec.part, spec.take)
        tail_s = min(TAIL_MAX_S, tail_s + (0.6 if spec.mic.room else 0.0) + spec.mic.delay_ms / 1000.0)
        audio = mics.record(spec.mic, own, lambda name: parts.mono(KIT_PARTS[name], 0), sample_rate, room_ir)
        regions = arrangement.play_regions(song, notes)
        if not regions:
            raise RuntimeError(f"demo part {spec.part.name!r} has no notes in this song")  # a composer bug
        spans = _spans(regions, tail_s, sample_rate, parts.n_samples)
        for part, take in _needs(spec):
            parts.release(part, take)
        yield TrackSignal(spec, audio, tuple(spans))
