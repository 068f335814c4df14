"""Reference matching without a trained model: console settings per stem found by gradient descent.

:func:`match_reference` sets gain, 6-band EQ, compressor and pan on each stage-1 stem so that the features of
the mix (:mod:`.features`) approach those of one or more reference mixes. Diff-MST predicts such settings with a
trained network; none is published (mixing.md section 2), so we search for them directly, per song.

How, and why:

* **Excerpts** (:mod:`.excerpts`): :attr:`MatchOptions.excerpts` windows of ``excerpt_s`` seconds that cover
  the song and catch every stem playing. Features before/after are always reported on the whole song.
* **A fast differentiable model of the console** (:mod:`.proxy`) on the excerpts' short-time band energies.
* **Defect correction** keeps the proxy honest: each round renders the excerpts through the exact console
  (forward only, cheap), and the proxy's target is shifted by ``proxy(theta) - exact(theta)`` at the current
  settings, so at convergence the *exact* excerpt features meet the target. The target itself is the
  reference's whole-song features shifted by the stage-1 mix's excerpt-minus-whole-song bias (the excerpts
  are louder sections; the reference is measured over its whole song).
* **Priors, so that results stay musical** (Gaussian penalties, weight :attr:`MatchOptions.regularisation`,
  averaged over stems): stem gain about the stage-1 balance (sigma 4 dB, hard limit +/-12 dB: stage 1's
  balance is the starting point, not something to redo); EQ gains sigma 3 dB; compressor ratio sigma of one
  doubling (ratio 2), attack 20 ms, release 150 ms, knee 6 dB and no makeup (the fader is the makeup); pan
  sigma 0.5 about centre, weighted by ``0.5 + stems x energy share + 8 x share below 200 Hz`` so that loud stems
  (the lead) and bass-heavy ones (bass, kick) stay near the centre as engineers keep them. Pans start at small
  seeded random positions: a centred stem's width has zero gradient in its pan (a saddle), so without the nudge
  no stem would ever move.
* **Plausibility limits** (:mod:`.limits`, shared by every engine), as hard bounds of the search space: EQ
  gains within +/-6 dB, ratio at most 4:1, each threshold within -12/+6 dB of its stem's loud level (so a
  compressor is never a gain), pans within +/-0.5 unless the reference's per-band balance calls for more
  (:func:`~.limits.pan_limit`). After the search, each bus compressor's average reduction on its own stem is
  measured on the exact console and brought under 10 dB (threshold raised, then ratio lowered) unless the
  reference's crest factor shows it is heavily compressed (:func:`~.limits.gain_reduction_cap`); the result
  carries the measured reductions and the reasons for any wider limit, for the report.
* **Fixed EQ frequencies and Q**: the six bands sit at the layout's neutral positions (``EQ_LAYOUT_DEFAULT`` in
  :mod:`reaper_automix.strip`: 100 Hz low shelf, 250, 700, 2000, 5000 Hz peaks with Q 1, about 1.4 octaves, and
  a 10 kHz high shelf); only their gains are optimised. Free frequencies make the
  problem multi-modal and let bands pile onto one spectral detail; six fixed bands per stem already give
  far more degrees of freedom than the 24 Bark bands of the target.
* **Adam** (deterministic given ``seed``) in an unconstrained space mapped through tanh/sigmoid onto the limits.

``strength`` interpolates every optimised value linearly from neutral (0 dB, ratio 1, centre) towards the match;
the aspect switches keep an aspect neutral (not optimised).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from ..adam import Adam
from ..console.pan import PanLaw
from ..errors import AutomixError
from ..methods import ENGINES
from ..strip import EQ_GAIN_DB, GAIN_DB, RATIO, THRESHOLD_DB, Compressor, Strip, fixed_band_eq
from .excerpts import choose_excerpts
from .features import (
    TERM_SCALES,
    MixFeatures,
    average_features,
    distances,
    features_from_stats,
    load_reference,
    song_features,
)
from .limits import (
    LIMITS,
    Bounds,
    GainReduction,
    plausible_bounds,
    stem_measures_and_sum,
    within_gain_reduction_cap,
)
from .proxy import EQ_LAYOUT, FIXED_COMPRESSOR, Physical, Proxy, build_proxy, proxy_features
from .render import excerpt_stats, render_console_mix

SIGMA_GAIN_DB = 4.0
SIGMA_EQ_DB = 3.0
SIGMA_LOG2_RATIO = 1.0
SIGMA_PAN = 0.5
PAN_LOW_WEIGHT = 8.0  # extra pan penalty per unit of a stem's energy share below 200 Hz


@dataclass(frozen=True)
class MatchOptions:
    """What to match and how hard. Aspect switches: ``gain=False`` is ``--no-gain`` and so on."""

    strength: float = 1.0
    gain: bool = True
    eq: bool = True
    compressor: bool = True
    pan: bool = True
    iterations: int = 150  # Adam steps per round
    rounds: int = 3  # defect-correction rounds (each ends with an exact render of the excerpts)
    seed: int = 0
    excerpts: int = 6
    excerpt_s: float = 4.0
    regularisation: float = 0.5
    learning_rate: float = 0.05
    # Limits: the strip ranges' (reaper_automix.strip); tighter ones may be asked for, wider ones not.
    max_gain_db: float = GAIN_DB.high
    max_boost_db: float = EQ_GAIN_DB.high
    max_cut_db: float = -EQ_GAIN_DB.low
    max_ratio: float = RATIO.high
    # Which stage-2 engine mix_session runs (reaper_automix.controller.engines): "search" (this module),
    # "learned" or "hybrid". match_reference itself is the search and ignores it.
    engine: str = "learned"  # chosen by the evaluation table (reaper_automix/models/README.md says why)

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise AutomixError(f"match strength must be within 0..1, got {self.strength}")
        for name in ("iterations", "rounds", "excerpts"):
            if getattr(self, name) < 1:
                raise AutomixError(f"match {name} must be at least 1, got {getattr(self, name)}")
        if self.engine not in ENGINES:
            raise AutomixError(f"unknown stage-2 engine {self.engine!r} (choose from {', '.join(ENGINES)})")
        if not self.excerpt_s >= 1.0:
            raise AutomixError(f"excerpt length must be at least 1 s, got {self.excerpt_s}")
        if self.max_ratio < 1.0 or self.max_boost_db < 0 or self.max_cut_db < 0 or self.max_gain_db < 0:
            raise AutomixError("match limits must be non-negative (ratio at least 1)")
        if (self.max_gain_db > GAIN_DB.high or self.max_boost_db > EQ_GAIN_DB.high
                or self.max_cut_db > -EQ_GAIN_DB.low or self.max_ratio > RATIO.high):
            raise AutomixError(
                f"match limits must stay within the strip ranges (gain +/-{GAIN_DB.high:g} dB, EQ "
                f"{EQ_GAIN_DB.low:+g}..{EQ_GAIN_DB.high:+g} dB, ratio at most {RATIO.high:g})"
            )


@dataclass
class MatchResult:
    stems: list[Strip]  # one per stem; gain relative to the stem's stage-1 level
    reference: MixFeatures  # whole song (averaged over references)
    before: MixFeatures  # the stage-1 mix, whole song
    after: MixFeatures  # the matched mix, whole song
    distances_before: dict[str, float]
    distances_after: dict[str, float]
    excerpts_s: list[tuple[float, float]]  # the optimisation windows
    loss_history: list[float] = field(default_factory=list)
    matched_mix: np.ndarray | None = None  # float32 (2, samples): the render behind ``after`` (reuse for preview)
    before_mix: np.ndarray | None = None  # float32 (2, samples): the stems summed, behind ``before`` (likewise)
    # Plausibility (matching/limits.py): each stem's level, each bus compressor's reduction on its stem, and the
    # limits this reference allowed (with the reason when beyond the usual ones).
    levels_db: list[float] = field(default_factory=list)
    gain_reduction: list[GainReduction] = field(default_factory=list)
    pan_max: float = LIMITS.pan
    pan_reason: str | None = None
    gain_reduction_max_db: float = LIMITS.mean_gain_reduction_db
    gain_reduction_reason: str | None = None
    engine: str = "search"  # which stage-2 engine made the settings (reaper_automix.controller.engines)
    checkpoint_sha256: str | None = None  # the learned controller's checkpoint, for "learned" and "hybrid"


def _compressor(threshold_db: float, ratio: float) -> Compressor:
    return replace(FIXED_COMPRESSOR, threshold_db=float(threshold_db), ratio=float(ratio))


_TERMS = tuple(TERM_SCALES)


def feature_vector(f: MixFeatures | dict) -> dict[str, Tensor]:
    get = (lambda k: f[k]) if isinstance(f, dict) else (lambda k: getattr(f, k))
    return {k: torch.as_tensor(np.asarray(get(k), dtype=np.float64)) if not isinstance(get(k), Tensor)
            else get(k).detach() for k in _TERMS}


def _feature_loss(features: dict[str, Tensor], target: dict[str, Tensor]) -> Tensor:
    return sum(((features[k] - target[k]) ** 2).mean() / TERM_SCALES[k] ** 2 for k in _TERMS)


class _Search:
    """The unconstrained variables, their mapping onto physical values, and the priors."""

    def __init__(self, n_stems: int, proxy: Proxy, options: MatchOptions, bounds: Bounds):
        self.o = options
        self.bounds = bounds
        gen = torch.Generator().manual_seed(options.seed)
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.float64)
        self.eq_mid = (options.max_boost_db - options.max_cut_db) / 2
        self.eq_half = max((options.max_boost_db + options.max_cut_db) / 2, 1e-9)
        eq0 = math.atanh(max(-0.999, min(0.999, -self.eq_mid / self.eq_half)))
        low = torch.tensor([r[0] for r in bounds.threshold_range_db], dtype=torch.float64)
        high = torch.tensor([r[1] for r in bounds.threshold_range_db], dtype=torch.float64)
        self.thr_mid, self.thr_half = (low + high) / 2, (high - low) / 2
        self.vars: dict[str, Tensor] = {}
        if options.gain:
            self.vars["gain"] = zeros(n_stems)
        if options.eq:
            self.vars["eq"] = torch.full((n_stems, len(EQ_LAYOUT)), eq0, dtype=torch.float64)
        if options.compressor:
            self.vars["thr"] = zeros(n_stems)
            self.vars["ratio"] = torch.full((n_stems,), -4.0, dtype=torch.float64)
        if options.pan:
            self.vars["pan"] = 0.1 * torch.randn(n_stems, generator=gen, dtype=torch.float64)
        for v in self.vars.values():
            v.requires_grad_(True)
        self.n_stems = n_stems
        # Loud stems (the lead) and bass-heavy ones (bass, kick) pay more to leave the centre.
        self.pan_weight = 0.5 + n_stems * proxy.share + PAN_LOW_WEIGHT * proxy.low_share
        self.centre: Physical | None = None  # what the priors pull toward (None: neutral)

    def start_from(self, start: Sequence[Strip]) -> None:
        """The hybrid engine: begin at ``start`` (the learned prediction) and let the priors pull toward it
        instead of toward neutral. Values outside the search's limits are brought inside them."""
        o = self.o

        def t(values) -> Tensor:
            return torch.tensor(values, dtype=torch.float64)

        def atanh(x: Tensor) -> Tensor:
            return torch.atanh(x.clamp(-0.999, 0.999))

        with torch.no_grad():
            if "gain" in self.vars:
                self.vars["gain"].copy_(atanh(t([s.gain_db for s in start]) / o.max_gain_db))
            if "eq" in self.vars:
                eq = t([[b.gain_db for b in s.eq] for s in start])
                self.vars["eq"].copy_(atanh((eq - self.eq_mid) / self.eq_half))
            if "thr" in self.vars:
                thr = t([s.compressor.threshold_db for s in start])
                self.vars["thr"].copy_(atanh((thr - self.thr_mid) / self.thr_half.clamp_min(1e-9)))
                share = (t([s.compressor.ratio for s in start]) - 1) / (o.max_ratio - 1)
                self.vars["ratio"].copy_(torch.logit(share.clamp(1e-3, 1 - 1e-3)))
            if "pan" in self.vars:
                self.vars["pan"].copy_(atanh(t([s.pan for s in start]) / max(self.bounds.pan_max, 1e-9)))
            p = self.physical()
        self.centre = Physical(p.gain_db.detach(), p.eq_gain_db.detach(), p.threshold_db.detach(),
                                p.ratio.detach(), p.pan.detach())

    def physical(self) -> Physical:
        o, v, s = self.o, self.vars, self.n_stems
        zeros = torch.zeros(s, dtype=torch.float64)

        def ratio(u: Tensor) -> Tensor:
            return 1 + (o.max_ratio - 1) * torch.sigmoid(u)

        def eq(u: Tensor) -> Tensor:
            return self.eq_mid + self.eq_half * torch.tanh(u)

        p = Physical(
            gain_db=o.max_gain_db * torch.tanh(v["gain"]) if "gain" in v else zeros,
            eq_gain_db=eq(v["eq"]) if "eq" in v else torch.zeros(s, len(EQ_LAYOUT), dtype=torch.float64),
            threshold_db=(self.thr_mid + self.thr_half * torch.tanh(v["thr"])).clamp(THRESHOLD_DB.low,
                                                                                      THRESHOLD_DB.high)
            if "thr" in v else torch.zeros(s, dtype=torch.float64),
            ratio=ratio(v["ratio"]) if "ratio" in v else torch.ones(s, dtype=torch.float64),
            pan=self.bounds.pan_max * torch.tanh(v["pan"]) if "pan" in v else zeros,
        )
        return p

    def prior(self, p: Physical) -> Tensor:
        c = self.centre
        terms = [
            ((p.gain_db - (0 if c is None else c.gain_db)) / SIGMA_GAIN_DB) ** 2,
            (((p.eq_gain_db - (0 if c is None else c.eq_gain_db)) / SIGMA_EQ_DB) ** 2).sum(dim=1),
            (torch.log2(p.ratio / (1 if c is None else c.ratio)) / SIGMA_LOG2_RATIO) ** 2,
            self.pan_weight * ((p.pan - (0 if c is None else c.pan)) / SIGMA_PAN) ** 2,
        ]
        total = sum(t.sum() for t in terms) / self.n_stems
        return self.o.regularisation * total


