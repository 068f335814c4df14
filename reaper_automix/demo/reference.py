"""A reference mix for the demo: another song mixed by rule, as an engineer would start.

Each track is brought to a common RMS level over the time it plays, then set to its role's level (the
knowledge-engineering priors Diff-MST uses, mixing.md section 4; the lead vocal on top), an equal share of it
when several tracks have one role, panned with a constant-power law, summed, high-passed at 30 Hz, lightly
bus-compressed (2:1 above the mix's RMS + 3 dB) and normalised to peaks of -1 dBFS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
from scipy import signal

from ..units import db_to_gain
from .mics import butterworth
from .render import TrackSignal

# Track level per role relative to the common RMS, dB. The first nine are the middle of Diff-MST's prior ranges;
# the rest are set by the same logic (supporting parts below the rhythm section).
ROLE_LEVEL_DB = {
    "lead_vocal": -7.5, "backing_vocal": -9.5, "bass": -10.0, "guitar": -10.0, "snare": -10.5, "kick": -12.0,
    "hihat": -11.5, "keys": -11.5, "percussion": -14.0,
    "toms": -13.0, "cymbals": -14.0, "overheads": -12.0, "room": -16.0, "strings": -13.0, "pad": -14.0, "fx": -16.0,
}
TRACK_RMS_DBFS = -20.0
PEAK_DBFS = -1.0


def _pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power (-3 dB centre) gains for pan -1 (left) .. 1 (right)."""
    angle = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))


def bus_compress(mix: np.ndarray, sample_rate: int, ratio: float = 2.0, window_ms: float = 30.0) -> np.ndarray:
    """Stereo-linked RMS compression, threshold 3 dB above the mix's overall RMS."""
    power = np.mean(mix.astype(np.float64) ** 2, axis=1)
    a = np.exp(-1.0 / (window_ms * 1e-3 * sample_rate))
    envelope = signal.lfilter([1.0 - a], [1.0, -a], power)
    level_db = 10.0 * np.log10(np.maximum(envelope, 1e-12))
    threshold_db = 10.0 * np.log10(max(float(np.mean(power)), 1e-12)) + 3.0
    gain_db = -np.maximum(level_db - threshold_db, 0.0) * (1.0 - 1.0 / ratio)
    return mix * (10.0 ** (gain_db / 20.0))[:, None]


def mix_reference(tracks: Iterable[TrackSignal], n_samples: int, sample_rate: int,
                  role_counts: Counter) -> np.ndarray:
    """The reference mix, ``(n_samples, 2)`` float32 with peaks at -1 dBFS."""
    mix = np.zeros((n_samples, 2), dtype=np.float64)
    for track in tracks:
        x = track.audio.astype(np.float64)
        playing = np.concatenate([x[a:b] for a, b in track.spans])
        rms = float(np.sqrt(np.mean(playing**2)))
        if rms == 0.0:
            continue
        spec = track.spec
        level_db = ROLE_LEVEL_DB[spec.role] - 10.0 * np.log10(role_counts[spec.role])
        x = x * (db_to_gain(TRACK_RMS_DBFS + level_db) / rms)
        left, right = _pan_gains(spec.pan)
        if x.ndim == 1:
            mix[:, 0] += left * x
            mix[:, 1] += right * x
        else:  # a stereo track: balance, keeping the centre at unity
            mix[:, 0] += x[:, 0] * left * np.sqrt(2.0)
            mix[:, 1] += x[:, 1] * right * np.sqrt(2.0)
    mix = butterworth(mix, 30.0, "highpass", 2, sample_rate).astype(np.float64)
    mix = bus_compress(mix, sample_rate)
    peak = float(np.max(np.abs(mix))) or 1.0
    return (mix * (db_to_gain(PEAK_DBFS) / peak)).astype(np.float32)
