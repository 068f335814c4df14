"""Mix features against analytic signals, the torch version against the numpy one, and reference loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.errors import AutomixError
from reaper_automix.matching.features import (
    BARK_EDGES_HZ,
    TERM_SCALES,
    average_features,
    distances,
    features_from_stats,
    load_reference,
    reference_features,
    signal_stats,
    song_features,
    torch_features,
)

SR = 44100


def noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.1


def test_identical_channels_have_no_width_and_no_imbalance():
    x = noise(SR)
    f = song_features(np.stack([x, x]), SR)
    assert f.width == pytest.approx(0.0, abs=1e-12)
    assert f.imbalance == pytest.approx(0.0, abs=1e-12)
    assert np.all(f.bark_side_db == pytest.approx(-60.0))  # side is silent: the floor


@pytest.mark.parametrize("side, expected", [(0, -1.0), (1, 1.0)])
def test_one_sided_signal_is_fully_imbalanced(side, expected):
    x = np.zeros((2, SR), dtype=np.float32)
    x[side] = noise(SR)
    f = song_features(x, SR)
    assert f.imbalance == pytest.approx(expected)
    assert f.width == pytest.approx(1.0)  # (L-R)^2 == (L+R)^2 when one channel is silent


def test_sine_crest_factor_is_3_01_db():
    t = np.arange(SR) / SR
    s = 0.5 * np.sin(2 * np.pi * 441.0 * t)  # a whole number of periods
    f = song_features(np.stack([s, s]), SR)
    assert f.crest_db == pytest.approx(10 * math.log10(2), abs=1e-3)
    assert f.rms_db == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=1e-3)


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=25.0, max_value=15000.0))
def test_sine_energy_lies_in_its_bark_band(freq_hz):
    edges = np.asarray(BARK_EDGES_HZ)
    band = int(np.searchsorted(edges, freq_hz, side="right") - 1)
    # Near an edge the window's main lobe straddles two bands: require a clear margin.
    width = edges[band + 1] - edges[band]
    if min(freq_hz - edges[band], edges[band + 1] - freq_hz) < max(0.15 * width, 12.0):
        return
    t = np.arange(SR) / SR
    s = np.sin(2 * np.pi * freq_hz * t)
    f = song_features(np.stack([s, s]), SR)
    assert int(np.argmax(f.bark_mid_db)) == band
    assert f.bark_mid_db[band] > -0.5  # nearly all of the energy (0 dB = all of it)


def test_torch_features_agree_with_numpy():
    rng = np.random.default_rng(3)
    n = 3 * SR + 1234  # not a whole number of frames
    left = rng.standard_normal(n)
    x = np.stack([left, 0.6 * left + 0.4 * rng.standard_normal(n)]).astype(np.float32) * 0.2
    x[:, : SR // 2] *= 0.1  # some dynamics
    f = song_features(x, SR)
    g = torch_features(torch.from_numpy(x), SR)
    for name in ("rms_db", "crest_db", "width", "imbalance"):
        assert float(g[name]) == pytest.approx(getattr(f, name), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(g["bark_mid_db"].numpy(), f.bark_mid_db, atol=1e-8)
    np.testing.assert_allclose(g["bark_side_db"].numpy(), f.bark_side_db, atol=1e-8)


def test_torch_features_are_differentiable():
    x = torch.from_numpy(np.stack([noise(SR, 1), noise(SR, 2)]).astype(np.float64)).requires_grad_(True)
    g = torch_features(x, SR)
    total = sum(v.sum() for v in g.values())
    total.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_pooled_excerpts_equal_their_sum():
    x = np.stack([noise(2 * SR, 4), noise(2 * SR, 5)])
    a, b = signal_stats(x[:, :SR], SR), signal_stats(x[:, SR:], SR)
    pooled = a + b
    assert pooled.n_samples == 2 * SR
    assert pooled.sum_ll == pytest.approx(float(x[0].astype(np.float64) @ x[0]), rel=1e-9)
    assert pooled.peak == pytest.approx(float(np.abs(x).max()))
    np.testing.assert_allclose(pooled.band_mid, a.band_mid + b.band_mid)


def test_distances_zero_for_identical_and_total_is_scaled_sum():
    x = np.stack([noise(SR, 6), noise(SR, 7)])
    f = song_features(x, SR)
    d0 = distances(f, f)
    assert all(v == 0.0 for v in d0.values())
    g = song_features(np.stack([x[0], 0.5 * x[1]]), SR)
    d = distances(f, g)
    assert d["total"] == pytest.approx(sum(d[k] / s for k, s in TERM_SCALES.items()))
    assert d["loudness_lu"] > 0 and d["imbalance"] > 0


def test_average_of_two_references_is_the_mean():
    a = song_features(np.stack([noise(SR, 8), noise(SR, 9)]), SR)
    b = song_features(np.stack([noise(SR, 10), 0.3 * noise(SR, 11)]), SR)
    m = average_features([a, b])
    assert m.imbalance == pytest.approx((a.imbalance + b.imbalance) / 2)
    np.testing.assert_allclose(m.bark_side_db, (a.bark_side_db + b.bark_side_db) / 2)


# --- references ---------------------------------------------------------------------------------------------------


def test_mono_reference_plays_on_both_channels_and_is_resampled(tmp_path):
    path = tmp_path / "mono.flac"
    sf.write(path, noise(6 * 48000, 12), 48000)
    x = load_reference(path, SR)
    assert x.shape[0] == 2 and x.dtype == np.float32
    assert abs(x.shape[1] - 6 * SR) <= 1
    np.testing.assert_array_equal(x[0], x[1])


def test_reference_features_average_several_files(tmp_path):
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"r{i}.wav")
        sf.write(paths[-1], np.stack([noise(6 * SR, 20 + i), noise(6 * SR, 30 + i) * (i + 1)]).T, SR)
    both = reference_features(paths, SR)
    singles = [reference_features([p], SR) for p in paths]
    assert both.imbalance == pytest.approx((singles[0].imbalance + singles[1].imbalance) / 2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: sf.write(p, np.zeros((6 * SR, 2)), SR), "silent"),
        (lambda p: sf.write(p, np.stack([noise(SR)] * 2).T, SR), "too short"),
        (lambda p: p.write_bytes(b"not audio at all" * 100), "not a readable audio file"),
    ],
)
def test_bad_references_are_refused_clearly(tmp_path, make, message):
    path = tmp_path / "ref.wav"
    make(path)
    with pytest.raises(AutomixError, match=message):
        load_reference(path, SR)


def test_missing_reference_names_the_file(tmp_path):
    with pytest.raises(AutomixError, match="nope.wav"):
        reference_features([tmp_path / "nope.wav"], SR)


def test_features_from_stats_leave_loudness_unknown_for_excerpts():
    stats = signal_stats(np.stack([noise(SR), noise(SR, 1)]), SR)
    assert math.isnan(features_from_stats(stats).loudness_lufs)
