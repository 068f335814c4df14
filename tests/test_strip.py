"""The channel strip and its one converter: strips <-> console tensors <-> normalised vectors, and the ranges
that the search, the normalised layer and the FX mappings share."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.console.params import ChannelParams, MasterParams, channel_param_names, denormalise, normalise
from reaper_automix.errors import AutomixError
from reaper_automix.matching import MatchOptions
from reaper_automix.strip import (
    COMPRESSOR_RANGES,
    EQ_GAIN_DB,
    EQ_LAYOUT_DEFAULT,
    EQ_LAYOUT_DIFF_MST,
    GAIN_DB,
    PAN,
    RATIO,
    Compressor,
    EqBand,
    Strip,
)


def strip_from(values: list[float]) -> Strip:
    """A strip whose every parameter sits at fraction ``values[i]`` of its range (physical truth built by hand,
    independently of the normalised layer)."""
    it = iter(values)
    gain = GAIN_DB.to_physical(next(it))
    bands = []
    for spec in EQ_LAYOUT_DEFAULT:
        freq = spec.freq_hz.low * (spec.freq_hz.high / spec.freq_hz.low) ** next(it)
        g = EQ_GAIN_DB.low + (EQ_GAIN_DB.high - EQ_GAIN_DB.low) * next(it)
        q = 0.27 * (5.0 / 0.27) ** next(it)
        bands.append(EqBand(spec.kind.value, freq, g, q))
    comp = Compressor(**{name: rng.to_physical(next(it)) for name, rng in COMPRESSOR_RANGES.items()})
    return Strip(gain, tuple(bands), comp, PAN.to_physical(next(it)))


unit = st.floats(0.0, 1.0, allow_nan=False)
vectors = st.lists(unit, min_size=len(channel_param_names()), max_size=len(channel_param_names()))


@settings(max_examples=30, deadline=None)
@given(st.lists(vectors, min_size=1, max_size=4))
def test_normalise_inverts_denormalise(rows):
    x = torch.tensor(rows, dtype=torch.float64)
    strips = denormalise(x)
    assert len(strips) == len(rows)
    assert torch.allclose(normalise(strips), x, atol=1e-9)
    for strip, row in zip(strips, rows):  # and each value lands where the range says
        truth = strip_from(row)
        assert strip.gain_db == pytest.approx(truth.gain_db)
        assert strip.pan == pytest.approx(truth.pan)
        for a, b in zip(strip.eq, truth.eq):
            assert (a.kind, a.freq_hz, a.gain_db, a.q) == pytest.approx((b.kind, b.freq_hz, b.gain_db, b.q))
        assert dataclasses.astuple(strip.compressor) == pytest.approx(dataclasses.astuple(truth.compressor))


def test_denormalise_accepts_a_network_output():
    x = torch.rand(3, len(channel_param_names()), dtype=torch.float32, requires_grad=True)
    strips = denormalise(x)
    assert all(isinstance(s.gain_db, float) for s in strips)


def test_strips_round_trip_through_console_tensors():
    strips = [Strip.neutral(), strip_from([0.3] * len(channel_param_names()))]
    assert ChannelParams.from_strips(strips).to_strips() == strips
    master = dataclasses.replace(strips[1], pan=0.0)
    assert MasterParams.from_strip(master).to_strip() == master
    with pytest.raises(ValueError, match="pan"):
        MasterParams.from_strip(strips[1])


def test_neutral_strip_is_inside_every_range_and_follows_the_layout():
    for layout in (EQ_LAYOUT_DEFAULT, EQ_LAYOUT_DIFF_MST):
        x = normalise([Strip.neutral(layout)], layout)
        assert bool(((x >= 0) & (x <= 1)).all())
    neutral = Strip.neutral()
    assert [b.freq_hz for b in neutral.eq] == [100.0, 250.0, 700.0, 2000.0, 5000.0, 10000.0]
    assert all(b.gain_db == 0.0 for b in neutral.eq) and neutral.compressor.ratio == 1.0


def test_layout_mismatch_is_refused():
    with pytest.raises(ValueError, match="layout"):
        ChannelParams.from_strips([Strip(0.0, (), Compressor())])


def test_search_limits_come_from_the_strip_ranges():
    o = MatchOptions()
    assert (o.max_gain_db, o.max_boost_db, o.max_cut_db, o.max_ratio) == (
        GAIN_DB.high, EQ_GAIN_DB.high, -EQ_GAIN_DB.low, RATIO.high)
    MatchOptions(max_boost_db=3.0, max_ratio=2.0)  # tighter is fine
    for wider in ({"max_boost_db": 12.0}, {"max_ratio": 10.0}, {"max_gain_db": 24.0}, {"max_cut_db": 20.0}):
        with pytest.raises(AutomixError, match="strip ranges"):
            MatchOptions(**wider)
