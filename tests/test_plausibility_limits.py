"""The shared plausibility limits against analytic signals: levels, gain reduction, pan limits, violations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reaper_automix.console.eq import eq_response_db
from reaper_automix.console.pan import PanLaw
from reaper_automix.console.params import EqParams
from reaper_automix.matching.limits import (
    LIMITS,
    GainReduction,
    gain_reduction,
    gain_reduction_cap,
    pan_for_imbalance,
    pan_limit,
    stem_level_db,
    threshold_range_db,
    violations,
)
from reaper_automix.strip import Compressor, EqBand, Strip

SR = 44100
FLAT = Strip.neutral().eq


def sine(amplitude: float, seconds: float = 2.0, freq_hz: float = 997.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = amplitude * np.sin(2 * np.pi * freq_hz * t)
    return np.stack([x, x]).astype(np.float32)


def comp(threshold_db: float, ratio: float, knee_db: float = 0.0) -> Compressor:
    return Compressor(threshold_db, ratio, 5.0, 50.0, knee_db, 0.0)


def test_stem_level_of_a_sine_is_its_rms():
    assert stem_level_db(sine(1.0), SR) == pytest.approx(-3.01, abs=0.02)
    assert stem_level_db(sine(0.1), SR) == pytest.approx(-23.01, abs=0.02)


def test_level_ignores_silence_before_a_stem_plays():
    x = np.concatenate([np.zeros((2, 4 * SR), np.float32), sine(0.5, 1.0)], axis=1)
    assert stem_level_db(x, SR) == pytest.approx(20 * math.log10(0.5) - 3.01, abs=0.05)


def test_threshold_range_follows_the_level():
    assert threshold_range_db(-20.0) == (-20.0 - LIMITS.threshold_below_db, -20.0 + LIMITS.threshold_above_db)


@pytest.mark.parametrize("threshold_db, ratio", [(-15.0, 4.0), (-20.0, 2.0), (-9.0, 3.0)])
def test_gain_reduction_of_a_steady_sine_is_the_static_curve(threshold_db, ratio):
    """A steady sine at RMS level L above a hard-knee threshold T: (L - T)(1 - 1/ratio) dB, mean and peak."""
    x = sine(0.5)  # RMS -9.03 dB
    level = 20 * math.log10(0.5) - 3.0103
    expected = max(0.0, level - threshold_db) * (1 - 1 / ratio)
    gr = gain_reduction(x, FLAT, comp(threshold_db, ratio), SR)
    assert gr.mean_db == pytest.approx(expected, abs=0.15)
    assert gr.peak_db == pytest.approx(expected, abs=0.3)


def test_no_gain_reduction_at_ratio_one_or_below_threshold():
    assert gain_reduction(sine(0.5), FLAT, comp(-30.0, 1.0), SR) == GainReduction(0.0, 0.0)
    assert gain_reduction(sine(0.05), FLAT, comp(-10.0, 4.0), SR).peak_db < 1e-6


def test_gain_reduction_sees_the_eq_before_it():
    """A high-shelf boost of B dB at the sine's frequency (the EQ's frequency response) raises the compressor's
    input by B dB: at ratio 2 the reduction grows by B / 2."""
    x = sine(0.25, freq_hz=12000.0)
    boosted = tuple(EqBand(b.kind, b.freq_hz, 6.0 if b.kind == "high_shelf" else 0.0, b.q) for b in FLAT)
    boost_db = float(eq_response_db(EqParams.from_bands([boosted]), torch.tensor([12000.0]), SR)[0, 0])
    assert 3.0 < boost_db < 6.0
    plain = gain_reduction(x, FLAT, comp(-30.0, 2.0), SR).mean_db
    more = gain_reduction(x, boosted, comp(-30.0, 2.0), SR).mean_db
    assert more - plain == pytest.approx(boost_db / 2, abs=0.1)


def test_gain_reduction_cap_is_lifted_only_for_a_squashed_reference():
    assert gain_reduction_cap(12.0, 14.0) == (LIMITS.mean_gain_reduction_db, None)
    cap, reason = gain_reduction_cap(6.0, 14.0)
    assert cap == LIMITS.heavy_mean_gain_reduction_db and "crest factor" in reason


def test_pan_for_imbalance_inverts_the_balance_law():
    """Balance law, sine taper: pan 0.5 leaves the far channel at sin(pi/4), imbalance (1 - 1/2)/(1 + 1/2)."""
    assert pan_for_imbalance(1 / 3) == pytest.approx(0.5, abs=1e-6)
    assert pan_for_imbalance(-1 / 3) == pytest.approx(0.5, abs=1e-6)
    assert pan_for_imbalance(0.0) == pytest.approx(0.0, abs=1e-6)
    law = PanLaw(centre_db=-3.0)
    assert 0 < pan_for_imbalance(1 / 3, law) < 1


def test_pan_limit_stays_at_half_for_a_centred_reference_and_opens_for_a_lopsided_one():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, 3 * SR)) * 0.1
    assert pan_limit(noise, SR) == (LIMITS.pan, None)
    lopsided = noise.copy()
    lopsided[1] *= 0.2  # right channel 14 dB down: imbalance -0.92
    limit, reason = pan_limit(lopsided, SR)
    expected = pan_for_imbalance((0.04 - 1) / 1.04)
    assert limit == pytest.approx(expected, abs=0.02) and limit > 0.8
    assert "left" in reason


def test_violations_name_each_broken_limit():
    ok = violations(FLAT, comp(-20.0, 2.0), 0.3, -18.0, GainReduction(3.0, 6.0))
    assert ok == []
    loud_eq = tuple(EqBand(b.kind, b.freq_hz, 9.0, b.q) for b in FLAT)
    found = violations(loud_eq, comp(-50.0, 6.0), -0.8, -18.0, GainReduction(14.0, 20.0))
    assert len(found) == len(FLAT) + 4
    assert any("threshold -50.0" in f for f in found) and any("pan -0.80" in f for f in found)
    assert violations(FLAT, comp(-50.0, 1.0), 0.0, -18.0, GainReduction(0.0, 0.0)) == []  # ratio 1: inert
    assert violations(FLAT, comp(-20.0, 2.0), 0.8, -18.0, GainReduction(0.0, 0.0), pan_max=0.9) == []


@pytest.mark.parametrize("where", ["eq", "threshold", "ratio", "pan", "reduction"])
def test_a_setting_that_is_not_a_number_is_a_violation(where):
    """Every limit is a comparison, and a comparison with NaN is False: a NaN setting passed them all."""
    nan = math.nan
    eq = tuple(EqBand(b.kind, b.freq_hz, nan if where == "eq" and k == 2 else b.gain_db, b.q)
               for k, b in enumerate(FLAT))
    found = violations(eq, comp(nan if where == "threshold" else -20.0, nan if where == "ratio" else 2.0),
                       nan if where == "pan" else 0.3, -18.0,
                       GainReduction(nan if where == "reduction" else 3.0, 6.0))
    assert found == ["a setting is not a number (NaN or infinite)"]


def test_the_exact_console_refuses_settings_that_are_not_numbers():
    """No engine's NaN reaches a render, a report or a project: the whole-song result refuses it, naming the bus."""
    from reaper_automix.errors import AutomixError
    from reaper_automix.matching.features import song_features
    from reaper_automix.matching.search import whole_song_result

    stems = [np.full((2, SR), 0.1, np.float32), np.full((2, SR), 0.05, np.float32)]
    mix = stems[0] + stems[1]
    before = song_features(mix, SR)
    bad = [Strip.neutral(), Strip(math.nan, Strip.neutral().eq, Strip.neutral().compressor, 0.0)]
    with pytest.raises(AutomixError, match="bus 2 of 2"):
        whole_song_result(stems, bad, SR, target=before, before_mix=mix, before=before)


