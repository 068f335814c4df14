"""Feed-forward compressor with soft knee, attack AND release, makeup, stereo-linked detection.

Signal flow per batch item (a stem or the master bus), all channels sharing one gain:

1. **Detector** (:class:`~reaper_automix.console.params.DetectorSettings`): ``"rms"`` averages the channels'
   squares and smooths them with a one-pole of time constant ``rms_ms`` (so a steady sine reads its RMS,
   3 dB under its peak); ``"peak"`` takes the largest instantaneous squared sample. ReaComp's detector is RMS
   over an "RMS size" window (0 = peak) and its exact averaging shape is not documented: a rectangular window
   and our one-pole agree on steady signals and differ on transients.
2. **Static curve** (:func:`gain_computer_db`): the quadratic soft knee of Giannoulis, Massberg & Reiss
   (JAES 2012): no change below ``threshold - knee/2``, slope ``1/ratio`` above ``threshold + knee/2``, a
   parabola between. ReaComp's knee shape is unverified.
3. **Ballistics**: the gain in dB is smoothed by a one-pole whose coefficient switches between attack (gain
   falling: more reduction) and release (gain rising). ``attack_ms``/``release_ms`` are *time constants*: after
   a step, the gain has covered 1 - 1/e of the change after that time. (torchcomp's ``ms2coef`` uses
   2200/ms, a 10-90 % rise-time convention; we compute our own coefficient.) The switched recursion is
   torchcomp's numba kernel with its exact gradient (MIT); unlike dasp-pytorch's compressor, release is honoured.
4. ``makeup_db`` is added to the smoothed gain.

Without gradients (rendering), steps 1-4 run as one fused numba loop per stem instead of some twenty full-length
torch operations; the tests hold both paths to the same output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor
from torchcomp.core import compressor_core

from ..subnormals import flushed
from .iir import sosfilt
from .params import CompressorParams, DetectorSettings

# Level floor (-100 dB in power) so that log and its gradient stay finite in digital silence.
_POWER_FLOOR = 1e-10
# dB of power per unit of natural log, and natural log of amplitude per dB: 10 log10(p) = _DB_PER_LN_POWER ln(p).
_DB_PER_LN_POWER = 10.0 / math.log(10.0)
_LN_AMPLITUDE_PER_DB = math.log(10.0) / 20.0
_FIELDS = ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db", "makeup_db")


@dataclass
class CompressorState:
    """What a compressor carries from one chunk to the next, shaped ``(batch,)`` each."""

    power: Tensor  # detector's smoothed power (RMS) or last squared peak
    gain_db: Tensor  # smoothed gain, makeup excluded


def time_constant_coef(time_ms: Tensor | float, sample_rate: float) -> Tensor:
    """One-pole coefficient ``alpha`` (``y += alpha (x - y)``) for a time constant in ms."""
    return 1.0 - torch.exp(-1000.0 / (torch.as_tensor(time_ms, dtype=torch.float64) * sample_rate))


def gain_computer_db(level_db: Tensor, threshold_db: Tensor, ratio: Tensor, knee_db: Tensor) -> Tensor:
    """Static gain (dB, <= 0) for detector levels in dB; parameters broadcast against ``level_db``."""
    over = level_db - threshold_db
    half = knee_db / 2.0
    in_knee = (over + half).clamp_min(0.0) ** 2 / (2.0 * knee_db.clamp_min(1e-9))
    return (1.0 / ratio - 1.0) * torch.where(over >= half, over, in_knee)


def compress(
    x: Tensor,
    params: CompressorParams,
    sample_rate: float,
    settings: DetectorSettings = DetectorSettings(),
    state: CompressorState | None = None,
) -> tuple[Tensor, CompressorState]:
    """Compress ``x`` shaped ``(batch, channels, samples)``; returns ``(y, state)`` for the next chunk.

    With gradients on, it runs as torch operations (a pass from rest); otherwise as one fused numba loop
    (same numbers, several times faster, chunkable). The tests hold the two to the same output.
    """
    if settings.detector not in ("rms", "peak"):
        raise ValueError(f"unknown detector {settings.detector!r} (expected 'rms' or 'peak')")
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or any(getattr(params, f).requires_grad for f in _FIELDS)
    )
    if needs_grad:
        if state is not None:
            raise ValueError("compress: gradients need a pass from rest; render chunks under torch.no_grad()")
        return _compress_torch(x, params, sample_rate, settings)
    return _compress_fused(x, params, sample_rate, settings, state)


def _compress_torch(
    x: Tensor, params: CompressorParams, sample_rate: float, settings: DetectorSettings
) -> tuple[Tensor, CompressorState]:
    dtype = x.dtype

    def col(p: Tensor) -> Tensor:
        return p.to(dtype)[:, None]

    if settings.detector == "rms":
        alpha = float(time_constant_coef(settings.rms_ms, sample_rate))
        row = torch.tensor([alpha, 0.0, 0.0, 1.0, alpha - 1.0, 0.0], dtype=torch.float64)
        power = sosfilt((x * x).mean(dim=1, keepdim=True), row.expand(x.shape[0], 1, 6))[0][:, 0]
    else:
        power = (x * x).amax(dim=1)
    level_db = 10.0 * torch.log10(power.clamp_min(0.0) + _POWER_FLOOR)
    target_db = gain_computer_db(level_db, col(params.threshold_db), col(params.ratio), col(params.knee_db))
    attack = time_constant_coef(params.attack_ms, sample_rate).to(dtype)
    release = time_constant_coef(params.release_ms, sample_rate).to(dtype)
    gain_db = compressor_core(target_db.contiguous(), torch.zeros(x.shape[0], dtype=dtype), attack, release)
    gain = 10.0 ** ((gain_db + col(params.makeup_db)) / 20.0)
    return x * gain[:, None, :], CompressorState(power[:, -1].detach(), gain_db[:, -1].detach())


def _compress_fused(
    x: Tensor,
    params: CompressorParams,
    sample_rate: float,
    settings: DetectorSettings,
    state: CompressorState | None,
) -> tuple[Tensor, CompressorState]:
    if x.shape[1] not in (1, 2):
        raise ValueError(f"the compiled compressor takes 1 or 2 channels, got {x.shape[1]}")
    args = kernel_arguments(params, sample_rate, settings, state, x.shape[0])
    y = _fused_kernel(x.detach().contiguous().numpy(), *args)
    power_state, gain_state = args[-2:]
    return torch.from_numpy(y), CompressorState(torch.from_numpy(power_state), torch.from_numpy(gain_state))


def kernel_arguments(params: CompressorParams, sample_rate: float, settings: DetectorSettings,
                     state: CompressorState | None, batch: int) -> tuple:
    """The compiled compressor's arguments after the signal, for ``batch`` items: ``(peak, rms_alpha,
    threshold_db, ratio, knee_db, makeup_db, attack, release, power_state, gain_state)``, float64 arrays
    ``(batch,)``; the two states are fresh copies, updated in place by the kernel."""
    p = {f: getattr(params, f).detach().to(torch.float64).expand(batch).numpy() for f in _FIELDS}
    rms_alpha = float(time_constant_coef(settings.rms_ms, sample_rate)) if settings.detector == "rms" else 1.0
    power_state = np.zeros(batch) if state is None else state.power.to(torch.float64).numpy().copy()
    gain_state = np.zeros(batch) if state is None else state.gain_db.to(torch.float64).numpy().copy()
    return (
        settings.detector == "peak",
        rms_alpha,
        p["threshold_db"],
        p["ratio"],
        p["knee_db"],
        p["makeup_db"],
        time_constant_coef(params.attack_ms.detach(), sample_rate).expand(batch).numpy(),
        time_constant_coef(params.release_ms.detach(), sample_rate).expand(batch).numpy(),
        power_state,
        gain_state,
    )


@numba.njit(inline="always")
def curve_constants(threshold_db: float, ratio: float, knee_db: float) -> tuple[float, float, float, float]:
    """Per item: ``(quiet_power, half_knee_db, slope, two_knee_db)`` of the static curve; below ``quiet_power``
    (the detector's power at the knee's lower end) no logarithm is needed."""
    half = knee_db / 2.0
    quiet_power = 10.0 ** ((threshold_db - half) / 10.0) - 1e-10
    return quiet_power, half, 1.0 / ratio - 1.0, 2.0 * max(knee_db, 1e-9)


@numba.njit(inline="always")
def detector_power(first, second, channels: int, peak: bool) -> float:
    """The detector's input at one sample whose first ``channels`` (1 or 2) channels are ``first`` and
    ``second`` (unused for one channel): their largest square (peak) or their mean square (RMS), squares in the
    samples' dtype as the torch path takes them."""
    p = 0.0
    s = first * first
    p = max(p, s) if peak else p + s
    if channels == 2:
        s = second * second
        p = max(p, s) if peak else p + s
    if not peak:
        p /= channels
    return p


