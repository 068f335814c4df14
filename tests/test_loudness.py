"""BS.1770-4 loudness: against the standard's own numbers and against pyloudnorm (an independent implementation)."""

import math

import numpy as np
import pyloudnorm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from reaper_automix.analysis.loudness import (
    integrated_loudness,
    k_weight,
    k_weighting_sos,
    sample_peak_dbfs,
    weighted_loudness,
)

RNG = np.random.default_rng(1770)


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    bins = np.arange(spectrum.size, dtype=float)
    bins[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(bins), n)


def _bursts(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like: decaying harmonic notes and noise hits with gaps of silence, level varying by 30 dB."""
    out = np.zeros(n)
    t = np.arange(int(0.5 * sr)) / sr
    for start in range(0, n - t.size, int(0.37 * sr)):
        if rng.random() < 0.2:
            continue  # a gap: exercises the gates
        f0 = 55.0 * 2 ** (rng.integers(0, 48) / 12)
        note = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8) if k * f0 < sr / 2)
        if rng.random() < 0.3:
            note = rng.standard_normal(t.size)
        out[start : start + t.size] += note * np.exp(-t * 6) * 10 ** (rng.uniform(-30, 0) / 20)
    return 0.3 * out / np.max(np.abs(out))


def _signals(sr: int, seconds: float = 12.0):
    n = int(sr * seconds)
    t = np.arange(n) / sr
    yield "white stereo", 0.1 * RNG.standard_normal((2, n))
    yield "pink mono", 3.0 * _pink(n, RNG)[np.newaxis]
    yield "tones stereo", np.stack([0.3 * np.sin(2 * np.pi * 100 * t), 0.05 * np.sin(2 * np.pi * 5000 * t)])
    yield "bursts mono", _bursts(n, sr, RNG)[np.newaxis]
    yield "bursts 5ch", np.stack([_bursts(n, sr, RNG) for _ in range(5)])


def test_k_weighting_matches_the_standards_48k_coefficients():
    # ITU-R BS.1770-4, Table 1 (pre-filter) and Table 2 (RLB filter), at 48 kHz.
    expected = np.array(
        [
            [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
            [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
        ]
    )
    np.testing.assert_allclose(k_weighting_sos(48000), expected, atol=1e-8)


@pytest.mark.parametrize("sr", [32000, 44100, 88200, 96000])
def test_k_weighting_has_the_same_analogue_response_at_other_rates(sr):
    freqs = np.geomspace(20, 14000, 40)
    _, h48 = signal.sosfreqz(k_weighting_sos(48000), worN=freqs, fs=48000)
    _, h = signal.sosfreqz(k_weighting_sos(sr), worN=freqs, fs=sr)
    # Bilinear warping differs between rates only near Nyquist; below 14 kHz the responses agree closely.
    np.testing.assert_allclose(20 * np.log10(np.abs(h)), 20 * np.log10(np.abs(h48)), atol=0.2)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_1khz_sine_at_minus_20_dbfs_mono_is_minus_23_lufs(sr):
    # BS.1770 single-channel convention: 10*log10(0.1**2 / 2) = -23.01, and K-weighting's +0.691 dB at 1 kHz
    # cancels the -0.691 offset. pyloudnorm uses the same convention (mono = one channel of weight 1).
    t = np.arange(10 * sr) / sr
    x = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    assert integrated_loudness(x, sr) == pytest.approx(-23.0, abs=0.1)
    assert pyloudnorm.Meter(sr).integrated_loudness(x.astype(np.float64)) == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000, 96000])
def test_matches_pyloudnorm_with_the_same_filter(sr):
    # pyloudnorm's "DeMan" filter class derives K-weighting from the same analogue prototype, so this
    # isolates the block/gating implementation, which must agree tightly.
    meter = pyloudnorm.Meter(sr, filter_class="DeMan")
    for name, x in _signals(sr, seconds=6.0):
        ours = integrated_loudness(x.astype(np.float32), sr)
        theirs = meter.integrated_loudness(x.T)
        assert ours == pytest.approx(theirs, abs=0.02), name


@pytest.mark.parametrize("sr", [44100, 48000])
def test_matches_stock_pyloudnorm_within_005_lu(sr):
    # Stock pyloudnorm rounds the filter prototypes (shelf at 1500 Hz, +4 dB); it reads about 0.045 LU lower
    # on broadband material at 44.1/48 kHz (more at low rates, where its shelf warps), hence 0.05 LU here.
    meter = pyloudnorm.Meter(sr)
    for name, x in _signals(sr):
        assert integrated_loudness(x.astype(np.float32), sr) == pytest.approx(
            meter.integrated_loudness(x.T), abs=0.05
        ), name


def test_float32_and_float64_agree():
    x = _bursts(44100 * 20, 44100, RNG)[np.newaxis]
    assert integrated_loudness(x.astype(np.float32), 44100) == pytest.approx(
        integrated_loudness(x, 44100), abs=0.005
    )


def test_silence_and_fully_gated_signals_are_minus_inf():
    sr = 44100
    assert integrated_loudness(np.zeros((2, sr * 3), np.float32), sr) == -math.inf
    assert integrated_loudness(np.full((1, sr * 3), 1e-6, np.float32), sr) == -math.inf  # below -70 LUFS
    assert integrated_loudness(np.zeros((1, 0), np.float32), sr) == -math.inf


def test_short_signal_is_one_block():
    sr = 48000
    t = np.arange(int(0.25 * sr)) / sr
    x = 0.1 * np.sin(2 * np.pi * 1000 * t)
    assert integrated_loudness(x, sr) == pytest.approx(-23.0, abs=0.2)


def test_relative_gate_ignores_quiet_passages():
    # 10 s at one level then 10 s 20 dB quieter: the quiet half sits below the -10 LU relative gate, so the
    # result equals the loud half alone (an ungated mean would read about 3 dB lower).
    sr = 44100
    loud = 0.1 * RNG.standard_normal(10 * sr)
    both = np.concatenate([loud, 0.01 * RNG.standard_normal(10 * sr)])
    assert integrated_loudness(both, sr) == pytest.approx(integrated_loudness(loud, sr), abs=0.15)


def test_prefilter_equals_filtering_first():
    sr = 44100
    x = _bursts(sr * 8, sr, RNG)[np.newaxis]
    band = signal.butter(2, [500, 2000], btype="bandpass", fs=sr, output="sos")
    assert integrated_loudness(x, sr, prefilter_sos=band) == pytest.approx(
        integrated_loudness(signal.sosfilt(band, x, axis=-1), sr), abs=1e-9
    )


@settings(max_examples=25, deadline=None)
@given(gain_db=st.floats(-40, 20), channels=st.integers(1, 5))
def test_gain_shifts_loudness_by_the_same_amount(gain_db, channels):
    # Gating is relative (and the absolute gate stays far below), so loudness is exactly homogeneous.
    sr = 16000
    x = 0.05 * np.random.default_rng(channels).standard_normal((channels, sr * 2))
    assert integrated_loudness(x * 10 ** (gain_db / 20), sr) == pytest.approx(
        integrated_loudness(x, sr) + gain_db, abs=1e-6
    )


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="at most 5 channels"):
        integrated_loudness(np.zeros((6, 48000), np.float32), 48000)
    with pytest.raises(ValueError, match="floating point"):
        integrated_loudness(np.zeros((1, 48000), np.int16), 48000)


def test_sample_peak():
    x = np.zeros((2, 100), np.float32)
    x[1, 40] = -0.5
    assert sample_peak_dbfs(x) == pytest.approx(20 * math.log10(0.5))
    assert sample_peak_dbfs(np.zeros((1, 10))) == -math.inf


def test_band_of_weighted_signal_equals_band_prefilter():
    # K-weighting then band filter == band filter then K-weighting (LTI filters commute), as analyse_track uses.
    sr = 44100
    x = _bursts(sr * 8, sr, RNG)[np.newaxis].astype(np.float32)
    band = signal.butter(1, [300, 3000], btype="bandpass", fs=sr, output="sos")
    weighted = k_weight(x, sr)
    assert weighted_loudness(weighted, sr) == pytest.approx(integrated_loudness(x, sr), abs=1e-9)
    assert weighted_loudness(signal.sosfilt(band.astype(np.float32), weighted, axis=-1), sr) == pytest.approx(
        integrated_loudness(x, sr, prefilter_sos=band), abs=0.01
    )


@pytest.mark.parametrize("order", [1, 4])
@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_fused_pass_equals_two_separate_measurements(order, sample_rate):
    """loudness_and_band_loudness (one compiled pass) against integrated_loudness with sosfilt (a second
    implementation of the same filters): equal up to float rounding, on a bursty stereo signal."""
    from reaper_automix.analysis.cfb import band_filter_sos
    from reaper_automix.analysis.loudness import loudness_and_band_loudness

    rng = np.random.default_rng(order)
    n = 5 * sample_rate
    envelope = np.repeat(rng.uniform(0.0, 1.0, 50), n // 50 + 1)[:n]
    x = (rng.standard_normal((2, n)) * envelope * [[0.3], [0.1]]).astype(np.float32)
    band = band_filter_sos(sample_rate, 300.0, 3000.0, order)
    lufs, band_lufs = loudness_and_band_loudness(x, sample_rate, band)
    assert lufs == pytest.approx(integrated_loudness(x.astype(np.float64), sample_rate), abs=1e-4)
    assert band_lufs == pytest.approx(
        integrated_loudness(x.astype(np.float64), sample_rate, prefilter_sos=band), abs=1e-4
    )


def test_fused_pass_on_identical_channels_equals_the_stereo_measurement():
    """The copy shortcut (a mono source on a stereo track): same result as filtering both channels."""
    from reaper_automix.analysis.cfb import band_filter_sos
    from reaper_automix.analysis.loudness import loudness_and_band_loudness

    rng = np.random.default_rng(9)
    mono = (rng.standard_normal(44100 * 3) * np.repeat(rng.uniform(0, 1, 30), 4410)).astype(np.float32)
    band = band_filter_sos(44100, 200.0, 2000.0, 1)
    for right in (mono, np.float32(0.3) * mono):  # centred, and panned left
        stereo = np.stack([mono, right])
        copies = loudness_and_band_loudness(stereo, 44100, band)
        nudged = stereo.copy()
        nudged[1, ::1000] += 0.01  # no longer a copy: the general path
        assert nudged.shape == stereo.shape
        assert copies[0] == pytest.approx(integrated_loudness(stereo.astype(np.float64), 44100), abs=1e-4)
        assert copies[1] == pytest.approx(
            integrated_loudness(stereo.astype(np.float64), 44100, prefilter_sos=band), abs=1e-4)
        general = loudness_and_band_loudness(nudged, 44100, band)
        assert general[0] == pytest.approx(integrated_loudness(nudged.astype(np.float64), 44100), abs=1e-4)


@pytest.mark.parametrize(("sample_rate", "low_hz", "order"), [(44100, 20.0, 1), (48000, 300.0, 4), (11025, 100.0, 1)])
def test_step_energies_in_lanes_equal_one_sequential_sosfilt_pass(sample_rate, low_hz, order):
    """The compiled pass cuts a long signal into lanes filtered side by side, each started a warm-up early
    from rest. Every 100 ms step energy must equal one sequential float64 sosfilt pass up to float rounding,
    including the steps right after each lane boundary and with the slowest band filter (20 Hz high-pass).
    11025 Hz has 1102.5-sample steps: one lane, the sequential path."""
    from reaper_automix.analysis.cfb import band_filter_sos
    from reaper_automix.analysis.loudness import _cascade_segment_sums, segment_edges

    rng = np.random.default_rng(7)
    n = 40 * sample_rate
    envelope = np.repeat(rng.uniform(0.0, 1.0, 400), n // 400 + 1)[:n]
    x = (rng.standard_normal((2, n)) * envelope * [[0.3], [0.05]]).astype(np.float32)
    band = np.atleast_2d(band_filter_sos(sample_rate, low_hz, 2 * low_hz, order))
    k_sos = k_weighting_sos(sample_rate)
    edges = segment_edges(n, sample_rate)
    k_sums, band_sums = _cascade_segment_sums(x, k_sos, band, edges)
    weighted = signal.sosfilt(k_sos, x.astype(np.float64), axis=-1)
    banded = signal.sosfilt(band, weighted, axis=-1)
    for sums, y in ((k_sums, weighted), (band_sums, banded)):
        expected = np.add.reduceat(np.square(y[:, : edges[-1]]), edges[:-1], axis=-1)
        assert sums.shape == expected.shape
        np.testing.assert_allclose(sums, expected, rtol=1e-9, atol=1e-12 * float(np.max(expected)))


def test_channels_identical_finds_exact_copies_only():
    from reaper_automix.analysis.loudness import channels_identical

    rng = np.random.default_rng(3)
    mono = rng.standard_normal(10_000).astype(np.float32)
    assert channels_identical(np.stack([mono, mono, mono]))
    for where in (0, 4096, 9_999):  # first, middle, last sample
        other = mono.copy()
        other[where] = np.nextafter(other[where], np.float32(np.inf))
        assert not channels_identical(np.stack([mono, other]))
        assert not channels_identical(np.stack([mono, mono, other]))
    assert not channels_identical(mono[np.newaxis])  # one channel: nothing to share
    assert not channels_identical(mono)


def test_rows_broadcast_from_one_channel_measure_as_stacked_copies():
    """analyse_track hands identical channels over as np.broadcast_to rows: exactly the stacked copies' result."""
    from reaper_automix.analysis.cfb import band_filter_sos
    from reaper_automix.analysis.loudness import loudness_and_band_loudness

    rng = np.random.default_rng(11)
    mono = (rng.standard_normal(44100 * 3) * np.repeat(rng.uniform(0, 1, 30), 4410)).astype(np.float32)
    band = band_filter_sos(44100, 200.0, 2000.0, 1)
    stacked = loudness_and_band_loudness(np.stack([mono, mono]), 44100, band)
    assert loudness_and_band_loudness(np.broadcast_to(mono, (2, mono.size)), 44100, band) == stacked


@pytest.mark.parametrize(("channels", "seconds"), [(1, 240.0), (2, 30.0), (3, 2.0)])
def test_fused_three_section_pass_equals_the_section_by_section_pass_bit_for_bit(channels, seconds):
    """K-weighting + a one-section band runs as one fused compiled loop; any other cascade runs section by
    section (tested against sosfilt above). A band followed by an identity section (y = v exactly, its states
    stay 0) takes the section-by-section path with the same arithmetic: the step energies must be equal to the
    bit, for one full 16-lane chunk, two chunks and a short signal whose lanes only part fill a chunk."""
    from reaper_automix.analysis.cfb import band_filter_sos
    from reaper_automix.analysis.loudness import _cascade_segment_sums, segment_edges

    rng = np.random.default_rng(channels)
    n = int(seconds * 44100)
    x = (rng.standard_normal((channels, n)) * [[0.3], [0.1], [0.02]][:channels]).astype(np.float32)
    band = band_filter_sos(44100, 60.0, 900.0, 1)
    identity = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    edges = segment_edges(n, 44100)
    fused = _cascade_segment_sums(x, k_weighting_sos(44100), band, edges)
    by_section = _cascade_segment_sums(x, k_weighting_sos(44100), np.vstack([band, identity]), edges)
    for a, b in zip(fused, by_section):
        assert a.shape == (channels, len(edges) - 1)
        np.testing.assert_array_equal(a, b)


def test_scales_the_caller_vouches_for_give_the_checked_result():
    """``scaled_copies=True`` (the renderer knows a panned mono source's channels are scaled copies) skips the
    sample-by-sample check: the same result to the bit as when the check finds the copies, and on a hard-panned
    render whose first channel is silent, the same result as the general path (both channels filtered)."""
    from reaper_automix.analysis.cfb import band_filter_sos
    from reaper_automix.analysis.loudness import _copy_scales, loudness_and_band_loudness

    rng = np.random.default_rng(21)
    mono = (rng.standard_normal(44100 * 5) * np.repeat(rng.uniform(0, 1, 50), 4410)).astype(np.float32)
    band = band_filter_sos(44100, 150.0, 1500.0, 1)
    for left, right in ((0.7, 1.0), (1.0, 0.2), (0.0, 1.0)):
        stereo = np.stack([mono * np.float32(left), mono * np.float32(right)])
        known = loudness_and_band_loudness(stereo, 44100, band, scaled_copies=True)
        assert known == loudness_and_band_loudness(stereo, 44100, band)
        assert known[0] == pytest.approx(integrated_loudness(stereo.astype(np.float64), 44100), abs=1e-4)
        checked, vouched = _copy_scales(stereo), _copy_scales(stereo, known=True)
        assert (checked is None) == (vouched is None) == (left == 0.0)
        if checked is not None:
            np.testing.assert_array_equal(checked, vouched)
            assert vouched[1] == pytest.approx(right / left, rel=1e-6)


def test_scale_check_rejects_a_copy_off_anywhere():
    """The check stops at the first sample off by more than the tolerance: wherever it lies, no scale."""
    from reaper_automix.analysis.loudness import _copy_scales

    rng = np.random.default_rng(5)
    mono = rng.standard_normal(20_000).astype(np.float32)
    assert _copy_scales(np.stack([mono, np.float32(0.5) * mono])) is not None
    for where in (0, 7_777, 19_999):
        other = np.float32(0.5) * mono
        other[where] += 1e-3
        assert _copy_scales(np.stack([mono, other])) is None


def test_silence_leaves_no_subnormal_state_and_no_trace_in_the_step_energies():
    """A track that stops: 2 s of noise, then 8 s of digital silence, one lane. The kernel sets its filter states
    to 0 once they fall below 1e-200 (instead of letting them settle on subnormals, many times slower); every
    step energy is still the one scipy's sosfilt (which keeps the subnormals) gives, to float rounding, and the
    silent ones are exactly 0 in both."""
    import scipy.signal

    from reaper_automix.analysis.cfb import band_filter_sos
    from reaper_automix.analysis.loudness import _cascade_segment_sums, k_weighting_sos, segment_edges

    sr = 11025  # steps of a non-integer number of samples: one lane per channel, the sequential pass
    rng = np.random.default_rng(5)
    x = np.zeros((1, 10 * sr), dtype=np.float32)
    x[0, : 2 * sr] = rng.standard_normal(2 * sr) * 0.2
    k_sos, band = k_weighting_sos(sr), band_filter_sos(sr, 300.0, 3000.0, 1)
    edges = segment_edges(x.shape[-1], sr)
    k_sums, band_sums = _cascade_segment_sums(x, k_sos, band, edges)
    k_out = scipy.signal.sosfilt(k_sos, x[0].astype(np.float64))
    band_out = scipy.signal.sosfilt(band, k_out)
    assert abs(k_out[-1]) < 1e-200 and k_out[-1] != 0.0  # scipy's tail: tiny, never zero
    for sums, out in ((k_sums[0], k_out), (band_sums[0], band_out)):
        expected = np.array([np.sum(out[a:b] ** 2) for a, b in zip(edges[:-1], edges[1:])])
        np.testing.assert_allclose(sums, expected, rtol=1e-9, atol=0)
        assert sums[-20:].tolist() == [0.0] * 20  # and scipy's squares of its tail are exactly 0 too
