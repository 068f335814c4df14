"""Evaluation measures against known answers: MRSTFT distance, EQ-curve and settings errors, summaries."""

from __future__ import annotations

import numpy as np
import pytest

from reaper_automix.strip import EqBand, Strip
from reaper_automix.evaluate.harness import format_table, random_settings, summarise
from reaper_automix.evaluate.metrics import eq_curve_error_db, mrstft_distance, settings_errors

SR = 44100


def noise(seed: int, n: int = SR) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, n)).astype(np.float32) * 0.1


def test_mrstft_is_zero_for_identical_and_grows_with_difference():
    x = noise(0)
    assert mrstft_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    small = mrstft_distance(x + 0.01 * noise(1), x)
    large = mrstft_distance(x + 0.1 * noise(1), x)
    assert 0 < small < large


def test_mrstft_of_a_gain_change_is_analytic():
    """|E| = g |T| everywhere: convergence |1 - g|, log term |ln g|, the same at every resolution."""
    x = noise(2)
    g = 0.5
    assert mrstft_distance(g * x, x) == pytest.approx(abs(1 - g) + abs(np.log(g)), rel=1e-3)


def test_eq_curve_error_of_a_flat_and_a_peaked_eq():
    flat = Strip.neutral().eq
    assert eq_curve_error_db(flat, flat, SR) == pytest.approx(0.0, abs=1e-9)
    boosted = tuple(EqBand(b.kind, b.freq_hz, 6.0 if i == 3 else 0.0, b.q) for i, b in enumerate(flat))
    error = eq_curve_error_db(flat, boosted, SR)
    assert 0.5 < error < 6.0  # a 6 dB peak over part of the band: below its maximum, above nothing


def test_settings_errors_ignore_a_common_gain_offset():
    rng = np.random.default_rng(3)
    truth = random_settings([noise(4), noise(5), noise(6)], rng)
    shifted = [Strip(s.gain_db + 5.0, s.eq, s.compressor, s.pan) for s in truth]
    errors = settings_errors(truth, shifted, SR)
    assert errors == {"gain_db": pytest.approx(0.0, abs=1e-12), "pan": 0.0, "eq_curve_db": 0.0, "ratio": 0.0}
    moved = [Strip(s.gain_db, s.eq, s.compressor, s.pan + 0.2) for s in truth]
    assert settings_errors(truth, moved, SR)["pan"] == pytest.approx(0.2)


def test_random_settings_stay_within_their_ranges():
    settings = random_settings([noise(i) for i in range(20)], np.random.default_rng(0))
    assert all(-6 <= s.gain_db <= 6 and -0.7 <= s.pan <= 0.7 and 1 <= s.compressor.ratio <= 3 for s in settings)
    assert all(-6 <= b.gain_db <= 6 for s in settings for b in s.eq)


def _record(song: str, stage1_total: float, matched_total: float) -> dict:
    def d(total: float) -> dict:
        return {"crest_db": 1.0, "width": 0.1, "imbalance": 0.0, "bark_mid_db": 2.0, "bark_side_db": 3.0,
                "total": total, "loudness_lu": 1.0}

    return {"song": song, "conditions": {"stage1_centroid": d(stage1_total), "matched": d(matched_total),
                                          "matchering": d(5.0)}}


def test_summary_reduction_and_matchering_comparison():
    summary = summarise([_record("a", 10.0, 4.0), _record("b", 20.0, 2.0)])
    assert summary["mean"]["matched"]["total"] == pytest.approx(3.0)
    assert summary["matched_vs_stage1"]["total_reduction"] == pytest.approx(1 - 3.0 / 15.0)
    assert summary["matched_vs_stage1"]["per_song_reduction"] == pytest.approx([0.6, 0.9])
    assert summary["matched_vs_matchering"]["total"]["better"] is True
    assert summary["matched_vs_matchering"]["crest_db"]["better"] is False  # equal is not better
    assert "NOT better on crest_db" in format_table(summary)
