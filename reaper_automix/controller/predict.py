"""Prediction: the stage-1 stems and a reference mix in, one channel strip per stem out.

:func:`predict_settings` measures the stems and the reference(s) (:mod:`.features`, whole song), runs the
model once and turns its outputs into physical settings at the console's fixed EQ bands and compressor times,
then keeps them inside the shared plausibility limits (:mod:`reaper_automix.matching.limits`: EQ, ratio,
threshold about the stem's loud level, pan unless the reference's per-band balance calls for more).
Several references are pooled (their window statistics averaged). :func:`learned_engine` and
:func:`hybrid_engine` are the two engines with the evaluation harness's signature.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import AutomixError
from ..matching.features import load_reference
from ..matching.limits import LIMITS, pan_limit_for_bands, threshold_range_db
from ..matching.optimise import MatchOptions
from ..strip import GAIN_DB, Compressor, Strip
from ..dataset.make import fixed_band_eq
from . import features as F
from .checkpoint import SHIPPED, LoadedController, load_checkpoint
from .losses import Batch, forward


@dataclass(frozen=True)
class Prediction:
    settings: list[Strip]  # physical, within the limits, before strength/aspect switches
    raw: np.ndarray  # (stems, 10) the model's physical outputs before the limits
    checkpoint_sha256: str
    pan_limit: float
    pan_reason: str | None


@lru_cache(maxsize=4)
def _cached(path: str) -> LoadedController:
    return load_checkpoint(Path(path))


def controller(path: str | os.PathLike | None = None) -> LoadedController:
    """The checkpoint at ``path`` (default: the shipped one), loaded once per process."""
    return _cached(str(Path(path) if path is not None else SHIPPED))


def predict_settings(
    stems: Sequence[np.ndarray],
    sample_rate: int,
    references: Sequence[str | os.PathLike] = (),
    *,
    reference_audio: Sequence[np.ndarray] = (),
    checkpoint: LoadedController | None = None,
) -> Prediction:
    """Strip settings for ``stems`` (float32 ``(2, samples)`` each at their stage-1 level; memory-mapped is fine)
    to match the reference files ``references`` (or already loaded ``reference_audio``, ``(2, samples)`` at
    ``sample_rate``)."""
    if not stems:
        raise AutomixError("the learned controller needs at least one stem")
    if len(stems) > 32:
        raise AutomixError(f"the learned controller takes at most 32 stems, got {len(stems)} (group further)")
    loaded = checkpoint or controller()
    audio = [load_reference(p, sample_rate) for p in references] + list(reference_audio)
    if not audio:
        raise AutomixError("the learned controller needs a reference mix")
    stem_stats = [F.window_stats(s, sample_rate) for s in stems]
    ref_stats = [F.window_stats(a, sample_rate) for a in audio]
    pooled = F.WindowStats(*(np.mean([getattr(r, k) for r in ref_stats], axis=0).astype(np.float32)
                             for k in ("energy", "frame_power", "peak")))
    batch = Batch.single(stem_stats, [F.level_db(s) for s in stem_stats], pooled)
    with torch.no_grad():
        raw = forward(loaded.model, batch)[0].double().numpy()
    limits = [pan_limit_for_bands(*_band_imbalance(r)) for r in ref_stats]
    max_pan = max(lim for lim, _ in limits)
    reason = next((why for lim, why in limits if lim == max_pan), None)
    settings = [_within_limits(row, _loud_level_db(s), max_pan) for row, s in zip(raw, stem_stats)]
    return Prediction(settings, raw, loaded.sha256, max_pan, reason)


def _band_imbalance(stats: F.WindowStats) -> tuple[np.ndarray, np.ndarray]:
    """Per Bark band ``(imbalance, share)`` of a signal from its sampled frames (the quantities of
    :func:`~reaper_automix.matching.limits.band_imbalance`, estimated without reading the whole song)."""
    ll, rr = stats.energy[:, 0].sum(axis=0).astype(np.float64), stats.energy[:, 1].sum(axis=0).astype(np.float64)
    total = ll + rr
    return (rr - ll) / np.maximum(total, 1e-20), total / max(float(total.sum()), 1e-20)


def _loud_level_db(stats: F.WindowStats) -> float:
    """The stem's loud level (:func:`~reaper_automix.matching.limits.stem_level_db`: 90th percentile of short
    block mean squares) estimated from the sampled ~46 ms frames."""
    return 10.0 * float(np.log10(max(float(np.percentile(stats.frame_power, 90)), 1e-20)))


def _within_limits(row: np.ndarray, loud_db: float, max_pan: float) -> Strip:
    """One stem's physical outputs ``[gain, eq x6, threshold, ratio, pan]`` as settings inside the limits."""
    low, high = threshold_range_db(loud_db)
    return Strip(
        gain_db=float(np.clip(row[0], GAIN_DB.low, GAIN_DB.high)),
        eq=fixed_band_eq(np.clip(row[1:7], -LIMITS.eq_db, LIMITS.eq_db)),
        compressor=Compressor(threshold_db=float(np.clip(row[7], low, high)),
                              ratio=float(np.clip(row[8], 1.0, LIMITS.ratio))),
        pan=float(np.clip(row[9], -max_pan, max_pan)),
    )


def apply_options(settings: Sequence[Strip], options: MatchOptions) -> list[Strip]:
    """``--strength`` (linear from neutral: 0 dB, flat, ratio 1, centre) and the aspect switches, as the search
    applies them."""
    s = options.strength
    out = []
    for st in settings:
        c = st.compressor
        ratio = 1.0 + s * (c.ratio - 1.0) if options.compressor else 1.0
        out.append(Strip(
            gain_db=s * st.gain_db if options.gain else 0.0,
            eq=fixed_band_eq([s * b.gain_db if options.eq else 0.0 for b in st.eq]),
            compressor=replace(c, ratio=ratio),
            pan=s * st.pan if options.pan else 0.0,
        ))
    return out


def learned_engine(stems: Sequence[np.ndarray], sample_rate: int, reference_paths: Sequence[Path],
                   ) -> list[Strip]:
    """The learned controller with the shipped checkpoint (evaluation harness signature)."""
    return predict_settings(stems, sample_rate, reference_paths).settings
