"""Sound sources for the demo: General MIDI parts rendered dry with the SoundFont that ships inside pretty_midi
(TimGM6mb), through tinysoundfont; risers, impacts, sweeps and reverse cymbals synthesised from noise and sines.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pretty_midi
from scipy import signal

from ..errors import AutomixError

SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


@lru_cache(maxsize=2)
def _soundfont_bytes(path: Path = SOUNDFONT) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        what = "the General MIDI SoundFont shipped with pretty_midi" if path == SOUNDFONT else "the SoundFont"
        raise AutomixError(f"{what} is missing: {path} ({exc})")


class SoundFontPlayer:
    """Plays note lists on General MIDI programs (or the GM drum kit) of a General MIDI SoundFont (SF2 or SF3):
    by default TimGM6mb, the one that ships inside pretty_midi.

    One player loads the SoundFont once; each :meth:`render` starts from silence (all voices cut), so a render
    does not depend on what was rendered before.
    """

    def __init__(self, sample_rate: int, soundfont: Path = SOUNDFONT):
        try:
            import tinysoundfont
        except ImportError as exc:
            raise AutomixError("the demo generator needs tinysoundfont (pip install --no-deps tinysoundfont)") from exc
        self.sample_rate = sample_rate
        self._synth = tinysoundfont.Synth(samplerate=sample_rate)
        self.soundfont = Path(soundfont)
        self._sfid = self._synth.sfload(_soundfont_bytes(self.soundfont))

    def render(self, notes: list[pretty_midi.Note], program: int, is_drum: bool, n_samples: int) -> np.ndarray:
        """``(n_samples, 2)`` float32 audio of ``notes``. Events fall on their exact sample; at equal times
        note-offs come first so a repeated key retriggers. The synthesiser adds no reverb or chorus: it is dry."""
        synth, rate = self._synth, self.sample_rate
        synth.sounds_off()
        synth.program_select(0, self._sfid, 0, 0 if is_drum else program, is_drums=is_drum)
        events = []
        for n in notes:
            on = int(round(n.start * rate))
            off = max(on + 1, int(round(n.end * rate)))
            if on < n_samples:
                events.append((on, 1, n.pitch, n.velocity))
                events.append((min(off, n_samples), 0, n.pitch, 0))
        events.sort()
        out = np.zeros((n_samples, 2), dtype=np.float32)
        buffer = memoryview(out.reshape(-1)).cast("B")
        frame_bytes = 2 * 4
        position = 0
        for sample, is_on, pitch, velocity in events:
            if sample > position:
                synth.generate(sample - position, buffer=buffer[position * frame_bytes : sample * frame_bytes])
                position = sample
            if is_on:
                synth.noteon(0, pitch, velocity)
            else:
                synth.noteoff(0, pitch)
        if position < n_samples:
            synth.generate(n_samples - position, buffer=buffer[position * frame_bytes :])
        return out


def synthesise_fx(sound: str, notes: list[pretty_midi.Note], n_samples: int, sample_rate: int,
                  rng: np.random.Generator) -> np.ndarray:
    """A stereo effect for each note's span: ``riser`` (noise and a sine sweeping up a decade, swelling to the
    end), ``reverse`` (noise swelling steeply, cut at the end), ``impact`` (a falling low sine and a noise burst,
    decaying), ``sweep`` (noise rising and falling; its track high-passes it). Returns ``(n_samples, 2)`` float32."""
    out = np.zeros((n_samples, 2), dtype=np.float32)
    for n in notes:
        start = int(round(n.start * sample_rate))
        stop = min(n_samples, int(round(n.end * sample_rate)))
        if stop <= start:
            continue
        count = stop - start
        t = np.arange(count) / sample_rate
        frac = t / (count / sample_rate)
        noise = rng.standard_normal((count, 2))
        if sound == "riser":
            freq = 200.0 * 10.0 ** frac
            tone = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)[:, None]
            x = (0.6 * noise + 0.8 * tone) * (frac**2)[:, None]
        elif sound == "reverse":
            x = noise * (frac**4)[:, None]
        elif sound == "impact":
            freq = 35.0 + 70.0 * np.exp(-t / 0.12)
            boom = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-t / 0.7)
            burst = signal.lfilter([0.2], [1.0, -0.8], noise, axis=0) * np.exp(-t / 0.06)[:, None]
            x = boom[:, None] + burst
        elif sound == "sweep":
            x = noise * (np.sin(np.pi * frac) ** 2)[:, None]
        else:
            raise ValueError(f"unknown effect sound {sound!r}")
        out[start:stop] += x.astype(np.float32)
    return out