def test_long_stems_are_measured_on_spread_segments():
    from reaper_automix.matching.limits import MEASURE_SEGMENT_S, MEASURE_SEGMENTS, measured_spans

    assert measured_spans(10 * SR, SR) == [(0, 0, 10 * SR)]
    spans = measured_spans(300 * SR, SR)
    assert len(spans) == MEASURE_SEGMENTS and spans[0][1] == 0 and spans[-1][2] == 300 * SR
    assert all(b - a == int(0.5 * SR) or a == 0 for a, b, _ in spans)
    assert all(c - b == int(MEASURE_SEGMENT_S * SR) for _, b, c in spans)
    x = sine(0.5, 40.0)  # 40 s: segmented, and a steady sine reads the same everywhere
    level = 20 * math.log10(0.5) - 3.0103
    gr = gain_reduction(x, FLAT, comp(-15.0, 4.0), SR)
    assert gr.mean_db == pytest.approx((level + 15.0) * 0.75, abs=0.15)


def test_heavy_compression_widens_the_threshold_range():
    assert threshold_range_db(-20.0, heavy=True)[0] == -20.0 - LIMITS.heavy_threshold_below_db


def _bounds(levels, heavy=False, pan_max=0.5):
    from reaper_automix.matching.limits import Bounds

    cap = LIMITS.heavy_mean_gain_reduction_db if heavy else LIMITS.mean_gain_reduction_db
    return Bounds(tuple(levels), tuple(threshold_range_db(x, heavy=heavy) for x in levels), pan_max, None, cap,
                  "squashed" if heavy else None)


