"""The demo song: tempo, key, sections, chords, and the MIDI part of every instrument.

Everything is drawn from a seeded :class:`numpy.random.Generator`, so one seed gives one song. The song is in
4/4; each section repeats a four-chord progression, one chord per bar. Parts are ``pretty_midi.Instrument``s
holding the notes; a part plays only in some sections (drums not in the intro, lead vocal in verses and choruses,
risers before choruses...), so its track gets items only where it plays (:func:`play_regions`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pretty_midi

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor
_KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Progressions as 0-based scale degrees, one chord per bar, repeated over each section.
_PROGRESSIONS = {
    False: (  # major
        {"verse": (0, 5, 3, 4), "chorus": (3, 0, 4, 5), "bridge": (5, 3, 0, 4)},
        {"verse": (0, 3, 5, 4), "chorus": (0, 4, 5, 3), "bridge": (1, 4, 0, 5)},
        {"verse": (5, 3, 0, 4), "chorus": (0, 4, 3, 3), "bridge": (3, 4, 2, 5)},
    ),
    True: (  # minor
        {"verse": (0, 5, 2, 6), "chorus": (5, 2, 6, 0), "bridge": (3, 5, 6, 4)},
        {"verse": (0, 3, 6, 2), "chorus": (2, 6, 0, 5), "bridge": (5, 6, 0, 0)},
    ),
}

# Song forms by size: (section name, relative length in bars). The largest form giving every section at least
# two bars on average is used, then its lengths are scaled to the song's bar count.
_FORMS = (
    (("intro", 1), ("verse", 2), ("chorus", 2), ("outro", 1)),
    (("intro", 2), ("verse", 4), ("chorus", 4), ("verse", 4), ("chorus", 4), ("outro", 2)),
    (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8), ("bridge", 8), ("chorus", 8),
     ("outro", 4)),
)

TICKS_PER_BEAT = 4  # grid of sixteenth notes used by the composers


@dataclass(frozen=True)
class Section:
    name: str  # "intro", "verse", "chorus", "bridge" or "outro"
    start_bar: int
    n_bars: int

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.n_bars


@dataclass(frozen=True)
class Song:
    """A song's structure. Times in seconds are derived from ``tempo_bpm`` (4/4 throughout)."""

    seed: int
    tempo_bpm: int
    key_root: int  # pitch class of the tonic, 0 = C
    minor: bool
    sections: tuple[Section, ...]
    progressions: tuple[tuple[str, tuple[int, ...]], ...]  # section name -> scale degrees, one per bar

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bar_s(self) -> float:
        return 4 * self.beat_s

    @property
    def n_bars(self) -> int:
        return self.sections[-1].end_bar

    @property
    def length_s(self) -> float:
        """End of the last bar (parts may ring on after it)."""
        return self.n_bars * self.bar_s

    @property
    def key_name(self) -> str:
        return _KEY_NAMES[self.key_root] + (" minor" if self.minor else " major")

    @property
    def scale(self) -> tuple[int, ...]:
        return _MINOR if self.minor else _MAJOR

    def section_at(self, bar: int) -> Section:
        for s in self.sections:
            if s.start_bar <= bar < s.end_bar:
                return s
        raise IndexError(bar)

    def chord(self, bar: int) -> tuple[int, int, int]:
        """The bar's triad as pitch classes (root, third, fifth)."""
        section = self.section_at(bar)
        return self.section_chord(section.name, bar - section.start_bar)

    def section_chord(self, name: str, bar_in_section: int) -> tuple[int, int, int]:
        """The triad of a section's ``bar_in_section``-th bar (intros and outros use the verse progression)."""
        progression = dict(self.progressions)[name if name in ("chorus", "bridge") else "verse"]
        degree = progression[bar_in_section % len(progression)]
        scale = self.scale
        return tuple((self.key_root + scale[(degree + 2 * k) % 7]) % 12 for k in range(3))  # type: ignore[return-value]

    def scale_pitches(self, low: int, high: int) -> list[int]:
        """MIDI pitches of the key's scale within [low, high]."""
        pcs = {(self.key_root + s) % 12 for s in self.scale}
        return [p for p in range(low, high + 1) if p % 12 in pcs]

    def time(self, bar: int, tick: float = 0.0) -> float:
        """Seconds at ``tick`` sixteenths after the start of ``bar``."""
        return bar * self.bar_s + tick * self.beat_s / TICKS_PER_BEAT


