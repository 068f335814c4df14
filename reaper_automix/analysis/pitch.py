"""A track's fundamental frequency with PESTO (Riou et al., ISMIR 2023), robust to silence, noise and octave errors.

Procedure of :func:`estimate_f0`:

1. **Excerpts.** The mono mix is cut into 2 s segments; segments within 20 dB of the loudest one (and above
   -60 dBFS) are active, and up to ``max_excerpt_s`` seconds of them (default 12 s), evenly spread over the
   track, are analysed. Picking spread-out active segments rather than the very loudest keeps the estimate
   representative of the whole part (the loudest passages of a line are often its highest notes).
2. **Two PESTO passes** over the excerpts, resampled to 16 kHz, one frame every ``step_ms`` (40 ms):
   pass A as is; pass B on the excerpts resampled to 8 kHz but *declared* as 16 kHz, which plays them an
   octave higher (PESTO is pitch-equivariant by training, so its estimate divided by 2 is the pitch).
   Measured on sawtooth tones: pass A reports notes below ~70 Hz with near-zero confidence (their dense
   harmonics are unresolved in its CQT) and misreads ~31 Hz, while pass B is confident down to 31 Hz but fails
   above ~700 Hz. Per frame, the pass with the higher confidence wins. Pass B runs only when pass A's median
   estimate (over its voiced frames, or all active frames when none is voiced) is under 160 Hz, which keeps
   most tracks at one pass.
3. **Voicing.** Frames whose CQT energy (PESTO's ``vol``) is within 30 dB of the excerpt's loud level are
   active; an active frame is voiced when its confidence is at least ``confidence_threshold`` (0.15) and its
   estimate is within a semitone of a neighbouring frame's (see :func:`_voiced`).
   ``voiced_fraction`` = voiced / active; the track is *pitched* when that is at least ``min_voiced_fraction``
   (0.3). Noise and cymbals give PESTO confidences near 0; note that tuned drums (kick, snare, toms) come out
   pitched, at their body resonance.
4. **Octave check** of each voiced frame (at most 100, evenly spaced), on the 16 kHz excerpt, with a Hann
   window of 4 periods of the tested spacing (so neighbouring multiples are resolved and the midpoints between
   them sit on the window's spectral zeros). For an estimate ``f``: if the odd multiples of ``f/2`` carry at
   least ``0.25`` of the amplitude of the multiples of ``f`` the true pitch is ``f/2`` (an octave-up error,
   e.g. a weak or missing fundamental); if the odd harmonics of ``f`` carry under ``0.1`` of the even ones,
   the true pitch is ``2f`` (an octave-down error).
5. **Statistic.** The median of the corrected voiced frames in log-frequency; ``confidence`` is their mean
   PESTO confidence.

PESTO's network runs as :mod:`.pesto_net`'s reimplementation of it (the same function of the installed
package's ``mir-1k_g7`` weights, ~4x faster, without importing the ``pesto`` package: that import alone cost
~1.7 s per worker process, and it needs ``torchaudio``, which the registry's build does not load beside CPU torch).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..audio.io import resample_factors
from .spectral import to_mono

ANALYSIS_RATE_HZ = 16000
STEP_MS = 40.0
SEGMENT_S = 2.0
MAX_EXCERPT_S = 12.0
CONFIDENCE_THRESHOLD = 0.15
MIN_VOICED_FRACTION = 0.3
_SEGMENT_RANGE_DB = 20.0
_SEGMENT_FLOOR_DBFS = -60.0
_FRAME_RANGE_DB = 30.0
_LOW_PITCH_HZ = 160.0  # below this, pass A's confidences are unreliable: run pass B as well
_MAX_CHECKED_FRAMES = 100
_SUBHARMONIC_RATIO = 0.25
_ODD_HARMONIC_RATIO = 0.1
_CHECK_HARMONICS = 8
_CHECK_MAX_HZ = 4000.0


@dataclass(frozen=True)
class PitchModel:
    """PESTO loaded once, for audio at ``sample_rate`` (resampled to 16 kHz inside :func:`estimate_f0`)."""

    sample_rate: float
    step_ms: float
    network: object  # pesto_net.PestoNetwork (a torch module), frames every step_ms at 16 kHz
    network_octave_up: object  # the same weights, frames every step_ms / 2 of declared time (pass B)


@dataclass(frozen=True)
class F0Estimate:
    """``f0_hz`` is NaN when the track is silent; when ``pitched`` is False it is only indicative."""

    f0_hz: float
    confidence: float
    voiced_fraction: float
    pitched: bool


def load_pitch_model(sample_rate: float, *, step_ms: float = STEP_MS) -> PitchModel:
    """Load PESTO's bundled ``mir-1k_g7`` checkpoint once, for audio at ``sample_rate`` Hz (no download)."""
    from . import pesto_net

    weights = pesto_net.PestoWeights(pesto_net.load_checkpoint(pesto_net.checkpoint_path()), ANALYSIS_RATE_HZ)
    # Pass B declares 8 kHz audio as 16 kHz: its hop is half as long in declared time, so that both passes give
    # the same frames in real time. PESTO rounds the hop to whole samples: int(ms * rate / 1000 + 0.5).
    network, network_octave_up = (
        pesto_net.PestoNetwork(weights, int(ms * ANALYSIS_RATE_HZ / 1000 + 0.5)) for ms in (step_ms, step_ms / 2)
    )
    return PitchModel(float(sample_rate), float(step_ms), network, network_octave_up)


