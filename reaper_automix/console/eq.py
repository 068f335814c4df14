"""Parametric EQ: RBJ "Audio EQ Cookbook" biquads as torch functions of the parameters, run as an exact IIR.

Coefficients follow R. Bristow-Johnson's cookbook with the Q parametrisation ``alpha = sin(w0) / (2 Q)`` for all
three shapes (for shelves Q sets the transition slope; Q = 1/sqrt(2) is the steepest without overshoot). Gains
are in dB: a peak's response at its centre frequency is exactly ``gain_db``; a low shelf tends to ``gain_db``
at DC and a high shelf at Nyquist; the corner frequency is where a shelf is at half its gain in dB.
Application: :func:`reaper_automix.console.iir.sosfilt` (exact recursion, chunkable; see there for why).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..strip import BandKind
from .iir import sosfilt
from .params import EqParams


def biquad_sos(kind: BandKind, freq_hz: Tensor, gain_db: Tensor, q: Tensor, sample_rate: float) -> Tensor:
    """RBJ cookbook section(s) ``[b0, b1, b2, 1, a1, a2]`` (last axis) for parameters of any common shape."""
    w0 = 2.0 * math.pi * freq_hz / sample_rate
    cos_w0, sin_w0 = torch.cos(w0), torch.sin(w0)
    alpha = sin_w0 / (2.0 * q)
    amp = 10.0 ** (gain_db / 40.0)
    if kind is BandKind.PEAK:
        b = (1.0 + alpha * amp, -2.0 * cos_w0, 1.0 - alpha * amp)
        a = (1.0 + alpha / amp, -2.0 * cos_w0, 1.0 - alpha / amp)
    else:
        # Shelves: the high shelf is the low shelf with cos(w0) negated and b1, a1 sign-flipped.
        sign = 1.0 if kind is BandKind.LOW_SHELF else -1.0
        c = sign * cos_w0
        root = 2.0 * torch.sqrt(amp) * alpha
        b = (
            amp * ((amp + 1) - (amp - 1) * c + root),
            sign * 2.0 * amp * ((amp - 1) - (amp + 1) * c),
            amp * ((amp + 1) - (amp - 1) * c - root),
        )
        a = (
            (amp + 1) + (amp - 1) * c + root,
            sign * -2.0 * ((amp - 1) + (amp + 1) * c),
            (amp + 1) + (amp - 1) * c - root,
        )
    a0 = a[0]
    return torch.stack(
        [b[0] / a0, b[1] / a0, b[2] / a0, torch.ones_like(a0), a[1] / a0, a[2] / a0], dim=-1
    )


def eq_sos(eq: EqParams, sample_rate: float) -> Tensor:
    """The EQ's sections, shaped ``(batch, bands, 6)``, float64."""
    sections = [
        biquad_sos(
            band.kind,
            eq.freq_hz[:, i].to(torch.float64),
            eq.gain_db[:, i].to(torch.float64),
            eq.q[:, i].to(torch.float64),
            sample_rate,
        )
        for i, band in enumerate(eq.layout)
    ]
    return torch.stack(sections, dim=1)


def apply_eq(
    x: Tensor, eq: EqParams, sample_rate: float, state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """EQ ``x`` shaped ``(batch, channels, samples)``; returns ``(y, state)`` for the next chunk."""
    return sosfilt(x, eq_sos(eq, sample_rate), state)


def eq_response_db(eq: EqParams, freqs_hz: Tensor, sample_rate: float) -> Tensor:
    """Magnitude response in dB at ``freqs_hz``, shaped ``(batch, len(freqs_hz))`` (for plots and reports)."""
    sos = eq_sos(eq, sample_rate)  # (batch, bands, 6)
    z = torch.exp(-1j * 2.0 * math.pi * freqs_hz.to(torch.float64) / sample_rate)  # z^-1
    powers = torch.stack([torch.ones_like(z), z, z * z], dim=0)  # (3, F)
    num = torch.einsum("bki,if->bkf", sos[..., :3].to(torch.complex128), powers)
    den = torch.einsum("bki,if->bkf", sos[..., 3:].to(torch.complex128), powers)
    return (20.0 * torch.log10(num.abs() / den.abs())).sum(dim=1)