def strips_from_physical(p: Physical, strength: float) -> list[Strip]:
    """Physical settings, interpolated from neutral by ``strength``."""
    s = strength
    stems = []
    for i in range(p.gain_db.shape[0]):
        stems.append(Strip(
            gain_db=s * float(p.gain_db[i]),
            eq=fixed_band_eq([s * float(g) for g in p.eq_gain_db[i]], EQ_LAYOUT),
            compressor=_compressor(float(p.threshold_db[i]), 1 + s * (float(p.ratio[i]) - 1)),
            pan=s * float(p.pan[i]),
        ))
    return stems


def match_reference(
    stems: Sequence[np.ndarray],
    sample_rate: int,
    references: Sequence[str | os.PathLike],
    options: MatchOptions = MatchOptions(),
    *,
    reference: MixFeatures | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    pan_laws: Sequence[PanLaw] | None = None,
    start: Sequence[Strip] | None = None,
) -> MatchResult:
    """Console settings per stem so that the mix matches the reference(s) (see the module docstring).

    ``pan_laws``: the pan law of the bus each stem plays through (REAPER's default law for all when None).
    ``stems``: the stage-1 stems, float32 ``(2, samples)`` each, at their stage-1 level (group gain applied);
    memory-mapped arrays are fine. ``references``: audio files (several: their features are averaged);
    ``reference`` instead gives the target features directly (then ``references`` may be empty).
    ``progress("matching the reference", done, total)`` is called after each round and after the final render.
    ``start``: settings to begin from and regularise toward (the hybrid engine), instead of neutral.
    """
    if not stems:
        raise AutomixError("reference matching needs at least one stem")
    if any(s.ndim != 2 or s.shape[0] != 2 for s in stems):
        raise AutomixError("stems must be stereo arrays shaped (2, samples)")
    audio = [] if reference is not None else [load_reference(p, sample_rate) for p in references]
    if reference is None and not audio:
        raise AutomixError("no reference given")
    target = reference if reference is not None else average_features([song_features(a, sample_rate)
                                                                        for a in audio])
    law = list(pan_laws) if pan_laws is not None else [PanLaw()] * len(stems)
    if len(law) != len(stems):
        raise AutomixError(f"{len(law)} pan laws for {len(stems)} stems")
    measures, before_mix = stem_measures_and_sum(stems, sample_rate)  # one read: the limits' measures, the sum
    before = song_features(before_mix, sample_rate)
    if not math.isfinite(before.loudness_lufs):
        raise AutomixError("the stems are silent: nothing to match")
    # The reference-side pan limit reads the reference's balance under the default law.
    bounds = plausible_bounds(stems, sample_rate, audio, target.crest_db, before.crest_db, PanLaw(),
                              measures=measures)
    del audio  # measured: the references are not held through the search and the full-length render
    windows = choose_excerpts(stems, sample_rate, options.excerpts, options.excerpt_s)
    proxy = build_proxy(stems, windows, sample_rate)
    search = _Search(len(stems), proxy, options, bounds)
    if start is not None:
        if len(start) != len(stems):
            raise ValueError(f"{len(stems)} stems but {len(start)} start settings")
        search.start_from(start)

    # Excerpt target: the reference's whole-song features plus the stage-1 mix's excerpt-vs-song bias.
    neutral = [Strip.neutral(EQ_LAYOUT)] * len(stems)
    excerpt0 = features_from_stats(excerpt_stats(stems, windows, sample_rate, neutral, law))
    want = {k: torch.as_tensor(np.asarray(getattr(target, k)) + np.asarray(getattr(excerpt0, k))
                               - np.asarray(getattr(before, k)), dtype=torch.float64) for k in _TERMS}
    history: list[float] = []
    optimiser = Adam([(list(search.vars.values()), options.learning_rate)])
    rounds = options.rounds if search.vars else 0
    note = progress or (lambda *_: None)
    note("matching the reference", 0, rounds + 1)
    if search.vars:
        for done in range(options.rounds):
            with torch.no_grad():
                p = search.physical()
                now_proxy = feature_vector(proxy_features(p, proxy, sample_rate, law))
                settings = strips_from_physical(p, 1.0)
                now_exact = feature_vector(features_from_stats(
                    excerpt_stats(stems, windows, sample_rate, settings, law)))
            goal = {k: want[k] + now_proxy[k] - now_exact[k] for k in _TERMS}
            for _ in range(options.iterations):
                p = search.physical()
                loss = _feature_loss(proxy_features(p, proxy, sample_rate, law), goal) + search.prior(p)
                loss.backward()
                optimiser.step()
                history.append(float(loss.detach()))
            note("matching the reference", done + 1, rounds + 1)
    with torch.no_grad():
        stem_settings = strips_from_physical(search.physical(), options.strength)
    stem_settings, reductions = within_gain_reduction_cap(stems, stem_settings, sample_rate, bounds)
    result = whole_song_result(
        stems,
        stem_settings,
        sample_rate,
        target=target,
        before_mix=before_mix,
        before=before,
        pan_laws=law,
        excerpts_s=[(a / sample_rate, b / sample_rate) for a, b in windows],
        loss_history=history,
        levels_db=list(bounds.levels_db),
        gain_reduction=reductions,
        pan_max=bounds.pan_max,
        pan_reason=bounds.pan_reason,
        gain_reduction_max_db=bounds.gain_reduction_max_db,
        gain_reduction_reason=bounds.gain_reduction_reason,
    )
    note("matching the reference", rounds + 1, rounds + 1)
    return result


