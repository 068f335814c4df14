"""Small REAPER projects with real media for pipeline tests: signals with known content, written as WAV files
next to a project built with the independent test builder (rpp_helpers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from rpp_helpers import TrackSpec, project_text

SR = 44100


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=float)
    f[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(f), n)
    return (x / np.max(np.abs(x))).astype(np.float32)


def band_noise(n: int, low_hz: float, high_hz: float, rng: np.random.Generator) -> np.ndarray:
    sos = signal.butter(6, [low_hz, high_hz], btype="bandpass", fs=SR, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n))
    return (x / np.max(np.abs(x))).astype(np.float32)


def harmonic_tone(n: int, f0_hz: float, n_harmonics: int = 8) -> np.ndarray:
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * f0_hz * k * t) / k for k in range(1, n_harmonics + 1))
    return (x / np.max(np.abs(x))).astype(np.float32)


@dataclass
class AudioTrack:
    name: str
    audio: np.ndarray | None = None  # mono or (samples, channels); None: a folder or MIDI track
    depth: int = 0
    gain_db: float = 0.0  # scaling written into the media itself
    take_volume: float = 1.0
    volume: float = 1.0
    midi: bool = False
    mute: bool = False
    extra: list[str] = field(default_factory=list)
    rate: int = SR  # the media file's sample rate


def write_project(folder: Path, tracks: list[AudioTrack], name: str = "song.rpp", project_rate: int = SR) -> Path:
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    specs = []
    for i, t in enumerate(tracks):
        body: list[str] = list(t.extra)
        if t.audio is not None:
            file = media / f"t{i:02d}.wav"
            sf.write(file, t.audio * np.float32(10 ** (t.gain_db / 20)), t.rate, subtype="FLOAT")
            length = t.audio.shape[0] / t.rate
            body += [
                "<ITEM",
                "  POSITION 0",
                f"  LENGTH {length:.10g}",
                "  LOOP 0",
                f"  MUTE {int(t.mute)} 0",
                f"  NAME {t.name.replace(' ', '_')}",
                f"  VOLPAN 1 0 {t.take_volume:.14g} -1",
                "  SOFFS 0",
                "  PLAYRATE 1 1 0 -1 0 0.0025",
                "  <SOURCE WAVE",
                f'    FILE "media/{file.name}"',
                "  >",
                ">",
            ]
        elif t.midi:
            body += ["<ITEM", "  POSITION 0", "  LENGTH 2", "  <SOURCE MIDI", "    HASDATA 1 960 QN", "  >", ">"]
        specs.append(TrackSpec(name=t.name, depth=t.depth, volume=f"{t.volume:.14g}", body=body))
    path = folder / name
    path.write_text(project_text(specs, header=["RIPPLE 0", f"SAMPLERATE {project_rate} 0 0"]))
    return path
