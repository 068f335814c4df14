"""Prediction: the stage-1 stems and a reference mix in, one channel strip per stem out.

:func:`predict_settings` measures the stems and the reference(s) (:mod:`.features`, whole song) and runs the
model once; its outputs become strips at the console's fixed EQ bands and compressor times. Several references
are pooled (their window statistics averaged). :func:`learned_settings` is the learned engine: the prediction,
refined for the song through the differentiable band-energy console on the same window statistics
(:mod:`.refine`; ``refine=None`` skips it), kept inside the shared plausibility limits through
:mod:`reaper_automix.matching.limits`'s API
(:func:`~reaper_automix.matching.limits.plausible_bounds` -> :func:`~reaper_automix.matching.limits.clamp_to_bounds`
-> the options -> each bus's pan law -> :func:`~reaper_automix.matching.limits.within_gain_reduction_cap`).
:func:`learned_engine` has the evaluation harness's signature (:func:`network_engine`: the same without the
refinement).

The network was trained on a console that pans with REAPER's default law; a bus with another law gets the pan
(and a fader correction) that gives its stem the same left/right energies (:func:`for_pan_laws`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..console.pan import PanLaw
from ..errors import AutomixError
from ..matching.features import load_reference
from ..matching.limits import (
    Bounds,
    GainReduction,
    StemMeasures,
    clamp_to_bounds,
    crest_db,
    pan_for_imbalance,
    plausible_bounds,
    within_gain_reduction_cap,
)
from ..matching import MatchOptions
from ..strip import PAN, Compressor, Strip, fixed_band_eq
from . import features as F
from .checkpoint import SHIPPED, LoadedController, load_checkpoint
from .losses import Batch, forward
from .refine import RefineOptions, refine_settings

TRAINED_PAN_LAW = PanLaw()  # the law of the console the network was trained on (losses.band_console)


@dataclass(frozen=True)
class Prediction:
    """The network's output for one song (refined, when asked): ``settings`` (its physical values as strips at
    the fixed EQ bands and compressor times; not yet inside the plausibility limits), ``raw`` ``(stems, 10)`` the
    same values as columns ``[gain_db, eq gains x6, threshold_db, ratio, pan]``."""

    settings: list[Strip]
    raw: np.ndarray
    checkpoint_sha256: str


@lru_cache(maxsize=4)
def _cached(path: str) -> LoadedController:
    return load_checkpoint(Path(path))


def controller(path: str | os.PathLike | None = None) -> LoadedController:
    """The checkpoint at ``path`` (default: the shipped one), loaded once per process."""
    return _cached(str(Path(path) if path is not None else SHIPPED))


def _reference_audio(references: Sequence[str | os.PathLike], reference_audio: Sequence[np.ndarray],
                     sample_rate: int) -> list[np.ndarray]:
    audio = [load_reference(p, sample_rate) for p in references] + list(reference_audio)
    if not audio:
        raise AutomixError("the learned controller needs a reference mix")
    return audio


def predict_settings(
    stems: Sequence[np.ndarray],
    sample_rate: int,
    references: Sequence[str | os.PathLike] = (),
    *,
    reference_audio: Sequence[np.ndarray] = (),
    checkpoint: LoadedController | None = None,
    refine: RefineOptions | None = None,
) -> Prediction:
    """The network's strips for ``stems`` (float32 ``(2, samples)`` each at their stage-1 level; memory-mapped
    is fine) to match the reference files ``references`` (or already loaded ``reference_audio``, ``(2, samples)``
    at ``sample_rate``); with ``refine``, refined for this song through the band-energy console
    (:func:`~.refine.refine_settings`, on the same window statistics)."""
    if not stems:
        raise AutomixError("the learned controller needs at least one stem")
    if len(stems) > 32:
        raise AutomixError(f"the learned controller takes at most 32 stems, got {len(stems)} (group further)")
    loaded = checkpoint or controller()
    audio = _reference_audio(references, reference_audio, sample_rate)
    stem_stats = [F.window_stats(s, sample_rate) for s in stems]
    ref_stats = [F.window_stats(a, sample_rate) for a in audio]
    pooled = F.WindowStats(*(np.mean([getattr(r, k) for r in ref_stats], axis=0).astype(np.float32)
                             for k in ("energy", "frame_power", "peak")))
    batch = Batch.single(stem_stats, [F.level_db(s) for s in stem_stats], pooled)
    with torch.no_grad():
        pred = forward(loaded.model, batch)
    raw = (refine_settings(pred, batch, refine) if refine is not None else pred)[0].double().numpy()
    settings = [Strip(float(r[0]), fixed_band_eq(r[1:7]), Compressor(threshold_db=float(r[7]), ratio=float(r[8])),
                      float(r[9])) for r in raw]
    return Prediction(settings, raw, loaded.sha256)


def equivalent_pan(pan: float, law: PanLaw, trained: PanLaw = TRAINED_PAN_LAW) -> tuple[float, float]:
    """The pan under ``law`` that gives a stem with equal channels the left/right energy balance that ``pan``
    gives it under ``trained``, and the fader change (dB) that keeps its total energy: ``(pan, gain_db)``."""
    if law == trained:
        return pan, 0.0

    def energies(p: float, of: PanLaw) -> tuple[float, float]:
        left, right = of.gains(torch.tensor([p], dtype=torch.float64))
        return float(left[0]) ** 2, float(right[0]) ** 2

    el, er = energies(pan, trained)
    moved = math.copysign(pan_for_imbalance((er - el) / max(er + el, 1e-20), law), pan)
    fl, fr = energies(moved, law)
    return moved, 10.0 * math.log10(max(el + er, 1e-20) / max(fl + fr, 1e-20))


def for_pan_laws(settings: Sequence[Strip], laws: Sequence[PanLaw] | None, pan_max: float = PAN.high,
                 ) -> list[Strip]:
    """Strips predicted for the trained console's pan law moved onto each bus's own ``laws`` (None: every bus
    has the trained law) by :func:`equivalent_pan`, pans kept within +/-``pan_max``."""
    if laws is None:
        return list(settings)
    if len(laws) != len(settings):
        raise AutomixError(f"{len(laws)} pan laws for {len(settings)} stems")
    out = []
    for s, law in zip(settings, laws):
        pan, gain_db = equivalent_pan(s.pan, law)
        out.append(replace(s, gain_db=s.gain_db + gain_db, pan=max(-pan_max, min(pan_max, pan))))
    return out


@dataclass(frozen=True)
class LearnedSettings:
    """The learned engine's decision: ``settings`` inside ``bounds`` with the options and pan laws applied,
    each bus compressor's ``gain_reduction`` on its stem (``None`` where the static bound proved it under the cap
    without measuring: :func:`~reaper_automix.matching.limits.within_gain_reduction_cap`), and the checkpoint
    that made it."""

    settings: list[Strip]
    bounds: Bounds
    gain_reduction: list[GainReduction | None]
    checkpoint_sha256: str


def learned_settings(
    stems: Sequence[np.ndarray],
    sample_rate: int,
    references: Sequence[str | os.PathLike] = (),
    options: MatchOptions = MatchOptions(),
    *,
    reference_audio: Sequence[np.ndarray] = (),
    checkpoint: LoadedController | None = None,
    pan_laws: Sequence[PanLaw] | None = None,
    measures: StemMeasures | None = None,
    refine: RefineOptions | None = RefineOptions(),
) -> LearnedSettings:
    """The learned engine on ``stems`` (as :func:`predict_settings`, refined by ``refine``: the default
    :class:`~.refine.RefineOptions`; None: the network's output alone), through the limits API (module
    docstring); ``pan_laws``: the law of the bus each stem plays through (None: REAPER's default for all);
    ``measures``: the stems' :func:`~reaper_automix.matching.limits.stem_measures` where the caller has read them
    already."""
    audio = _reference_audio(references, reference_audio, sample_rate)
    prediction = predict_settings(stems, sample_rate, reference_audio=audio, checkpoint=checkpoint, refine=refine)
    # The crest factors behind the gain-reduction cap, as the search reads them (the references' averaged).
    reference_crest = float(np.mean([crest_db(a, sample_rate) for a in audio]))
    bounds = plausible_bounds(stems, sample_rate, audio, reference_crest, measures=measures)  # reads stems once
    settings = apply_options(clamp_to_bounds(prediction.settings, bounds), options)
    settings = for_pan_laws(settings, pan_laws, bounds.pan_max)
    settings, reductions = within_gain_reduction_cap(stems, settings, sample_rate, bounds, measure_all=False)
    return LearnedSettings(settings, bounds, reductions, prediction.checkpoint_sha256)


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
    """The learned engine with the shipped checkpoint (evaluation harness signature)."""
    return learned_settings(stems, sample_rate, reference_paths).settings


def network_engine(stems: Sequence[np.ndarray], sample_rate: int, reference_paths: Sequence[Path],
                   ) -> list[Strip]:
    """The learned engine without the console refinement: the network's output inside the limits (evaluation
    harness signature; the table's ``network`` row, to show what the refinement adds)."""
    return learned_settings(stems, sample_rate, reference_paths, refine=None).settings