@functools.cache
def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """The anti-aliasing filter of :func:`scipy.signal.resample_poly`'s defaults for ``up / down`` (what
    :func:`~reaper_automix.audio.io.resample_by` uses): ``20 max(up, down) + 1`` taps of a windowed sinc cut at
    ``1 / max(up, down)`` of Nyquist, Kaiser window (beta 5), unit gain at 0 Hz, as float32 times ``up``, preceded
    by ``down - half % down`` zeros. Returned per phase: ``(up, taps per phase)`` float32, row ``p`` the taps
    ``p, p + up, ...`` in reverse order, and the number of leading outputs to drop (the filter's delay)."""
    max_rate = max(up, down)
    half = 10 * max_rate
    n = np.arange(2 * half + 1, dtype=np.float64)
    cutoff = 1.0 / max_rate
    taps = cutoff * np.sinc(cutoff * (n - half))
    taps *= np.i0(5.0 * np.sqrt(1 - ((n - half) / half) ** 2.0)) / np.i0(5.0)
    taps = (taps / np.sum(taps)).astype(np.float32)
    taps *= np.float32(up)
    pre_pad = down - half % down
    per_phase = -(-(pre_pad + taps.size) // up)
    padded = np.zeros(per_phase * up, np.float32)
    padded[pre_pad : pre_pad + taps.size] = taps
    return np.ascontiguousarray(padded.reshape(per_phase, up).T[:, ::-1]), (half + pre_pad) // down


def _resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """``x`` (..., samples) resampled along its last axis by ``up / down``, float32: the samples of
    :func:`~reaper_automix.audio.io.resample_by` (scipy's ``resample_poly``, zero-padded ends) to float32 rounding
    (sums in another order), without importing ``scipy.signal`` (0.5-1 s in every worker process) and with the
    filter designed once per ratio. Output ``ceil(samples * up / down)`` samples; output ``m`` is the filter
    applied at input position ``(m + delay) * down / up``, computed a phase at a time: the outputs ``m, m + up,
    ...`` share one phase of the filter and step ``down`` input samples."""
    x = np.asarray(x, dtype=np.float32)
    if up == down:
        return x.copy()
    phases, delay = _polyphase_filter(up, down)
    taps = phases.shape[1]
    n_in = x.shape[-1]
    n_out = -(-n_in * up // down)
    padded = np.zeros(x.shape[:-1] + (n_in + 2 * taps,), np.float32)
    padded[..., taps : taps + n_in] = x
    windows = sliding_window_view(padded, taps, axis=-1)  # [..., s, :] = padded[..., s : s + taps]
    y = np.empty(x.shape[:-1] + (n_out,), np.float32)
    for first in range(min(up, n_out)):
        position = (first + delay) * down  # on the up-sampled axis
        count = len(range(first, n_out, up))
        start = position // up + 1  # the window ending at input sample position // up
        y[..., first::up] = windows[..., start : start + down * (count - 1) + 1 : down, :] @ phases[position % up]
    return y


def _run_pesto(model: PitchModel, segments: np.ndarray, octave_up: bool) -> tuple[np.ndarray, ...]:
    """PESTO over a batch of equal-length 16 kHz segments: (f0_hz, confidence, vol), each (segments, frames)."""
    import torch

    network = model.network_octave_up if octave_up else model.network
    if octave_up:
        segments = _resample(segments, 1, 2)
    with torch.inference_mode():
        f0, confidence, vol = network(torch.from_numpy(np.ascontiguousarray(segments)))
    f0 = f0.numpy().astype(np.float64)
    return (f0 / 2 if octave_up else f0), confidence.numpy(), vol.numpy()


def _voiced(f0: np.ndarray, confidence: np.ndarray, active: np.ndarray, threshold: float) -> np.ndarray:
    """Active frames with confidence >= ``threshold`` whose estimate is within a semitone of a neighbour's.

    PESTO's confidence stays low (0.1-0.4) on decaying piano notes whose estimates are nonetheless right and
    steady, and is ~0.01 on noise, whose estimates jump at random: a low threshold plus continuity separates them.
    """
    log_f0 = np.log2(np.maximum(f0, 1e-3))
    steady = np.zeros_like(active)
    close = np.abs(np.diff(log_f0, axis=-1)) < 1 / 12
    steady[:, 1:] |= close
    steady[:, :-1] |= close
    return active & steady & (confidence >= threshold)


def _excerpt_segments(mono: np.ndarray, sample_rate: float, max_excerpt_s: float) -> np.ndarray:
    """Up to ``max_excerpt_s`` of active 2 s segments of ``mono``, evenly spread, resampled to 16 kHz:
    shape (segments, 32000). Selecting before resampling keeps the resampler off the rest of the track."""
    length = int(round(SEGMENT_S * sample_rate))
    if mono.size < length:
        mono = np.pad(mono, (0, length - mono.size))
    segments = mono[: mono.size // length * length].reshape(-1, length)
    # Segment by segment: the same float64 pairwise means, without a float64 copy of the whole track.
    with np.errstate(divide="ignore"):
        level_db = 10 * np.log10([np.mean(np.square(segment, dtype=np.float64)) for segment in segments])
    active = np.flatnonzero(
        (level_db > _SEGMENT_FLOOR_DBFS) & (level_db >= np.max(level_db) - _SEGMENT_RANGE_DB)
    )
    wanted = max(1, int(max_excerpt_s // SEGMENT_S))
    if active.size > wanted:
        active = active[np.round(np.linspace(0, active.size - 1, wanted)).astype(int)]
    resampled = _resample(segments[active], *resample_factors(sample_rate, ANALYSIS_RATE_HZ))
    return resampled[:, : int(SEGMENT_S * ANALYSIS_RATE_HZ)]


@functools.cache
def _hann(length: int) -> np.ndarray:
    """``np.hanning(length)`` as float32, computed once per length (read-only: shared between calls)."""
    window = np.hanning(length).astype(np.float32)
    window.flags.writeable = False
    return window


def _multiples_amplitude(segment: np.ndarray, centre: int, spacing_hz: float, count: int) -> np.ndarray | None:
    """|DFT| at ``spacing_hz * (1..count)`` of a Hann window of 4 periods of ``spacing_hz`` around ``centre``."""
    half = int(2 * ANALYSIS_RATE_HZ / spacing_hz)
    if centre - half < 0 or centre + half > segment.size:
        return None
    frame = segment[centre - half : centre + half] * _hann(2 * half)
    # Zero-padded at least 4x, the nearest bin is within 1/8 of the main lobe's half-width of each multiple.
    n_fft = 1 << (8 * half - 1).bit_length()
    spectrum = np.abs(np.fft.rfft(frame, n_fft))
    bins = np.round(spacing_hz * np.arange(1, count + 1) * n_fft / ANALYSIS_RATE_HZ).astype(int)
    return spectrum[bins]


def octave_correction(segment: np.ndarray, centre: int, f0_hz: float) -> float:
    """``f0_hz``, halved or doubled when the spectrum around sample ``centre`` of a 16 kHz ``segment`` shows
    an octave error (see step 4 of the module docstring). Returns ``f0_hz`` unchanged when undecidable."""
    # Octave-up error? Odd multiples of f/2 (absent for a true f) against the multiples of f.
    count = 2 * min(_CHECK_HARMONICS, int(_CHECK_MAX_HZ // f0_hz))
    if count >= 2:
        a = _multiples_amplitude(segment, centre, f0_hz / 2, count)
        if a is not None and np.sum(a[0::2]) >= _SUBHARMONIC_RATIO * np.sum(a[1::2]):
            return f0_hz / 2
    # Octave-down error? Odd harmonics of f (weak when the true pitch is 2f) against the even ones.
    count = 2 * min(_CHECK_HARMONICS // 2, int(_CHECK_MAX_HZ // (2 * f0_hz)))
    if count >= 2:
        a = _multiples_amplitude(segment, centre, f0_hz, count)
        if a is not None and np.sum(a[0::2]) < _ODD_HARMONIC_RATIO * np.sum(a[1::2]):
            return 2 * f0_hz
    return f0_hz


def estimate_f0(
    x: np.ndarray,
    sample_rate: float,
    model: PitchModel,
    *,
    max_excerpt_s: float = MAX_EXCERPT_S,
    confidence_threshold: float = CONFIDENCE_THRESHOLD,
    min_voiced_fraction: float = MIN_VOICED_FRACTION,
) -> F0Estimate:
    """The track's fundamental frequency (see the module docstring). ``x`` is ``(channels, samples)`` or 1-D."""
    if sample_rate != model.sample_rate:
        raise ValueError(f"pitch model was loaded for {model.sample_rate} Hz audio, got {sample_rate} Hz")
    segments = _excerpt_segments(to_mono(x), sample_rate, max_excerpt_s)
    if not np.any(segments):
        return F0Estimate(math.nan, 0.0, 0.0, False)

    f0, confidence, vol = _run_pesto(model, segments, octave_up=False)
    with np.errstate(divide="ignore"):
        vol_db = 10 * np.log10(vol)
    active = vol_db >= np.max(vol_db) - _FRAME_RANGE_DB
    voiced = _voiced(f0, confidence, active, confidence_threshold)
    median_a = np.median(f0[voiced] if np.any(voiced) else f0[active])
    if median_a < _LOW_PITCH_HZ:
        f0_b, confidence_b, _ = _run_pesto(model, segments, octave_up=True)
        frames = min(f0.shape[1], f0_b.shape[1])
        f0, confidence, active = f0[:, :frames], confidence[:, :frames], active[:, :frames]
        use_b = confidence_b[:, :frames] > confidence
        f0 = np.where(use_b, f0_b[:, :frames], f0)
        confidence = np.where(use_b, confidence_b[:, :frames], confidence)
        voiced = _voiced(f0, confidence, active, confidence_threshold)

    voiced_fraction = float(np.mean(voiced[active]))
    if not np.any(voiced):
        return F0Estimate(float(np.exp(np.median(np.log(f0[active])))), 0.0, voiced_fraction, False)

    hop = model.step_ms * ANALYSIS_RATE_HZ / 1000  # frame i is centred on sample i * hop
    seg_index, frame_index = np.nonzero(voiced)
    checked = np.round(np.linspace(0, seg_index.size - 1, min(seg_index.size, _MAX_CHECKED_FRAMES))).astype(int)
    corrected = np.array(
        [
            octave_correction(segments[s], int(round(i * hop)), f0[s, i])
            for s, i in zip(seg_index[checked], frame_index[checked])
        ]
    )
    return F0Estimate(
        f0_hz=float(np.exp(np.median(np.log(corrected)))),
        confidence=float(np.mean(confidence[voiced])),
        voiced_fraction=voiced_fraction,
        pitched=voiced_fraction >= min_voiced_fraction,
    )
