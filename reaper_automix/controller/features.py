"""What the controller hears: per-window, per-band energies of the left and right channels and their cross term.

A stereo signal ``x`` shaped ``(2, samples)`` (a stem or a reference mix) is cut into ``n_windows`` equal windows
that tile it from the first sample to the last (the whole song, not one excerpt). In each window
``frames_per_window`` Hann frames of :data:`N_FFT` samples are taken at evenly spaced positions, and their
energies are averaged per Bark band (:data:`~reaper_automix.matching.features.BARK_EDGES_HZ`, 24 bands):

* ``energy[w, 0, b]``: mean square of ``L`` in band ``b`` of window ``w``; ``energy[w, 1, b]``: of ``R``;
  ``energy[w, 2, b]``: the mean of ``L * R`` (the cross term: with it, mid ``(LL + RR + 2 LR) / 4`` and side
  ``(LL + RR - 2 LR) / 4`` energies follow, and so does where in the stereo field each band sits);
* ``frame_power[w, f]``: each frame's broadband mean square (both channels), for the compressor's levels;
* ``peak[w]``: the largest absolute sample in the window's frames.

The energies are sums, so a mix's energies follow from its stems' energies once gain, pan and EQ are known
(cross-stem correlation neglected): that is what the training loss uses (:mod:`.losses`). Sampling frames
instead of reading every sample keeps the cost independent of the song's length: 16 stems x 240 s cost a few
hundred FFTs each. Memory-mapped stems are read only where the frames are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..matching.features import BARK_EDGES_HZ, N_BANDS

N_FFT = 2048
N_WINDOWS = 8
FRAMES_PER_WINDOW = 24
ACTIVE_WITHIN_DB = 50.0  # a window more than this below the stem's loudest window counts as silent
SILENCE_POWER = 1e-9  # -90 dBFS mean square: silent whatever the stem's own level


@dataclass(frozen=True)
class WindowStats:
    """Band energies of one stereo signal per window (see the module docstring); float32 arrays."""

    energy: np.ndarray  # (windows, 3, bands): LL, RR, LR mean squares per Bark band
    frame_power: np.ndarray  # (windows, frames): broadband mean square of each sampled frame
    peak: np.ndarray  # (windows,): largest |sample| in the sampled frames

    @property
    def power(self) -> np.ndarray:
        """Mean square per window, both channels, ``(windows,)``."""
        return self.frame_power.mean(axis=1)

    def active(self) -> np.ndarray:
        """Windows in which the signal plays, ``(windows,)`` bool (see :data:`ACTIVE_WITHIN_DB`)."""
        p = self.power
        return (p > SILENCE_POWER) & (p >= p.max(initial=0.0) * 10 ** (-ACTIVE_WITHIN_DB / 10))


def _band_matrix(sample_rate: float) -> np.ndarray:
    """``(bins, bands)`` 0/1 matrix of the rfft bins inside each Bark band, Parseval-weighted so that a frame's
    ``|X|^2 @ matrix`` is the band's mean square."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    band = np.searchsorted(np.asarray(BARK_EDGES_HZ), freqs, side="right") - 1
    matrix = np.zeros((len(freqs), N_BANDS))
    inside = (band >= 0) & (band < N_BANDS)
    matrix[np.flatnonzero(inside), band[inside]] = 1.0
    window = np.hanning(N_FFT + 1)[:-1]
    weight = np.full(len(freqs), 2.0)
    weight[0] = weight[-1] = 1.0
    return matrix * (weight / (N_FFT * np.sum(window**2)))[:, None]


def frame_starts(n_samples: int, n_windows: int = N_WINDOWS, frames_per_window: int = FRAMES_PER_WINDOW,
                 ) -> np.ndarray:
    """Start sample of every sampled frame, ``(windows, frames)``: windows tile ``[0, n_samples)``, frames are
    evenly spaced inside each (a signal shorter than a frame is zero-padded)."""
    edges = np.linspace(0, n_samples, n_windows + 1)
    starts = np.empty((n_windows, frames_per_window), dtype=np.int64)
    for w in range(n_windows):
        last = max(edges[w], edges[w + 1] - N_FFT)
        starts[w] = np.linspace(edges[w], last, frames_per_window).round().astype(np.int64)
    return starts


def window_stats(x, sample_rate: float, n_windows: int = N_WINDOWS, frames_per_window: int = FRAMES_PER_WINDOW,
                 ) -> WindowStats:
    """:class:`WindowStats` of ``x`` shaped ``(2, samples)`` (any array supporting slicing, e.g. a memmap)."""
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"expected a stereo signal shaped (2, samples), got {tuple(x.shape)}")
    n = int(x.shape[1])
    starts = frame_starts(n, n_windows, frames_per_window)
    frames = np.zeros((2, starts.size, N_FFT), dtype=np.float64)
    for i, a in enumerate(starts.reshape(-1)):
        part = np.asarray(x[:, a : a + N_FFT], dtype=np.float64)
        frames[:, i, : part.shape[1]] = part
    peak = np.abs(frames).max(axis=(0, 2)).reshape(n_windows, frames_per_window).max(axis=1)
    frame_power = (frames**2).mean(axis=(0, 2)).reshape(n_windows, frames_per_window)
    spec = np.fft.rfft(frames * np.hanning(N_FFT + 1)[:-1], axis=-1)
    bands = _band_matrix(sample_rate)
    ll = (np.abs(spec[0]) ** 2) @ bands
    rr = (np.abs(spec[1]) ** 2) @ bands
    lr = (spec[0] * spec[1].conj()).real @ bands
    energy = np.stack([ll, rr, lr], axis=1).reshape(n_windows, frames_per_window, 3, N_BANDS).mean(axis=1)
    return WindowStats(energy.astype(np.float32), frame_power.astype(np.float32), peak.astype(np.float32))


def band_centres_hz() -> np.ndarray:
    """Geometric centre of each Bark band, ``(bands,)``."""
    edges = np.asarray(BARK_EDGES_HZ)
    return np.sqrt(edges[:-1] * edges[1:])


def level_db(stats: WindowStats) -> float:
    """The signal's mean-square level over its whole length (every window alike), dB; -100 for silence."""
    return 10.0 * math.log10(max(float(stats.power.mean()), 1e-10))