@numba.njit(inline="always")
def compressor_step(p, m, g, last_g, gain, rms_alpha, quiet_power, threshold_db, half, slope, two_knee, attack,
                    release, makeup_db):
    """One sample: detector ``m`` smoothed toward ``p``, the static curve's target, the ballistics' gain ``g``
    (dB) and the linear output ``gain`` (recomputed only when ``g`` moved). Returns ``(m, g, last_g, gain)``.

    The decibels go through the natural ``log`` and ``exp`` (scaled), where the torch path takes ``log10`` and a
    power of 10: the same function to float64 rounding (tested), at about half the cost per sample, which
    is most of a working compressor's time."""
    m = flushed(m + rms_alpha * (p - m))  # both decay through silence: kept out of subnormals (subnormals.py)
    target = 0.0
    if m > quiet_power:
        over = _DB_PER_LN_POWER * np.log(max(m, 0.0) + 1e-10) - threshold_db
        if over >= half:
            target = slope * over
        elif over > -half:
            target = slope * (over + half) ** 2 / two_knee
    g = flushed(g + (attack if target < g else release) * (target - g))
    if g != last_g:
        gain = np.exp((g + makeup_db) * _LN_AMPLITUDE_PER_DB)
        last_g = g
    return m, g, last_g, gain


@numba.njit(parallel=True, cache=True)
def _fused_kernel(x, peak, rms_alpha, threshold_db, ratio, knee_db, makeup_db, attack, release, p_state, g_state):
    """Detector, static curve, ballistics and gain in one loop; updates the states in place.

    Mirrors :func:`_compress_torch` sample for sample (``rms_alpha = 1`` makes the detector instantaneous).
    Two shortcuts keep it cheap without changing results: below the knee no logarithm is needed, and the
    output gain is recomputed only when the smoothed gain moved.
    """
    batch, channels, n = x.shape
    y = np.empty_like(x)
    for b in numba.prange(batch):
        m = p_state[b]
        g = g_state[b]
        quiet_power, half, slope, two_knee = curve_constants(threshold_db[b], ratio[b], knee_db[b])
        last_g = np.nan
        gain = 1.0
        for t in range(n):
            p = detector_power(x[b, 0, t], x[b, channels - 1, t], channels, peak)
            m, g, last_g, gain = compressor_step(p, m, g, last_g, gain, rms_alpha, quiet_power, threshold_db[b],
                                                 half, slope, two_knee, attack[b], release[b], makeup_db[b])
            for c in range(channels):
                y[b, c, t] = x[b, c, t] * gain
        p_state[b] = m
        g_state[b] = g
    return y
