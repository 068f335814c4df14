"""The console: a channel strip per stem, summed to stereo, then an optional master bus.

``stems (S, C, T) -> [EQ -> compressor -> gain_db -> pan] per stem -> sum -> [EQ -> linked comp -> gain_db]``.

Two uses, one code path: a single pass from rest (``chunk_samples=None``) is differentiable in every parameter
(optimisation windows); a chunked pass carries every filter and compressor state across chunk boundaries and
returns the same samples as one pass (rendering whole songs in bounded memory, under ``torch.no_grad()``).

Without gradients, float32 stems run through the whole strip (EQ, compressor, fader, pan) in one compiled kernel
(:func:`_strip_kernel`: the EQ of several stems' channels side by side, then each stem's compressor, fader and pan,
block by block) instead of one pass over the signal per stage: the same arithmetic in the same order (the EQ's
recursion as ``sosfilt`` computes it, the compressor's own compiled step, the fader and pan gains computed by the
same torch code), so the same samples, bit for bit (tested against the stage-by-stage composition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor

from .compressor import (
    CompressorState,
    compress,
    compressor_step,
    curve_constants,
    detector_power,
    kernel_arguments,
)
from .eq import apply_eq, eq_sos
from .iir import BLOCK, LANES, filter_lanes, items_per_group, lane_coefficients, load_lanes, store_lane_states
from .pan import PanLaw, apply_pan, pan_gains
from .params import ChannelParams, DetectorSettings, MasterParams


@dataclass
class StripState:
    """State of a bank of strips between chunks."""

    eq: Tensor
    comp: CompressorState


def channel_strips(
    x: Tensor,
    params: ChannelParams,
    sample_rate: float,
    settings: DetectorSettings = DetectorSettings(),
    law: PanLaw | Sequence[PanLaw] = PanLaw(),
    state: StripState | None = None,
) -> tuple[Tensor, StripState]:
    """Run each stem of ``x`` (``(stems, channels, samples)``, 1 or 2 channels) through its strip, panned by
    ``law`` (one for all, or one per stem: the law of the bus it plays through).

    Returns the panned stereo stems ``(stems, 2, samples)`` and the state for the next chunk.
    """
    if x.ndim != 3 or x.shape[0] != params.n_stems:
        raise ValueError(f"expected stems shaped ({params.n_stems}, channels, samples), got {tuple(x.shape)}")
    if x.dtype == torch.float32 and x.shape[1] in (1, 2) and not _needs_grad(x, params):
        return _fused_strips(x, params, sample_rate, settings, law, state)
    y, eq_state = apply_eq(x, params.eq, sample_rate, None if state is None else state.eq)
    y, comp_state = compress(y, params.comp, sample_rate, settings, None if state is None else state.comp)
    y = y * (10.0 ** (params.gain_db.to(y.dtype) / 20.0))[:, None, None]
    return apply_pan(y, params.pan, law), StripState(eq_state, comp_state)


def _needs_grad(x: Tensor, params: ChannelParams) -> bool:
    tensors = [x, params.gain_db, params.pan, params.eq.freq_hz, params.eq.gain_db, params.eq.q,
               *(getattr(params.comp, f) for f in ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db",
                                                   "makeup_db"))]
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _fused_strips(
    x: Tensor, params: ChannelParams, sample_rate: float, settings: DetectorSettings,
    law: PanLaw | Sequence[PanLaw], state: StripState | None,
) -> tuple[Tensor, StripState]:
    """:func:`channel_strips` without gradients on float32 stems, in one compiled loop (module docstring)."""
    if settings.detector not in ("rms", "peak"):
        raise ValueError(f"unknown detector {settings.detector!r} (expected 'rms' or 'peak')")
    batch, _, n = x.shape
    sos = np.ascontiguousarray(eq_sos(params.eq, sample_rate).numpy())
    if not np.all(sos[..., 3] == 1):
        raise ValueError("sosfilt: sections must be normalised (a0 == 1)")
    eq_state = (np.zeros((batch, sos.shape[1], x.shape[1], 2)) if state is None
                else np.array(state.eq.to(torch.float64).numpy(), dtype=np.float64, order="C"))
    comp = kernel_arguments(params.comp, sample_rate, settings, None if state is None else state.comp, batch)
    # The fader and pan gains as channel_strips' torch expressions compute them (float32).
    fader = (10.0 ** (params.gain_db.to(torch.float32) / 20.0)).numpy()
    left, right = pan_gains((law,) if isinstance(law, PanLaw) else tuple(law), params.pan.to(torch.float32))
    pans = np.ascontiguousarray(torch.stack([left, right], dim=1).numpy())
    out = np.empty((batch, 2, n), dtype=np.float32)
    _strip_kernel(np.ascontiguousarray(x.detach().numpy()), sos, eq_state, *comp, fader, pans, out,
                  items_per_group(batch, x.shape[1]))
    power_state, gain_state = comp[-2:]
    return torch.from_numpy(out), StripState(torch.from_numpy(eq_state),
                                             CompressorState(torch.from_numpy(power_state),
                                                             torch.from_numpy(gain_state)))


@numba.njit(parallel=True, cache=True)
def _strip_kernel(x, sos, eq_state, peak, rms_alpha, threshold_db, ratio, knee_db, makeup_db, attack, release,
                  p_state, g_state, fader, pans, out, per_group):  # pragma: no cover - compiled; tested via callers
    """Stems ``x`` float32 ``(stems, 1 or 2, samples)`` -> panned ``out`` float32 ``(stems, 2, samples)``, the
    states (EQ ``(stems, sections, channels, 2)``, compressor ``(stems,)``) carried in place. Each sample: the EQ
    cascade in float64 rounded to float32 (as ``apply_eq`` returns it), the compressor's step on that, its gain
    applied in float64 and rounded, then the fader and the pan gain, each a float32 product (the torch order).

    Block by block, the channels of several stems are equalised side by side (:func:`~.iir.filter_lanes`: one
    recursion alone waits on its own chain of operations, about 40 ns a sample), then each stem's compressor,
    fader and pan run over the block. Groups of ``per_group`` stems (:func:`~.iir.items_per_group`) run on
    parallel threads."""
    stems, channels, n = x.shape
    for group in numba.prange(-(-stems // per_group)):
        first = group * per_group
        count = min(per_group, stems - first)
        coef, z0, z1 = lane_coefficients(sos, eq_state, first, count, channels)
        curves = np.empty((count, 4))
        m = np.empty(count)
        g = np.empty(count)
        last_g = np.full(count, np.nan)
        gain = np.ones(count)
        for i in range(count):
            b = first + i
            curves[i] = curve_constants(threshold_db[b], ratio[b], knee_db[b])
            m[i] = p_state[b]
            g[i] = g_state[b]
        buf = np.zeros((BLOCK, LANES))
        for start in range(0, n, BLOCK):
            rows = min(BLOCK, n - start)
            load_lanes(buf, x, first, count, start, rows)
            filter_lanes(buf, rows, coef, z0, z1)
            for i in range(count):
                b = first + i
                quiet_power, half, slope, two_knee = curves[i, 0], curves[i, 1], curves[i, 2], curves[i, 3]
                mi, gi, last, gain_i = m[i], g[i], last_g[i], gain[i]
                fade, pan_left, pan_right = fader[b], pans[b, 0], pans[b, 1]
                for r in range(rows):
                    left = np.float32(buf[r, i * channels])  # float32: the EQ's output
                    right = np.float32(buf[r, i * channels + 1]) if channels == 2 else left  # mono: both sides
                    p = detector_power(left, right, channels, peak)
                    mi, gi, last, gain_i = compressor_step(p, mi, gi, last, gain_i, rms_alpha, quiet_power,
                                                           threshold_db[b], half, slope, two_knee, attack[b],
                                                           release[b], makeup_db[b])
                    out[b, 0, start + r] = np.float32(left * gain_i) * fade * pan_left
                    out[b, 1, start + r] = np.float32(right * gain_i) * fade * pan_right
                m[i], g[i], last_g[i], gain[i] = mi, gi, last, gain_i
        store_lane_states(eq_state, z0, z1, first, count, channels)
        for i in range(count):
            p_state[first + i] = m[i]
            g_state[first + i] = g[i]


def master_bus(
    x: Tensor,
    params: MasterParams,
    sample_rate: float,
    settings: DetectorSettings = DetectorSettings(),
    state: StripState | None = None,
) -> tuple[Tensor, StripState]:
    """Master bus on a stereo mix ``(2, samples)``: EQ, stereo-linked compressor, gain."""
    y, eq_state = apply_eq(x[None], params.eq, sample_rate, None if state is None else state.eq)
    y, comp_state = compress(y, params.comp, sample_rate, settings, None if state is None else state.comp)
    y = y[0] * 10.0 ** (params.gain_db.to(y.dtype) / 20.0)
    return y, StripState(eq_state, comp_state)


def mix(
    stems: Tensor,
    params: ChannelParams,
    sample_rate: float,
    master: MasterParams | None = None,
    *,
    settings: DetectorSettings = DetectorSettings(),
    law: PanLaw = PanLaw(),
    chunk_samples: int | None = None,
) -> Tensor:
    """Mix ``stems`` shaped ``(stems, channels, samples)`` to stereo ``(2, samples)``.

    ``chunk_samples=None``: one differentiable pass. An integer: process in chunks of that length with state
    carried across (same result, bounded memory); requires gradients to be off.
    """
    if chunk_samples is None:
        panned, _ = channel_strips(stems, params, sample_rate, settings, law)
        out = panned.sum(dim=0)
        return out if master is None else master_bus(out, master, sample_rate, settings)[0]
    if chunk_samples <= 0:
        raise ValueError(f"chunk_samples must be positive, got {chunk_samples}")
    if torch.is_grad_enabled():
        raise ValueError("chunked mixing is for rendering: call it under torch.no_grad()")
    n = stems.shape[-1]
    out = torch.empty(2, n, dtype=stems.dtype)
    strip_state: StripState | None = None
    master_state: StripState | None = None
    for start in range(0, n, chunk_samples):
        stop = min(n, start + chunk_samples)
        panned, strip_state = channel_strips(
            stems[..., start:stop], params, sample_rate, settings, law, strip_state
        )
        chunk = panned.sum(dim=0)
        if master is not None:
            chunk, master_state = master_bus(chunk, master, sample_rate, settings, master_state)
        out[:, start:stop] = chunk
    return out