def test_clamp_moves_a_free_prediction_onto_the_limits():
    from reaper_automix.matching.limits import clamp_to_bounds

    wild = Strip(3.0, tuple(EqBand(b.kind, b.freq_hz, 11.0, b.q) for b in FLAT), comp(-55.0, 9.0), -0.9)
    fine = Strip(-2.0, FLAT, comp(-20.0, 2.0), 0.2)
    clamped, kept = clamp_to_bounds([wild, fine], _bounds([-18.0, -18.0]))
    assert kept == fine
    assert all(b.gain_db == LIMITS.eq_db for b in clamped.eq) and clamped.pan == -0.5 and clamped.gain_db == 3.0
    assert clamped.compressor.ratio == LIMITS.ratio and clamped.compressor.threshold_db == -30.0


def test_an_over_the_cap_compressor_is_brought_under_it():
    """A steady sine 12 dB over a hard-knee threshold at 4:1 reduces by 9 dB; with the threshold range opened
    (heavy) a 20 dB-over threshold reduces by 15: more than the usual cap, so the threshold rises."""
    from reaper_automix.matching.limits import within_gain_reduction_cap

    x = sine(0.5)
    level = stem_level_db(x, SR)
    over = Strip(0.0, FLAT, comp(level - 20.0, 4.0), 0.0)
    bounds = _bounds([level])  # usual cap, 10 dB
    (fixed,), (gr,) = within_gain_reduction_cap([x], [over], SR, bounds)
    assert gr.mean_db <= LIMITS.mean_gain_reduction_db and gr.mean_db > LIMITS.mean_gain_reduction_db - 1.5
    assert fixed.compressor.threshold_db > level - 20.0 and fixed.compressor.ratio == 4.0
    (kept,), (heavy_gr,) = within_gain_reduction_cap([x], [over], SR, _bounds([level], heavy=True))
    assert kept == over and heavy_gr.mean_db == pytest.approx(15.0, abs=0.2)


def test_a_silent_stem_has_no_reduction_and_no_threshold_to_judge():
    silent = np.zeros((2, SR), np.float32)
    level = stem_level_db(silent, SR)
    assert gain_reduction(silent, FLAT, comp(level - 5.0, 4.0), SR) == GainReduction(0.0, 0.0)
    assert violations(FLAT, comp(-60.0, 2.0), 0.0, level, GainReduction(0.0, 0.0)) == []


def test_stem_measures_sum_the_stems_in_the_same_read():
    """``mix_out`` gets the stems' float32 sum (stems of different lengths, memory-map-like ScaledStem slices
    read 10 s at a time), and the measures are the same with or without it."""
    from reaper_automix.matching import ScaledStem
    from reaper_automix.matching.limits import stem_measures, stem_measures_and_sum

    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((2, n)).astype(np.float32) * 0.1 for n in (23 * SR + 17, 11 * SR, 23 * SR + 17)]
    stems = [ScaledStem(arrays[0], -3.0), arrays[1], ScaledStem(arrays[2], 2.5)]
    expected = np.zeros((2, 23 * SR + 17), dtype=np.float32)
    for s in stems:  # float32 additions in stem order
        expected[:, : s.shape[1]] += s[:, :]
    measures, mix = stem_measures_and_sum(stems, SR)
    assert measures == stem_measures(stems, SR)
    np.testing.assert_array_equal(mix, expected)


