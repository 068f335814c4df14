"""The console: a channel strip per stem, summed to stereo, then an optional master bus.

``stems (S, C, T) -> [EQ -> compressor -> gain_db -> pan] per stem -> sum -> [EQ -> linked comp -> gain_db]``.

Two uses, one code path: a single pass from rest (``chunk_samples=None``) is differentiable in every parameter
(optimisation windows); a chunked pass carries every filter and compressor state across chunk boundaries and
returns the same samples as one pass (rendering whole songs in bounded memory, under ``torch.no_grad()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .compressor import CompressorState, compress
from .eq import apply_eq
from .pan import PanLaw, apply_pan
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
    y, eq_state = apply_eq(x, params.eq, sample_rate, None if state is None else state.eq)
    y, comp_state = compress(y, params.comp, sample_rate, settings, None if state is None else state.comp)
    y = y * (10.0 ** (params.gain_db.to(y.dtype) / 20.0))[:, None, None]
    return apply_pan(y, params.pan, law), StripState(eq_state, comp_state)


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
