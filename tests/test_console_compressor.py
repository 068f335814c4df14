"""Compressor against analytic truth: static curve with knee on steady sines, attack/release time constants on
steps, and agreement of the differentiable and the fused render paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reaper_automix.console.compressor import compress, gain_computer_db
from reaper_automix.console.params import CompressorParams, DetectorSettings

SR = 44100


def comp_params(threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db, *, grad=False) -> CompressorParams:
    values = [torch.tensor([float(v)], dtype=torch.float64, requires_grad=grad)
              for v in (threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db)]
    return CompressorParams(*values)


def soft_knee_out_db(level_db: float, threshold_db: float, ratio: float, knee_db: float) -> float:
    """Textbook static curve (Giannoulis, Massberg & Reiss 2012, eq. 4), written out independently."""
    if 2 * (level_db - threshold_db) < -knee_db:
        return level_db
    if 2 * abs(level_db - threshold_db) <= knee_db:
        return level_db + (1 / ratio - 1) * (level_db - threshold_db + knee_db / 2) ** 2 / (2 * knee_db)
    return threshold_db + (level_db - threshold_db) / ratio


@pytest.mark.parametrize("grad", [False, True], ids=["fused", "torch"])
@pytest.mark.parametrize("rms_in_db", [-40.0, -26.0, -23.0, -21.0, -19.0, -17.0, -10.0, -3.0])
def test_static_curve_on_steady_sines(rms_in_db, grad):
    threshold_db, ratio, knee_db, makeup_db = -20.0, 4.0, 6.0, 1.5
    t = torch.arange(int(1.0 * SR), dtype=torch.float64) / SR
    amplitude = math.sqrt(2) * 10 ** (rms_in_db / 20)
    x = (amplitude * torch.sin(2 * math.pi * 997 * t)).expand(1, 2, -1).contiguous()
    params = comp_params(threshold_db, ratio, 10.0, 200.0, knee_db, makeup_db, grad=grad)
    y, _ = compress(x, params, SR, DetectorSettings("rms", 5.0))
    tail = y[0, 0, -SR // 4 :].detach()
    rms_out_db = 10 * math.log10(float((tail**2).mean()))
    expected = soft_knee_out_db(rms_in_db, threshold_db, ratio, knee_db) + makeup_db
    assert rms_out_db == pytest.approx(expected, abs=0.1)


def test_gain_computer_is_the_textbook_curve_and_continuous():
    levels = torch.linspace(-60, 6, 661, dtype=torch.float64)
    gain = gain_computer_db(levels, torch.tensor(-24.0), torch.tensor(3.0), torch.tensor(10.0))
    expected = torch.tensor([soft_knee_out_db(float(v), -24.0, 3.0, 10.0) - float(v) for v in levels])
    assert torch.allclose(gain, expected.to(gain.dtype), atol=1e-12)
    assert gain.diff().abs().max() < 0.1 * 2 / 3 + 1e-9  # no jumps at the knee edges


def step_gain_db(params: CompressorParams, step_at: int, n: int, low: float, high: float) -> np.ndarray:
    """Gain in dB applied to a DC signal that steps from ``low`` to ``high`` at ``step_at`` (peak detector)."""
    x = torch.full((1, 1, n), low, dtype=torch.float64)
    x[..., step_at:] = high
    y, _ = compress(x, params, SR, DetectorSettings("peak"))
    return 20 * np.log10((y / x)[0, 0].detach().numpy())


@pytest.mark.parametrize("grad", [False, True], ids=["fused", "torch"])
@pytest.mark.parametrize("attack_ms, release_ms", [(5.0, 50.0), (20.0, 250.0)])
def test_attack_and_release_time_constants(attack_ms, release_ms, grad):
    # Levels far outside the 3 dB knee: 0 dBFS is 20 dB over a -20 dB threshold -> target -18 dB at 10:1;
    # -40 dBFS is far below it -> target 0 dB.
    params = comp_params(-20.0, 10.0, attack_ms, release_ms, 3.0, 0.0, grad=grad)
    step = 1000
    attack_gain = step_gain_db(params, step, step + int(0.2 * SR), 0.01, 1.0)
    assert attack_gain[:step] == pytest.approx(0.0, abs=1e-9)
    change = -18.0
    reached = np.argmax(attack_gain[step:] <= (1 - 1 / math.e) * change)
    assert reached / SR * 1000 == pytest.approx(attack_ms, abs=1000 / SR)
    assert attack_gain[-1] == pytest.approx(change, abs=0.01)

    release_gain = step_gain_db(params, int(0.5 * SR), int(2.0 * SR), 1.0, 0.01)
    start = int(0.5 * SR)
    assert release_gain[start - 1] == pytest.approx(change, abs=1e-6)
    reached = np.argmax(release_gain[start:] >= change / math.e)
    assert reached / SR * 1000 == pytest.approx(release_ms, abs=1000 / SR)


def test_release_is_honoured():
    fast = step_gain_db(comp_params(-20, 10, 5, 20, 3, 0), SR // 4, SR, 1.0, 0.01)
    slow = step_gain_db(comp_params(-20, 10, 5, 200, 3, 0), SR // 4, SR, 1.0, 0.01)
    probe = SR // 4 + int(0.05 * SR)  # 50 ms into the release: an exponential return from -18 dB
    assert fast[probe] == pytest.approx(-18 * math.exp(-50 / 20), abs=0.05)
    assert slow[probe] == pytest.approx(-18 * math.exp(-50 / 200), abs=0.05)


@pytest.mark.parametrize("detector", [DetectorSettings("rms", 5.0), DetectorSettings("rms", 30.0),
                                      DetectorSettings("peak")])
def test_fused_and_torch_paths_agree_and_chunk(detector):
    rng = np.random.default_rng(7)
    n = 20000
    envelope = np.repeat(rng.uniform(0.01, 1.0, size=n // 1000), 1000)
    x = torch.tensor(envelope * rng.standard_normal((3, 2, n)), dtype=torch.float32)
    values = [rng.uniform(lo, hi, 3) for lo, hi in
              [(-40, -5), (1.5, 10), (5, 250), (10, 250), (3, 12), (0, 6)]]
    fused_params = CompressorParams(*[torch.tensor(v) for v in values])
    torch_params = CompressorParams(*[torch.tensor(v, requires_grad=True) for v in values])
    with torch.no_grad():
        fused, _ = compress(x, fused_params, SR, detector)
        first, state = compress(x[..., :7777], fused_params, SR, detector)
        second, _ = compress(x[..., 7777:], fused_params, SR, detector, state)
    differentiable, _ = compress(x, torch_params, SR, detector)
    assert torch.allclose(torch.cat([first, second], -1), fused, rtol=0, atol=1e-6)
    assert torch.allclose(differentiable.detach(), fused, rtol=1e-4, atol=1e-6)


def test_gradients_are_finite_for_every_parameter_even_in_silence():
    x = torch.zeros(1, 2, 5000)  # silence, loud noise (attack), quiet noise (release)
    x[..., 1000:3000] = 0.5 * torch.randn(2, 2000)
    x[..., 3000:] = 0.02 * torch.randn(2, 2000)
    params = comp_params(-30, 4, 10, 100, 6, 2, grad=True)
    y, _ = compress(x, params, SR)
    y.square().mean().backward()
    for name in ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db", "makeup_db"):
        grad = getattr(params, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


@pytest.mark.parametrize("detector", [DetectorSettings("rms", 5.0), DetectorSettings("peak")])
def test_fused_path_is_the_torch_path_to_float64_rounding(detector):
    """In float64 the compiled loop (natural log and exp) and the torch operations (log10 and a power of 10)
    are the same function: equal to rounding, not merely close."""
    rng = np.random.default_rng(11)
    n = 20000
    envelope = np.repeat(rng.uniform(0.01, 1.0, size=n // 1000), 1000)
    x = torch.tensor(envelope * rng.standard_normal((3, 2, n)), dtype=torch.float64)
    values = [rng.uniform(lo, hi, 3) for lo, hi in [(-40, -5), (1.5, 10), (5, 250), (10, 250), (3, 12), (0, 6)]]
    with torch.no_grad():
        fused, _ = compress(x, CompressorParams(*[torch.tensor(v) for v in values]), SR, detector)
    differentiable, _ = compress(x, CompressorParams(*[torch.tensor(v, requires_grad=True) for v in values]), SR,
                                 detector)
    assert (1.0 - fused / x).abs().max() > 0.1  # the compressors worked
    assert torch.allclose(differentiable.detach(), fused, rtol=1e-12, atol=0)


def test_detector_and_gain_decay_through_silence_to_exactly_zero():
    """A compressor working on a burst, then 10 s of digital silence: the detector's power and the gain end at
    exactly 0 (set there once below 1e-200, not left on subnormals, many times slower), in both compiled paths
    alike (the console's strip uses the same step)."""
    x = torch.zeros(2, 2, 11 * SR, dtype=torch.float32)
    x[..., :SR] = 0.5 * torch.randn(2, 2, SR, generator=torch.Generator().manual_seed(3))
    params = comp_params(-30.0, 4.0, 5.0, 10.0, 6.0, 0.0)  # a 10 ms release: 1e-200 within 5 s
    params = CompressorParams(*[getattr(params, f).expand(2).contiguous() for f in
                                ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db", "makeup_db")])
    with torch.no_grad():
        y, state = compress(x, params, SR, DetectorSettings("rms", 5.0))
    assert torch.count_nonzero(state.power) == 0 and torch.count_nonzero(state.gain_db) == 0
    assert (1.0 - y[..., : SR // 2] / x[..., : SR // 2]).abs().max() > 0.3  # it compressed the burst
