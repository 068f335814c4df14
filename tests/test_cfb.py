"""CFB band choice, band filters, analyse_track, and the CFB effect on narrow- versus broadband tracks."""

import importlib.util
import math

import numpy as np
import pytest
from scipy import signal

from reaper_automix.analysis.cfb import analyse_track, band_filter, band_filter_sos, cfb_band, first_order_butter_sos
from reaper_automix.analysis.loudness import integrated_loudness

SR = 44100
RNG = np.random.default_rng(159)


def _pink(n: int) -> np.ndarray:
    spectrum = np.fft.rfft(RNG.standard_normal(n))
    bins = np.arange(spectrum.size, dtype=float)
    bins[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(bins), n)
    return x / np.std(x)


def _hats(n: int) -> np.ndarray:
    """Shaker/hat-like: noise band-passed to 8-10 kHz."""
    band = signal.butter(4, [8000, 10000], btype="bandpass", fs=SR, output="sos")
    x = signal.sosfilt(band, RNG.standard_normal(n))
    return x / np.std(x)


def _tone(n: int, f0_hz: float = 220.0) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, 40) if k * f0_hz < 0.45 * SR)


def _at_lufs(x: np.ndarray, lufs: float) -> np.ndarray:
    x = np.atleast_2d(x).astype(np.float32)
    return x * np.float32(10 ** ((lufs - integrated_loudness(x, SR)) / 20))


def test_centroid_band_is_centroid_plus_minus_half_bandwidth():
    assert cfb_band("centroid", SR, centroid_hz=2000.0, bandwidth_hz=1000.0) == pytest.approx((1500.0, 2500.0))


def test_band_is_clamped_and_kept_at_least_a_third_octave_wide():
    low, high = cfb_band("centroid", SR, centroid_hz=300.0, bandwidth_hz=2000.0)
    assert low == 20.0 and high == pytest.approx(1300.0)
    low, high = cfb_band("centroid", SR, centroid_hz=18000.0, bandwidth_hz=8000.0)
    assert high == pytest.approx(0.45 * SR)
    low, high = cfb_band("centroid", SR, centroid_hz=1000.0, bandwidth_hz=0.0)  # a pure tone
    assert math.log2(high / low) == pytest.approx(1 / 3) and math.sqrt(low * high) == pytest.approx(1000.0)
    low, high = cfb_band("centroid", SR, centroid_hz=20.0, bandwidth_hz=0.0)
    assert low == 20.0 and math.log2(high / low) == pytest.approx(1 / 3)


def test_f0_band_is_second_to_fourth_harmonic():
    assert cfb_band("f0", SR, f0_hz=110.0) == pytest.approx((220.0, 440.0))
    assert cfb_band("lufs", SR) is None
    with pytest.raises(ValueError):
        cfb_band("f0", SR, f0_hz=float("nan"))
    with pytest.raises(ValueError):
        cfb_band("mfcc", SR)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_band_filter_response(order):
    low, high = 500.0, 4000.0
    sos = band_filter_sos(SR, low, high, order)
    freqs = np.array([low, high, math.sqrt(low * high), low / 8, high * 4])
    _, h = signal.sosfreqz(sos, worN=freqs, fs=SR)
    gain_db = 20 * np.log10(np.abs(h))
    # Each Butterworth edge is -3 dB at its cutoff; the other edge, 3 octaves away, adds a little.
    assert gain_db[0] == pytest.approx(-3.0, abs=0.3) and gain_db[1] == pytest.approx(-3.0, abs=0.3)
    assert gain_db[2] > -1.5
    # 3 octaves below the low edge: 6 dB/octave per order; 2 octaves above the high edge, at least that
    # (the bilinear transform steepens the low-pass towards Nyquist).
    assert gain_db[3] == pytest.approx(-18.0 * order, abs=1.5)
    assert gain_db[4] < -11.0 * order


def test_first_order_band_is_one_biquad_equal_to_the_two_filters():
    x = RNG.standard_normal(SR).astype(np.float32)
    hp = signal.butter(1, 300.0, btype="highpass", fs=SR, output="sos")
    lp = signal.butter(1, 3000.0, btype="lowpass", fs=SR, output="sos")
    assert band_filter_sos(SR, 300.0, 3000.0).shape == (1, 6)
    np.testing.assert_allclose(
        band_filter(x, SR, 300.0, 3000.0), signal.sosfilt(lp, signal.sosfilt(hp, x)), atol=1e-4
    )


