"""Mix features for reference matching (Diff-MST's "AF" features), computed over a whole song.

Features of a stereo signal ``x`` shaped ``(2, samples)`` (``L, R``; mid ``M = (L + R) / 2``, side
``S = (L - R) / 2``):

* ``loudness_lufs``: BS.1770-4 integrated loudness (reported; level-dependent, so not part of the matching).
* ``rms_db``: ``10 log10(mean(L^2 + R^2) / 2)``.
* ``crest_db``: sample peak over both channels relative to that RMS, ``20 log10(peak) - rms_db`` (a sine: 3.01).
* ``width``: ``E[(L-R)^2] / E[(L+R)^2]`` (0 for identical channels, 1 for uncorrelated equal ones or one side).
* ``imbalance``: ``(E_R - E_L) / (E_R + E_L)``, -1 (all left) .. +1 (all right).
* ``bark_mid_db`` and ``bark_side_db``: the energy of M and of S in each of the 24 Zwicker critical bands
  (:data:`BARK_EDGES_HZ`, 20 Hz - 15.5 kHz), as a fraction of the signal's total energy (``M^2 + S^2`` over all
  frequencies), in dB, floored at :data:`SPECTRUM_FLOOR_DB`. Dividing by the total makes the spectra compare
  shape, not level, and keeps the side's level relative to the mid (its width per band). Band energies are a
  Welch average over the whole song (Hann frames of :data:`N_FFT` samples, hop ``N_FFT / 2``), not one window.

Everything except the loudness comes from additive sums (:class:`SignalStats`), so excerpts of a song can be
measured separately and pooled. Two implementations of the same definitions: numpy (:func:`signal_stats`,
:func:`features_from_stats`) for reporting, and torch (:func:`torch_features`, differentiable) for
optimisation; the tests hold them together. :func:`distances` compares two feature sets per term.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from ..analysis.loudness import integrated_loudness
from ..audio.io import audio_info, read_audio, resample
from ..errors import AutomixError

# Zwicker's critical-band edges (Hz): 24 bands.
BARK_EDGES_HZ = (
    20.0, 100.0, 200.0, 300.0, 400.0, 510.0, 630.0, 770.0, 920.0, 1080.0, 1270.0, 1480.0, 1720.0, 2000.0,
    2320.0, 2700.0, 3150.0, 3700.0, 4400.0, 5300.0, 6400.0, 7700.0, 9500.0, 12000.0, 15500.0,
)
N_BANDS = len(BARK_EDGES_HZ) - 1
N_FFT = 8192  # 5.4 Hz bins at 44.1 kHz: 15 bins in the lowest band (20-100 Hz)
SPECTRUM_FLOOR_DB = -60.0  # band energies below -60 dB of the total count as -60 dB (inaudible detail)
_FLOOR = 10.0 ** (SPECTRUM_FLOOR_DB / 10.0)
_TINY = 1e-20

MIN_REFERENCE_S = 5.0
SILENCE_LUFS = -70.0  # BS.1770's absolute gate: a reference quieter than this has nothing to match
MIN_REFERENCE_RATE = 32000  # below, the reference's spectrum stops under 16 kHz: the top bands would read empty

# Distance terms, their unit and the difference counted as one unit in the total (about a just-noticeable step:
# 1 dB of crest or of a spectral band, a width change of 0.05 (e.g. 0.10 -> 0.15), an imbalance of 0.05
# (about 0.4 dB between the channels); the side spectrum is quieter and less audible, so 2 dB).
TERM_SCALES = {"crest_db": 1.0, "width": 0.05, "imbalance": 0.05, "bark_mid_db": 1.0, "bark_side_db": 2.0}


@dataclass(frozen=True)
class MixFeatures:
    """Features of one stereo signal (see the module docstring). ``loudness_lufs`` is NaN for pooled
    excerpts (gated loudness is not additive)."""

    loudness_lufs: float
    rms_db: float
    crest_db: float
    width: float
    imbalance: float
    bark_mid_db: np.ndarray  # (24,)
    bark_side_db: np.ndarray  # (24,)

    def to_dict(self) -> dict:
        return {f.name: (getattr(self, f.name).round(4).tolist() if isinstance(getattr(self, f.name), np.ndarray)
                         else round(float(getattr(self, f.name)), 4)) for f in fields(self)}


@dataclass(frozen=True)
class SignalStats:
    """Additive sufficient statistics of a stereo signal: pool excerpts with ``+``."""

    n_samples: int
    sum_ll: float  # sum of L^2
    sum_rr: float  # sum of R^2
    sum_lr: float  # sum of L*R
    peak: float  # largest |sample| over both channels
    band_mid: np.ndarray  # (24,) Welch energy of M per Bark band
    band_side: np.ndarray  # (24,)
    spectral_total: float  # Welch energy of M and S over all frequencies

    def __add__(self, other: SignalStats) -> SignalStats:
        return SignalStats(
            self.n_samples + other.n_samples, self.sum_ll + other.sum_ll, self.sum_rr + other.sum_rr,
            self.sum_lr + other.sum_lr, max(self.peak, other.peak), self.band_mid + other.band_mid,
            self.band_side + other.band_side, self.spectral_total + other.spectral_total,
        )


def bark_band_index(n_fft: int, sample_rate: float) -> np.ndarray:
    """For each rfft bin, its Bark band (0..23), or -1 outside 20 Hz - 15.5 kHz. A bin belongs to the band
    whose edges bracket its centre frequency, lower edge included."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    index = np.searchsorted(np.asarray(BARK_EDGES_HZ), freqs, side="right") - 1
    index[(freqs < BARK_EDGES_HZ[0]) | (freqs >= BARK_EDGES_HZ[-1])] = -1
    return index