def whole_song_result(
    stems: Sequence[np.ndarray],
    settings: Sequence[Strip],
    sample_rate: int,
    *,
    target: MixFeatures,
    before_mix: np.ndarray,
    before: MixFeatures,
    pan_laws: Sequence[PanLaw] | None = None,
    rendered: tuple[np.ndarray, MixFeatures] | None = None,
    **found,
) -> MatchResult:
    """What ``settings`` do to the whole song, whichever engine found them: the stems rendered through the exact
    console (``matched_mix``), its features and both mixes' distances to ``target``.

    ``before_mix``: the stems summed (:func:`~.limits.stem_measures_and_sum`), float32 ``(2, samples)``, whose
    features are ``before``; it is kept in the result beside the matched mix, so the A/B preview reads neither from the stems
    again. ``pan_laws``: the law of the bus each stem plays through (REAPER's default for all when None).
    ``rendered``: ``(matched mix, its features)`` where the caller has already rendered ``settings`` with
    :func:`~.render.render_console_mix` (after :func:`check_finite`) and measured it, to do other work meanwhile.
    ``found``: the rest of :class:`MatchResult` (what the engine found on the way).

    Raises:
        AutomixError: a setting is not a finite number (an engine's fault: refused before anything is rendered or
            written, never passed on to a project as ``nan``).
    """
    if rendered is None:
        check_finite(settings, found.get("engine", "search"))
        after_mix = render_console_mix(stems, settings, sample_rate, pan_laws=pan_laws)
        after = song_features(after_mix, sample_rate)
    else:
        after_mix, after = rendered
    return MatchResult(
        stems=list(settings), reference=target, before=before, after=after,
        distances_before=distances(before, target), distances_after=distances(after, target),
        matched_mix=after_mix, before_mix=before_mix, **found,
    )


def check_finite(settings: Sequence[Strip], engine: str) -> None:
    """Refuse settings that are not all finite numbers, naming the bus and the ``engine`` that found them.

    Raises:
        AutomixError: a setting is ``nan`` or infinite (an engine's fault: refused before anything is rendered or
            written, never passed on to a project as ``nan``).
    """
    for k, s in enumerate(settings):
        values = (s.gain_db, s.pan, s.compressor.threshold_db, s.compressor.ratio, *(b.gain_db for b in s.eq))
        if not all(math.isfinite(v) for v in values):
            raise AutomixError(f"stage 2 ({engine} engine) found a setting that is not a number for bus {k + 1} of "
                               f"{len(settings)} ({s}); nothing was written. This is a bug: please report it with "
                               "the project.")

