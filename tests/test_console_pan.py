"""Pan laws: REAPER's default (0 dB balance) at -1, 0, 1, the -3 dB constant-power law, the table's default."""

from __future__ import annotations

import math

import pytest
import torch

from reaper_automix.console.pan import PanLaw, apply_pan


@pytest.mark.parametrize("taper", ["sine", "linear"])
def test_reaper_default_balance_at_the_ends_and_centre(taper):
    law = PanLaw(0.0, taper)
    left, right = law.gains(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    # 0 dB law = balance control: unity at centre, no boost at the sides, the far side silent at hard pan.
    assert left.tolist() == pytest.approx([1.0, 1.0, 0.0], abs=1e-12)
    assert right.tolist() == pytest.approx([0.0, 1.0, 1.0], abs=1e-12)


def test_minus_3_db_sine_law_is_constant_power():
    law = PanLaw(-20 * math.log10(math.sqrt(2)), "sine")
    pan = torch.linspace(-1, 1, 41, dtype=torch.float64)
    left, right = law.gains(pan)
    assert torch.allclose(left**2 + right**2, torch.ones_like(pan), atol=1e-9)
    assert float(left[20]) == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert (float(left[0]), float(right[0])) == pytest.approx((1.0, 0.0), abs=1e-6)


def test_gain_compensation_puts_centre_at_unity():
    left, right = PanLaw(-6.0, "linear", gain_compensated=True).gains(torch.tensor([0.0, 1.0]))
    assert float(left[0]) == pytest.approx(1.0, abs=1e-6) and float(right[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(right[1]) == pytest.approx(10 ** (6 / 20), abs=1e-5)


def test_table_default_is_the_code_default():
    assert PanLaw.reaper_default() == PanLaw()


def test_apply_pan_scales_channels_and_duplicates_mono():
    x = torch.ones(3, 1, 4)
    y = apply_pan(x, torch.tensor([-1.0, 0.0, 1.0]))
    assert y.shape == (3, 2, 4)
    assert torch.allclose(y[:, :, 0], torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), atol=1e-7)
    with pytest.raises(ValueError):
        apply_pan(torch.ones(1, 3, 4), torch.zeros(1))


def test_pan_gradients_are_finite_everywhere():
    for law in (PanLaw(), PanLaw(-3.0, "linear"), PanLaw(-4.5, "sine", True)):
        pan = torch.tensor([-1.0, -0.3, 0.0, 0.6, 1.0], dtype=torch.float64, requires_grad=True)
        left, right = law.gains(pan)
        (left.sum() + 2 * right.sum()).backward()
        assert torch.isfinite(pan.grad).all()
