"""The Characteristic Frequency Band (CFB) of a track and its loudness: stage 1's per-track analysis.

Methods (Shi, Xie, Ma & Reiss, AES 2025):

``"centroid"``
    band = centroid -/+ half the bandwidth (spectral statistics of :mod:`.spectral`), clamped to
    [20 Hz, 0.45 * sample rate]; if the clamped band is narrower than a third of an octave it is widened
    symmetrically (in log frequency) to one third of an octave, so a pure tone's near-zero bandwidth still
    leaves a measurable band.
``"f0"``
    band = [2 f0, 4 f0] from :func:`.pitch.estimate_f0`, clamped likewise. Unpitched material (noise,
    cymbals), a silent track, or a band entirely above the clamp falls back to ``"centroid"``, with a note.
``"lufs"``
    no band: the plain BS.1770 loudness (the paper's baseline).

The band's loudness is the BS.1770-4 integrated loudness of the track after a band filter (applied to the
already K-weighted signal, which the full-band loudness shares: the filters commute): by default a first-order (6 dB/octave) high-pass at the lower edge and a
first-order low-pass at the upper edge, as in the authors' script; ``filter_order=N`` uses N-th order
Butterworth high- and low-pass sections instead (6N dB/octave).

Differences from the paper and from the authors' public script (reference: shared/reference/mixing.md, 1):

* Track statistics: centroid and bandwidth are means over *active* frames (see :mod:`.spectral`); the script
  takes plain time means in which silent frames count as 0 Hz, so a track that plays a quarter of the time
  gets a centroid a quarter of its true one. ``spectral_statistic="plain"`` restores the script's statistic.
* Band clamp: [20 Hz, 0.45 sr] and a one-third-octave minimum width; the script clamps to [1 Hz, 22 kHz]
  (above Nyquist at 44.1 kHz) and has no minimum width.
* f0: a robust median of PESTO's confident, octave-checked frames over active excerpts (see :mod:`.pitch`);
  the script takes the larger of the mean pYIN f0 (voiced frames) and the mean PESTO f0 over all frames,
  silence included, so silence and unvoiced frames bias it. pYIN is not used here.
* Loudness: BS.1770-4 on all channels (stereo stays stereo); the script measures the mono downmix. Spectral
  statistics and f0 use the mono downmix, like the script.
* The script skips tracks at or below -50 LUFS; here every track is measured and the caller decides
  (``lufs`` is ``-inf`` for silence).
* Gain rules (the paper's subgroup-peak target, the script's -50 LUFS target) are not part of this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..methods import METHODS
from .loudness import channels_identical, integrated_loudness, loudness_and_band_loudness, sample_peak_dbfs
from .pitch import PitchModel, estimate_f0
from .spectral import spectral_stats

MIN_BAND_HZ = 20.0
MAX_BAND_FRACTION = 0.45  # of the sample rate: below Nyquist, where the band filters are well-behaved
MIN_BAND_OCTAVES = 1 / 3


@dataclass(frozen=True)
class TrackAnalysis:
    """Stage-1 measurements of one track. Loudness values in LUFS (``-inf`` for silence)."""

    lufs: float
    peak_dbfs: float
    method_requested: str
    method_used: str
    band_low_hz: float | None
    band_high_hz: float | None
    centroid_hz: float
    bandwidth_hz: float
    f0_hz: float | None
    f0_confidence: float | None
    band_loudness_lufs: float
    note: str = ""


def _clamp_band(low_hz: float, high_hz: float, sample_rate: float) -> tuple[float, float]:
    top = MAX_BAND_FRACTION * sample_rate
    low, high = min(max(low_hz, MIN_BAND_HZ), top), min(max(high_hz, MIN_BAND_HZ), top)
    missing = MIN_BAND_OCTAVES - math.log2(high / low)
    if missing > 0:
        low, high = low * 2 ** (-missing / 2), high * 2 ** (missing / 2)
        # Re-anchor at whichever clamp the widening crossed, keeping the minimum width.
        if low < MIN_BAND_HZ:
            low, high = MIN_BAND_HZ, MIN_BAND_HZ * 2**MIN_BAND_OCTAVES
        elif high > top:
            low, high = top * 2**-MIN_BAND_OCTAVES, top
    return low, high


def cfb_band(
    method: str,
    sample_rate: float,
    *,
    centroid_hz: float | None = None,
    bandwidth_hz: float | None = None,
    f0_hz: float | None = None,
) -> tuple[float, float] | None:
    """The CFB ``(low_hz, high_hz)`` for ``method`` from the track's statistics; ``None`` for ``"lufs"``.

    ``"centroid"`` needs ``centroid_hz`` and ``bandwidth_hz``, ``"f0"`` needs ``f0_hz`` (the fallback to the
    centroid for unpitched tracks is :func:`analyse_track`'s job). Raises ValueError when a needed statistic
    is missing or not finite.
    """
    if method == "lufs":
        return None
    if method == "centroid":
        if not (centroid_hz is not None and bandwidth_hz is not None and math.isfinite(centroid_hz)
                and math.isfinite(bandwidth_hz)):
            raise ValueError("the centroid band needs a finite centroid_hz and bandwidth_hz")
        return _clamp_band(centroid_hz - bandwidth_hz / 2, centroid_hz + bandwidth_hz / 2, sample_rate)
    if method == "f0":
        if f0_hz is None or not (math.isfinite(f0_hz) and f0_hz > 0):
            raise ValueError("the f0 band needs a positive, finite f0_hz")
        return _clamp_band(2 * f0_hz, 4 * f0_hz, sample_rate)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def band_filter_sos(sample_rate: float, low_hz: float, high_hz: float, order: int = 1) -> np.ndarray:
    """Second-order sections of an ``order``-th order Butterworth high-pass at ``low_hz`` cascaded with an
    ``order``-th order low-pass at ``high_hz``. For ``order=1`` (the authors' 6 dB/octave filters) the two
    first-order sections are merged into one biquad, which halves the filtering cost."""
    if order < 1:
        raise ValueError(f"filter order must be >= 1, got {order}")
    if not 0 < low_hz < high_hz < sample_rate / 2:
        raise ValueError(f"band edges must satisfy 0 < low < high < Nyquist, got {low_hz}, {high_hz} Hz")
    if order == 1:
        highpass = first_order_butter_sos(low_hz, sample_rate, "highpass")
        lowpass = first_order_butter_sos(high_hz, sample_rate, "lowpass")
    else:
        from scipy import signal  # about a second to import: not in the default order's path

        highpass = signal.butter(order, low_hz, btype="highpass", fs=sample_rate, output="sos")
        lowpass = signal.butter(order, high_hz, btype="lowpass", fs=sample_rate, output="sos")
    if order == 1:
        b = np.convolve(highpass[0, :2], lowpass[0, :2])
        a = np.convolve(highpass[0, 3:5], lowpass[0, 3:5])
        return np.array([[*b, *a]])
    return np.vstack([highpass, lowpass])


def first_order_butter_sos(cutoff_hz: float, sample_rate: float, btype: str) -> np.ndarray:
    """``scipy.signal.butter(1, cutoff_hz, btype, fs=sample_rate, output="sos")`` (``btype`` ``"lowpass"`` or
    ``"highpass"``), shape ``(1, 6)``, computed by the same operations in the same order, so bit for bit the same
    (tested): the default band filter needs no ``scipy.signal``, whose import costs every balance run about a
    second. The analogue pole -1 at the pre-warped cut-off (``fs`` normalised to 2, as scipy does), through the
    bilinear transform."""
    if btype not in ("lowpass", "highpass"):
        raise ValueError(f"btype must be 'lowpass' or 'highpass', got {btype!r}")
    warped = 2 * 2.0 * np.tan(np.pi * (2 * cutoff_hz / sample_rate) / 2.0)
    pole = np.array([-1 + 0j])  # Butterworth prototype of order 1, gain 1
    if btype == "lowpass":
        zeros, poles, gain = np.array([], dtype=complex), warped * pole, warped
    else:
        gain = 1.0 * np.real(1.0 / np.prod(-pole))
        zeros, poles = np.zeros(1), warped / pole
    fs2 = 2 * 2.0
    zero_z = ((fs2 + zeros) / (fs2 - zeros))[0] if zeros.size else -1.0
    pole_z = (fs2 + poles) / (fs2 - poles)
    gain_z = gain * np.real(np.prod(fs2 - zeros) / np.prod(fs2 - poles))
    return np.array([[gain_z, -np.real(zero_z) * gain_z, 0.0, 1.0, -pole_z[0].real, 0.0]])


def band_filter(x: np.ndarray, sample_rate: float, low_hz: float, high_hz: float, order: int = 1) -> np.ndarray:
    """``x`` band-limited by :func:`band_filter_sos` along its last axis (float32 stays float32)."""
    from scipy import signal

    x = np.asarray(x)
    sos = band_filter_sos(sample_rate, low_hz, high_hz, order)
    return signal.sosfilt(sos.astype(x.dtype if x.dtype == np.float32 else np.float64), x, axis=-1)


def analyse_track(
    x: np.ndarray,
    sample_rate: float,
    method: str = "centroid",
    *,
    pitch_model: PitchModel | None = None,
    filter_order: int = 1,
    spectral_statistic: str = "active",
    scaled_copies: bool = False,
) -> TrackAnalysis:
    """Loudness, peak, CFB and CFB loudness of one track ``(channels, samples)``.

    ``method`` is ``"centroid"``, ``"f0"`` (needs ``pitch_model`` from :func:`.pitch.load_pitch_model`) or
    ``"lufs"``. ``note`` says why the method used differs from the one requested, if it does.
    ``scaled_copies``: the caller knows every channel is a scaled copy of the first (the renderer, of a panned
    mono source; see :func:`~reaper_automix.audio.render.render_track_rows`): the loudness pass filters the first
    channel once without checking that sample by sample (see :func:`.loudness.loudness_and_band_loudness`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "f0" and pitch_model is None:
        raise ValueError("method 'f0' needs a pitch_model (load_pitch_model)")
    # A float32 track whose channels are all the first (a centred mono source) has the first channel's peak
    # and, bit for bit, its mono mix ((a + a) / 2 == a in float32): measure those on one channel.
    x = np.asarray(x)
    identical = x.dtype == np.float32 and channels_identical(x)
    one = x[:1] if identical else x
    peak = sample_peak_dbfs(one)
    stats = spectral_stats(one, sample_rate, statistic=spectral_statistic)
    base = dict(peak_dbfs=peak, method_requested=method, centroid_hz=stats.centroid_hz,
                bandwidth_hz=stats.bandwidth_hz, f0_hz=None, f0_confidence=None)
    if method == "lufs" or not math.isfinite(stats.centroid_hz):
        lufs = integrated_loudness(x, sample_rate)
        note = "" if method == "lufs" else "silent: no band measured"
        return TrackAnalysis(**base, lufs=lufs, method_used="lufs", band_low_hz=None, band_high_hz=None,
                             band_loudness_lufs=lufs, note=note)

    note = ""
    band = None
    if method == "f0":
        estimate = estimate_f0(one, sample_rate, pitch_model)
        base.update(f0_hz=estimate.f0_hz if estimate.pitched else None, f0_confidence=estimate.confidence)
        if not estimate.pitched:
            note = f"unpitched (voiced fraction {estimate.voiced_fraction:.2f}): centroid band used"
        elif 2 * estimate.f0_hz >= MAX_BAND_FRACTION * sample_rate:
            note = f"f0 {estimate.f0_hz:.0f} Hz puts the band above {MAX_BAND_FRACTION} x sample rate: centroid band used"
        else:
            band = cfb_band("f0", sample_rate, f0_hz=estimate.f0_hz)
    method_used = "f0" if band is not None else "centroid"
    if band is None:
        band = cfb_band("centroid", sample_rate, centroid_hz=stats.centroid_hz, bandwidth_hz=stats.bandwidth_hz)
    # Identical channels passed as rows of one (no second comparison inside): the loudness pass filters one.
    measured = np.broadcast_to(one, x.shape) if identical else x
    lufs, band_lufs = loudness_and_band_loudness(
        measured, sample_rate, band_filter_sos(sample_rate, *band, order=filter_order), scaled_copies=scaled_copies
    )
    if not math.isfinite(lufs):
        return TrackAnalysis(**base, lufs=lufs, method_used="lufs", band_low_hz=None, band_high_hz=None,
                             band_loudness_lufs=lufs, note="silent: no band measured")
    return TrackAnalysis(
        **base,
        lufs=lufs,
        method_used=method_used,
        band_low_hz=band[0],
        band_high_hz=band[1],
        band_loudness_lufs=band_lufs,
        note=note,
    )
