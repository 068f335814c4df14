"""Objective measures for evaluating mixes: multi-resolution STFT distance to a ground-truth mix, and the
distance between two EQ curves."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..console.eq import eq_response_db
from ..console.params import EqParams
from ..strip import EqBand

MRSTFT_FFT_SIZES = (512, 2048, 8192)  # Diff-MST's training loss resolutions
_EPS = 1e-8


def _magnitudes(x: np.ndarray, n_fft: int) -> np.ndarray:
    """|STFT| of every channel, Hann window, hop n_fft / 4, frames wholly inside the signal."""
    hop = n_fft // 4
    if x.shape[-1] < n_fft:
        x = np.pad(x, ((0, 0), (0, n_fft - x.shape[-1])))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[:, ::hop]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=-1)).astype(np.float32)


def mrstft_distance(estimate: np.ndarray, target: np.ndarray, fft_sizes: Sequence[int] = MRSTFT_FFT_SIZES) -> float:
    """Multi-resolution STFT distance (as auraloss/Diff-MST): for each FFT size, spectral convergence
    ``||  |T| - |E| ||_F / || |T| ||_F`` plus the mean absolute difference of log magnitudes; averaged over sizes.
    Both signals ``(channels, samples)``; the shorter is zero-padded. Scale-sensitive: level-match first."""
    n = max(estimate.shape[-1], target.shape[-1])
    e = np.pad(np.asarray(estimate, np.float32), ((0, 0), (0, n - estimate.shape[-1])))
    t = np.pad(np.asarray(target, np.float32), ((0, 0), (0, n - target.shape[-1])))
    total = 0.0
    for n_fft in fft_sizes:
        me, mt = _magnitudes(e, n_fft), _magnitudes(t, n_fft)
        convergence = float(np.linalg.norm(mt - me) / max(np.linalg.norm(mt), _EPS))
        log_mag = float(np.mean(np.abs(np.log(mt + _EPS) - np.log(me + _EPS))))
        total += convergence + log_mag
    return total / len(fft_sizes)


def eq_curve_error_db(a: Sequence[EqBand], b: Sequence[EqBand], sample_rate: float, points: int = 200) -> float:
    """RMS difference (dB) of two EQs' magnitude responses over log-spaced frequencies from 20 Hz to 16 kHz
    (different band layouts compare fairly: what is heard is the curve)."""
    top = min(16000.0, 0.45 * sample_rate)
    freqs = torch.logspace(math.log10(20.0), math.log10(top), points, dtype=torch.float64)
    ra = eq_response_db(EqParams.from_bands([a]), freqs, sample_rate)[0]
    rb = eq_response_db(EqParams.from_bands([b]), freqs, sample_rate)[0]
    return float(torch.sqrt(torch.mean((ra - rb) ** 2)))
