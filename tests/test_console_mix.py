"""The whole console: identity when neutral, chunked == one pass, finite gradients for every parameter,
normalised <-> physical parameters, and the speed-relevant render path agreeing with the differentiable one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.console.mix import mix
from reaper_automix.console.params import ChannelParams, MasterParams, channel_param_names, master_param_names
from reaper_automix.strip import EQ_LAYOUT_DIFF_MST, ParamRange

SR = 44100


def random_stems(n_stems: int, n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    envelope = np.repeat(rng.uniform(0.02, 0.5, size=(n_stems, 1, n // 500 + 1)), 500, axis=-1)[..., :n]
    return torch.tensor(envelope * rng.standard_normal((n_stems, 2, n)), dtype=torch.float32)


def test_neutral_console_is_a_plain_sum():
    stems = random_stems(3, 8000)
    with torch.no_grad():
        out = mix(stems, ChannelParams.neutral(3), SR, MasterParams.neutral())
    assert torch.allclose(out, stems.sum(0), atol=1e-5)


def test_chunked_mix_equals_one_pass():
    stems = random_stems(4, 30000, seed=1)
    gen = torch.Generator().manual_seed(2)
    params = ChannelParams.from_normalised(torch.rand(4, len(channel_param_names()), generator=gen,
                                                      dtype=torch.float64))
    master = MasterParams.from_normalised(torch.rand(1, len(master_param_names()), generator=gen,
                                                     dtype=torch.float64))
    with torch.no_grad():
        whole = mix(stems, params, SR, master)
        chunked = mix(stems, params, SR, master, chunk_samples=4097)
    assert torch.allclose(chunked, whole, rtol=0, atol=1e-6)
    assert whole.abs().max() > 0.01  # the comparison is not between two silences


def test_differentiable_pass_matches_render_and_has_finite_gradients_for_every_parameter():
    stems = random_stems(3, 6000, seed=3)
    gen = torch.Generator().manual_seed(4)
    x_channel = (0.1 + 0.8 * torch.rand(3, len(channel_param_names()), generator=gen, dtype=torch.float64))
    x_master = (0.1 + 0.8 * torch.rand(1, len(master_param_names()), generator=gen, dtype=torch.float64))
    # Unity faders and thresholds inside the signals' level range, so that every compressor works (and some
    # levels fall in its knee): then every parameter changes the output.
    x_channel[:, channel_param_names().index("gain_db")] = 0.5
    x_master[:, master_param_names().index("gain_db")] = 0.5
    x_channel[:, channel_param_names().index("comp.threshold_db")] = 0.55
    x_master[:, master_param_names().index("comp.threshold_db")] = 0.75
    x_channel.requires_grad_(True)
    x_master.requires_grad_(True)
    out = mix(stems, ChannelParams.from_normalised(x_channel), SR, MasterParams.from_normalised(x_master))
    with torch.no_grad():
        rendered = mix(stems, ChannelParams.from_normalised(x_channel), SR, MasterParams.from_normalised(x_master),
                       chunk_samples=2048)
    assert torch.allclose(out.detach(), rendered, rtol=1e-4, atol=1e-6)
    out.square().mean().backward()
    for grad, names in [(x_channel.grad, channel_param_names()), (x_master.grad, master_param_names())]:
        assert torch.isfinite(grad).all()
        dead = [name for name, column in zip(names, grad.abs().sum(0)) if column == 0]
        assert dead == []


def test_chunked_mix_refuses_gradients():
    params = ChannelParams.neutral(1)
    params.gain_db.requires_grad_(True)
    with pytest.raises(ValueError, match="no_grad"):
        mix(torch.zeros(1, 2, 100), params, SR, chunk_samples=10)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=len(channel_param_names()), max_size=len(channel_param_names())))
def test_normalised_round_trip(values):
    x = torch.tensor([values], dtype=torch.float64)
    params = ChannelParams.from_normalised(x)
    assert torch.allclose(params.to_normalised(), x, atol=1e-9)
    assert -48 <= float(params.gain_db) <= 48 and -1 <= float(params.pan) <= 1


def test_range_ends_and_log_scale():
    rng = ParamRange(20.0, 20000.0, "Hz", "log")
    ends = rng.to_physical(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    assert ends.tolist() == pytest.approx([20.0, 632.455532, 20000.0])
    params = ChannelParams.from_normalised(torch.zeros(1, len(channel_param_names(EQ_LAYOUT_DIFF_MST)),
                                                       dtype=torch.float64), EQ_LAYOUT_DIFF_MST)
    assert params.eq.freq_hz[0].tolist() == pytest.approx([20, 80, 2000, 8000, 12000, 6000])
    with pytest.raises(ValueError):
        ChannelParams.from_normalised(torch.zeros(1, 5))


def _strips_stage_by_stage(x, params, settings, law, state):
    """channel_strips as the composition of its stages (each tested on its own): the second implementation."""
    from reaper_automix.console.compressor import compress
    from reaper_automix.console.eq import apply_eq
    from reaper_automix.console.mix import StripState
    from reaper_automix.console.pan import apply_pan

    y, eq_state = apply_eq(x, params.eq, SR, None if state is None else state.eq)
    y, comp_state = compress(y, params.comp, SR, settings, None if state is None else state.comp)
    y = y * (10.0 ** (params.gain_db.to(y.dtype) / 20.0))[:, None, None]
    return apply_pan(y, params.pan, law), StripState(eq_state, comp_state)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("detector", ["rms", "peak"])
@pytest.mark.parametrize("n_stems", [4, 19])
def test_compiled_strips_equal_the_stages_bit_for_bit(channels, detector, n_stems):
    """The compiled render path of channel_strips (float32, no gradients) gives the stage-by-stage samples and
    states exactly, chunk after chunk, mono and stereo, with a different pan law per stem; 19 stems fill more
    than one group of EQ lanes (16 channels), mono and stereo, the last group partly."""
    from reaper_automix.console.mix import channel_strips
    from reaper_automix.console.params import DetectorSettings
    from reaper_automix.console.pan import PanLaw

    stems = random_stems(n_stems, 30000, seed=5)[:, :channels].contiguous()
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(n_stems, len(channel_param_names()), generator=gen, dtype=torch.float64)
    x[:, channel_param_names().index("comp.threshold_db")] = 0.6  # compressors that work on these levels
    params = ChannelParams.from_normalised(x)
    laws = [[PanLaw(), PanLaw(centre_db=-3.0), PanLaw(centre_db=-6.0, taper="linear"), PanLaw()][k % 4]
            for k in range(n_stems)]
    settings = DetectorSettings(detector)
    fused = staged = None
    with torch.no_grad():
        for a, b in ((0, 12345), (12345, 30000)):
            part = stems[..., a:b].contiguous()
            y1, fused = channel_strips(part, params, SR, settings, laws, fused)
            y2, staged = _strips_stage_by_stage(part, params, settings, laws, staged)
            assert y1.dtype == y2.dtype == torch.float32 and y1.shape == (n_stems, 2, b - a)
            assert torch.equal(y1, y2)
            assert torch.equal(fused.eq, staged.eq)
            assert torch.equal(fused.comp.power, staged.comp.power)
            assert torch.equal(fused.comp.gain_db, staged.comp.gain_db)
    assert y1.abs().max() > 0.01 and staged.comp.gain_db.min() < -0.5  # signal, and compressors that worked