def make_song(seed: int, length_s: float, *, avoid: Song | None = None) -> Song:
    """Draw a song of about ``length_s`` seconds (a whole number of bars, at least four).

    ``avoid``: draw until tempo (by 8 BPM or more) and key differ from that song's (used for the reference mix).
    """
    attempt = 0
    while True:
        rng = np.random.default_rng([seed, 0x50, attempt])
        tempo = int(rng.integers(88, 133))
        key_root = int(rng.integers(0, 12))
        minor = bool(rng.random() < 0.4)
        if avoid is None or (abs(tempo - avoid.tempo_bpm) >= 8 and (key_root, minor) != (avoid.key_root, avoid.minor)):
            break
        attempt += 1
    bar_s = 240.0 / tempo
    n_bars = max(4, round(length_s / bar_s))
    form = max((f for f in _FORMS if len(f) <= max(4, n_bars // 2)), key=len)
    sections = _scale_form(form, n_bars)
    options = _PROGRESSIONS[minor]
    progression = options[int(rng.integers(0, len(options)))]
    return Song(seed, tempo, key_root, minor, sections, tuple(sorted(progression.items())))


def _scale_form(form: tuple[tuple[str, int], ...], n_bars: int) -> tuple[Section, ...]:
    """Share ``n_bars`` among the form's sections in proportion to their lengths (largest remainder, >= 1 each)."""
    weights = np.array([w for _, w in form], dtype=float)
    spare = n_bars - len(form)  # one bar each first
    exact = weights / weights.sum() * spare
    bars = np.floor(exact).astype(int)
    order = np.argsort(-(exact - bars), kind="stable")
    bars[order[: spare - bars.sum()]] += 1
    bars += 1
    sections, start = [], 0
    for (name, _), n in zip(form, bars):
        sections.append(Section(name, start, int(n)))
        start += int(n)
    return tuple(sections)


@dataclass(frozen=True)
class PartSpec:
    """What one part plays and how it sounds.

    ``composer`` names the note generator (see :data:`COMPOSERS`); ``drum_notes`` selects GM drum keys from a
    composer that writes a whole kit (so kick, snare... come from one consistent performance); ``variant``
    parameterises a composer (which chord tone a backing voice sings, for example). ``sound`` is ``"sf2"`` for a
    SoundFont program, else the name of a synthesised effect. ``release_s``: how long the part rings after its
    last note (the tail kept on its items).
    """

    name: str
    composer: str
    program: int = 0
    is_drum: bool = False
    drum_notes: tuple[int, ...] = ()
    variant: int = 0
    sound: str = "sf2"
    release_s: float = 0.6


def rng_for(song: Song, *key: object) -> np.random.Generator:
    """A generator for one purpose, stable across runs (crc32, not Python's salted hash)."""
    words = [zlib.crc32(str(k).encode()) for k in key]
    return np.random.default_rng([song.seed, *words])


def _pitch_in(pc: int, low: int) -> int:
    """The pitch with pitch class ``pc`` in [low, low + 11]."""
    return low + (pc - low) % 12


def _nearest(pitches: list[int], target: float) -> int:
    return min(pitches, key=lambda p: (abs(p - target), p))


def _chord_pitches(song: Song, bar: int, low: int, high: int) -> list[int]:
    pcs = set(song.chord(bar))
    return [p for p in range(low, high + 1) if p % 12 in pcs]


def _sections(song: Song, names: set[str]) -> list[Section]:
    """The song's sections with these names; the choruses when none exists (tiny forms have no bridge)."""
    found = [s for s in song.sections if s.name in names]
    return found or [s for s in song.sections if s.name == "chorus"]


class _Writer:
    """Collects notes on the sixteenth grid of a song."""

    def __init__(self, song: Song, rng: np.random.Generator):
        self.song, self.rng, self.notes = song, rng, []

    def add(self, bar: int, tick: float, length_ticks: float, pitch: int, velocity: int, jitter: int = 6) -> None:
        start = self.song.time(bar, tick)
        end = self.song.time(bar, tick + length_ticks)
        vel = int(np.clip(velocity + self.rng.integers(-jitter, jitter + 1), 1, 127))
        self.notes.append(pretty_midi.Note(velocity=vel, pitch=int(pitch), start=start, end=end))


# ---------------------------------------------------------------------------------------------------------------
# Composers: (song, part) -> notes. Each draws from its own generator so adding a part never changes another.

KICK, SNARE, SIDESTICK, CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 36, 38, 37, 42, 44, 46
RIDE, CRASH, TOM_HIGH, TOM_MID, TOM_FLOOR = 51, 49, 48, 45, 41


@lru_cache(maxsize=8)
def _kit(song: Song) -> tuple[pretty_midi.Note, ...]:
    """The whole drum kit's performance (verses, choruses, bridge, outro; fills into choruses and out of the
    bridge). Drum parts select their keys from it."""
    w = _Writer(song, rng_for(song, "kit"))
    four_on_floor = bool(w.rng.random() < 0.4)
    for s in song.sections:
        if s.name == "intro":
            continue
        for bar in range(s.start_bar, s.end_bar):
            nxt = song.sections[song.sections.index(s) + 1] if s is not song.sections[-1] else None
            fill = bar == s.end_bar - 1 and nxt is not None and nxt.name in ("chorus", "outro") and s.name != "outro"
            end_tick = 8 if fill else 16  # a fill takes the last two beats
            if s.name == "outro":
                w.add(bar, 0, 2, KICK, 110)
                w.add(bar, 0, 24, CRASH, 105)
                for t in range(0, 16, 4):
                    w.add(bar, t, 2, RIDE, 85)
                continue
            if s.name == "bridge":
                kicks, snares = (0, 10), (8,)
            elif s.name == "chorus" and four_on_floor:
                kicks, snares = (0, 4, 8, 12), (4, 12)
            else:
                kicks, snares = (0, 6, 8), (4, 12)
            for t in kicks:
                if t < end_tick:
                    w.add(bar, t, 2, KICK, 112)
            for t in snares:
                if t < end_tick:
                    w.add(bar, t, 2, SNARE, 115)
            if s.name != "bridge" and w.rng.random() < 0.5:
                w.add(bar, 14, 1, SNARE, 40)  # ghost note
            if s.name == "chorus":
                for t in range(0, end_tick, 2):
                    w.add(bar, t, 4, RIDE, 95 if t % 4 == 0 else 70)
                for t in (4, 12):
                    if t < end_tick:
                        w.add(bar, t, 1, PEDAL_HAT, 70)
                if bar == s.start_bar or (bar - s.start_bar) % 4 == 0:
                    w.add(bar, 0, 24, CRASH, 110)
            else:
                step = 1 if s.name == "bridge" else 2
                for t in range(0, end_tick, step):
                    open_hat = s.name == "verse" and t == 14 and (bar - s.start_bar) % 4 == 3
                    w.add(bar, t, 2, OPEN_HAT if open_hat else CLOSED_HAT, 90 if t % 4 == 0 else 62)
            if fill:
                toms = (TOM_HIGH,) * 3 + (TOM_MID,) * 3 + (TOM_FLOOR,) * 2
                for i, pitch in enumerate(toms):
                    w.add(bar, 8 + i, 1, pitch, 100 + 3 * (i % 3))
    return tuple(w.notes)


SHAKER, TAMBOURINE, CONGA_HIGH, CONGA_LOW, CLAP, COWBELL = 82, 54, 63, 64, 39, 56
CABASA, TRIANGLE, BONGO_HIGH, BONGO_LOW, MARACAS, WOODBLOCK = 69, 81, 60, 61, 70, 76


@lru_cache(maxsize=8)
def _percussion(song: Song) -> tuple[pretty_midi.Note, ...]:
    """All hand percussion; percussion parts select their keys from it."""
    w = _Writer(song, rng_for(song, "percussion"))
    # Bridge instruments play in the choruses of forms too short to have a bridge.
    bridge = "bridge" if any(s.name == "bridge" for s in song.sections) else "chorus"
    for s in song.sections:
        for bar in range(s.start_bar, s.end_bar):
            if s.name in ("verse", "chorus"):
                for t in range(16):
                    w.add(bar, t, 1, SHAKER, 90 if t % 4 == 2 else 55, jitter=8)
            if s.name == "chorus":
                for t in range(0, 16, 2):
                    w.add(bar, t, 2, TAMBOURINE, 100 if t in (4, 12) else 60)
                for t in (4, 12):
                    w.add(bar, t, 2, CLAP, 105)
                for t in range(0, 16, 4):
                    w.add(bar, t, 4, TRIANGLE, 80)
            if s.name in ("verse", "bridge"):
                for t, pitch in ((0, CONGA_LOW), (3, CONGA_HIGH), (6, CONGA_HIGH), (8, CONGA_LOW),
                                 (11, CONGA_HIGH), (14, CONGA_HIGH)):
                    w.add(bar, t, 2, pitch, 95)
                for t in range(0, 16, 2):
                    w.add(bar, t, 2, CABASA, 75)
            if s.name == bridge:
                for t in range(0, 16, 4):
                    w.add(bar, t, 2, COWBELL, 90)
                for t in (2, 6, 10, 14):
                    w.add(bar, t, 1, BONGO_HIGH, 85)
                    w.add(bar, t + 1, 1, BONGO_LOW, 80)
                for t in range(0, 16, 2):
                    w.add(bar, t, 2, MARACAS, 70)
            if s.name in ("intro", "outro"):
                for t in (0, 6, 12):
                    w.add(bar, t, 2, WOODBLOCK, 80)
    return tuple(w.notes)


def _kit_part(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    return [n for n in _kit(song) if n.pitch in part.drum_notes]


def _percussion_part(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    return [n for n in _percussion(song) if n.pitch in part.drum_notes]


def _bass(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    w = _Writer(song, rng_for(song, part.name))
    for s in _sections(song, {"verse", "chorus", "bridge", "outro"}):
        for bar in range(s.start_bar, s.end_bar):
            root = _pitch_in(song.chord(bar)[0], 28)
            fifth = root + 7
            if s.name == "chorus":
                for t in range(0, 16, 2):
                    w.add(bar, t, 1.8, root + (12 if t == 14 else 0), 100)
            elif s.name == "verse":
                for t, length, pitch in ((0, 5.5, root), (6, 1.8, root), (8, 5.5, root), (14, 1.8, fifth)):
                    w.add(bar, t, length, pitch, 100)
            else:
                for t in (0, 8):
                    w.add(bar, t, 7.5, root, 95)
    return w.notes


def _rhythm_guitar(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    w = _Writer(song, rng_for(song, "rhythm_gtr"))  # one riff, whatever the program
    for s in _sections(song, {"chorus", "bridge"}):
        for bar in range(s.start_bar, s.end_bar):
            root = _pitch_in(song.chord(bar)[0], 40)
            voicing = (root, root + 7, root + 12)
            hits = [(t, 1.7) for t in range(0, 16, 2)] if s.name == "chorus" else [(0, 10.0), (10, 5.5)]
            for t, length in hits:
                for p in voicing:
                    w.add(bar, t, length, p, 100 if t % 4 == 0 else 82)
    return w.notes


def _clean_guitar(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    w = _Writer(song, rng_for(song, part.name))
    shape = (0, 1, 2, 3, 2, 1, 2, 3)
    for s in _sections(song, {"verse"}):
        for bar in range(s.start_bar, s.end_bar):
            tones = _chord_pitches(song, bar, 55, 76)[:4]
            for i, t in enumerate(range(0, 16, 2)):
                w.add(bar, t, 3.8, tones[shape[i] % len(tones)], 80)
    return w.notes


def _acoustic(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    """Strummed chords: each string a few milliseconds after the previous one, up-strokes reversed."""
    w = _Writer(song, rng_for(song, part.name))
    strum_ticks = 0.008 / (song.beat_s / TICKS_PER_BEAT)
    for s in _sections(song, {"intro", "verse", "outro"}):
        for bar in range(s.start_bar, s.end_bar):
            strings = _chord_pitches(song, bar, 40, 67)[-6:]
            hits = (0, 4, 6, 10, 12, 14)
            for i, t in enumerate(hits):
                nxt = hits[i + 1] if i + 1 < len(hits) else 16
                up = t % 4 == 2
                order = strings[::-1] if up else strings
                for k, p in enumerate(order):
                    w.add(bar, t + k * strum_ticks, nxt - t, p, 70 if up else 92)
    return w.notes


def _melody(song: Song, part: PartSpec, names: set[str], low: int, high: int, density: float,
            key: str) -> list[pretty_midi.Note]:
    rng = rng_for(song, key)
    w = _Writer(song, rng_for(song, part.name))
    scale = song.scale_pitches(low, high)
    phrases: dict[str, list[tuple[int, float, float, int]]] = {}
    for s in _sections(song, names):
        if s.name not in phrases:
            cells: list[tuple[int, float, float, int]] = []
            pitch = float(scale[len(scale) // 2])
            for b in range(4):
                stop = 10 if b % 2 == 1 else 16
                onsets = [t for t in range(0, stop, 2) if t % 4 == 0 or rng.random() < density]
                onsets += [t + 1 for t in range(0, stop - 1, 2) if rng.random() < density / 3]
                onsets = sorted(set(onsets))
                for i, t in enumerate(onsets):
                    if t % 8 == 0:
                        chord_tones = [p for p in scale if p % 12 in song.section_chord(s.name, b)]
                        pitch = _nearest(chord_tones, pitch + rng.normal(0, 2.5))
                    else:
                        idx = scale.index(_nearest(scale, pitch)) + int(rng.choice((-2, -1, -1, 1, 1, 2)))
                        pitch = scale[int(np.clip(idx, 0, len(scale) - 1))]
                    end = onsets[i + 1] if i + 1 < len(onsets) else stop
                    cells.append((b, float(t), end - t - 0.3, int(pitch)))
            phrases[s.name] = cells
        for bar in range(s.start_bar, s.end_bar):
            for b, t, length, pitch in phrases[s.name]:
                if b == (bar - s.start_bar) % 4:
                    w.add(bar, t, length, pitch + 12 * part.variant, 100 if t % 4 == 0 else 88)
    return w.notes


def _lead_vocal(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    return _melody(song, part, {"verse", "chorus"}, 57, 76, 0.55, "lead_vocal")


def _vocal_harmony(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    """A diatonic third above the lead vocal, in the choruses only."""
    lead = _melody(song, part, {"verse", "chorus"}, 57, 76, 0.55, "lead_vocal")
    scale = song.scale_pitches(48, 96)
    choruses = [(s.start_bar * song.bar_s, s.end_bar * song.bar_s) for s in _sections(song, {"chorus"})]
    out = []
    for n in lead:
        if any(a - 1e-9 <= n.start < b for a, b in choruses):
            up = scale[scale.index(_nearest(scale, n.pitch)) + 2]
            out.append(pretty_midi.Note(velocity=n.velocity, pitch=up, start=n.start, end=n.end))
    return out


def _lead_guitar(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    return _melody(song, part, {"bridge", "outro"}, 64, 86, 0.8, "lead_gtr")


def _chords(song: Song, part: PartSpec, names: set[str], low: int, high: int, hits: tuple[tuple[int, float], ...],
            velocity: int) -> list[pretty_midi.Note]:
    w = _Writer(song, rng_for(song, part.name))
    for s in _sections(song, names):
        for bar in range(s.start_bar, s.end_bar):
            tones = _chord_pitches(song, bar, low, high)[:4]
            for t, length in hits:
                for p in tones:
                    w.add(bar, t, length, p, velocity)
    return w.notes


def _piano(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    w = _Writer(song, rng_for(song, part.name))
    for s in song.sections:
        hits = {"chorus": (0, 4, 8, 12), "verse": (0, 8), "bridge": (0, 6, 8, 14)}.get(s.name, (0,))
        for bar in range(s.start_bar, s.end_bar):
            left = _pitch_in(song.chord(bar)[0], 36)
            w.add(bar, 0, 15.5, left, 85)
            w.add(bar, 0, 15.5, left + 12, 80)
            right = _chord_pitches(song, bar, 60, 76)[:3]
            for i, t in enumerate(hits):
                end = hits[i + 1] if i + 1 < len(hits) else 16
                for p in right:
                    w.add(bar, t, end - t - 0.2, p, 78)
    return w.notes


def _organ(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    return _chords(song, part, {"chorus"}, 55, 72, ((0, 15.8),), 80)


def _pad(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    names = {"intro", "verse", "bridge", "outro"} if part.variant % 2 == 0 else {"chorus", "bridge"}
    return _chords(song, part, names, 55 + 5 * (part.variant % 3), 74 + 5 * (part.variant % 3), ((0, 16.0),), 75)


def _synth_arp(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    w = _Writer(song, rng_for(song, part.name))
    names = {"chorus", "bridge"} if part.variant % 2 == 0 else {"verse", "outro"}
    for s in _sections(song, names):
        for bar in range(s.start_bar, s.end_bar):
            tones = _chord_pitches(song, bar, 60 + 2 * (part.variant % 4), 84)[:5]
            for t in range(16):
                w.add(bar, t, 0.9, tones[(t * (1 + part.variant % 2)) % len(tones)], 90 if t % 4 == 0 else 70)
    return w.notes


# Section strings: (chord tone index from the top, low, high); whole notes following the chords.
_STRING_VOICES = ((0, 72, 86), (1, 64, 79), (2, 55, 69), (2, 43, 57), (2, 31, 45))


def _strings(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    tone, low, high = _STRING_VOICES[part.variant % len(_STRING_VOICES)]
    w = _Writer(song, rng_for(song, part.name))
    names = {"chorus", "outro"} if tone == 2 and low < 50 else {"chorus", "bridge", "outro"}
    for s in _sections(song, names):
        for bar in range(s.start_bar, s.end_bar):
            if low < 50:  # cellos and basses play the root
                pitch = _pitch_in(song.chord(bar)[0], low)
            else:
                pitches = _chord_pitches(song, bar, low, high)
                pitch = pitches[-1 - tone] if len(pitches) > tone else pitches[0]
            w.add(bar, 0, 15.8, pitch, 80)
    return w.notes


def _backing_vocal(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    """Chorus harmonies ("aahs", half notes on a chord tone) or, for odd variants, "oohs" in the bridge and choruses."""
    voice = part.variant % 3
    octave = 12 * ((part.variant // 3) % 2)
    w = _Writer(song, rng_for(song, part.name))
    oohs = part.variant % 2 == 1
    for s in _sections(song, {"chorus", "bridge"} if oohs else {"chorus"}):
        for bar in range(s.start_bar, s.end_bar):
            tones = _chord_pitches(song, bar, 55 - octave // 2, 74 - octave // 2)
            pitch = tones[-1 - min(voice, len(tones) - 1)]
            if oohs:
                w.add(bar, 0, 15.8, pitch, 80)
            else:
                w.add(bar, 0, 7.6, pitch, 88)
                w.add(bar, 8, 7.6, pitch, 84)
    return w.notes


def _fx(song: Song, part: PartSpec) -> list[pretty_midi.Note]:
    """Effect events: risers and reverse cymbals end on a chorus downbeat, impacts start on it, sweeps open the
    intro, the bridge and the outro. One note per event, spanning it; the pitch is unused."""
    w = _Writer(song, rng_for(song, part.name))
    kind = part.sound
    for i, s in enumerate(song.sections):
        if kind in ("riser", "reverse") and s.name == "chorus" and i > 0:
            n = min(2 if kind == "riser" else 1, song.sections[i - 1].n_bars)
            w.add(s.start_bar - n, 0, 16 * n, 60, 100, jitter=0)
        elif kind == "impact" and s.name == "chorus":
            w.add(s.start_bar, 0, 16 * min(2, s.n_bars), 60, 100, jitter=0)
        elif kind == "sweep" and s.name in ("intro", "bridge", "outro"):
            w.add(s.start_bar, 0, 16 * min(2, s.n_bars), 60, 100, jitter=0)
    return w.notes


COMPOSERS = {
    "kit": _kit_part,
    "percussion": _percussion_part,
    "bass": _bass,
    "rhythm_gtr": _rhythm_guitar,
    "clean_gtr": _clean_guitar,
    "acoustic": _acoustic,
    "lead_gtr": _lead_guitar,
    "piano": _piano,
    "organ": _organ,
    "pad": _pad,
    "synth_arp": _synth_arp,
    "strings": _strings,
    "lead_vocal": _lead_vocal,
    "vocal_harmony": _vocal_harmony,
    "backing_vocal": _backing_vocal,
    "fx": _fx,
}


def compose(song: Song, part: PartSpec) -> pretty_midi.Instrument:
    """The part's notes for this song, sorted by start time."""
    instrument = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum, name=part.name)
    instrument.notes = sorted(COMPOSERS[part.composer](song, part), key=lambda n: (n.start, n.pitch))
    return instrument


def humanise(notes: list[pretty_midi.Note], song: Song, part: PartSpec, take: int) -> list[pretty_midi.Note]:
    """Another performance of the same notes: take 0 is the notes as written; other takes move each onset by a
    few milliseconds (sd 8 ms) and vary velocities, as a double-tracked part does."""
    if take == 0:
        return list(notes)
    rng = rng_for(song, part.name, "take", take)
    out = []
    for n in notes:
        shift = float(np.clip(rng.normal(0, 0.008), -0.02, 0.02))
        vel = int(np.clip(n.velocity + rng.integers(-10, 11), 1, 127))
        out.append(pretty_midi.Note(velocity=vel, pitch=n.pitch, start=max(0.0, n.start + shift), end=n.end + shift))
    return out


@dataclass(frozen=True)
class Region:
    """A span of the song where a part plays, on bar lines: [start_s, end_s)."""

    start_s: float
    end_s: float


def play_regions(song: Song, notes: list[pretty_midi.Note], *, merge_bars: int = 1) -> list[Region]:
    """Bar-aligned spans covering the notes; spans separated by at most ``merge_bars`` silent bars are joined
    (an engineer cuts a track where it stops for a while, not at every rest)."""
    if not notes:
        return []
    bar_s = song.bar_s
    eps = 1e-6  # a note written on a bar line must not fall into the previous bar by rounding
    active = sorted({b for n in notes for b in range(int((n.start + eps) // bar_s), int((n.end - eps) // bar_s) + 1)})
    runs = [[active[0], active[0] + 1]]
    for b in active[1:]:
        if b - runs[-1][1] <= merge_bars:
            runs[-1][1] = b + 1
        else:
            runs.append([b, b + 1])
    return [Region(a * bar_s, b * bar_s) for a, b in runs]


@dataclass(frozen=True)
class SongSummary:
    """What the manifest records about a song."""

    seed: int
    tempo_bpm: int
    key: str
    length_s: float
    sections: tuple[tuple[str, float, float], ...]


def summarise(song: Song) -> SongSummary:
    sections = tuple((s.name, s.start_bar * song.bar_s, s.end_bar * song.bar_s) for s in song.sections)
    return SongSummary(song.seed, song.tempo_bpm, song.key_name, song.length_s, sections)