def _frames(n: int, n_fft: int) -> int:
    """Frames of a Welch average: start at 0 with hop ``n_fft / 2``, the last one zero-padded."""
    hop = n_fft // 2
    return max(1, math.ceil(max(n - n_fft, 0) / hop) + 1)


def signal_stats(x: np.ndarray, sample_rate: float, n_fft: int = N_FFT, block_frames: int = 256) -> SignalStats:
    """The sums behind every feature except loudness, for ``x`` shaped ``(2, samples)``.

    Frames are transformed ``block_frames`` at a time so memory stays bounded on long songs."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"expected a stereo signal shaped (2, samples), got {x.shape}")
    n = x.shape[1]
    left = x[0].astype(np.float64)
    right = x[1].astype(np.float64)
    band = bark_band_index(n_fft, sample_rate)
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann (as torch.hann_window)
    hop = n_fft // 2
    n_frames = _frames(n, n_fft)
    band_mid = np.zeros(N_BANDS)
    band_side = np.zeros(N_BANDS)
    total = 0.0
    inside = band >= 0
    for first in range(0, n_frames, block_frames):
        count = min(block_frames, n_frames - first)
        start, stop = first * hop, min(n, (first + count - 1) * hop + n_fft)
        segment = np.zeros((2, (count - 1) * hop + n_fft))
        segment[0, : stop - start] = left[start:stop]
        segment[1, : stop - start] = right[start:stop]
        mid_side = np.stack([segment[0] + segment[1], segment[0] - segment[1]]) * 0.5
        framed = np.lib.stride_tricks.sliding_window_view(mid_side, n_fft, axis=-1)[:, ::hop][:, :count]
        power = np.abs(np.fft.rfft(framed * window, axis=-1)) ** 2  # (2, frames, bins)
        power = power.sum(axis=1)
        total += float(power.sum())
        band_mid += np.bincount(band[inside], power[0, inside], N_BANDS)
        band_side += np.bincount(band[inside], power[1, inside], N_BANDS)
    # max |x| without a signal-length temporary of |x| (85 MB for 240 s of stereo float32); the same value.
    peak = float(np.maximum(np.max(x), -np.min(x))) if n else 0.0
    return SignalStats(n, float(left @ left), float(right @ right), float(left @ right), peak, band_mid,
                       band_side, total)


def features_from_stats(stats: SignalStats, loudness_lufs: float = math.nan) -> MixFeatures:
    """Features from pooled sums (numpy)."""
    energy = stats.sum_ll + stats.sum_rr
    rms_db = 10.0 * math.log10(max(energy / (2 * max(stats.n_samples, 1)), _TINY))
    total = max(stats.spectral_total, _TINY)
    return MixFeatures(
        loudness_lufs=float(loudness_lufs),
        rms_db=rms_db,
        crest_db=20.0 * math.log10(max(stats.peak, _TINY)) - rms_db,
        width=(energy - 2 * stats.sum_lr) / max(energy + 2 * stats.sum_lr, _TINY),
        imbalance=(stats.sum_rr - stats.sum_ll) / max(energy, _TINY),
        bark_mid_db=10.0 * np.log10(stats.band_mid / total + _FLOOR),
        bark_side_db=10.0 * np.log10(stats.band_side / total + _FLOOR),
    )


def song_features(x: np.ndarray, sample_rate: float) -> MixFeatures:
    """Features of a whole stereo song ``(2, samples)`` (numpy; BS.1770 loudness included)."""
    return features_from_stats(signal_stats(x, sample_rate), integrated_loudness(x, sample_rate))


def average_features(features: Sequence[MixFeatures]) -> MixFeatures:
    """Element-wise mean of several feature sets (dB values averaged in dB): the target for several references."""
    if not features:
        raise ValueError("no features to average")
    return MixFeatures(**{
        f.name: np.mean([getattr(x, f.name) for x in features], axis=0) if f.name.startswith("bark")
        else float(np.mean([getattr(x, f.name) for x in features]))
        for f in fields(MixFeatures)
    })


# --- torch -------------------------------------------------------------------------------------------------------


def torch_features_from_sums(
    sum_ll: Tensor, sum_rr: Tensor, sum_lr: Tensor, n_samples: float, peak: Tensor,
    band_mid: Tensor, band_side: Tensor, spectral_total: Tensor,
) -> dict[str, Tensor]:
    """The feature formulas of :func:`features_from_stats` on torch sums (differentiable; no loudness)."""
    energy = sum_ll + sum_rr
    rms_db = 10.0 * torch.log10((energy / (2 * n_samples)).clamp_min(_TINY))
    total = spectral_total.clamp_min(_TINY)
    return {
        "rms_db": rms_db,
        "crest_db": 20.0 * torch.log10(peak.clamp_min(_TINY)) - rms_db,
        "width": (energy - 2 * sum_lr) / (energy + 2 * sum_lr).clamp_min(_TINY),
        "imbalance": (sum_rr - sum_ll) / energy.clamp_min(_TINY),
        "bark_mid_db": 10.0 * torch.log10(band_mid / total + _FLOOR),
        "bark_side_db": 10.0 * torch.log10(band_side / total + _FLOOR),
    }


def torch_features(x: Tensor, sample_rate: float, n_fft: int = N_FFT) -> dict[str, Tensor]:
    """Differentiable features of ``x`` shaped ``(2, samples)``: the same definitions and framing as
    :func:`signal_stats` + :func:`features_from_stats` (``torch.stft`` without centring, zero-padded end)."""
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"expected a stereo signal shaped (2, samples), got {tuple(x.shape)}")
    x = x.to(torch.float64)
    n = x.shape[1]
    hop = n_fft // 2
    padded = _frames(n, n_fft) * hop + hop
    mid_side = torch.nn.functional.pad(torch.stack([x[0] + x[1], x[0] - x[1]]) * 0.5, (0, padded - n))
    spec = torch.stft(mid_side, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                      center=False, return_complex=True)[..., : _frames(n, n_fft)]
    power = (spec.real**2 + spec.imag**2).sum(dim=-1)  # (2, bins)
    band = torch.from_numpy(bark_band_index(n_fft, sample_rate))
    inside = band >= 0
    band_mid = torch.zeros(N_BANDS, dtype=torch.float64).index_add(0, band[inside], power[0, inside])
    band_side = torch.zeros(N_BANDS, dtype=torch.float64).index_add(0, band[inside], power[1, inside])
    return torch_features_from_sums(
        x[0] @ x[0], x[1] @ x[1], x[0] @ x[1], float(n), x.abs().amax(), band_mid, band_side, power.sum(),
    )


# --- distances ---------------------------------------------------------------------------------------------------


def distances(a: MixFeatures, b: MixFeatures) -> dict[str, float]:
    """Per-term distances between two feature sets.

    ``loudness_lu``: |difference of integrated loudness| (a level, not part of the total); ``crest_db``,
    ``width``, ``imbalance``: absolute differences; ``bark_mid_db``, ``bark_side_db``: RMS over the 24 bands
    of the difference in dB. ``total``: the sum of the matched terms, each divided by its :data:`TERM_SCALES`
    step (dimensionless; 1 = one just-noticeable step).
    """
    d = {
        "loudness_lu": abs(a.loudness_lufs - b.loudness_lufs),
        "crest_db": abs(a.crest_db - b.crest_db),
        "width": abs(a.width - b.width),
        "imbalance": abs(a.imbalance - b.imbalance),
        "bark_mid_db": float(np.sqrt(np.mean((a.bark_mid_db - b.bark_mid_db) ** 2))),
        "bark_side_db": float(np.sqrt(np.mean((a.bark_side_db - b.bark_side_db) ** 2))),
    }
    d["total"] = sum(d[k] / s for k, s in TERM_SCALES.items())
    return d


# --- references --------------------------------------------------------------------------------------------------


def check_reference(path: str | os.PathLike) -> list[str]:
    """Check a reference from its header, before any work: AutomixError when it cannot guide a mix (unreadable,
    shorter than :data:`MIN_REFERENCE_S`, sampled below :data:`MIN_REFERENCE_RATE`); warnings (returned) for
    what it can only partly guide (mono: no width or balance to match)."""
    info = audio_info(path)
    if info.sample_rate < MIN_REFERENCE_RATE:
        raise AutomixError(
            f"{path}: reference sampled at {info.sample_rate} Hz holds nothing above {info.sample_rate // 2} Hz, so "
            f"its top bands would read as silence and the EQ would cut them (at least {MIN_REFERENCE_RATE} Hz needed)"
        )
    if info.frames < MIN_REFERENCE_S * info.sample_rate:
        raise AutomixError(
            f"{path}: reference is too short ({info.duration_s:.1f} s; at least {MIN_REFERENCE_S:g} s needed to "
            "measure its spectrum and dynamics)"
        )
    if info.channels == 1:
        return [f"{path}: the reference is mono: it has no stereo width or balance to match, so the buses are "
                "matched to a centred, zero-width image"]
    return []


def load_reference(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A reference mix as float32 ``(2, samples)`` at ``sample_rate``: any format soundfile reads (WAV, FLAC,
    MP3, ...), any rate (resampled), mono (played on both channels) or stereo; more channels keep the first two
    (front left/right in WAV's order).

    Raises:
        AutomixError: unreadable, shorter than :data:`MIN_REFERENCE_S`, or silent (below -70 LUFS).
    """
    audio, rate = read_audio(path)
    if audio.shape[1] < MIN_REFERENCE_S * rate:
        raise AutomixError(
            f"{path}: reference is too short ({audio.shape[1] / rate:.1f} s; at least {MIN_REFERENCE_S:g} s needed "
            "to measure its spectrum and dynamics)"
        )
    audio = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio[:2]
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    loudness = integrated_loudness(audio, sample_rate)
    if not loudness > SILENCE_LUFS:
        raise AutomixError(f"{path}: reference is silent (integrated loudness {loudness:.1f} LUFS)")
    return np.ascontiguousarray(audio, dtype=np.float32)


def reference_features(paths: Sequence[str | os.PathLike], sample_rate: int) -> MixFeatures:
    """Features of one reference, or the average of several (each measured on its own, whole song)."""
    if not paths:
        raise AutomixError("no reference given")
    return average_features([song_features(load_reference(p, sample_rate), sample_rate) for p in paths])
