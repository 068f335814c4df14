"""Spectral centroid/bandwidth: a direct per-frame formula, analytic signals, and the track statistics."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.analysis.spectral import frame_features, spectral_stats

SR = 44100
RNG = np.random.default_rng(2048)


def _bin(k: int) -> float:
    """Frequency of rfft bin k at n_fft 2048: a sine there has a symmetric main lobe of known magnitude sum,
    so two of them at equal amplitude carry equal weight (off-bin sines are weighted by their scalloping)."""
    return k * SR / 2048


def _sine(freq_hz, seconds=3.0, amplitude=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    # 20 ms raised-cosine fades: an abrupt start/end would put a broadband click in the edge frames.
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return amplitude * np.sin(2 * np.pi * freq_hz * t) * (0.5 - 0.5 * np.cos(np.pi * fade))


def _direct_frame(frame: np.ndarray, sr: float):
    """librosa's definition written out with a float64 DFT matrix (no FFT), for one frame."""
    n = frame.size
    window = np.hanning(n + 1)[:-1]  # periodic Hann, as librosa's get_window('hann', n, fftbins=True)
    k = np.arange(n // 2 + 1)
    dft = np.exp(-2j * np.pi * np.outer(k, np.arange(n)) / n)
    magnitude = np.abs(dft @ (frame * window))
    freqs = k * sr / n
    p = magnitude / magnitude.sum()
    centroid = np.sum(freqs * p)
    return centroid, np.sqrt(np.sum(p * (freqs - centroid) ** 2))


def test_single_frame_matches_direct_formula():
    x = RNG.standard_normal(SR) * np.linspace(0, 1, SR) + _sine(3000, 1.0)
    features = frame_features(x[np.newaxis].astype(np.float32), SR)
    for index in (5, 20, 40):
        # Frame i is centred on sample i*hop: it spans [i*512 - 1024, i*512 + 1024).
        frame = x[index * 512 - 1024 : index * 512 + 1024]
        centroid, bandwidth = _direct_frame(frame, SR)
        assert features.centroid_hz[index] == pytest.approx(centroid, rel=1e-4)
        assert features.bandwidth_hz[index] == pytest.approx(bandwidth, rel=1e-4)


def test_edge_frames_of_a_stereo_track_match_direct_formula_on_the_padded_mono_mix():
    """The frames reaching past either end are zero-padded (librosa's centre=True) and the channels averaged,
    then windowed: centroid, bandwidth and RMS of the first and last frames against the written-out formula."""
    n = SR // 2 + 300  # the last frame reaches past the end
    x = np.stack([RNG.standard_normal(n), 0.3 * RNG.standard_normal(n) + _sine(2000, n / SR)[:n]])
    features = frame_features(x.astype(np.float32), SR)
    padded = np.pad(np.mean(x.astype(np.float32), axis=0, dtype=np.float64), 1024)
    window = np.hanning(2049)[:-1]
    for index in (0, 1, len(features.centroid_hz) - 1):
        frame = padded[index * 512 : index * 512 + 2048]
        centroid, bandwidth = _direct_frame(frame, SR)
        assert features.centroid_hz[index] == pytest.approx(centroid, rel=1e-4)
        assert features.bandwidth_hz[index] == pytest.approx(bandwidth, rel=1e-4)
        rms_dbfs = 10 * np.log10(np.sum(np.square(frame * window)) / np.sum(np.square(window)))
        assert features.rms_dbfs[index] == pytest.approx(rms_dbfs, abs=1e-4)


@pytest.mark.parametrize("freq_hz", [220.0, 1000.0, 6000.0])
def test_sine_has_centroid_f_and_narrow_bandwidth(freq_hz):
    stats = spectral_stats(_sine(freq_hz).astype(np.float32), SR)
    assert stats.centroid_hz == pytest.approx(freq_hz, rel=0.01)
    # Window leakage leaves a small width: a few bins at most, against kHz for broadband sounds.
    assert stats.bandwidth_hz < 0.01 * freq_hz + 3 * SR / 2048


@pytest.mark.parametrize(("f1", "f2"), [(_bin(23), _bin(70)), (_bin(93), _bin(372))])
def test_two_equal_sines_give_midpoint_and_half_distance(f1, f2):
    stats = spectral_stats((_sine(f1, amplitude=0.3) + _sine(f2, amplitude=0.3)).astype(np.float32), SR)
    assert stats.centroid_hz == pytest.approx((f1 + f2) / 2, rel=0.01)
    assert stats.bandwidth_hz == pytest.approx((f2 - f1) / 2, rel=0.01)


def test_active_statistic_ignores_silence_and_noise_floor_plain_does_not():
    # 4 s of a 1 kHz tone, then 8 s of digital silence, then 4 s of a -90 dBFS hiss floor.
    tone = _sine(1000.0, 4.0)
    x = np.concatenate([tone, np.zeros(8 * SR), 10 ** (-90 / 20) * RNG.standard_normal(4 * SR)]).astype(np.float32)
    active = spectral_stats(x, SR)
    plain = spectral_stats(x, SR, statistic="plain")
    assert active.centroid_hz == pytest.approx(1000.0, rel=0.01)
    assert active.active_fraction == pytest.approx(0.25, abs=0.02)
    # Plain mean: 1/4 of frames at 1 kHz, 1/2 at 0 Hz, 1/4 of white hiss at ~SR/4.
    assert plain.centroid_hz == pytest.approx(0.25 * 1000 + 0.25 * SR / 4, rel=0.05)


def test_quiet_tail_below_activity_threshold_is_ignored():
    # A 2 kHz tone and, 40 dB lower (still above -70 dBFS), broadband noise: only the tone counts.
    x = np.concatenate([_sine(_bin(93), 4.0), 0.005 * RNG.standard_normal(4 * SR)]).astype(np.float32)
    # 2 %: the few frames straddling the tone's end see some noise.
    assert spectral_stats(x, SR).centroid_hz == pytest.approx(_bin(93), rel=0.02)
    # With a 50 dB activity range the noise frames are active and pull the centroid up.
    assert spectral_stats(x, SR, activity_db=50).centroid_hz > 5000.0


def test_silence_gives_nan():
    stats = spectral_stats(np.zeros((2, SR), np.float32), SR)
    assert math.isnan(stats.centroid_hz) and stats.active_fraction == 0.0


def test_stereo_is_mixed_to_mono():
    left, right = _sine(_bin(23)), _sine(_bin(209))
    stats = spectral_stats(np.stack([left, right]).astype(np.float32), SR)
    assert stats.centroid_hz == pytest.approx(_bin(116), rel=0.01)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), max_frames=st.sampled_from([200, 500, 1000]))
