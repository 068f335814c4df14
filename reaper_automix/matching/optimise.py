"""Reference matching without a trained model: console settings per stem found by gradient descent.

:func:`match_reference` sets gain, 6-band EQ, compressor and pan on each stage-1 stem (and, optionally, EQ and
compressor on the master bus) so that the features of the mix (:mod:`.features`) approach those of one or more
reference mixes. Diff-MST predicts such settings with a trained network; none is published (mixing.md
section 2), so we search for them directly, per song.

How, and why:

* **Excerpts.** Optimising on the whole song would cost minutes; one window (Diff-MST's inference) misses
  stems that are silent there. We take :attr:`MatchOptions.excerpts` windows of ``excerpt_s`` seconds: the song
  is cut into that many equal sections (so the windows cover it from intro to outro) and in each the window where
  the most stems are active is chosen (a stem is active in a 0.5 s block whose mean square is within 30 dB of
  its loudest blocks; ties go to the louder mix). Features before/after are always reported on the whole song.
* **A fast differentiable model of the console** (the "proxy"). Running the exact IIR console with gradients
  costs ~0.9 s per second of 16 stems (benchmarks/console_speed.py), far too slow for hundreds of steps. Every
  feature except the crest is a sum of energies, so the proxy works on short-time energies: for each stem and
  excerpt, the energies of L, R and their cross term per STFT frame (2048 at 44.1 kHz, hop 1024) and per Bark
  band (plus the bands below 20 Hz and above 15.5 kHz). EQ multiplies a band's energy by ``|H(f)|^2`` weighted
  by the stem's long-term spectrum inside the band; the compressor is the console's static curve and attack/
  release ballistics run at frame rate on the frame's EQ'd mean square; gain and pan (REAPER's law) scale the
  channels; stems add in energy (cross-stem correlation neglected). The crest factor, a sample peak, has no
  energy form: the proxy models the mix's peak from each stem's per-frame sample peaks (scaled by gain, pan,
  the EQ's broadband gain and the compressor gain *before* the frame, since the attack lets transients
  through; stems add in power; a 16th-power mean over frames stands in for the maximum). A frame-energy
  crest was tried first and moved the wrong way: compression lowers it while the sample crest rises.
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

import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor
from torchcomp.core import compressor_core

from ..analysis.loudness import integrated_loudness
from ..console.compressor import gain_computer_db, time_constant_coef
from ..console.eq import eq_response_db
from ..console.mix import StripState, channel_strips, master_bus
from ..console.pan import PanLaw, pan_gains
from ..console.params import ChannelParams, EqParams, MasterParams
from ..errors import AutomixError
from ..strip import EQ_GAIN_DB, EQ_LAYOUT_DEFAULT, GAIN_DB, RATIO, THRESHOLD_DB, Compressor, EqBand, Strip
from .features import (
    BARK_EDGES_HZ,
    N_BANDS,
    TERM_SCALES,
    MixFeatures,
    SignalStats,
    average_features,
    distances,
    features_from_stats,
    load_reference,
    signal_stats,
    song_features,
    torch_features_from_sums,
)
from .limits import LIMITS, Bounds, GainReduction, plausible_bounds, within_gain_reduction_cap

# What the search keeps fixed: the EQ bands at the layout's neutral frequencies and Q, the compressor's times,
# knee and makeup at their defaults (module docstring).
_LAYOUT = EQ_LAYOUT_DEFAULT
_FIXED_COMP = Compressor()
SIGMA_GAIN_DB = 4.0
SIGMA_EQ_DB = 3.0
SIGMA_LOG2_RATIO = 1.0
SIGMA_PAN = 0.5
PAN_LOW_WEIGHT = 8.0  # extra pan penalty per unit of a stem's energy share below 200 Hz
CREST_POWER = 16.0  # the proxy peak's power mean over frames
ACTIVE_WITHIN_DB = 30.0
PREROLL_S = 0.5  # exact excerpt renders start this early so filters and compressors have settled
RENDER_CHUNK = 1 << 17
_ACTIVITY_BLOCK_S = 0.5


@dataclass(frozen=True)
class MatchOptions:
    """What to match and how hard. Aspect switches: ``gain=False`` is ``--no-gain`` and so on."""

    strength: float = 1.0
    gain: bool = True
    eq: bool = True
    compressor: bool = True
    pan: bool = True
    master_bus: bool = False
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
        if self.engine not in ("learned", "search", "hybrid"):
            raise AutomixError(f"unknown stage-2 engine {self.engine!r} (choose from learned, search, hybrid)")
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
    master: Strip | None
    reference: MixFeatures  # whole song (averaged over references)
    before: MixFeatures  # the stage-1 mix, whole song
    after: MixFeatures  # the matched mix, whole song
    distances_before: dict[str, float]
    distances_after: dict[str, float]
    excerpts_s: list[tuple[float, float]]  # the optimisation windows
    loss_history: list[float] = field(default_factory=list)
    matched_mix: np.ndarray | None = None  # float32 (2, samples): the render behind ``after`` (reuse for preview)
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


def _eq_bands(gains_db: Sequence[float]) -> tuple[EqBand, ...]:
    return tuple(EqBand(spec.kind.value, spec.neutral_freq_hz, float(g), spec.neutral_q)
                 for spec, g in zip(_LAYOUT, gains_db))


def _compressor(threshold_db: float, ratio: float) -> Compressor:
    return replace(_FIXED_COMP, threshold_db=float(threshold_db), ratio=float(ratio))


# --- rendering -----------------------------------------------------------------------------------------------------


def render_console_mix(
    stems: Sequence[np.ndarray],
    settings: Sequence[Strip],
    sample_rate: int,
    master: Strip | None = None,
    *,
    chunk_samples: int = RENDER_CHUNK,
) -> np.ndarray:
    """The whole song through the exact console, float32 ``(2, samples)``.

    Processed in chunks with every filter and compressor state carried across, so memory holds one chunk of
    every stem plus the output; ``stems`` may be memory-mapped ``(2, n)`` arrays."""
    if len(stems) != len(settings):
        raise ValueError(f"{len(stems)} stems but {len(settings)} settings")
    n = max(s.shape[1] for s in stems)
    params = ChannelParams.from_strips(settings)
    mparams = None if master is None else MasterParams.from_strip(master)
    out = np.zeros((2, n), dtype=np.float32)
    strip_state: StripState | None = None
    master_state: StripState | None = None
    with torch.no_grad():
        for start in range(0, n, chunk_samples):
            stop = min(n, start + chunk_samples)
            block = np.zeros((len(stems), 2, stop - start), dtype=np.float32)
            for i, s in enumerate(stems):
                part = s[:, start:stop]
                block[i, :, : part.shape[1]] = part
            panned, strip_state = channel_strips(torch.from_numpy(block), params, sample_rate, state=strip_state)
            chunk = panned.sum(dim=0)
            if mparams is not None:
                chunk, master_state = master_bus(chunk, mparams, sample_rate, state=master_state)
            out[:, start:stop] = chunk.numpy()
    return out


def level_matched_ab(
    before: np.ndarray, after: np.ndarray, sample_rate: int, target_lufs: float | None = None
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Before/after previews at the same integrated loudness, for a fair A/B (louder always sounds better).

    Both are scaled to ``target_lufs`` (default: the before's loudness, so the before is unchanged). Returns
    ``(before, after, before_gain_db, after_gain_db)``. Float output: peaks above 0 dBFS are kept, not clipped.
    """
    l_before = integrated_loudness(before, sample_rate)
    l_after = integrated_loudness(after, sample_rate)
    if not (math.isfinite(l_before) and math.isfinite(l_after)):
        raise AutomixError("cannot level-match a silent preview")
    target = l_before if target_lufs is None else target_lufs
    g_before, g_after = target - l_before, target - l_after
    return (
        (before * np.float32(10 ** (g_before / 20))).astype(np.float32),
        (after * np.float32(10 ** (g_after / 20))).astype(np.float32),
        g_before,
        g_after,
    )