def test_stem_measures_of_many_stems_read_on_threads_are_each_definition_to_the_bit():
    """The stems are read and measured on two threads and summed on a third: every level is stem_level_db's,
    every peak the largest |sample|, the crest the float64 stem-order sum's crest_db, the float32 sum the stems
    added in order, bit for bit (the crest to rounding; float32 and float64 stems, different lengths, more stems than threads)."""
    from reaper_automix.matching import ScaledStem
    from reaper_automix.matching.limits import crest_db, stem_level_db, stem_measures_and_sum

    rng = np.random.default_rng(8)
    lengths = [21 * SR + 5, 3 * SR, 21 * SR + 5, 9 * SR + 1, 12 * SR, 21 * SR + 5, 100]
    arrays = [rng.standard_normal((2, n)) * rng.uniform(0.01, 0.5) for n in lengths]
    stems = [ScaledStem(a.astype(np.float32), float(g)) if k % 2 == 0 else a
             for k, (a, g) in enumerate(zip(arrays, rng.uniform(-6, 6, len(arrays))))]
    (levels, peaks, crest), mix = stem_measures_and_sum(stems, SR)
    total = np.zeros((2, max(lengths)))
    expected = np.zeros((2, max(lengths)), dtype=np.float32)
    for s in stems:
        part = np.asarray(s[:, :], dtype=np.float64)
        total[:, : part.shape[1]] += part
        expected[:, : part.shape[1]] += part.astype(np.float32)
    assert levels == [stem_level_db(s, SR) for s in stems]
    assert peaks == [float(np.max(np.abs(np.asarray(s[:, :], dtype=np.float64)))) for s in stems]
    # crest_db of the whole sum adds the same chunk energies through a strided view (einsum's order differs)
    assert crest == pytest.approx(crest_db(total, SR), abs=1e-12)
    np.testing.assert_array_equal(mix, expected)


def test_crest_factor_of_one_signal_is_stem_measures_crest_to_the_bit():
    """crest_db (no per-block levels) reads as stem_measures of the signal alone, signed zeros, short and long."""
    from reaper_automix.matching.limits import crest_db, stem_measures

    rng = np.random.default_rng(9)
    for n in (0, 7, 2205, 25 * SR + 3):
        x = (rng.standard_normal((2, n)) * 0.3).astype(np.float32)
        x[:, : n // 3] = -0.0
        assert crest_db(x, SR) == stem_measures([x], SR)[2]


def test_gain_reduction_reads_the_louder_channel_sample_by_sample():
    """A second implementation of the per-sample reduction on a stem short enough to be one span: the louder
    input channel found sample by sample (argmax, the left on a tie), its output over its input. Channels that
    take turns at being louder, equal ones, and a silent left beside a loud right give the same mean and peak to
    the bit."""
    from reaper_automix.console.compressor import compress
    from reaper_automix.console.eq import apply_eq
    from reaper_automix.console.params import CompressorParams
    from reaper_automix.matching.limits import _summarise

    rng = np.random.default_rng(3)
    n = 3 * SR
    swing = 0.5 + 0.4 * np.sin(2 * np.pi * 1.5 * np.arange(n) / SR)  # left louder, then right, and so on
    x = rng.standard_normal((2, n)) * 0.2 * np.stack([swing, 1.0 - swing])
    x[:, SR:SR + SR // 4] = x[0, SR:SR + SR // 4]  # a stretch of equal channels: ties
    x[0, 2 * SR:] = 0.0  # the left silent, the right loud: only the right channel can be read
    x[1, 2 * SR:] *= 4.0
    x = x.astype(np.float32)
    eq = tuple(EqBand(b.kind, b.freq_hz, g, b.q) for b, g in zip(FLAT, (3.0, -2.0, 1.0, 0.0, 2.0, -1.0)))
    c = comp(-30.0, 3.0, 6.0)
    with torch.no_grad():
        e, _ = apply_eq(torch.from_numpy(x[None].astype(np.float64)), EqParams.from_bands([eq]), SR)
        y, _ = compress(e, CompressorParams.from_compressors([c]), SR)
    e, y = e[0].numpy(), y[0].numpy()
    louder = np.argmax(np.abs(e), axis=0)
    num, den = np.abs(y[louder, np.arange(n)]), np.abs(e[louder, np.arange(n)])
    audible = den > 1e-9
    reduction = np.zeros(n)
    reduction[audible] = -20.0 * np.log10(np.maximum(num[audible], 1e-20) / den[audible])
    expected = _summarise(e, reduction, audible, SR)
    measured = gain_reduction(x, eq, c, SR)
    assert expected.peak_db > 3.0  # the compressor worked
    assert measured == expected