def test_cfb_moves_narrow_high_band_tracks_down_relative_to_broadband_ones():
    """The CFB effect, with its expected sign.

    Three tracks at the same LUFS: hats (noise in 8-10 kHz), pink noise and a 220 Hz sawtooth-like tone.
    The hats' energy lies wholly inside their band, so the band filter removes little of it (the 6 dB/octave
    skirts of a band this narrow still cost about 5 dB; 2.6 dB with 4th-order edges); the broad tracks spread
    their energy far beyond centroid +/- half bandwidth, so the filter removes more (6-8 dB) and their band
    loudness falls further below their LUFS. Equalising CFB loudness (gain = target - band
    loudness) therefore gives the broadband tracks *more* gain than the hats, whereas LUFS equalisation gives
    all three the same gain: under CFB the hats end lower relative to the others, which is the paper's point
    (narrow, bright parts matched by LUFS stick out of a mix).
    """
    n = 20 * SR
    tracks = {"hats": _at_lufs(_hats(n), -20.0), "pink": _at_lufs(_pink(n), -20.0), "tone": _at_lufs(_tone(n), -20.0)}
    analyses = {name: analyse_track(x, SR, "centroid") for name, x in tracks.items()}
    for a in analyses.values():
        assert a.lufs == pytest.approx(-20.0, abs=0.01)
    # Gain each method gives a track, relative to the hats (LUFS equalisation: all zero here).
    cfb_gain = {name: -(a.band_loudness_lufs - analyses["hats"].band_loudness_lufs) for name, a in analyses.items()}
    lufs_gain = {name: -(a.lufs - analyses["hats"].lufs) for name, a in analyses.items()}
    assert 8000 < analyses["hats"].centroid_hz < 10000
    # Measured: +1.3 dB (pink) and +2.3 dB (tone) with first-order filters.
    for broad in ("pink", "tone"):
        assert cfb_gain[broad] - lufs_gain[broad] > 0.8, broad
    # Same sign, larger, with steeper filters (measured +3.3 and +5.4 dB).
    steep = {name: analyse_track(x, SR, "centroid", filter_order=4) for name, x in tracks.items()}
    for broad in ("pink", "tone"):
        assert steep[broad].band_loudness_lufs < steep["hats"].band_loudness_lufs - 2.5, broad


def test_analyse_track_lufs_method_and_silence():
    x = _at_lufs(_pink(5 * SR), -18.0)
    a = analyse_track(x, SR, "lufs")
    assert a.method_used == "lufs" and a.band_low_hz is None and a.band_loudness_lufs == a.lufs
    silent = analyse_track(np.zeros((2, SR), np.float32), SR, "centroid")
    assert silent.lufs == -math.inf and silent.method_used == "lufs" and "silent" in silent.note


def test_analyse_track_fields_for_centroid():
    x = np.stack([_pink(5 * SR), _pink(5 * SR)]).astype(np.float32) * 0.05
    a = analyse_track(x, SR, "centroid")
    assert a.method_requested == a.method_used == "centroid" and a.note == ""
    assert a.band_low_hz == pytest.approx(max(20.0, a.centroid_hz - a.bandwidth_hz / 2))
    assert a.band_high_hz == pytest.approx(a.centroid_hz + a.bandwidth_hz / 2)
    assert a.band_loudness_lufs < a.lufs and a.peak_dbfs < 0


def test_analyse_track_rejects_bad_method():
    with pytest.raises(ValueError):
        analyse_track(np.zeros((1, SR), np.float32), SR, "rms")
    with pytest.raises(ValueError, match="pitch_model"):
        analyse_track(np.zeros((1, SR), np.float32), SR, "f0")


@pytest.mark.skipif(importlib.util.find_spec("pesto") is None, reason="needs pesto-pitch")
def test_f0_method_and_its_fallback():
    from reaper_automix.analysis.pitch import load_pitch_model

    model = load_pitch_model(SR)
    tone = analyse_track(_at_lufs(_tone(6 * SR, 110.0), -20.0), SR, "f0", pitch_model=model)
    assert tone.method_used == "f0" and tone.f0_hz == pytest.approx(110.0, rel=0.02)
    assert (tone.band_low_hz, tone.band_high_hz) == pytest.approx((2 * tone.f0_hz, 4 * tone.f0_hz))
    noise = analyse_track(_at_lufs(_hats(6 * SR), -20.0), SR, "f0", pitch_model=model)
    assert noise.method_requested == "f0" and noise.method_used == "centroid" and "unpitched" in noise.note
    assert noise.f0_hz is None


def test_centred_mono_on_two_channels_measures_as_the_general_stereo_path():
    """analyse_track measures peak and spectra of identical float32 channels on one channel: bit for bit what
    the two-channel path (spectral_stats, sample_peak_dbfs on the stereo array) gives."""
    from reaper_automix.analysis.loudness import sample_peak_dbfs
    from reaper_automix.analysis.spectral import spectral_stats

    rng = np.random.default_rng(5)
    envelope = np.repeat(rng.uniform(0.0, 1.0, 40), 44100 // 10)
    mono = (signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(envelope.size)) * envelope * 0.05)
    stereo = np.stack([mono, mono]).astype(np.float32)
    analysis = analyse_track(stereo, 44100)
    stats = spectral_stats(stereo, 44100)
    assert analysis.centroid_hz == stats.centroid_hz and analysis.bandwidth_hz == stats.bandwidth_hz
    assert analysis.peak_dbfs == sample_peak_dbfs(stereo)


@pytest.mark.parametrize("sample_rate", [8000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("btype", ["lowpass", "highpass"])
def test_first_order_butterworth_is_scipys_bit_for_bit(sample_rate, btype):
    """The default band filter's sections without scipy.signal: equal to scipy's design to the last bit."""
    cutoffs = np.concatenate([[1.0, 20.0, 1000.0, 0.45 * sample_rate],
                              np.random.default_rng(sample_rate).uniform(1.0, 0.499 * sample_rate, 500)])
    for cutoff_hz in cutoffs:
        expected = signal.butter(1, cutoff_hz, btype=btype, fs=sample_rate, output="sos")
        assert np.array_equal(first_order_butter_sos(cutoff_hz, sample_rate, btype), expected), cutoff_hz
    with pytest.raises(ValueError, match="btype"):
        first_order_butter_sos(100.0, sample_rate, "bandpass")
