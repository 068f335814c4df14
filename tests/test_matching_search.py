"""Reference matching: known settings recovered from a reference mixed with them, strength and aspect switches,
determinism, the proxy against the exact console, the chunked render and the level-matched A/B."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.signal
import torch

from reaper_automix.analysis.loudness import integrated_loudness
from reaper_automix.console.mix import mix
from reaper_automix.console.pan import PanLaw
from reaper_automix.console.params import ChannelParams
from reaper_automix.errors import AutomixError
from reaper_automix.matching.features import features_from_stats, song_features
from reaper_automix.matching import level_matched_ab, match_reference, render_console_mix
from reaper_automix.matching.excerpts import choose_excerpts
from reaper_automix.matching.proxy import Physical, build_proxy, proxy_features
from reaper_automix.matching.render import excerpt_stats
from reaper_automix.matching.search import MatchOptions, feature_vector, strips_from_physical
from reaper_automix.strip import Compressor, Strip

SR = 32000  # covers every Bark band (up to 15.5 kHz) at lower cost


def band_noise(low_hz: float, high_hz: float, seconds: float, seed: int) -> np.ndarray:
    """Mono band-limited noise on both channels, with a slow level envelope (something for a compressor)."""
    n = int(seconds * SR)
    rng = np.random.default_rng(seed)
    sos = scipy.signal.butter(4, [low_hz, high_hz], "bandpass", fs=SR, output="sos")
    x = scipy.signal.sosfilt(sos, rng.standard_normal(n))
    envelope = 0.5 + 0.5 * np.abs(np.sin(np.pi * np.arange(n) / SR * 1.3))
    x = (x * envelope / np.max(np.abs(x)) * 0.3).astype(np.float32)
    return np.stack([x, x])


@pytest.fixture(scope="module")
def stems() -> list[np.ndarray]:
    return [band_noise(60, 400, 8, 1), band_noise(500, 3000, 8, 2), band_noise(3000, 12000, 8, 3)]


FAST = {"iterations": 60, "rounds": 2, "excerpts": 3, "excerpt_s": 2.0}


def truth_reference(stems, gains_db, pans):
    settings = [Strip(g, Strip.neutral().eq, Strip.neutral().compressor, p)
                for g, p in zip(gains_db, pans)]
    return song_features(render_console_mix(stems, settings, SR), SR)


def test_known_gains_and_pans_are_recovered(stems):
    gains, pans = np.array([0.0, -4.0, 3.0]), np.array([0.5, -0.3, 0.0])
    reference = truth_reference(stems, gains, pans)
    options = MatchOptions(eq=False, compressor=False, regularisation=1e-4, iterations=150, rounds=2, excerpts=3,
                           excerpt_s=2.0, learning_rate=0.05)
    result = match_reference(stems, SR, [], options, reference=reference)
    assert result.distances_after["total"] < 0.1 * result.distances_before["total"]
    found_gains = np.array([s.gain_db for s in result.stems])
    found_pans = np.array([s.pan for s in result.stems])
    # Features ignore the overall level: compare gains relative to their mean.
    np.testing.assert_allclose(found_gains - found_gains.mean(), gains - gains.mean(), atol=1.0)
    np.testing.assert_allclose(found_pans, pans, atol=0.1)


def test_strength_zero_gives_neutral_settings(stems):
    reference = truth_reference(stems, [0.0, -6.0, 6.0], [0.6, -0.6, 0.0])
    result = match_reference(stems, SR, [], MatchOptions(strength=0.0, **FAST), reference=reference)
    for s in result.stems:
        assert s.gain_db == 0.0 and s.pan == 0.0 and s.compressor.ratio == 1.0
        assert all(b.gain_db == 0.0 for b in s.eq)
    np.testing.assert_allclose(result.matched_mix, sum(stems), atol=1e-5)


def test_half_strength_is_half_way(stems):
    reference = truth_reference(stems, [0.0, -6.0, 6.0], [0.6, -0.6, 0.0])
    full = match_reference(stems, SR, [], MatchOptions(**FAST), reference=reference)
    half = match_reference(stems, SR, [], MatchOptions(strength=0.5, **FAST), reference=reference)
    for f, h in zip(full.stems, half.stems):
        assert h.gain_db == pytest.approx(f.gain_db / 2) and h.pan == pytest.approx(f.pan / 2)
        assert h.compressor.ratio - 1 == pytest.approx((f.compressor.ratio - 1) / 2)


@pytest.mark.parametrize("aspect", ["gain", "eq", "compressor", "pan"])
def test_switched_off_aspect_stays_neutral(stems, aspect):
    reference = truth_reference(stems, [0.0, -6.0, 6.0], [0.6, -0.6, 0.0])
    result = match_reference(stems, SR, [], MatchOptions(**{aspect: False}, **FAST), reference=reference)
    values = {
        "gain": [s.gain_db for s in result.stems],
        "eq": [b.gain_db for s in result.stems for b in s.eq],
        "compressor": [s.compressor.ratio - 1 for s in result.stems],
        "pan": [s.pan for s in result.stems],
    }
    assert all(v == 0.0 for v in values[aspect])
    assert any(v != 0.0 for k, vs in values.items() if k != aspect for v in vs)  # the others did move


def test_same_seed_same_result(stems):
    reference = truth_reference(stems, [0.0, -3.0, 3.0], [0.3, -0.3, 0.0])
    a = match_reference(stems, SR, [], MatchOptions(seed=7, **FAST), reference=reference)
    b = match_reference(stems, SR, [], MatchOptions(seed=7, **FAST), reference=reference)
    assert a.stems == b.stems
    assert a.loss_history == b.loss_history


def test_proxy_tracks_the_exact_console(stems):
    """Changes of EQ, gain and pan move the proxy's features as they move the exact console's."""
    windows = choose_excerpts(stems, SR, 3, 2.0)
    proxy = build_proxy(stems, windows, SR)

    def both(p: Physical):
        with torch.no_grad():
            fast = feature_vector(proxy_features(p, proxy, SR, [PanLaw()]))
        exact = feature_vector(features_from_stats(excerpt_stats(stems, windows, SR, strips_from_physical(p, 1.0))))
        return fast, exact

    def physical(gain, eq, pan):
        n = len(stems)
        return Physical(torch.tensor(gain, dtype=torch.float64), torch.tensor(eq, dtype=torch.float64),
                         torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64),
                         torch.tensor(pan, dtype=torch.float64))

    f0, e0 = both(physical([0.0] * 3, [[0.0] * 6] * 3, [0.0] * 3))
    f1, e1 = both(physical([2.0, -3.0, 1.0], [[4, -3, 0, 2, 0, 0], [0, 0, -5, 3, 0, 0], [0, 0, 0, 0, 5, -4]],
                           [0.4, -0.2, 0.1]))
    for name in ("bark_mid_db", "bark_side_db"):
        active = (e0["bark_mid_db"] > -40) & (e1[name] > -50)  # bands with something in them
        np.testing.assert_allclose((f1[name] - f0[name])[active], (e1[name] - e0[name])[active], atol=1.0)
    assert float(f1["width"] - f0["width"]) == pytest.approx(float(e1["width"] - e0["width"]), rel=0.2)
    assert float(f1["imbalance"] - f0["imbalance"]) == pytest.approx(
        float(e1["imbalance"] - e0["imbalance"]), rel=0.2)


def test_chunked_render_equals_one_pass(stems):
    rng = np.random.default_rng(5)
    settings = [Strip(float(rng.uniform(-6, 6)),
                             tuple(b.__class__(b.kind, b.freq_hz, float(rng.uniform(-6, 6)), b.q)
                                   for b in Strip.neutral().eq),
                             Compressor(-25.0, 3.0, 20.0, 150.0, 6.0, 0.0),
                             float(rng.uniform(-1, 1))) for _ in stems]
    chunked = render_console_mix(stems, settings, SR, chunk_samples=7777)
    with torch.no_grad():
        whole = mix(torch.from_numpy(np.stack(stems)), ChannelParams.from_strips(settings), SR).numpy()
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_level_matched_ab_has_equal_loudness(stems):
    before = sum(stems)
    after = 0.25 * stems[0] + stems[2]
    a, b, ga, _gb = level_matched_ab(before, after, SR)
    assert ga == 0.0
    assert integrated_loudness(a, SR) == pytest.approx(integrated_loudness(b, SR), abs=0.01)
    a, b, _, _ = level_matched_ab(before, after, SR, target_lufs=-20.0)
    assert integrated_loudness(b, SR) == pytest.approx(-20.0, abs=0.01)


def test_excerpts_cover_the_song_where_stems_play():
    n = 20 * SR
    quiet = np.zeros((2, n), dtype=np.float32)
    loud = np.zeros((2, n), dtype=np.float32)
    loud[:, 12 * SR : 15 * SR] = 0.1  # the second stem plays only from 12 to 15 s
    quiet[:] = 0.05
    windows = choose_excerpts([quiet, loud], SR, 2, 2.0)
    assert len(windows) == 2
    assert windows[0][1] <= 10 * SR <= windows[1][0]  # one per half of the song
    assert 12 * SR <= windows[1][0] and windows[1][1] <= 15 * SR  # the second where both stems play


def test_a_stem_silent_where_the_search_listens_gets_finite_settings(stems):
    """A stem with no audio in the excerpts (a backing vocal that enters after them; here, silent throughout, like
    an empty folder's bus) has no energy in the proxy: its EQ's broadband amplitude was sqrt(0 / 0), whose
    gradient is NaN, and Adam then made every stem's settings NaN (found on a held-out evaluation song). The
    settings stay finite, and the other stems still match."""
    silent = np.zeros_like(stems[1])
    reference = truth_reference(stems, [0.0, -4.0, 3.0], [0.3, 0.0, -0.3])
    result = match_reference([stems[0], silent, stems[2]], SR, [], MatchOptions(**FAST), reference=reference)
    values = [v for s in result.stems for v in (s.gain_db, s.pan, s.compressor.threshold_db, s.compressor.ratio,
                                                *(b.gain_db for b in s.eq))]
    assert np.all(np.isfinite(values))
    assert result.distances_after["total"] < result.distances_before["total"]


def test_errors_are_clear(stems, tmp_path):
    with pytest.raises(AutomixError, match="at least one stem"):
        match_reference([], SR, [tmp_path / "r.wav"])
    with pytest.raises(AutomixError, match="r.wav"):
        match_reference(stems, SR, [tmp_path / "r.wav"])
    silent = [np.zeros((2, 4 * SR), dtype=np.float32)]
    with pytest.raises(AutomixError, match="silent"):
        match_reference(silent, SR, [], reference=song_features(sum(stems), SR))
    with pytest.raises(AutomixError, match="strength"):
        MatchOptions(strength=1.5)


def test_progress_is_reported_per_round(stems):
    reference = truth_reference(stems, [0.0, -3.0, 2.0], [0.0, 0.2, -0.2])
    calls = []
    options = MatchOptions(**FAST)
    match_reference(stems, SR, [], options, reference=reference, progress=lambda *a: calls.append(a))
    total = options.rounds + 1
    assert calls == [("matching the reference", i, total) for i in range(total + 1)]


def test_the_exact_console_pans_each_stem_by_its_bus_law():
    """Whole-song renders and excerpt statistics pan every stem by the law of its bus (a -6 dB linear law on
    one, REAPER's default on the other), as REAPER will: with neutral strips the mix is each stem times its own
    law's gains, and not what the default law for both gives."""
    rng = np.random.default_rng(3)
    stems = [(0.1 * rng.standard_normal((2, 2 * SR))).astype(np.float32) for _ in range(2)]
    laws = [PanLaw(), PanLaw(-6.0, "linear")]
    settings = [replace(Strip.neutral(), pan=0.5), replace(Strip.neutral(), pan=-0.25)]
    expected = np.zeros((2, 2 * SR))
    for stem, law, strip in zip(stems, laws, settings):
        left, right = law.gains(torch.tensor([strip.pan], dtype=torch.float64))
        expected += stem * np.array([[float(left[0])], [float(right[0])]])
    out = render_console_mix(stems, settings, SR, pan_laws=laws)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert not np.allclose(render_console_mix(stems, settings, SR), expected, atol=1e-3)
    windows = [(SR // 2, SR + SR // 2)]
    stats = excerpt_stats(stems, windows, SR, settings, laws)
    truth = features_from_stats(excerpt_stats([expected[:, : 2 * SR].astype(np.float32)], windows, SR, [Strip.neutral()]))
    got = features_from_stats(stats)
    assert abs(got.width - truth.width) < 1e-4 and abs(got.imbalance - truth.imbalance) < 1e-4
