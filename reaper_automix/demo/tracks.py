"""The demo session's track list: names, folders, which part each track records and through which "microphone".

A fixed catalogue of a band recording (drums with close and ambient mics, bass DI and amp, guitars, keys,
strings and pads, lead and backing vocals, percussion, effects) supplies the first tracks; larger sessions add
tracks round-robin from open-ended families (more backing-vocal pairs, string desks, guitar layers, synth layers,
percussion, effects). For small sessions the catalogue's priorities pick the tracks that matter most.

``n_tracks`` counts the tracks that carry audio; folder tracks come on top.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..errors import AutomixError
from . import arrangement as A
from .arrangement import PartSpec

MIN_TRACKS = 8
MAX_TRACKS = 512

DRUMS = ("Drums",)
BASS = ("Bass",)
GUITARS = ("Guitars",)
KEYS = ("Keys",)
STRINGS = ("Strings & Pads",)
VOCALS = ("Vocals",)
BACKING = ("Vocals", "Backing Vocals")
PERCUSSION = ("Percussion",)
FX = ("FX",)

# Project order of the folders (a nested folder follows its parent's direct tracks).
FOLDERS = (DRUMS, BASS, GUITARS, KEYS, STRINGS, VOCALS, BACKING, PERCUSSION, FX)

# REAPER colours per top-level folder (r, g, b).
FOLDER_COLOURS = {
    "Drums": (200, 70, 60), "Bass": (220, 150, 50), "Guitars": (210, 200, 70), "Keys": (90, 180, 90),
    "Strings & Pads": (70, 170, 170), "Vocals": (80, 120, 210), "Percussion": (160, 90, 200), "FX": (150, 150, 150),
}

NARROWBAND_HIGHPASS_HZ = 5000.0  # a track high-passed at or above this is "narrow-band high-frequency"


@dataclass(frozen=True)
class Mic:
    """How a track hears its part: a close or ambient microphone, a DI, or a line-level synth.

    ``kit_side``: set for overhead/room pairs, -1 (left) .. 1 (right): the track then hears every drum part, each
    panned by its place in the kit and delayed by its distance. ``room``: add the room's reverberation.
    ``bleed``: other parts this mic picks up, (part name, gain dB). ``presence``: a peaking boost (Hz, dB).
    ``stereo``: "mono" (mid of the render), "keep" (the SoundFont's stereo) or "widen" (mid/side widening).
    """

    highpass_hz: float = 0.0
    highpass_order: int = 2
    lowpass_hz: float = 0.0
    lowpass_order: int = 2
    presence: tuple[float, float] | None = None
    delay_ms: float = 0.0
    invert: bool = False
    drive: float = 0.0
    bleed: tuple[tuple[str, float], ...] = ()
    kit_side: float | None = None
    room: bool = False
    stereo: str = "mono"


@dataclass(frozen=True)
class TrackSpec:
    name: str
    folder: tuple[str, ...]
    role: str  # kick, snare, toms, hihat, cymbals, overheads, room, bass, guitar, keys, strings, pad,
    #            lead_vocal, backing_vocal, percussion, fx
    part: PartSpec
    take: int = 0  # tracks sharing part and take share one performance (multi-miked sources)
    pan: float = 0.0  # where a mix would put it, -1..1 (the demo project itself leaves pans centred)
    mic: Mic = Mic()
    priority: int = 1000  # lower: kept in smaller sessions

    @property
    def channels(self) -> int:
        return 1 if self.mic.stereo == "mono" else 2

    @property
    def narrowband_hf(self) -> bool:
        return self.mic.highpass_hz >= NARROWBAND_HIGHPASS_HZ


def _kit(name: str, *notes: int, release_s: float = 0.5) -> PartSpec:
    return PartSpec(name, "kit", is_drum=True, drum_notes=notes, release_s=release_s)


def _perc(name: str, *notes: int) -> PartSpec:
    return PartSpec(name, "percussion", is_drum=True, drum_notes=notes, release_s=0.4)


KICK = _kit("kick", A.KICK)
SNARE = _kit("snare", A.SNARE, A.SIDESTICK)
HIHAT = _kit("hihat", A.CLOSED_HAT, A.PEDAL_HAT, A.OPEN_HAT)
RIDE = _kit("ride", A.RIDE, release_s=1.5)
CRASH = _kit("crash", A.CRASH, release_s=2.0)
TOM1 = _kit("tom1", A.TOM_HIGH, release_s=0.8)
TOM2 = _kit("tom2", A.TOM_MID, release_s=0.8)
TOM3 = _kit("tom3", A.TOM_FLOOR, release_s=0.8)

# Where each drum part sits for the overheads and rooms: (pan -1..1 from the audience, gain dB at the overheads).
KIT_LAYOUT = {
    "kick": (0.0, -8.0), "snare": (-0.15, -3.0), "hihat": (-0.6, -4.0), "ride": (0.65, -2.0),
    "crash": (-0.45, 0.0), "tom1": (-0.2, -3.0), "tom2": (0.2, -3.0), "tom3": (0.55, -3.0),
}
KIT_PARTS = {p.name: p for p in (KICK, SNARE, HIHAT, RIDE, CRASH, TOM1, TOM2, TOM3)}

BASS_PART = PartSpec("bass", "bass", program=33, release_s=0.4)
RHYTHM_GTR = PartSpec("rhythm_gtr", "rhythm_gtr", program=29)
LEAD_GTR = PartSpec("lead_gtr", "lead_gtr", program=30, release_s=0.8)
CLEAN_GTR = PartSpec("clean_gtr", "clean_gtr", program=27, release_s=1.0)
ACOUSTIC = PartSpec("acoustic", "acoustic", program=25, release_s=1.0)
PIANO = PartSpec("piano", "piano", program=0, release_s=1.0)
ORGAN = PartSpec("organ", "organ", program=17)
SYNTH = PartSpec("synth", "synth_arp", program=81, release_s=0.3)
PAD = PartSpec("pad", "pad", program=89, release_s=1.5)
STRING_PARTS = tuple(
    PartSpec(name, "strings", program=program, variant=i, release_s=1.0)
    for i, (name, program) in enumerate(
        (("violins1", 48), ("violins2", 48), ("violas", 41), ("cellos", 42), ("contrabass", 43)))
)
LEAD_VOCAL = PartSpec("lead_vocal", "lead_vocal", program=54, release_s=0.6)
VOCAL_HARMONY = PartSpec("vocal_harmony", "vocal_harmony", program=54, release_s=0.6)


def _bv(variant: int) -> PartSpec:
    return PartSpec(f"bv{variant}", "backing_vocal", program=(52, 53, 54)[variant % 3], variant=variant,
                    release_s=0.8)


def _fx(name: str, sound: str) -> PartSpec:
    return PartSpec(name, "fx", sound=sound, release_s=1.5 if sound == "impact" else 0.3)


_ROOM = dict(highpass_hz=60.0, lowpass_hz=9000.0, room=True)
_OH = dict(highpass_hz=150.0)

# The catalogue in project order within each folder: (name, folder, role, part, take, pan, mic, priority).
CATALOGUE: tuple[TrackSpec, ...] = (
    TrackSpec("Kick In", DRUMS, "kick", KICK, 0, 0.0, Mic(highpass_hz=30, presence=(4000, 8)), 2),
    TrackSpec("Kick Out", DRUMS, "kick", KICK, 0, 0.0, Mic(lowpass_hz=1800, delay_ms=1.5), 10),
    TrackSpec("Snare Top", DRUMS, "snare", SNARE, 0, 0.0,
              Mic(highpass_hz=80, bleed=(("hihat", -16.0), ("kick", -22.0))), 3),
    # A bottom mic faces the top one: opposite polarity. Darker, as asked of this demo (a real one is brighter).
    TrackSpec("Snare Bottom", DRUMS, "snare", SNARE, 0, 0.0,
              Mic(highpass_hz=120, lowpass_hz=4500, delay_ms=0.5, invert=True, bleed=(("kick", -20.0),)), 14),
    TrackSpec("Tom 1", DRUMS, "toms", TOM1, 0, -0.2, Mic(highpass_hz=70, bleed=(("snare", -20.0),)), 20),
    TrackSpec("Tom 2", DRUMS, "toms", TOM2, 0, 0.2, Mic(highpass_hz=60, bleed=(("snare", -22.0),)), 24),
    TrackSpec("Floor Tom", DRUMS, "toms", TOM3, 0, 0.55, Mic(highpass_hz=50, bleed=(("snare", -22.0),)), 17),
    TrackSpec("Hi-Hat", DRUMS, "hihat", HIHAT, 0, -0.6,
              Mic(highpass_hz=6000, highpass_order=8, bleed=(("snare", -10.0),)), 4),
    TrackSpec("Ride", DRUMS, "cymbals", RIDE, 0, 0.65, Mic(highpass_hz=400, bleed=(("snare", -18.0),)), 30),
    TrackSpec("OH L", DRUMS, "overheads", CRASH, 0, -0.8, Mic(kit_side=-1.0, **_OH), 5),
    TrackSpec("OH R", DRUMS, "overheads", CRASH, 0, 0.8, Mic(kit_side=1.0, **_OH), 6),
    TrackSpec("Room L", DRUMS, "room", CRASH, 0, -1.0, Mic(kit_side=-1.0, delay_ms=12, **_ROOM), 22),
    TrackSpec("Room R", DRUMS, "room", CRASH, 0, 1.0, Mic(kit_side=1.0, delay_ms=13, **_ROOM), 23),
    TrackSpec("Bass DI", BASS, "bass", BASS_PART, 0, 0.0, Mic(), 7),
    TrackSpec("Bass Amp", BASS, "bass", BASS_PART, 0, 0.0,
              Mic(highpass_hz=45, lowpass_hz=2500, drive=3.0, delay_ms=2.0), 12),
    TrackSpec("Rhythm Gtr L", GUITARS, "guitar", RHYTHM_GTR, 1, -0.8, Mic(highpass_hz=80, lowpass_hz=7000), 8),
    TrackSpec("Rhythm Gtr R", GUITARS, "guitar", RHYTHM_GTR, 2, 0.8, Mic(highpass_hz=80, lowpass_hz=7000), 9),
    TrackSpec("Lead Gtr", GUITARS, "guitar", LEAD_GTR, 0, 0.1, Mic(highpass_hz=100, lowpass_hz=8000), 15),
    TrackSpec("Clean Gtr", GUITARS, "guitar", CLEAN_GTR, 0, -0.4, Mic(highpass_hz=90), 26),
    TrackSpec("Acoustic Gtr", GUITARS, "guitar", ACOUSTIC, 0, 0.4, Mic(highpass_hz=70), 18),
    TrackSpec("Piano L", KEYS, "keys", PIANO, 0, -0.6, Mic(lowpass_hz=6000), 11),
    TrackSpec("Piano R", KEYS, "keys", PIANO, 0, 0.6, Mic(highpass_hz=200, delay_ms=0.8), 19),
    TrackSpec("Organ", KEYS, "keys", ORGAN, 0, -0.3, Mic(stereo="widen"), 28),
    TrackSpec("Synth", KEYS, "keys", SYNTH, 0, 0.3, Mic(stereo="widen"), 27),
    TrackSpec("Violins 1", STRINGS, "strings", STRING_PARTS[0], 0, -0.6, Mic(highpass_hz=150), 31),
    TrackSpec("Violins 2", STRINGS, "strings", STRING_PARTS[1], 0, -0.3, Mic(highpass_hz=130), 37),
    TrackSpec("Violas", STRINGS, "strings", STRING_PARTS[2], 0, 0.2, Mic(highpass_hz=100), 38),
    TrackSpec("Cellos", STRINGS, "strings", STRING_PARTS[3], 0, 0.5, Mic(highpass_hz=50), 39),
    TrackSpec("Contrabass", STRINGS, "strings", STRING_PARTS[4], 0, 0.7, Mic(highpass_hz=30), 40),
    TrackSpec("Pad", STRINGS, "pad", PAD, 0, 0.0, Mic(stereo="widen"), 13),
    TrackSpec("Lead Vocal", VOCALS, "lead_vocal", LEAD_VOCAL, 0, 0.0, Mic(highpass_hz=90), 1),
    TrackSpec("Lead Vocal Double", VOCALS, "lead_vocal", LEAD_VOCAL, 1, 0.0, Mic(highpass_hz=90), 16),
    TrackSpec("Lead Vocal Harmony", VOCALS, "lead_vocal", VOCAL_HARMONY, 0, 0.15, Mic(highpass_hz=100), 29),
    *(
        TrackSpec(f"BV {voice} {side}", BACKING, "backing_vocal", _bv(variant), take, pan, Mic(highpass_hz=120),
                  priority)
        for voice, variant, priorities in (("High", 0, (21, 32)), ("Oohs", 1, (35, 36)), ("Low", 2, (33, 34)),
                                          ("Mid", 4, (25, 41)))
        for side, take, pan, priority in (("L", 1, -0.5, priorities[0]), ("R", 2, 0.5, priorities[1]))
    ),
    TrackSpec("Shaker", PERCUSSION, "percussion", _perc("shaker", A.SHAKER), 0, 0.5,
              Mic(highpass_hz=5500, highpass_order=8), 21),
    TrackSpec("Tambourine", PERCUSSION, "percussion", _perc("tambourine", A.TAMBOURINE), 0, -0.5,
              Mic(highpass_hz=500), 34),
    TrackSpec("Conga Hi", PERCUSSION, "percussion", _perc("conga_hi", A.CONGA_HIGH), 0, 0.3, Mic(highpass_hz=80), 42),
    TrackSpec("Conga Lo", PERCUSSION, "percussion", _perc("conga_lo", A.CONGA_LOW), 0, 0.4, Mic(highpass_hz=60), 43),
    TrackSpec("Claps", PERCUSSION, "percussion", _perc("claps", A.CLAP), 0, 0.0, Mic(highpass_hz=200), 44),
    TrackSpec("Cowbell", PERCUSSION, "percussion", _perc("cowbell", A.COWBELL), 0, -0.3, Mic(highpass_hz=300), 48),
    TrackSpec("Riser", FX, "fx", _fx("riser", "riser"), 0, 0.0, Mic(highpass_hz=150, stereo="keep"), 25),
    TrackSpec("Impact", FX, "fx", _fx("impact", "impact"), 0, 0.0, Mic(stereo="keep"), 36),
    TrackSpec("Noise Sweep", FX, "fx", _fx("sweep", "sweep"), 0, 0.0,
              Mic(highpass_hz=6000, highpass_order=8, stereo="keep"), 33),
    TrackSpec("Reverse Cymbal", FX, "fx", _fx("reverse", "reverse"), 0, 0.0,
              Mic(highpass_hz=2500, stereo="keep"), 45),
)


def _expansions() -> Iterator[list[TrackSpec]]:
    """Further tracks for large sessions, one family at a time in turn; each step gives one track or an L/R pair."""
    hf = dict(highpass_hz=5500.0, highpass_order=8)
    percussion = (
        ("Cabasa", _perc("cabasa", A.CABASA), Mic(**hf)),
        ("Triangle", _perc("triangle", A.TRIANGLE), Mic(**hf)),
        ("Bongo Hi", _perc("bongo_hi", A.BONGO_HIGH), Mic(highpass_hz=100)),
        ("Bongo Lo", _perc("bongo_lo", A.BONGO_LOW), Mic(highpass_hz=80)),
        ("Maracas", _perc("maracas", A.MARACAS), Mic(**hf)),
        ("Woodblock", _perc("woodblock", A.WOODBLOCK), Mic(highpass_hz=300)),
    )
    drums_extra = (
        TrackSpec("Kick Sub", DRUMS, "kick", KICK, 0, 0.0, Mic(lowpass_hz=120, lowpass_order=4, delay_ms=2.5)),
        TrackSpec("Snare Side", DRUMS, "snare", SNARE, 0, 0.0,
                  Mic(highpass_hz=200, delay_ms=0.7, bleed=(("hihat", -12.0), ("tom1", -16.0)))),
        TrackSpec("Hi-Hat Top", DRUMS, "hihat", HIHAT, 0, -0.6,
                  Mic(highpass_hz=7000, highpass_order=8, delay_ms=0.3, bleed=(("snare", -14.0),))),
        TrackSpec("Room Mono", DRUMS, "room", CRASH, 0, 0.0, Mic(kit_side=0.0, delay_ms=20, **_ROOM)),
    )
    vocals_extra = (
        TrackSpec("Lead Vocal Double 2", VOCALS, "lead_vocal", LEAD_VOCAL, 2, 0.0, Mic(highpass_hz=90)),
        TrackSpec("Lead Vocal Octave", VOCALS, "lead_vocal", replace(LEAD_VOCAL, name="lead_vocal_octave",
                                                                    program=53, variant=-1), 0, 0.0,
                  Mic(highpass_hz=70)),
    )
    string_bases = [(t.name, t.part, t.pan, t.mic) for t in CATALOGUE if t.role == "strings"][:4]
    guitar_programs = (30, 27, 29, 28)
    synth_programs = (90, 62, 81, 95, 88, 80)
    fx_kinds = (("Sweep", "sweep", Mic(highpass_hz=6000, highpass_order=8, stereo="keep")),
                ("Riser", "riser", Mic(highpass_hz=150, stereo="keep")),
                ("Impact", "impact", Mic(stereo="keep")),
                ("Reverse", "reverse", Mic(highpass_hz=2500, stereo="keep")))

    def backing_pairs() -> Iterator[list[TrackSpec]]:
        for k in itertools.count(1):
            part = _bv(5 + k)
            pan = 0.3 + 0.1 * (k % 5)
            yield [TrackSpec(f"BV Harmony {k} {side}", BACKING, "backing_vocal", part, take, s * pan,
                             Mic(highpass_hz=120)) for side, take, s in (("L", 1, -1), ("R", 2, 1))]

    def string_desks() -> Iterator[list[TrackSpec]]:
        for k in itertools.count(2):
            for name, part, pan, mic in string_bases:
                yield [TrackSpec(f"{name} Desk {k}", STRINGS, "strings", part, k, pan * 0.8, mic)]

    def guitar_layers() -> Iterator[list[TrackSpec]]:
        """One more rhythm pair, then single overdubs of the clean and acoustic parts (new takes)."""
        for k in itertools.count(2):
            if k == 2:
                part = replace(RHYTHM_GTR, name=f"rhythm_gtr_{k}", program=guitar_programs[k % len(guitar_programs)])
                yield [TrackSpec(f"Rhythm Gtr {side} {k}", GUITARS, "guitar", part, take, pan,
                                 Mic(highpass_hz=90, lowpass_hz=6500))
                       for side, take, pan in (("L", 1, -0.6), ("R", 2, 0.6))]
            elif k % 2:
                yield [TrackSpec(f"Clean Gtr {k // 2 + 1}", GUITARS, "guitar", CLEAN_GTR, k, 0.5, Mic(highpass_hz=90))]
            else:
                yield [TrackSpec(f"Acoustic Gtr {k // 2}", GUITARS, "guitar", ACOUSTIC, k, -0.5, Mic(highpass_hz=70))]

    def synth_layers() -> Iterator[list[TrackSpec]]:
        for k in itertools.count(1):
            program = synth_programs[k % len(synth_programs)]
            composer, folder, role = (("synth_arp", KEYS, "keys") if k % 2 else ("pad", STRINGS, "pad"))
            part = PartSpec(f"{composer}_{k}", composer, program=program, variant=k, release_s=1.0)
            name = f"Synth Layer {k}" if k % 2 else f"Pad {k}"
            yield [TrackSpec(name, folder, role, part, 0, 0.0, Mic(highpass_hz=100, stereo="widen"))]

    def percussion_family() -> Iterator[list[TrackSpec]]:
        for name, part, mic in percussion:
            yield [TrackSpec(name, PERCUSSION, "percussion", part, 0, 0.3, mic)]
        for k in itertools.count(2):
            yield [TrackSpec(f"Shaker {k}", PERCUSSION, "percussion", _perc("shaker", A.SHAKER), k, -0.4,
                             Mic(highpass_hz=5500, highpass_order=8))]

    def fx_family() -> Iterator[list[TrackSpec]]:
        for k in itertools.count(2):
            label, sound, mic = fx_kinds[k % len(fx_kinds)]
            yield [TrackSpec(f"FX {label} {k}", FX, "fx", _fx(f"{sound}_{k}", sound), 0, 0.0, mic)]

    finite = iter([[t] for t in drums_extra + vocals_extra])
    families = [backing_pairs(), string_desks(), guitar_layers(), percussion_family(), synth_layers(),
                fx_family(), finite]
    while families:
        for family in list(families):
            chunk = next(family, None)
            if chunk is None:
                families.remove(family)
            else:
                yield chunk


def build_track_list(n_tracks: int) -> list[TrackSpec]:
    """The ``n_tracks`` audio tracks of a demo session, in project order (grouped by :data:`FOLDERS`).

    Fewer tracks than the catalogue holds: the catalogue's highest priorities. More: catalogue plus expansions.
    """
    if not MIN_TRACKS <= n_tracks <= MAX_TRACKS:
        raise AutomixError(f"demo sessions have {MIN_TRACKS} to {MAX_TRACKS} audio tracks, not {n_tracks}")
    if n_tracks <= len(CATALOGUE):
        chosen = sorted(CATALOGUE, key=lambda t: t.priority)[:n_tracks]
    else:
        chosen = list(CATALOGUE)
        for chunk in _expansions():
            chosen.extend(chunk[: n_tracks - len(chosen)])
            if len(chosen) == n_tracks:
                break
    catalogue_order = {id(t): i for i, t in enumerate(CATALOGUE)}
    order = [catalogue_order.get(id(t), len(CATALOGUE) + i) for i, t in enumerate(chosen)]
    ranked = sorted(zip(order, chosen), key=lambda p: (FOLDERS.index(p[1].folder), p[0]))
    return [t for _, t in ranked]