class ScaledStem:
    """A stem ``(2, samples)`` (e.g. a memory-mapped stage-1 ``.npy``) read at a gain, slice by slice, so that a
    stem at its stage-1 level needs no full-length scaled copy."""

    def __init__(self, array: np.ndarray, gain_db: float):
        self.array = array
        self.gain = np.float32(10.0 ** (gain_db / 20.0))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.array[key], dtype=np.float32) * self.gain


def _sum_stems(stems: Sequence[np.ndarray]) -> np.ndarray:
    n = max(s.shape[1] for s in stems)
    out = np.zeros((2, n), dtype=np.float32)
    for s in stems:
        for start in range(0, s.shape[1], RENDER_CHUNK):
            part = np.asarray(s[:, start : start + RENDER_CHUNK], dtype=np.float32)
            out[:, start : start + part.shape[1]] += part
    return out


# --- excerpts ------------------------------------------------------------------------------------------------------


def choose_excerpts(stems: Sequence[np.ndarray], sample_rate: int, count: int, length_s: float) -> list[tuple[int, int]]:
    """``count`` windows ``(start, stop)`` in samples covering the song (see the module docstring)."""
    n = max(s.shape[1] for s in stems)
    block = max(1, int(_ACTIVITY_BLOCK_S * sample_rate))
    n_blocks = max(1, n // block)
    power = np.zeros((len(stems), n_blocks))
    for i, s in enumerate(stems):
        m = min(s.shape[1], n_blocks * block)
        x = np.asarray(s[:, :m], dtype=np.float32)
        power[i, : m // block] = np.mean((x[:, : (m // block) * block] ** 2).reshape(2, -1, block), axis=(0, 2))
    loud = np.percentile(power, 90, axis=1, keepdims=True)
    active = (power > loud * 10 ** (-ACTIVE_WITHIN_DB / 10)) & (power > 0)
    window_blocks = max(1, min(n_blocks, round(length_s / _ACTIVITY_BLOCK_S)))
    count = max(1, min(count, n_blocks // window_blocks))
    score = active.sum(axis=0) + 1e-3 * power.sum(axis=0) / max(power.sum(), 1e-30)
    running = np.convolve(score, np.ones(window_blocks), "valid")  # score of the window starting at each block
    edges = np.linspace(0, n_blocks, count + 1).round().astype(int)
    windows = []
    for a, b in itertools.pairwise(edges):
        last_start = max(a, min(b, n_blocks) - window_blocks)
        start = a + int(np.argmax(running[a : last_start + 1]))
        windows.append((start * block, min(n, (start + window_blocks) * block)))
    return windows


# --- the proxy -----------------------------------------------------------------------------------------------------


@dataclass
class _Proxy:
    """Precomputed short-time band energies of every stem on the excerpts (see the module docstring)."""

    energy: Tensor  # (stems, 3, frames, bands): L^2, R^2, L*R mean squares per frame and band
    peak: Tensor  # (stems, 2, frames): largest |sample| of L and R per frame (between frame centres)
    weights: Tensor  # (stems, bins): each bin's share of its band's long-term energy, per stem
    mix_weights: Tensor  # (bins,): the same for the stage-1 mix (master EQ)
    onehot: Tensor  # (bins, bands)
    freqs_hz: Tensor  # (bins,)
    frame_rate: float
    excerpt_frames: int  # frames per excerpt (ballistics restart at each excerpt)
    share: Tensor  # (stems,) each stem's share of the stage-1 mix's energy on the excerpts
    low_share: Tensor  # (stems,) the share of each stem's own energy below 200 Hz


def _proxy_bands(n_fft: int, sample_rate: float) -> np.ndarray:
    """Band of each rfft bin: 0 below 20 Hz, 1..24 the Bark bands, 25 above 15.5 kHz."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return np.searchsorted(np.asarray(BARK_EDGES_HZ), freqs, side="right").clip(0, N_BANDS + 1)


def _build_proxy(stems: Sequence[np.ndarray], windows: list[tuple[int, int]], sample_rate: int) -> _Proxy:
    n_fft = 1 << round(math.log2(0.0464 * sample_rate))  # ~46 ms frames: 2048 at 44.1/48 kHz
    hop = n_fft // 2
    window = np.hanning(n_fft + 1)[:-1]
    band = _proxy_bands(n_fft, sample_rate)
    onehot = np.zeros((len(band), N_BANDS + 2))
    onehot[np.arange(len(band)), band] = 1.0
    # Parseval: a frame's mean square = sum_k c_k |X_k|^2 / (N sum w^2), c_k = 2 except at DC and Nyquist.
    c = np.full(len(band), 2.0)
    c[0] = c[-1] = 1.0
    c /= n_fft * np.sum(window**2)
    length = min(b - a for a, b in windows)
    frames_per = 1 + max(0, (length - n_fft) // hop)
    energies, weights, mix_bins = [], [], np.zeros(len(band))
    peak_list = []
    for s in stems:
        per_window, peaks = [], []
        bins = np.zeros(len(band))
        for a, _ in windows:
            x = np.zeros((2, (frames_per - 1) * hop + n_fft))
            part = np.asarray(s[:, a : a + x.shape[1]], dtype=np.float64)
            x[:, : part.shape[1]] = part
            framed = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[:, ::hop][:, :frames_per]
            spec = np.fft.rfft(framed * window, axis=-1)  # (2, frames, bins)
            ll = c * np.abs(spec[0]) ** 2
            rr = c * np.abs(spec[1]) ** 2
            lr = c * (spec[0] * spec[1].conj()).real
            per_window.append(np.stack([ll @ onehot, rr @ onehot, lr @ onehot]))  # (3, frames, bands)
            # Peaks over each hop-long span around a frame's centre (the spans tile the excerpt).
            centre = x[:, hop // 2 : hop // 2 + frames_per * hop].reshape(2, frames_per, hop)
            peaks.append(np.abs(centre).max(axis=-1))
            bins += (ll + rr).sum(axis=0)
            mix_bins += (ll + rr).sum(axis=0)
        energies.append(np.concatenate(per_window, axis=1))
        peak_list.append(np.concatenate(peaks, axis=1))
        weights.append(bins)
    def shares(b: np.ndarray) -> np.ndarray:
        per_band = b @ onehot
        return b / np.maximum(per_band[band], 1e-30)

    energy = np.stack(energies)
    frame_power = energy[:, :2].sum(axis=(1, 3)) / 2  # (stems, frames)
    return _Proxy(
        energy=torch.from_numpy(energy),
        peak=torch.from_numpy(np.stack(peak_list)),
        weights=torch.from_numpy(np.stack([shares(w) for w in weights])),
        mix_weights=torch.from_numpy(shares(mix_bins)),
        onehot=torch.from_numpy(onehot),
        freqs_hz=torch.from_numpy(np.fft.rfftfreq(n_fft, 1.0 / sample_rate)),
        frame_rate=sample_rate / hop,
        excerpt_frames=frames_per,
        share=torch.from_numpy(frame_power.sum(axis=1) / max(frame_power.sum(), 1e-30)),
        low_share=torch.from_numpy(energy[:, :2, :, :3].sum(axis=(1, 2, 3))
                                   / np.maximum(energy[:, :2].sum(axis=(1, 2, 3)), 1e-30)),
    )


@dataclass
class _Physical:
    """Optimised values as tensors (the rest of a setting is fixed)."""

    gain_db: Tensor  # (S,)
    eq_gain_db: Tensor  # (S, 6)
    threshold_db: Tensor  # (S,)
    ratio: Tensor  # (S,)
    pan: Tensor  # (S,)
    master_eq_gain_db: Tensor | None = None  # (6,)
    master_threshold_db: Tensor | None = None  # ()
    master_ratio: Tensor | None = None  # ()


def _band_gain(eq_gain_db: Tensor, proxy: _Proxy, weights: Tensor, sample_rate: float) -> Tensor:
    """Energy gain of the fixed-frequency EQ per proxy band, weighted by the spectrum inside each band."""
    batch = eq_gain_db.shape[0]
    neutral = EqParams.neutral(batch, _LAYOUT)
    eq = EqParams(neutral.freq_hz, eq_gain_db, neutral.q, _LAYOUT)
    response = 10.0 ** (eq_response_db(eq, proxy.freqs_hz, sample_rate) / 10.0)  # (batch, bins) energy gain
    return (weights * response) @ proxy.onehot  # (batch, bands)


def _ballistics_db(level_db: Tensor, threshold_db: Tensor, ratio: Tensor, proxy: _Proxy) -> Tensor:
    """Compressor gain (dB) per frame for frame levels ``(batch, frames)``, ballistics restarting per excerpt."""
    batch, frames = level_db.shape
    target = gain_computer_db(level_db, threshold_db[:, None], ratio[:, None],
                              torch.full((batch, 1), _FIXED_COMP.knee_db, dtype=torch.float64))
    per = proxy.excerpt_frames
    target = target.reshape(batch * (frames // per), per)
    attack = time_constant_coef(_FIXED_COMP.attack_ms, proxy.frame_rate).expand(target.shape[0]).contiguous()
    release = time_constant_coef(_FIXED_COMP.release_ms, proxy.frame_rate).expand(target.shape[0]).contiguous()
    gain = compressor_core(target.contiguous(), torch.zeros(target.shape[0], dtype=torch.float64), attack, release)
    return gain.reshape(batch, frames)


def _proxy_features(p: _Physical, proxy: _Proxy, sample_rate: float, laws: Sequence[PanLaw]) -> dict[str, Tensor]:
    energy = proxy.energy  # (S, 3, F, B)
    g_band = _band_gain(p.eq_gain_db, proxy, proxy.weights, sample_rate)  # (S, B)
    eqd = energy * g_band[:, None, None, :]
    level = 10 * torch.log10((eqd[:, 0] + eqd[:, 1]).sum(dim=-1) / 2 + 1e-10)  # (S, F) detector
    comp_db = _ballistics_db(level, p.threshold_db, p.ratio, proxy)  # (S, F)
    comp = 10 ** (comp_db / 10)  # energy gain
    left, right = pan_gains(laws, p.pan)
    scale = comp * (10 ** (p.gain_db / 10))[:, None]  # (S, F)
    ll = torch.einsum("sf,sfb->fb", scale * (left**2)[:, None], eqd[:, 0])
    rr = torch.einsum("sf,sfb->fb", scale * (right**2)[:, None], eqd[:, 1])
    lr = torch.einsum("sf,sfb->fb", scale * (left * right)[:, None], eqd[:, 2])
    peak_power = _peak_power(p, proxy, comp_db, g_band, left, right)
    if p.master_eq_gain_db is not None:
        m_band = _band_gain(p.master_eq_gain_db[None], proxy, proxy.mix_weights[None], sample_rate)[0]
        mix_energy = (ll + rr).sum(dim=0)
        peak_power = peak_power * (m_band * mix_energy).sum() / mix_energy.sum().clamp_min(1e-30)
        ll, rr, lr = ll * m_band, rr * m_band, lr * m_band
        m_level = 10 * torch.log10((ll + rr).sum(dim=-1) / 2 + 1e-10)
        m_db = _ballistics_db(m_level[None], p.master_threshold_db[None], p.master_ratio[None], proxy)
        m_comp = 10 ** (m_db[0] / 10)
        ll, rr, lr = ll * m_comp[:, None], rr * m_comp[:, None], lr * m_comp[:, None]
        peak_power = peak_power * 10 ** (_held(m_db, proxy)[0] / 10)
    mid = (ll + rr + 2 * lr) / 4
    side = (ll + rr - 2 * lr) / 4
    frame_power = (ll + rr).sum(dim=-1) / 2  # (F,)
    features = torch_features_from_sums(
        ll.sum(), rr.sum(), lr.sum(), float(frame_power.shape[0]), torch.tensor(1.0, dtype=torch.float64),
        mid.sum(dim=0)[1:-1], side.sum(dim=0)[1:-1], (mid + side).sum(),
    )
    # A CREST_POWER-power mean over frames stands in for the maximum (smooth, not one frame's gradient).
    peak_power = peak_power.pow(CREST_POWER).mean().pow(1 / CREST_POWER)
    features["crest_db"] = 10 * torch.log10(peak_power / frame_power.mean())
    return features


def _peak_power(p: _Physical, proxy: _Proxy, comp_db: Tensor, g_band: Tensor, left: Tensor, right: Tensor) -> Tensor:
    """The mix's squared sample peak, modelled: each stem's frame peak scaled by its gain, pan, the EQ's
    broadband amplitude gain on that stem, and the compressor gain *before* the frame (a 20 ms attack lets a
    transient through before the gain falls); stems' peaks add in power (they rarely coincide); a
    Returns the per-frame peak power ``(frames,)`` of the stem sum."""
    held = _held(comp_db, proxy)
    band_energy = proxy.energy[:, :2].sum(dim=(1, 2))  # (S, B)
    eq_amp = ((g_band * band_energy).sum(-1) / band_energy.sum(-1).clamp_min(1e-30)).sqrt()  # (S,)
    amp = 10 ** ((held + p.gain_db[:, None]) / 20) * eq_amp[:, None]  # (S, F)
    channel = torch.stack([left, right], dim=1)[:, :, None] * proxy.peak * amp[:, None]  # (S, 2, F)
    return (channel**2).sum(dim=0).amax(dim=0)  # (F,)


def _held(gain_db: Tensor, proxy: _Proxy) -> Tensor:
    """Per-frame gains ``(batch, frames)`` delayed by one frame within each excerpt (0 dB at its start)."""
    per = proxy.excerpt_frames
    held = gain_db.reshape(gain_db.shape[0], -1, per)
    return torch.cat([torch.zeros_like(held[..., :1]), held[..., :-1]], dim=-1).reshape(gain_db.shape)


# --- optimisation --------------------------------------------------------------------------------------------------

_TERMS = tuple(TERM_SCALES)


def _feature_vector(f: MixFeatures | dict) -> dict[str, Tensor]:
    get = (lambda k: f[k]) if isinstance(f, dict) else (lambda k: getattr(f, k))
    return {k: torch.as_tensor(np.asarray(get(k), dtype=np.float64)) if not isinstance(get(k), Tensor)
            else get(k).detach() for k in _TERMS}


def _feature_loss(features: dict[str, Tensor], target: dict[str, Tensor]) -> Tensor:
    return sum(((features[k] - target[k]) ** 2).mean() / TERM_SCALES[k] ** 2 for k in _TERMS)


class _Search:
    """The unconstrained variables, their mapping onto physical values, and the priors."""

    def __init__(self, n_stems: int, proxy: _Proxy, options: MatchOptions, bounds: Bounds):
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
            self.vars["eq"] = torch.full((n_stems, len(_LAYOUT)), eq0, dtype=torch.float64)
        if options.compressor:
            self.vars["thr"] = zeros(n_stems)
            self.vars["ratio"] = torch.full((n_stems,), -4.0, dtype=torch.float64)
        if options.pan:
            self.vars["pan"] = 0.1 * torch.randn(n_stems, generator=gen, dtype=torch.float64)
        if options.master_bus:
            if options.eq:
                self.vars["meq"] = torch.full((len(_LAYOUT),), eq0, dtype=torch.float64)
            if options.compressor:
                self.vars["mthr"] = zeros(())
                self.vars["mratio"] = torch.tensor(-4.0, dtype=torch.float64)
        for v in self.vars.values():
            v.requires_grad_(True)
        self.n_stems = n_stems
        # Loud stems (the lead) and bass-heavy ones (bass, kick) pay more to leave the centre.
        self.pan_weight = 0.5 + n_stems * proxy.share + PAN_LOW_WEIGHT * proxy.low_share
        self.mix_thr0 = None
        self.centre: _Physical | None = None  # what the priors pull toward (None: neutral)

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
        self.centre = _Physical(p.gain_db.detach(), p.eq_gain_db.detach(), p.threshold_db.detach(),
                                p.ratio.detach(), p.pan.detach())

    def physical(self) -> _Physical:
        o, v, s = self.o, self.vars, self.n_stems
        zeros = torch.zeros(s, dtype=torch.float64)

        def ratio(u: Tensor) -> Tensor:
            return 1 + (o.max_ratio - 1) * torch.sigmoid(u)

        def eq(u: Tensor) -> Tensor:
            return self.eq_mid + self.eq_half * torch.tanh(u)

        p = _Physical(
            gain_db=o.max_gain_db * torch.tanh(v["gain"]) if "gain" in v else zeros,
            eq_gain_db=eq(v["eq"]) if "eq" in v else torch.zeros(s, len(_LAYOUT), dtype=torch.float64),
            threshold_db=(self.thr_mid + self.thr_half * torch.tanh(v["thr"])).clamp(THRESHOLD_DB.low,
                                                                                      THRESHOLD_DB.high)
            if "thr" in v else torch.zeros(s, dtype=torch.float64),
            ratio=ratio(v["ratio"]) if "ratio" in v else torch.ones(s, dtype=torch.float64),
            pan=self.bounds.pan_max * torch.tanh(v["pan"]) if "pan" in v else zeros,
        )
        if o.master_bus:
            p.master_eq_gain_db = eq(v["meq"]) if "meq" in v else torch.zeros(len(_LAYOUT),
                                                                             dtype=torch.float64)
            p.master_threshold_db = (self.mix_thr0 + 24 * torch.tanh(v["mthr"])).clamp(
                THRESHOLD_DB.low, THRESHOLD_DB.high) if "mthr" in v else torch.tensor(0.0, dtype=torch.float64)
            p.master_ratio = ratio(v["mratio"]) if "mratio" in v else torch.tensor(1.0, dtype=torch.float64)
        return p

    def prior(self, p: _Physical) -> Tensor:
        c = self.centre
        terms = [
            ((p.gain_db - (0 if c is None else c.gain_db)) / SIGMA_GAIN_DB) ** 2,
            (((p.eq_gain_db - (0 if c is None else c.eq_gain_db)) / SIGMA_EQ_DB) ** 2).sum(dim=1),
            (torch.log2(p.ratio / (1 if c is None else c.ratio)) / SIGMA_LOG2_RATIO) ** 2,
            self.pan_weight * ((p.pan - (0 if c is None else c.pan)) / SIGMA_PAN) ** 2,
        ]
        total = sum(t.sum() for t in terms) / self.n_stems
        if p.master_eq_gain_db is not None:
            total = total + ((p.master_eq_gain_db / SIGMA_EQ_DB) ** 2).sum()
            total = total + (torch.log2(p.master_ratio) / SIGMA_LOG2_RATIO) ** 2
        return self.o.regularisation * total


def _settings(p: _Physical, strength: float) -> tuple[list[Strip], Strip | None]:
    """Physical settings, interpolated from neutral by ``strength``."""
    s = strength
    stems = []
    for i in range(p.gain_db.shape[0]):
        stems.append(Strip(
            gain_db=s * float(p.gain_db[i]),
            eq=_eq_bands([s * float(g) for g in p.eq_gain_db[i]]),
            compressor=_compressor(float(p.threshold_db[i]), 1 + s * (float(p.ratio[i]) - 1)),
            pan=s * float(p.pan[i]),
        ))
    master = None
    if p.master_eq_gain_db is not None:
        master = Strip(0.0, _eq_bands([s * float(g) for g in p.master_eq_gain_db]),
                       _compressor(float(p.master_threshold_db), 1 + s * (float(p.master_ratio) - 1)))
    return stems, master


def _excerpt_stats(
    stems: Sequence[np.ndarray], windows: list[tuple[int, int]], sample_rate: int,
    settings: Sequence[Strip], master: Strip | None,
) -> SignalStats:
    """Pooled exact-console statistics of the excerpts (each rendered from ``PREROLL_S`` before it)."""
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
        panned, _ = channel_strips(torch.from_numpy(batch), params, sample_rate)
        mixes = panned.reshape(len(stems), len(windows), 2, length).sum(dim=0)
        total = None
        for w, (a, b) in enumerate(windows):
            y = mixes[w]
            if master is not None:
                y = master_bus(y, MasterParams.from_strip(master), sample_rate)[0]
            skip = a - max(0, a - preroll)
            stats = signal_stats(y[:, skip : skip + b - a].numpy(), sample_rate)
            total = stats if total is None else total + stats
    return total


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
    before_mix = _sum_stems(stems)
    before = song_features(before_mix, sample_rate)
    if not math.isfinite(before.loudness_lufs):
        raise AutomixError("the stems are silent: nothing to match")
    # The reference-side pan limit reads the reference's balance under the default law.
    bounds = plausible_bounds(stems, sample_rate, audio, target.crest_db, before.crest_db, PanLaw())
    windows = choose_excerpts(stems, sample_rate, options.excerpts, options.excerpt_s)
    proxy = _build_proxy(stems, windows, sample_rate)
    search = _Search(len(stems), proxy, options, bounds)
    if start is not None:
        if len(start) != len(stems):
            raise ValueError(f"{len(stems)} stems but {len(start)} start settings")
        search.start_from(start)
    if options.master_bus:
        mix_energy = proxy.energy[:, :2].sum(dim=(0, 1, 3)) / 2
        search.mix_thr0 = 10 * torch.log10(torch.quantile(mix_energy, 0.9).clamp_min(1e-10))

    # Excerpt target: the reference's whole-song features plus the stage-1 mix's excerpt-vs-song bias.
    neutral = [Strip.neutral(_LAYOUT)] * len(stems)
    excerpt0 = features_from_stats(_excerpt_stats(stems, windows, sample_rate, neutral, None))
    want = {k: torch.as_tensor(np.asarray(getattr(target, k)) + np.asarray(getattr(excerpt0, k))
                               - np.asarray(getattr(before, k)), dtype=torch.float64) for k in _TERMS}
    history: list[float] = []
    optimiser = torch.optim.Adam(list(search.vars.values()), lr=options.learning_rate)
    rounds = options.rounds if search.vars else 0
    note = progress or (lambda *_: None)
    note("matching the reference", 0, rounds + 1)
    if search.vars:
        for done in range(options.rounds):
            with torch.no_grad():
                p = search.physical()
                now_proxy = _feature_vector(_proxy_features(p, proxy, sample_rate, law))
                settings, master = _settings(p, 1.0)
                now_exact = _feature_vector(features_from_stats(
                    _excerpt_stats(stems, windows, sample_rate, settings, master)))
            goal = {k: want[k] + now_proxy[k] - now_exact[k] for k in _TERMS}
            for _ in range(options.iterations):
                optimiser.zero_grad()
                p = search.physical()
                loss = _feature_loss(_proxy_features(p, proxy, sample_rate, law), goal) + search.prior(p)
                loss.backward()
                optimiser.step()
                history.append(float(loss.detach()))
            note("matching the reference", done + 1, rounds + 1)
    with torch.no_grad():
        stem_settings, master = _settings(search.physical(), options.strength)
    stem_settings, reductions = within_gain_reduction_cap(stems, stem_settings, sample_rate, bounds)
    after_mix = render_console_mix(stems, stem_settings, sample_rate, master)
    after = song_features(after_mix, sample_rate)
    note("matching the reference", rounds + 1, rounds + 1)
    return MatchResult(
        stems=stem_settings,
        master=master,
        reference=target,
        before=before,
        after=after,
        distances_before=distances(before, target),
        distances_after=distances(after, target),
        excerpts_s=[(a / sample_rate, b / sample_rate) for a, b in windows],
        loss_history=history,
        matched_mix=after_mix,
        levels_db=list(bounds.levels_db),
        gain_reduction=reductions,
        pan_max=bounds.pan_max,
        pan_reason=bounds.pan_reason,
        gain_reduction_max_db=bounds.gain_reduction_max_db,
        gain_reduction_reason=bounds.gain_reduction_reason,
    )

