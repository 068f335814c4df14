"""The learned engine's console refinement (controller/refine.py): its pan and EQ helpers against the console's
own functions, recovery of a known console on audio it never saw (the reference is other noise through that
console, rendered sample by sample), determinism and permutation equivariance of the whole engine."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from reaper_automix.console.pan import PanLaw
from reaper_automix.controller import features as F
from reaper_automix.controller.checkpoint import load_checkpoint, save_checkpoint
from reaper_automix.controller.losses import Batch, eq_curves_db, feature_loss
from reaper_automix.controller.model import MixController
from reaper_automix.controller.predict import learned_settings
from reaper_automix.controller.refine import (
    RefineOptions,
    channel_gains,
    eq_band_db,
    imbalance_of_pan,
    refine_settings,
)
from reaper_automix.matching import render_console_mix
from reaper_automix.matching.limits import LIMITS, pan_for_imbalance
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
    assert torch.allclose(channel_gains(imbalance), torch.stack([left**2, right**2, left * right], -1), atol=1e-6)
    for p in (-0.6, -0.1, 0.05, 0.3):  # the limits module's own inverse (numpy, the pan's magnitude)
        b = float(imbalance_of_pan(torch.tensor(p, dtype=torch.float64)))
        assert np.sign(b) * pan_for_imbalance(abs(b)) == pytest.approx(p, abs=1e-4)


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


def _neutral_start(pans):
    start = torch.zeros(1, 3, 10, dtype=torch.float64)
    start[..., 7], start[..., 8] = -10.0, 1.0
    start[..., 9] = torch.tensor(pans, dtype=torch.float64)
    return start


def _eq_error_db(pred, truth):
    curves = eq_curves_db(pred[0, :, 1:7])
    want = eq_curves_db(torch.tensor([[b.gain_db for b in t.eq] for t in truth], dtype=torch.float64))
    return float((curves - want).abs().mean())


def test_refinement_brings_the_mix_nearer_the_reference_within_the_limits():
    """From neutral gains and a flat EQ (the true pans given, the centre prior off): the refined settings' mix is
    nearer the reference in the training loss's features (the band-energy console with the compressor); the EQ
    stays within the limits and no further from the console the reference was made with than flat (the 2 dB prior
    toward flat holds it; the EQ is not claimed to be recovered); the compressor and the pans are untouched."""
    _, _, truth, batch = _known_console_case()
    start = _neutral_start([t.pan for t in truth])
    refined = refine_settings(start, batch, RefineOptions(centre_scale=0.0, balance_pans=False))
    assert float(feature_loss(refined, batch)[0]) < 0.8 * float(feature_loss(start, batch)[0])
    assert _eq_error_db(refined, truth) <= _eq_error_db(start, truth)
    assert float(refined[..., 1:7].abs().max()) <= LIMITS.eq_db
    assert torch.equal(refined[..., 7:10], start[..., 7:10])
    assert torch.equal(refine_settings(start, batch, RefineOptions(steps=0)), start)


def test_pans_are_the_blend_of_their_two_priors_and_nothing_else():
    """Without the balance estimate (``balance_pans=False``), each pan is the minimum of the priors toward the network's pan (scale ``pan_scale``) and toward the centre
    (``centre_scale``, shrunk by the stem's low-end share): start x c^2 / (c^2 + s^2), computed here from the
    stems' band energies. The features do not move pans (their mirror-image minima made pans jump with rounding);
    without the centre prior the network's pans are kept as they are."""
    _, _, _, batch = _known_console_case()
    start = _neutral_start([0.4, -0.4, 0.4])
    options = RefineOptions(balance_pans=False)
    refined = refine_settings(start, batch, options)[0, :, 9]
    power = batch.stem_energy[0, :, :, 0, :].sum(dim=1) + batch.stem_energy[0, :, :, 1, :].sum(dim=1)  # (S, K)
    low = torch.from_numpy(F.band_centres_hz() < options.low_centre_hz)
    c = options.centre_scale * (1.0 - power[:, low].sum(-1) / power.sum(-1)).clamp_min(0.05)
    expected = start[0, :, 9] * c**2 / (c**2 + options.pan_scale**2)
    assert [float(p) for p in refined] == pytest.approx([float(p) for p in expected], abs=1e-9)
    assert abs(float(refined[0])) < 0.6 * abs(float(refined[2]))  # the 60-400 Hz stem is held nearer the centre
    kept = refine_settings(start, batch, RefineOptions(centre_scale=0.0, balance_pans=False))[0, :, 9]
    assert torch.equal(kept, start[0, :, 9])


def test_the_learned_decision_does_not_jump_with_rounding(tmp_path):
    """A change of every stem's level far below audibility (1e-6, about 1e-5 dB) changes no setting by more than
    rounding: with the features moving pans it put a bus on the other side."""
    heard, reference, _, _ = _known_console_case(2)
    loaded = _checkpoint(tmp_path)
    base = learned_settings(heard, SR, reference_audio=[reference], checkpoint=loaded).settings
    nudged = learned_settings([h * np.float32(1 + 1e-6) for h in heard], SR, reference_audio=[reference],
                              checkpoint=loaded).settings
    for a, b in zip(base, nudged):
        assert b.pan == pytest.approx(a.pan, abs=1e-4)
        assert b.gain_db == pytest.approx(a.gain_db, abs=1e-3)
        assert [x.gain_db for x in b.eq] == pytest.approx([x.gain_db for x in a.eq], abs=1e-3)


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


BALANCE = RefineOptions()  # the shipped refinement: pans from the per-band balance


def _mirrored(batch):
    """The same song with left and right swapped in every stem and in the reference."""
    swap = [1, 0, 2]
    return Batch(**{**batch.__dict__, "stem_energy": batch.stem_energy[..., swap, :],
                    "ref_energy": batch.ref_energy[..., swap, :]})


@pytest.mark.parametrize("options", [BALANCE, RefineOptions(pans_first=False)], ids=["pans-first", "two-pass"])
def test_balance_pans_place_stems_the_reference_pans_and_are_odd_in_pan(options):
    """Stems that each own a frequency range, the reference other noise through known pans of +/-0.4 and 0.3
    (rendered sample by sample by the exact console): from centred priors, the pans the per-band balance gives
    have the truth's signs, are nearer it than the priors' pans (0.6x their error at most), and mirror exactly
    when left and right are swapped in the stems, the reference and the prior; in the shipped order (pans at the
    prediction, then one descent) and in the earlier one (a descent, the pans, a second descent) alike."""
    _, _, truth, batch = _known_console_case()
    start = _neutral_start([0.0, 0.0, 0.0])
    refined = refine_settings(start, batch, options)
    prior_only = refine_settings(start, batch, RefineOptions(balance_pans=False))
    assert [np.sign(float(p)) for p in refined[0, :, 9]] == [np.sign(t.pan) for t in truth]
    assert _pan_error(refined, truth) < 0.6 * _pan_error(prior_only, truth)
    start_pans = _neutral_start([0.2, -0.1, 0.3])
    mirror_start = _neutral_start([-0.2, 0.1, -0.3])
    a = refine_settings(start_pans, batch, options)[0, :, 9]
    b = refine_settings(mirror_start, _mirrored(batch), options)[0, :, 9]
    assert torch.allclose(a, -b, atol=1e-9)


def test_pans_first_estimates_the_pans_before_the_descent():
    """In the shipped order the pans are read at the prediction's gains and the EQ's start, so the descent does
    not move them (1 step or 100 give the same pans), while the gains and EQ still descend toward the known
    console (EQ error below flat's)."""
    _, _, truth, batch = _known_console_case()
    start = _neutral_start([0.0, 0.0, 0.0])
    one = refine_settings(start, batch, RefineOptions(steps=1))
    full = refine_settings(start, batch, BALANCE)
    assert torch.equal(one[0, :, 9], full[0, :, 9])
    assert _eq_error_db(full, truth) < _eq_error_db(start, truth)


def test_balance_pans_do_not_jump_with_rounding(tmp_path):
    """As for the priors' pans: a change of every stem's level far below audibility moves no pan beyond
    rounding (the estimate is a smooth function of the statistics: one linear solve and a posterior mean)."""
    _, _, _, batch = _known_console_case(2)
    start = _neutral_start([0.1, -0.2, 0.05])
    nudged = Batch(**{**batch.__dict__, "stem_energy": batch.stem_energy * (1 + 2e-6)})
    a = refine_settings(start, batch, BALANCE)[0, :, 9]
    b = refine_settings(start, nudged, BALANCE)[0, :, 9]
    assert torch.allclose(a, b, atol=1e-4)
