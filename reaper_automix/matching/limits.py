"""Musical plausibility: the limits every stage-2 engine (search, learned, hybrid) keeps to, defined once.

What an engineer would write on a bus, and what the report measures (:data:`LIMITS` holds the numbers):

* **EQ** band gains within +/-``eq_db`` (6 dB): bigger moves chase a spectrum instead of shaping a stem.
* **Compressor threshold tied to the stem's level**: between ``threshold_below_db`` (12 dB) under and
  ``threshold_above_db`` (6 dB) over the stem's loud level (:func:`stem_level_db`: the 90th percentile of its
  50 ms block RMS), so that a compressor works on the stem's loud parts and is never used as a gain (a
  -50 dB threshold at ratio 1.5 is an 8 dB fader move). Ratio at most ``ratio`` (4:1). Where the reference
  demands heavy compression (below), thresholds may go ``heavy_threshold_below_db`` (24 dB) under the level.
* **Gain reduction** (:func:`gain_reduction`: the compressor's gain on its own, EQ'd stem): averaged over the
  time the stem plays, at most ``mean_gain_reduction_db`` (10 dB), unless the reference demands heavier
  compression (:func:`gain_reduction_cap`: the reference's crest factor is ``heavy_crest_drop_db`` (6 dB) or
  more below the unprocessed mix's); then the cap is ``heavy_mean_gain_reduction_db`` and the reason is reported.
* **Pan**: stereo buses pan as REAPER's balance control (:class:`~reaper_automix.console.pan.PanLaw`, the
  console's law) and stay within +/-``pan`` (0.5) unless the reference's left/right balance per Bark band
  clearly calls for more (:func:`pan_limit`): a band carrying at least ``pan_band_share`` (2 %) of the
  reference's energy whose imbalance only a stem panned further than 0.5 could produce on its own. Several
  stems share a band, so the pan that explains a band's imbalance alone is a lower bound of what it needs.

Every engine uses them the same way: :func:`plausible_bounds` for the song and reference, the search
parametrises its space with them and a predicting engine applies :func:`clamp_to_bounds`, then both call
:func:`within_gain_reduction_cap`. :func:`violations` checks settings against them (the evaluation checks every
song).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..analysis.loudness import sample_peak
from ..console.compressor import compress, gain_computer_db
from ..console.eq import apply_eq
from ..console.pan import PanLaw
from ..console.params import CompressorParams, EqParams
from ..strip import EQ_GAIN_DB, GAIN_DB, RATIO, THRESHOLD_DB, Compressor, EqBand, ParamRange, Strip
from .features import BARK_EDGES_HZ, N_BANDS, N_FFT, bark_band_index

GR_FIX_STEPS = 6  # at most this many re-measurements of a compressor over the gain-reduction cap
GR_FIX_MARGIN_DB = 0.5
LEVEL_BLOCK_S = 0.05  # stem level and gain reduction are measured on 50 ms blocks
SILENT_DB = -100.0  # a stem (or a block) below this level is silence: nothing to compress, no threshold to judge
ACTIVE_WITHIN_DB = 40.0  # a block whose mean square is within 40 dB of the stem's loud level counts as playing
MEASURE_SEGMENTS = 12  # gain reduction of a long stem: 12 segments of 2 s spread over it (measured_spans)
MEASURE_SEGMENT_S = 2.0
SETTLE_S = 0.5
_TINY = 1e-20


@dataclass(frozen=True)
class PlausibilityLimits:
    """The limits of the module docstring (dB unless stated)."""

    eq_db: float = EQ_GAIN_DB.high  # the strip's ranges (reaper_automix/strip.py) are the one definition
    ratio: float = RATIO.high
    threshold_below_db: float = 12.0
    heavy_threshold_below_db: float = 24.0
    threshold_above_db: float = 6.0
    mean_gain_reduction_db: float = 10.0
    heavy_mean_gain_reduction_db: float = 20.0
    heavy_crest_drop_db: float = 6.0
    pan: float = 0.5
    pan_band_share: float = 0.02


LIMITS = PlausibilityLimits()


@dataclass(frozen=True)
class GainReduction:
    """A compressor's gain reduction on its stem, dB (positive = quieter): ``mean_db`` over the 50 ms blocks in
    which the stem plays, ``peak_db`` the largest at any sample."""

    mean_db: float
    peak_db: float


def _block_power(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mean square over both channels of each whole 50 ms block of ``x`` ``(channels, samples)`` (a memory-mapped
    or :class:`~reaper_automix.matching.ScaledStem` stem is read a few seconds at a time)."""
    block = max(1, int(round(LEVEL_BLOCK_S * sample_rate)))
    n = (x.shape[-1] // block) * block
    if n == 0:
        part = np.asarray(x[:, :], dtype=np.float64)
        return np.array([float(np.mean(np.square(part)))]) if part.size else np.zeros(1)
    step = block * 200  # 10 s
    out = []
    for start in range(0, n, step):
        part = np.asarray(x[:, start:min(n, start + step)], dtype=np.float64)
        out.append(np.mean(np.square(part).reshape(part.shape[0], -1, block), axis=(0, 2)))
    return np.concatenate(out)


def stem_level_db(stem: np.ndarray, sample_rate: float) -> float:
    """The stem's loud level: 90th percentile of its 50 ms block mean squares (both channels), dB re full scale.
    A full-scale sine reads -3.01 dB. Digital silence reads -200 dB."""
    power = _block_power(stem, sample_rate)
    return 10.0 * math.log10(max(float(np.percentile(power, 90)), _TINY))


def reduction_bound_db(peak: float, eq: Sequence[EqBand], compressor: Compressor, sample_rate: float) -> float:
    """An upper bound (dB) of what ``compressor`` takes off, at any sample, a stem whose samples never exceed
    ``peak`` (linear) after ``eq``: its static curve at the highest level the detector can reach. The EQ'd
    peak is at most ``peak`` times the L1 norm of the EQ's impulse response; the detector smooths squares (or
    their channel maximum) with a one-pole filter from rest, so it never exceeds that peak; the ballistics only
    move the gain between static values. A bound on :func:`gain_reduction`'s mean and peak without rendering."""
    if compressor.ratio <= 1.0 or peak <= 0.0:
        return 0.0
    impulse = torch.zeros((1, 1, int(sample_rate)), dtype=torch.float64)  # 1 s: the bands' tails are far shorter
    impulse[0, 0, 0] = 1.0
    with torch.no_grad():
        response, _ = apply_eq(impulse, EqParams.from_bands([eq]), sample_rate)
    level_db = 20.0 * math.log10(peak * float(response.abs().sum()) * (1.0 + 1e-3))  # margin for the cut tail
    c = compressor
    gain = gain_computer_db(torch.tensor(level_db, dtype=torch.float64), torch.tensor(c.threshold_db),
                            torch.tensor(c.ratio), torch.tensor(c.knee_db))
    return float(-gain)


def threshold_range_db(level_db: float, limits: PlausibilityLimits = LIMITS, *,
                       heavy: bool = False) -> tuple[float, float]:
    """Lowest and highest threshold allowed for a stem whose loud level is ``level_db`` (``heavy``: the
    reference demands heavy compression, :func:`gain_reduction_cap`)."""
    below = limits.heavy_threshold_below_db if heavy else limits.threshold_below_db
    return level_db - below, level_db + limits.threshold_above_db


def measured_spans(n_samples: int, sample_rate: float) -> list[tuple[int, int, int]]:
    """Where :func:`gain_reduction` listens: ``(render_from, measure_from, stop)`` sample spans. The whole stem
    when it is at most :data:`MEASURE_SEGMENTS` x :data:`MEASURE_SEGMENT_S` long; otherwise that many segments
    spread evenly over it, each rendered from :data:`SETTLE_S` earlier so that filters and compressor have
    settled (bounded cost on long songs: 24 s per stem however long it is)."""
    segment = int(MEASURE_SEGMENT_S * sample_rate)
    if n_samples <= MEASURE_SEGMENTS * segment:
        return [(0, 0, n_samples)]
    settle = int(SETTLE_S * sample_rate)
    starts = np.linspace(0, n_samples - segment, MEASURE_SEGMENTS).astype(int)
    return [(max(0, int(a) - settle), int(a), int(a) + segment) for a in starts]


def gain_reduction(stem: np.ndarray, eq: Sequence[EqBand], compressor: Compressor,
                   sample_rate: float) -> GainReduction:
    """What ``compressor`` does to ``stem`` ``(2, samples)`` after ``eq`` (the strip's order), measured on the
    console over :func:`measured_spans`: the compressor's output over its input, sample by sample (one gain for
    both channels)."""
    return EqualisedSpans(stem, eq, sample_rate).reduction(compressor)


class EqualisedSpans:
    """A stem's :func:`measured_spans` through ``eq``, filtered once, as one batch (the spans side by side, so the
    console filters and compresses them on parallel threads): :meth:`reduction` then runs only the compressor,
    however many compressors are tried on the same EQ (:func:`within_gain_reduction_cap`). Every span is
    filtered and compressed from rest from its own start, exactly as on its own (a causal filter's output
    does not depend on the zeros that pad shorter spans)."""

    def __init__(self, stem: np.ndarray, eq: Sequence[EqBand], sample_rate: float):
        self.sample_rate = sample_rate
        spans = measured_spans(stem.shape[-1], sample_rate)
        self.parts = [(measure_from - render_from, stop - render_from) for render_from, measure_from, stop in spans]
        x = np.zeros((len(spans), stem.shape[0], max(stop for _, stop in self.parts)))
        for k, (render_from, _, stop) in enumerate(spans):
            x[k, :, : stop - render_from] = np.asarray(stem[:, render_from:stop], dtype=np.float64)
        with torch.no_grad():
            self.eqd, _ = apply_eq(torch.from_numpy(x), EqParams.from_bands([eq] * len(spans)), sample_rate)

    def reduction(self, compressor: Compressor) -> GainReduction:
        """:func:`gain_reduction` of ``compressor`` on the equalised spans."""
        comp_params = CompressorParams.from_compressors([_without_makeup(compressor)] * len(self.parts))
        with torch.no_grad():
            squeezed, _ = compress(self.eqd, comp_params, self.sample_rate)
        levels, reductions, audibles = [], [], []
        for k, (skip, stop) in enumerate(self.parts):
            e = self.eqd[k, :, skip:stop].numpy()
            y = squeezed[k, :, skip:stop].numpy()
            # The louder channel gives the best-conditioned ratio. The compressor scales every channel by one gain
            # and rounding is monotonic, so the louder input channel is also the louder output one: the ratio of
            # the two channel-wise maxima is that channel's ratio, to the bit, without finding it.
            num, den = np.abs(y).max(axis=0), np.abs(e).max(axis=0)
            audible = den > 1e-9
            reduction = np.zeros(e.shape[1])
            reduction[audible] = -20.0 * np.log10(np.maximum(num[audible], _TINY) / den[audible])
            levels.append(e)
            reductions.append(reduction)
            audibles.append(audible)
        return _summarise(np.concatenate(levels, axis=1), np.concatenate(reductions), np.concatenate(audibles),
                          self.sample_rate)


def _summarise(e: np.ndarray, reduction: np.ndarray, audible: np.ndarray, sample_rate: float) -> GainReduction:
    """The mean (over the 50 ms blocks in which the stem plays) and peak of a per-sample ``reduction`` (dB) of
    the equalised stem ``e`` ``(2, samples)``; ``audible``: the samples where the ratio was measured."""
    if not audible.any():
        return GainReduction(0.0, 0.0)
    peak = float(max(0.0, reduction[audible].max()))
    power = _block_power(e, sample_rate)
    block = max(1, int(round(LEVEL_BLOCK_S * sample_rate)))
    loud = np.percentile(power, 90)
    floor = max(loud * 10 ** (-ACTIVE_WITHIN_DB / 10), 10 ** (SILENT_DB / 10))
    playing = np.flatnonzero(power > floor)
    if loud <= 10 ** (SILENT_DB / 10):
        return GainReduction(0.0, 0.0)  # a silent stem: a threshold under its "level" measures rounding noise
    if playing.size == 0 or e.shape[1] < block:
        return GainReduction(float(np.mean(reduction[audible])), peak)
    per_block = [reduction[b * block:(b + 1) * block][audible[b * block:(b + 1) * block]] for b in playing]
    means = [float(np.mean(r)) for r in per_block if r.size]
    return GainReduction(float(np.mean(means)) if means else 0.0, peak)


def _without_makeup(c: Compressor) -> Compressor:
    return dataclasses.replace(c, makeup_db=0.0)


def gain_reduction_cap(reference_crest_db: float, mix_crest_db: float,
                       limits: PlausibilityLimits = LIMITS) -> tuple[float, str | None]:
    """The mean gain reduction allowed per bus, and why more than the usual is allowed (``None``: it is not).

    ``reference_crest_db``: the reference's crest factor; ``mix_crest_db``: the unprocessed (stage-1) mix's.
    """
    drop = mix_crest_db - reference_crest_db
    if math.isfinite(drop) and drop >= limits.heavy_crest_drop_db:
        return limits.heavy_mean_gain_reduction_db, (
            f"the reference's crest factor ({reference_crest_db:.1f} dB) is {drop:.1f} dB below the unprocessed "
            f"mix's ({mix_crest_db:.1f} dB): it is heavily compressed, so buses may reduce up to "
            f"{limits.heavy_mean_gain_reduction_db:g} dB on average")
    return limits.mean_gain_reduction_db, None


StemMeasures = tuple[list[float], list[float], float]  # levels dB, peaks (linear), crest factor of the sum dB


def stem_measures(stems: Sequence[np.ndarray], sample_rate: float, *,
                  mix_out: np.ndarray | None = None) -> StemMeasures:
    """Each stem's :func:`stem_level_db` and largest ``|sample|`` (linear) and the crest factor (dB) of their sum,
    in one read of every stem (``(2, samples)`` each, memory-mapped is fine, a few seconds at a time).
    ``mix_out`` (float32 zeros ``(2, samples)``): the stems are also summed into it in the same read (float32
    additions in stem order: the stage-1 mix, the A/B's "before"). The crest
    factor is the peak over both channels over the RMS of both, as
    :attr:`~reaper_automix.matching.MixFeatures.crest_db` reads it (so the cap of :func:`gain_reduction_cap` is
    judged alike by every engine), without its spectral analysis.
    The levels are :func:`stem_level_db`'s to the bit (the same blocks, the same arithmetic)."""
    block = max(1, int(round(LEVEL_BLOCK_S * sample_rate)))
    n = max(s.shape[-1] for s in stems)
    step = block * 200  # 10 s, whole blocks, as _block_power reads
    powers: list[list[np.ndarray]] = [[] for _ in stems]
    peaks = [0.0] * len(stems)
    mix_peak, energy = 0.0, 0.0
    # Each stem's chunk is read, converted and measured on two threads (numpy and the reads release the GIL),
    # two chunks ahead of this thread, which adds them up in stem order (the same sums as one thread's).
    items = [(start, i) for start in range(0, n, step) for i in range(len(stems))]
    with ThreadPoolExecutor(2) as pool:
        chunks = _ahead(pool, lambda item: _stem_chunk(stems[item[1]], item[0], step, block), items, depth=2)
        total = None
        for (start, i), chunk in zip(items, chunks):
            if i == 0:
                total = np.zeros((2, min(n, start + step) - start))
            if chunk is not None:
                part, as_float32, peak, power = chunk
                peaks[i] = max(peaks[i], peak)
                if power is not None:
                    powers[i].append(power)
                total[:, : part.shape[1]] += part
                if mix_out is not None:
                    mix_out[:, start:start + part.shape[1]] += as_float32
            if i == len(stems) - 1:
                mix_peak = max(mix_peak, sample_peak(total))
                energy += float(np.einsum("ij,ij->", total, total))
    levels = [stem_level_db(stem, sample_rate) if not p else  # shorter than a block: _block_power's own case
              10.0 * math.log10(max(float(np.percentile(np.concatenate(p), 90)), _TINY))
              for stem, p in zip(stems, powers)]
    rms_db = 10.0 * math.log10(max(energy / (2 * max(n, 1)), _TINY))
    return levels, peaks, 20.0 * math.log10(max(mix_peak, _TINY)) - rms_db


def _stem_chunk(stem: np.ndarray, start: int, step: int, block: int):
    """``stem[:, start:start + step]`` read once: ``(float64 samples, the samples as float32, peak, mean square
    of each whole block or None)``, or None past the stem's end."""
    raw = np.asarray(stem[:, start:start + step])
    part = np.asarray(raw, dtype=np.float64)
    if part.shape[1] == 0:
        return None
    whole = (part.shape[1] // block) * block
    power = np.mean(np.square(part[:, :whole]).reshape(part.shape[0], -1, block), axis=(0, 2)) if whole else None
    # float32 -> float64 -> float32 is exact, so a float32 stem's own samples are what the float64 ones round to,
    # and its largest |sample| is theirs: read from the narrower array (a third of the cost of a chunk).
    if raw.dtype == np.float32:
        return part, raw, sample_peak(raw), power
    return part, part.astype(np.float32), sample_peak(part), power


def _ahead(pool: ThreadPoolExecutor, fn, items: Sequence, depth: int):
    """``fn(item)`` for each item, in order, computed on ``pool`` up to ``depth`` items ahead of the consumer."""
    queue: deque = deque()
    for item in items:
        queue.append(pool.submit(fn, item))
        if len(queue) > depth:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def stem_measures_and_sum(stems: Sequence[np.ndarray], sample_rate: float) -> tuple[StemMeasures, np.ndarray]:
    """:func:`stem_measures` and the stems' float32 sum ``(2, samples)`` (the stage-1 mix, the A/B's "before"),
    both from one read of every stem."""
    mix = np.zeros((2, max(s.shape[1] for s in stems)), dtype=np.float32)
    return stem_measures(stems, sample_rate, mix_out=mix), mix


def crest_db(x: np.ndarray, sample_rate: float) -> float:
    """Crest factor (dB) of one stereo signal ``(2, samples)``: :func:`stem_measures`'s crest of it alone, to the
    bit (the same 10 s chunks, the same float64 peak and einsum energy), without its per-block levels."""
    block = max(1, int(round(LEVEL_BLOCK_S * sample_rate)))
    n = x.shape[-1]
    step = block * 200
    peak, energy = 0.0, 0.0
    for start in range(0, n, step):
        part = np.asarray(x[:, start:start + step], dtype=np.float64)
        peak = max(peak, sample_peak(part))
        energy += float(np.einsum("ij,ij->", part, part))
    rms_db = 10.0 * math.log10(max(energy / (2 * max(n, 1)), _TINY))
    return 20.0 * math.log10(max(peak, _TINY)) - rms_db


def band_imbalance(x: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per Bark band (the features' 24 bands), ``(imbalance, share)``: ``(E_R - E_L) / (E_R + E_L)`` of the
    band's energy (-1 all left .. +1 all right) and the band's share of the signal's energy in all bands."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"expected a stereo signal shaped (2, samples), got {x.shape}")
    n_fft = N_FFT
    hop = n_fft // 2
    if x.shape[1] < n_fft:
        x = np.pad(x, ((0, 0), (0, n_fft - x.shape[1])))
    band = bark_band_index(n_fft, sample_rate)
    inside = band >= 0
    window = np.hanning(n_fft + 1)[:-1]
    energy = np.zeros((2, N_BANDS))
    for start in range(0, x.shape[1] - n_fft + 1, hop * 64):
        segment = x[:, start:start + hop * 63 + n_fft]
        framed = np.lib.stride_tricks.sliding_window_view(segment, n_fft, axis=-1)[:, ::hop]
        power = (np.abs(np.fft.rfft(framed * window, axis=-1)) ** 2).sum(axis=1)  # (2, bins)
        for c in range(2):
            energy[c] += np.bincount(band[inside], power[c, inside], N_BANDS)
    total = energy.sum(axis=0)
    imbalance = (energy[1] - energy[0]) / np.maximum(total, _TINY)
    return imbalance, total / max(float(total.sum()), _TINY)


def pan_for_imbalance(imbalance: float, law: PanLaw = PanLaw()) -> float:
    """The pan (0..1) at which one stem with equal channels has energy imbalance ``|imbalance|`` under ``law``
    (bisection on the law's gains: no closed form assumed)."""
    target = min(abs(float(imbalance)), 1.0)
    low, high = 0.0, 1.0
    for _ in range(50):
        mid = (low + high) / 2
        left, right = law.gains(torch.tensor([mid], dtype=torch.float64))
        el, er = float(left[0]) ** 2, float(right[0]) ** 2
        if (er - el) / max(er + el, _TINY) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def pan_limit(reference: np.ndarray, sample_rate: float, limits: PlausibilityLimits = LIMITS,
              law: PanLaw = PanLaw()) -> tuple[float, str | None]:
    """The largest |pan| allowed for matching ``reference`` ``(2, samples)``, and why it exceeds
    ``limits.pan`` (``None``: it does not). See the module docstring."""
    return pan_limit_for_bands(*band_imbalance(reference, sample_rate), limits, law)


def pan_limit_for_bands(imbalance: np.ndarray, share: np.ndarray, limits: PlausibilityLimits = LIMITS,
                        law: PanLaw = PanLaw()) -> tuple[float, str | None]:
    """:func:`pan_limit` from the reference's per-band ``(imbalance, share)`` (as :func:`band_imbalance`
    returns them, however they were measured)."""
    strong = np.flatnonzero(share >= limits.pan_band_share)
    if strong.size == 0:
        return limits.pan, None
    band = int(strong[np.argmax(np.abs(imbalance[strong]))])
    needed = pan_for_imbalance(imbalance[band], law)
    if needed <= limits.pan:
        return limits.pan, None
    side = "right" if imbalance[band] > 0 else "left"
    return needed, (f"the reference leans {side} by {abs(imbalance[band]):.2f} in the {BARK_EDGES_HZ[band]:g}-"
                    f"{BARK_EDGES_HZ[band + 1]:g} Hz band ({100 * share[band]:.0f}% of its energy), which only a "
                    f"stem panned at least {needed:.2f} produces")


def violations(eq: Sequence[EqBand], compressor: Compressor, pan: float, level_db: float,
               reduction: GainReduction, *, pan_max: float = LIMITS.pan,
               mean_gain_reduction_max_db: float = LIMITS.mean_gain_reduction_db, heavy: bool = False,
               limits: PlausibilityLimits = LIMITS, tolerance: float = 1e-6) -> list[str]:
    """Each way one bus's settings break the limits, in words (empty: plausible). ``level_db``: the stem's
    :func:`stem_level_db`; ``pan_max`` and ``mean_gain_reduction_max_db``: from :func:`pan_limit` and
    :func:`gain_reduction_cap` for the reference at hand (``heavy``: the cap was lifted, so the threshold range is
    wider). A compressor at ratio 1 does nothing: its threshold
    (nor one on a silent stem) is not checked."""
    numbers = (*(b.gain_db for b in eq), compressor.threshold_db, compressor.ratio, pan, reduction.mean_db)
    if not all(math.isfinite(v) for v in numbers):  # every comparison below is False for NaN
        return ["a setting is not a number (NaN or infinite)"]
    found = []
    for b in eq:
        if abs(b.gain_db) > limits.eq_db + tolerance:
            found.append(f"EQ band at {b.freq_hz:g} Hz: {b.gain_db:+.1f} dB beyond +/-{limits.eq_db:g} dB")
    if compressor.ratio > limits.ratio + tolerance:
        found.append(f"compressor ratio {compressor.ratio:.2f} above {limits.ratio:g}")
    if compressor.ratio > 1 + tolerance and level_db > SILENT_DB:
        low, high = threshold_range_db(level_db, limits, heavy=heavy)
        if not low - tolerance <= compressor.threshold_db <= high + tolerance:
            found.append(f"compressor threshold {compressor.threshold_db:.1f} dB outside {low:.1f}..{high:.1f} dB "
                         f"(around the stem's level {level_db:.1f} dB)")
    if reduction.mean_db > mean_gain_reduction_max_db + tolerance:
        found.append(f"average gain reduction {reduction.mean_db:.1f} dB above {mean_gain_reduction_max_db:g} dB")
    if abs(pan) > pan_max + tolerance:
        found.append(f"pan {pan:+.2f} beyond +/-{pan_max:.2f}")
    return found


@dataclass(frozen=True)
class Bounds:
    """The limits for one song and reference (:func:`plausible_bounds`): what every engine's strips keep to."""

    levels_db: tuple[float, ...]  # stem_level_db of each stem
    threshold_range_db: tuple[tuple[float, float], ...]  # per stem
    pan_max: float
    pan_reason: str | None
    gain_reduction_max_db: float
    gain_reduction_reason: str | None
    limits: PlausibilityLimits = LIMITS
    peaks: tuple[float, ...] = ()  # each stem's largest |sample| (linear, stem_measures), for reduction_bound_db


def plausible_bounds(stems: Sequence[np.ndarray], sample_rate: float, references: Sequence[np.ndarray],
                     reference_crest_db: float, mix_crest_db: float | None = None, law: PanLaw = PanLaw(),
                     limits: PlausibilityLimits = LIMITS, *, measures: StemMeasures | None = None) -> Bounds:
    """The limits for matching ``stems`` (each ``(2, samples)`` at its stage-1 level) to ``references`` (audio,
    ``(2, samples)``; the widest pan limit over several; none: the usual limit): thresholds around each stem's
    level, the pan limit of :func:`pan_limit` and the gain-reduction cap of :func:`gain_reduction_cap`
    (``reference_crest_db``: the reference features' crest factor; ``mix_crest_db``: the unprocessed mix's,
    measured from the stems when None). Every stem is read once (:func:`stem_measures`), or not at all when
    ``measures`` gives what :func:`stem_measures` returned for them."""
    levels, peaks, measured_crest_db = stem_measures(stems, sample_rate) if measures is None else measures
    mix_crest_db = measured_crest_db if mix_crest_db is None else mix_crest_db
    cap, cap_reason = gain_reduction_cap(reference_crest_db, mix_crest_db, limits)
    ranges = tuple(threshold_range_db(level, limits, heavy=cap_reason is not None) for level in levels)
    pan_max, pan_reason = limits.pan, None
    for audio in references:
        limit, reason = pan_limit(audio, sample_rate, limits, law)
        if limit > pan_max:
            pan_max, pan_reason = limit, reason
    return Bounds(tuple(levels), ranges, pan_max, pan_reason, cap, cap_reason, limits, tuple(peaks))


def clamp_to_bounds(strips: Sequence[Strip], bounds: Bounds) -> list[Strip]:
    """Strips (e.g. a network's prediction) moved onto the nearest plausible values the strip can hold: gain
    into the strip's range, EQ gains to +/-``eq_db``, ratio to 1..``ratio``, each threshold into its range (and
    the strip's), pans to +/-``pan_max``. Gain reduction is measured, not clipped: :func:`within_gain_reduction_cap`
    after this."""
    lim = bounds.limits
    eq_range, ratio_range = ParamRange(-lim.eq_db, lim.eq_db, "dB"), ParamRange(1.0, lim.ratio, "")
    pan_range = ParamRange(-bounds.pan_max, bounds.pan_max, "")
    out = []
    for strip, (low, high) in zip(strips, bounds.threshold_range_db, strict=True):
        eq = tuple(replace(b, gain_db=eq_range.clip(b.gain_db)) for b in strip.eq)
        threshold = THRESHOLD_DB.clip(ParamRange(low, high, "dB").clip(strip.compressor.threshold_db))
        comp = replace(strip.compressor, ratio=ratio_range.clip(strip.compressor.ratio), threshold_db=threshold)
        out.append(replace(strip, gain_db=GAIN_DB.clip(strip.gain_db), eq=eq, compressor=comp,
                           pan=pan_range.clip(strip.pan)))
    return out


def within_gain_reduction_cap(stems: Sequence[np.ndarray], strips: Sequence[Strip], sample_rate: float,
                              bounds: Bounds, *, measure_all: bool = True,
                              ) -> tuple[list[Strip], list[GainReduction | None]]:
    """Each bus compressor's reduction on its own stem, measured on the exact console (:func:`gain_reduction`);
    a compressor above the cap has its threshold raised (within its range) by the excess over ``1 - 1/ratio``
    (the static curve's slope) until it is under, and its ratio lowered where the top of the range is not
    enough. Returns the strips and their reductions. ``measure_all=False``: a compressor that
    :func:`reduction_bound_db` proves under the cap is not measured (its reduction is ``None``: measure it for
    a report with :func:`gain_reduction`)."""
    out, reductions = [], []
    peaks = bounds.peaks or (None,) * len(strips)
    for stem, strip, (_, high), peak in zip(stems, strips, bounds.threshold_range_db, peaks, strict=True):
        comp = strip.compressor
        if (not measure_all and peak is not None
                and reduction_bound_db(peak, strip.eq, comp, sample_rate) <= bounds.gain_reduction_max_db):
            out.append(strip)
            reductions.append(None)
            continue
        spans = EqualisedSpans(stem, strip.eq, sample_rate)  # the EQ does not depend on the compressor
        gr = spans.reduction(comp)
        for _ in range(GR_FIX_STEPS):
            if gr.mean_db <= bounds.gain_reduction_max_db or comp.ratio <= 1.0:
                break
            excess = gr.mean_db - bounds.gain_reduction_max_db
            if comp.threshold_db < high:
                raised = min(high, comp.threshold_db + excess / (1 - 1 / comp.ratio) + GR_FIX_MARGIN_DB)
                comp = replace(comp, threshold_db=raised)
            else:
                comp = replace(comp, ratio=1 + (comp.ratio - 1) * bounds.gain_reduction_max_db / gr.mean_db)
            gr = spans.reduction(comp)
        out.append(replace(strip, compressor=comp))
        reductions.append(gr)
    return out, reductions
