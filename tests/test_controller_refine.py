"""The learned engine's console refinement (controller/refine.py): its pan and EQ helpers against the console's
own functions, recovery of a known console on audio it never saw (the reference is other noise through that
console, rendered sample by sample), determinism and permutation equivariance of the whole engine."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from reaper_automix.console.pan import PanLaw
from reaper_automix.controller import features as F
from reaper_automix.controller.checkpoint import load_checkpoint, save_checkpoint
from reaper_automix.controller.losses import Batch, eq_curves_db
from reaper_automix.controller.model import MixController
from reaper_automix.controller.predict import learned_settings
from reaper_automix.controller.refine import (
    RefineOptions,
    channel_gains,
    eq_band_db,
    imbalance_of_pan,
    pan_from_imbalance,
    refine_settings,
)
from reaper_automix.matching import render_console_mix
from reaper_automix.matching.limits import pan_for_imbalance
from reaper_automix.strip import Compressor, Strip, fixed_band_eq

SR = 44100
BANDS_HZ = [(60.0, 400.0), (1000.0, 3000.0), (5000.0, 12000.0)]


def _band_noise(rng, low_hz, high_hz, seconds=6.0):
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    freqs = np.fft.rfftfreq(n, 1.0 / SR)
    spectrum[:, (freqs < low_hz) | (freqs > high_hz)] = 0.0
    return (np.fft.irfft(spectrum, n, axis=1) * 0.3).astype(np.float32)


def _checkpoint(tmp_path):
    torch.manual_seed(0)
    model = MixController()
    torch.nn.init.normal_(model.head.weight, std=0.3)  # a random network: its pans are far from any truth
    path = tmp_path / "c.safetensors"
    save_checkpoint(model, path)
    return load_checkpoint(path)


def test_pan_helpers_agree_with_the_trained_pan_law():
    pan = torch.linspace(-0.98, 0.98, 41, dtype=torch.float64)
    left, right = PanLaw().gains(pan)
    imbalance = (right**2 - left**2) / (right**2 + left**2)
    assert torch.allclose(imbalance_of_pan(pan), imbalance, atol=1e-12)
    assert torch.allclose(pan_from_imbalance(imbalance), pan, atol=1e-5)
    assert torch.allclose(channel_gains(imbalance), torch.stack([left**2, right**2, left * right], -1), atol=1e-6)
    for b in (-0.6, -0.1, 0.05, 0.3):  # the limits module's own inverse (numpy, the pan's magnitude)
        assert float(pan_from_imbalance(torch.tensor(b, dtype=torch.float64))) == pytest.approx(
            np.sign(b) * pan_for_imbalance(abs(b)), abs=1e-4)
    centre = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    channel_gains(centre)[..., 0].sum().backward()
    assert float(centre.grad) != 0.0  # the search can leave the centre (pan's own gradient is zero there)


def test_eq_table_matches_the_console_eq():
    gains = torch.empty(64, 6, dtype=torch.float64).uniform_(-12.0, 12.0, generator=torch.Generator().manual_seed(0))
    exact = eq_curves_db(gains, torch.from_numpy(F.band_centres_hz()))
    assert torch.allclose(eq_band_db(gains), exact, atol=1e-3)


def _known_console_case(seed=0):
    """Three stems that each own a frequency range, the engine's input from one noise draw and the reference
    from an independent draw through a known console (rendered by the exact console, compressor off)."""
    rng = np.random.default_rng(seed)
    heard = [_band_noise(rng, *b) for b in BANDS_HZ]
    other = [_band_noise(rng, *b) for b in BANDS_HZ]
    truth = [Strip(-2.0, fixed_band_eq([3, 0, 0, 0, 0, 0]), Compressor(ratio=1.0), -0.4),
             Strip(1.0, fixed_band_eq([0, 0, 0, -3, 0, 0]), Compressor(ratio=1.0), 0.3),
             Strip(0.0, fixed_band_eq([0, 0, 0, 0, 2, 0]), Compressor(ratio=1.0), 0.1)]
    reference = render_console_mix(other, truth, SR)
    stats = [F.window_stats(s, SR) for s in heard]
    batch = Batch.single(stats, [F.level_db(s) for s in stats], F.window_stats(reference, SR))
    return heard, reference, truth, batch


def _pan_error(pred, truth):
    return float(np.mean([abs(float(p) - t.pan) for p, t in zip(pred[0, :, 9], truth)]))


def test_refinement_recovers_a_known_consoles_pans():
    """From the centre, and from pans on the wrong sides (a weak prior lets the search cross the centre); the
    engineers' centre priors off (they would rightly hold the low stem, panned -0.4 here, nearer the centre)."""
    _, _, truth, batch = _known_console_case()
    centre = torch.zeros(1, 3, 10, dtype=torch.float64)
    centre[..., 7], centre[..., 8] = -10.0, 1.0
    mirrored = centre.clone()
    mirrored[..., 9] = torch.tensor([0.4, -0.3, -0.3])
    plain = RefineOptions(centre_scale=0.0)
    for start, options in ((centre, plain), (mirrored, replace(plain, pan_scale=1.0))):
        refined = refine_settings(start, batch, options)
        assert _pan_error(refined, truth) < 0.06 < 0.5 * _pan_error(start, truth)
        assert [float(p) for p in refined[0, :, 9]] == pytest.approx([t.pan for t in truth], abs=0.1)
        assert torch.equal(refined[..., 7:9], start[..., 7:9])  # the compressor is not refined
    assert torch.equal(refine_settings(centre, batch, RefineOptions(steps=0)), centre)


