"""The evaluation harness against known answers: MRSTFT and EQ-curve measures, the ground-truth draw, per-stem
loudness errors, an oracle engine that must score zero, violations, summaries and checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reaper_automix.analysis.loudness import integrated_loudness
from reaper_automix.audio.io import write_audio
from reaper_automix.evaluate.cases import CENTRED_GROUPS, EvalCase, TruthPrior, draw_truth, held_out_songs
from reaper_automix.evaluate.harness import (
    engine_row,
    evaluate_case,
    format_table,
    loudness_error_lu,
    markdown_table,
    neutral_row,
    per_stem_loudness,
    prior_mean_row,
    stage1_row,
    summarise,
)
from reaper_automix.evaluate.metrics import eq_curve_error_db, mrstft_distance
from reaper_automix.matching.limits import stem_level_db
from reaper_automix.matching import render_console_mix
from reaper_automix.strip import EqBand, Strip

SR = 44100


def noise(seed: int, n: int = SR, scale: float = 0.1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, n)).astype(np.float32) * scale


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


def test_truth_draw_stays_in_its_prior_and_puts_stems_at_their_roles():
    names = ["Drums", "Bass", "Guitars", "Keys", "Vocals", "Strings & Pads"] * 5
    loudness = list(np.linspace(-30, -15, len(names)))
    levels = [-20.0] * len(names)
    prior = TruthPrior()
    truth = draw_truth(names, loudness, levels, np.random.default_rng(0), prior)
    assert sum(s.gain_db for s in truth) == pytest.approx(0.0, abs=1e-9)  # mean removed
    for name, s in zip(names, truth):
        assert all(abs(b.gain_db) <= prior.eq_db for b in s.eq)
        assert -20.0 - 9.0 <= s.compressor.threshold_db <= -20.0
        assert prior.ratio[0] <= s.compressor.ratio <= prior.ratio[1]
        assert abs(s.pan) <= (prior.pan_centred if name in CENTRED_GROUPS else prior.pan_other)
    # with no spread, the prior mean puts every stem at its role's level: vocals 2.5 LU above guitars
    mean = prior.mean(["Guitars", "Vocals"], [-20.0, -20.0], [-20.0, -20.0])
    assert mean[1].gain_db - mean[0].gain_db == pytest.approx(2.5)
    assert all(s.pan == 0 and all(b.gain_db == 0 for b in s.eq) for s in mean)


def test_held_out_seeds_stay_below_the_training_seeds():
    songs = held_out_songs(20)
    assert len({s.seed for s in songs}) == 20 and max(s.seed for s in songs) < 100000
    assert {s.n_tracks for s in songs} == {20, 24, 28}
    with pytest.raises(ValueError):
        held_out_songs(5, first_seed=99998)


def test_loudness_error_removes_the_mean_and_skips_silent_stems():
    truth = np.array([-20.0, -25.0, -30.0])
    assert loudness_error_lu(truth + 4.0, truth) == pytest.approx(0.0)
    assert loudness_error_lu(np.array([-18.0, -25.0]), truth[:2]) == pytest.approx(1.0)  # d = [2, 0]
    assert loudness_error_lu(np.array([-18.0, -25.0, -math.inf]), truth) == pytest.approx(1.0)


def test_per_stem_loudness_follows_the_strip_gain():
    x = noise(3, 2 * SR)
    neutral = Strip.neutral()
    louder = Strip(6.0, neutral.eq, neutral.compressor, 0.0)
    a, b = per_stem_loudness([x, x], [neutral, louder], SR)
    assert a == pytest.approx(integrated_loudness(x, SR), abs=1e-3)
    assert b - a == pytest.approx(6.0, abs=1e-3)


def _case(tmp_path) -> EvalCase:
    names = ["Drums", "Bass", "Guitars"]
    stems = [noise(10 + i, 3 * SR, 0.05 * (i + 1)) for i in range(3)]
    later = [noise(20 + i, 5 * SR + 100, 0.05 * (i + 1)) for i in range(3)]  # references last >= 5 s
    levels = [stem_level_db(s, SR) for s in stems]
    truth = draw_truth(names, [integrated_loudness(s, SR) for s in stems], levels, np.random.default_rng(1))
    same = tmp_path / "same.wav"
    write_audio(same, render_console_mix(later, truth, SR), SR, subtype="FLOAT")
    other = tmp_path / "other.wav"
    write_audio(other, noise(30, 6 * SR), SR, subtype="FLOAT")
    return EvalCase("synthetic", SR, names, stems, np.sum(stems, axis=0), truth,
                    render_console_mix(stems, truth, SR), same, other, 0.5, levels)


def test_an_oracle_scores_zero_and_the_baselines_do_not(tmp_path):
    case = _case(tmp_path)
    oracle = engine_row("oracle", lambda stems, sample_rate, refs: case.truth)
    wild = engine_row("wild", lambda stems, sample_rate, refs: [
        Strip(0.0, s.eq, s.compressor, 0.9) for s in case.truth])
    record = evaluate_case(case, [stage1_row(), neutral_row(), prior_mean_row(), oracle, wild], log=lambda _: None)
    rows = record["rows"]
    o = rows["oracle"]
    assert o["loudness_error_lu"] == pytest.approx(0.0, abs=1e-3)
    assert o["pan_error"] == 0.0 and o["eq_curve_error_db"] == 0.0 and o["gain_reduction_error_db"] == 0.0
    assert o["mrstft"] == pytest.approx(0.0, abs=1e-4)
    assert o["violations"] == 0
    n = rows["neutral"]
    assert n["pan_error"] == pytest.approx(np.mean([abs(s.pan) for s in case.truth]))
    assert n["gain_reduction_db"] == 0.0 and n["mrstft"] > 0.05
    assert rows["stage1"]["loudness_error_lu"] == pytest.approx(n["loudness_error_lu"])
    assert "pan_error" not in rows["stage1"] and rows["stage1"]["time_s"] == 0.5
    assert rows["wild"]["violations"] == 2 * 3  # pan 0.9 on every bus, in both runs
    summary = summarise([record, record])
    assert summary["mean"]["oracle"]["violations"] == 0 and summary["mean"]["wild"]["violations"] == 12
    assert summary["mean"]["stage1"]["pan_error"] is None
    assert "oracle" in markdown_table(summary) and "wild" in format_table(summary)


def _summary_record(rows: dict) -> dict:
    return {"song": "s", "rows": rows}


def test_checks_compare_engines_with_the_baselines():
    def row(loud, pan, eq, feat, violations=0):
        return {"loudness_error_lu": loud, "pan_error": pan, "eq_curve_error_db": eq, "feature_distance": feat,
                "violations": violations}

    rows = {"stage1": {"loudness_error_lu": 3.0, "feature_distance": 10.0}, "neutral": row(3.0, 0.5, 2.0, 10.0),
            "search": row(2.0, 0.4, 1.5, 4.0), "learned": row(1.0, 0.25, 1.7, 4.5, 1),
            "matchering": {"feature_distance": 8.0}}
    checks = summarise([_summary_record(rows)])["checks"]
    assert checks["search"]["pan_at_most_0.6x_centre"] is False and checks["search"]["loudness_beats_stage1"]
    learned = checks["learned"]
    assert learned["loudness_beats_search"] and learned["pan_at_most_0.6x_centre"]
    assert learned["eq_at_most_0.8x_flat"] is False  # 1.7 > 0.8 x 2.0
    assert learned["feature_within_15pct_of_search"] and learned["feature_beats_matchering"]
    assert learned["no_limit_violations"] is False
    assert "hybrid" not in checks
