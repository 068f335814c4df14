"""The exact console over whole songs and excerpts, and the level-matched A/B of two mixes.

Stems are read slice by slice (:class:`ScaledStem` over a stage-1 stem file), so memory holds one chunk of every
stem plus the output, never a full-length copy of a stem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..analysis.loudness import integrated_loudness
from ..console.mix import StripState, channel_strips
from ..console.pan import PanLaw
from ..console.params import ChannelParams
from ..errors import AutomixError
from ..strip import Strip
from ..units import db_to_gain
from .features import SignalStats, signal_stats

PREROLL_S = 0.5  # exact excerpt renders start this early so filters and compressors have settled
RENDER_CHUNK = 1 << 17




def render_console_mix(
    stems: Sequence[np.ndarray],
    settings: Sequence[Strip],
    sample_rate: int,
    *,
    pan_laws: Sequence[PanLaw] | None = None,
    chunk_samples: int = RENDER_CHUNK,
) -> np.ndarray:
    """The whole song through the exact console, float32 ``(2, samples)``; ``pan_laws``: the law of the bus each
    stem plays through (REAPER's default law for all when None).

    Processed in chunks with every filter and compressor state carried across, so memory holds one chunk of
    every stem plus the output; ``stems`` may be memory-mapped ``(2, n)`` arrays."""
    if len(stems) != len(settings):
        raise ValueError(f"{len(stems)} stems but {len(settings)} settings")
    n = max(s.shape[1] for s in stems)
    params = ChannelParams.from_strips(settings)
    law = PanLaw() if pan_laws is None else list(pan_laws)
    out = np.zeros((2, n), dtype=np.float32)
    strip_state: StripState | None = None
    with torch.no_grad():
        for start in range(0, n, chunk_samples):
            stop = min(n, start + chunk_samples)
            block = np.zeros((len(stems), 2, stop - start), dtype=np.float32)
            for i, s in enumerate(stems):
                part = s[:, start:stop]
                block[i, :, : part.shape[1]] = part
            panned, strip_state = channel_strips(torch.from_numpy(block), params, sample_rate, law=law,
                                                 state=strip_state)
            out[:, start:stop] = panned.sum(dim=0).numpy()
    return out


def level_matched_ab(
    before: np.ndarray, after: np.ndarray, sample_rate: int, target_lufs: float | None = None, *,
    before_lufs: float | None = None, after_lufs: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Before/after previews at the same integrated loudness, for a fair A/B (louder always sounds better).

    Both are scaled to ``target_lufs`` (default: the before's loudness, so the before is unchanged: returned
    as it is, not copied). Returns ``(before, after, before_gain_db, after_gain_db)``, float32 ``(2, samples)``.
    Float output: peaks above 0 dBFS are kept, not clipped. ``before_lufs``/``after_lufs``: their integrated
    loudness where it is already measured (e.g. :class:`~.MatchResult`'s features of the same two mixes), so
    that neither song is K-weighted again.
    """
    l_before = integrated_loudness(before, sample_rate) if before_lufs is None else before_lufs
    l_after = integrated_loudness(after, sample_rate) if after_lufs is None else after_lufs
    if not (math.isfinite(l_before) and math.isfinite(l_after)):
        raise AutomixError("cannot level-match a silent preview")
    target = l_before if target_lufs is None else target_lufs
    g_before, g_after = target - l_before, target - l_after
    return _at_gain(before, g_before), _at_gain(after, g_after), g_before, g_after


def _at_gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    """``x`` scaled by ``gain_db``, float32; at 0 dB ``x`` itself (a full-length mix is not copied for nothing)."""
    scaled = x if gain_db == 0.0 else x * np.float32(db_to_gain(gain_db))
    return scaled.astype(np.float32, copy=False)



class ScaledStem:
    """A stem ``(2, samples)`` (e.g. a memory-mapped stage-1 ``.npy``) read at a gain, slice by slice, so that a
    stem at its stage-1 level needs no full-length scaled copy."""

    def __init__(self, array: np.ndarray, gain_db: float):
        self.array = array
        self.gain = np.float32(db_to_gain(gain_db))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.array[key], dtype=np.float32) * self.gain


def excerpt_stats(
    stems: Sequence[np.ndarray], windows: list[tuple[int, int]], sample_rate: int,
    settings: Sequence[Strip], pan_laws: Sequence[PanLaw] | None = None,
) -> SignalStats:
    """Pooled exact-console statistics of the excerpts (each rendered from ``PREROLL_S`` before it), each stem
    panned by its bus's law (``pan_laws``; REAPER's default law for all when None)."""
    preroll = int(PREROLL_S * sample_rate)
    length = max(b - a for a, b in windows) + preroll
    batch = np.zeros((len(stems) * len(windows), 2, length), dtype=np.float32)
    for i, s in enumerate(stems):
        for w, (a, b) in enumerate(windows):
            start = max(0, a - preroll)
            part = s[:, start:b]
            batch[i * len(windows) + w, :, : part.shape[1]] = part
    index = torch.arange(len(stems)).repeat_interleave(len(windows))
    params = ChannelParams.from_strips(settings).rows(index)
    with torch.no_grad():
        law = PanLaw() if pan_laws is None else [pan_laws[i] for i in index.tolist()]
        panned, _ = channel_strips(torch.from_numpy(batch), params, sample_rate, law=law)
        mixes = panned.reshape(len(stems), len(windows), 2, length).sum(dim=0)
        total = None
        for w, (a, b) in enumerate(windows):
            skip = a - max(0, a - preroll)
            stats = signal_stats(mixes[w][:, skip : skip + b - a].numpy(), sample_rate)
            total = stats if total is None else total + stats
    return total