def test_centre_priors_hold_a_low_stem_nearer_the_centre_than_the_others():
    """The low stem (60-400 Hz, truth pan -0.4) ends less than half as far from the centre as without the
    priors (on its side still); the 1-3 kHz stem still finds its side."""
    _, _, truth, batch = _known_console_case()
    centre = torch.zeros(1, 3, 10, dtype=torch.float64)
    centre[..., 7], centre[..., 8] = -10.0, 1.0
    plain = refine_settings(centre, batch, RefineOptions(centre_scale=0.0))[0, :, 9]
    engineer = refine_settings(centre, batch, RefineOptions())[0, :, 9]
    assert abs(float(engineer[0])) < 0.5 * abs(float(plain[0]))
    assert float(engineer[0]) < 0 and float(engineer[1]) > 0.1


def test_learned_engine_is_deterministic_and_permutation_equivariant(tmp_path):
    heard, reference, _, _ = _known_console_case(1)
    loaded = _checkpoint(tmp_path)
    base = learned_settings(heard, SR, reference_audio=[reference], checkpoint=loaded).settings
    again = learned_settings(heard, SR, reference_audio=[reference], checkpoint=loaded).settings
    assert base == again
    order = [2, 0, 1]
    permuted = learned_settings([heard[i] for i in order], SR, reference_audio=[reference],
                                checkpoint=loaded).settings
    for i, s in zip(order, permuted):
        assert s.gain_db == pytest.approx(base[i].gain_db, abs=1e-3)
        assert s.pan == pytest.approx(base[i].pan, abs=1e-3)
        assert [b.gain_db for b in s.eq] == pytest.approx([b.gain_db for b in base[i].eq], abs=1e-3)
    unrefined = learned_settings(heard, SR, reference_audio=[reference], checkpoint=loaded, refine=None).settings
    assert unrefined != base  # the engine does refine


def test_the_learned_decision_does_not_import_torch_dynamo():
    # torch.optim's first optimiser imports torch._dynamo (over a second of every mix); the refinement avoids it
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from reaper_automix.controller.predict import learned_settings\n"
            "rng = np.random.default_rng(0)\n"
            "stems = [(rng.standard_normal((2, 44100 * 3)) * 0.1).astype(np.float32) for _ in range(3)]\n"
            "learned_settings(stems, 44100, reference_audio=[sum(stems)])\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