def test_frame_subsampling_changes_little(seed, max_frames):
    # Stationary-in-distribution material (noise bursts of random colour): a subset of frames estimates the
    # active mean within a few percent.
    rng = np.random.default_rng(seed)
    n = 30 * 22050
    white = rng.standard_normal(n)
    coloured = np.cumsum(white) * 0.02  # brown-ish
    envelope = np.repeat(rng.random(n // 2205 + 1) > 0.3, 2205)[:n]
    x = (0.1 * (white + coloured) * envelope).astype(np.float32)
    full = spectral_stats(x, 22050, max_frames=10**9)
    subset = spectral_stats(x, 22050, max_frames=max_frames)
    assert subset.frames_analysed <= max_frames
    assert subset.centroid_hz == pytest.approx(full.centroid_hz, rel=0.05)
    assert subset.bandwidth_hz == pytest.approx(full.bandwidth_hz, rel=0.05)


def test_rejects_unknown_statistic():
    with pytest.raises(ValueError, match="statistic"):
        spectral_stats(np.zeros(SR, np.float32), SR, statistic="median")


@pytest.mark.parametrize("n_frames", [1, 4, 7, 1024])
def test_frame_sums_four_at_a_time_equal_the_frame_by_frame_loop_bit_for_bit(n_frames):
    """The compiled sums run four frames side by side; each frame's sums must be the frame-by-frame float64
    loop's (kept here, in the same index order) to the bit, the last frames % 4 included."""
    import scipy.fft

    from reaper_automix.analysis.spectral import _frame_sums

    rng = np.random.default_rng(n_frames)
    frames = (rng.standard_normal((n_frames, 256)) * rng.uniform(0, 1, (n_frames, 1))).astype(np.float32)
    magnitude = np.abs(scipy.fft.rfft(frames, axis=-1))
    freqs = np.arange(magnitude.shape[1]) * (44100 / 256)
    got = _frame_sums(frames, magnitude, freqs, np.square(freqs))
    for i in range(n_frames):
        e = t = m1 = m2 = 0.0
        for v in frames[i].astype(np.float64).tolist():
            e += v * v
        for m, f in zip(magnitude[i].astype(np.float64).tolist(), freqs.tolist()):
            t += m
            m1 += m * f
            m2 += m * (f * f)
        assert (got[0][i], got[1][i], got[2][i], got[3][i]) == (e, t, m1, m2)
