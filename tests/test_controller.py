"""The learned controller: features against analytic signals, permutation equivariance, the band-energy mix
against rendered audio, losses, checkpoints (hash refusal), prediction limits and the engines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reaper_automix.console.pan import PanLaw
from reaper_automix.controller import features as F
from reaper_automix.controller.checkpoint import load_checkpoint, save_checkpoint
from reaper_automix.controller.engines import match_with_engine
from reaper_automix.controller.losses import Batch, feature_loss, mix_energies, parameter_loss
from reaper_automix.controller.model import ControllerConfig, MixController, active_windows, window_features
from reaper_automix.controller.predict import (
    TRAINED_PAN_LAW,
    apply_options,
    equivalent_pan,
    learned_settings,
    predict_settings,
)
from reaper_automix.errors import AutomixError
from reaper_automix.matching.features import song_features
from reaper_automix.matching.limits import (
    LIMITS,
    GainReduction,
    crest_db,
    gain_reduction,
    reduction_bound_db,
    stem_level_db,
    stem_measures,
    violations,
)
from reaper_automix.matching import MatchOptions

SR = 44100


def _noise(rng, seconds=4.0, left=1.0, right=1.0, colour=0.0):
    n = int(seconds * SR)
    x = rng.standard_normal((2, n)).astype(np.float32) * 0.05
    if colour:
        x = np.cumsum(x, axis=1) * colour
        x -= x.mean(axis=1, keepdims=True)
    x[0] *= left
    x[1] *= right
    return x.astype(np.float32)


def _stats_batch(stems, reference, truth=None):
    b = Batch.single([F.window_stats(s, SR) for s in stems], [F.level_db(F.window_stats(s, SR)) for s in stems],
                     F.window_stats(reference, SR))
    if truth is not None:
        b.truth = torch.as_tensor(truth, dtype=torch.float32)[None]
    return b


def test_window_stats_of_a_sine_in_one_channel():
    t = np.arange(4 * SR) / SR
    amp = 0.5
    x = np.zeros((2, t.size), np.float32)
    x[0] = amp * np.sin(2 * np.pi * 1000.0 * t)
    s = F.window_stats(x, SR)
    band = np.searchsorted(np.asarray(F.BARK_EDGES_HZ), 1000.0) - 1
    ll = s.energy[:, 0, :].sum(axis=-1)
    assert np.allclose(ll, amp**2 / 2, rtol=0.02)  # Parseval: a sine's mean square
    assert np.all(s.energy[:, 0, band] / ll > 0.99)  # all of it in the 1 kHz band
    assert np.allclose(s.energy[:, 1], 0.0) and np.allclose(s.energy[:, 2], 0.0, atol=1e-9)
    assert np.allclose(s.frame_power, amp**2 / 4, rtol=0.02)  # both channels' mean
    assert np.allclose(s.peak, amp, rtol=1e-3)
    assert F.level_db(s) == pytest.approx(10 * math.log10(amp**2 / 4), abs=0.1)


def test_windows_tile_the_whole_signal_and_short_signals_pad():
    starts = F.frame_starts(100 * F.N_FFT, 8, 4)
    assert starts[0, 0] == 0 and starts[-1, -1] == 100 * F.N_FFT - F.N_FFT
    s = F.window_stats(np.ones((2, 100), np.float32), SR)  # shorter than a frame: zero-padded, no error
    assert np.isfinite(s.energy).all()


def _random_inputs(rng, n_stems, windows=F.N_WINDOWS):
    energy = torch.as_tensor(rng.random((1, n_stems, windows, 3, 24)) * 1e-3, dtype=torch.float32)
    energy[..., 2, :] *= 0.5
    power = torch.as_tensor(rng.random((1, n_stems, windows, F.FRAMES_PER_WINDOW)) * 1e-2, dtype=torch.float32)
    peak = torch.as_tensor(rng.random((1, n_stems, windows)), dtype=torch.float32)
    return energy, power, peak


@pytest.mark.parametrize("n_stems", [1, 5, 32])
def test_model_is_permutation_equivariant_for_any_stem_count(n_stems):
    rng = np.random.default_rng(n_stems)
    torch.manual_seed(0)
    model = MixController().eval()
    torch.nn.init.normal_(model.head.weight, std=0.5)  # zero-initialised heads would hide a bug
    e, p, k = _random_inputs(rng, n_stems)
    re, rp, rk = _random_inputs(rng, 1)
    ref_x = window_features(re[:, 0], rp[:, 0], rk[:, 0], torch.ones(1))
    mask = torch.ones(1, n_stems, dtype=torch.bool)

    diff = torch.randn(1, 6 * 24)

    def run(order):
        x = window_features(e[:, order], p[:, order], k[:, order], torch.ones(1, 1))
        x = torch.cat([x, torch.randn(1, n_stems, F.N_WINDOWS, 24, generator=torch.Generator().manual_seed(1))[:, order]], -1)
        return model(x, active_windows(p[:, order]), mask, ref_x, active_windows(rp[:, 0]), diff)[0]

    order = torch.as_tensor(rng.permutation(n_stems))
    with torch.no_grad():
        base, permuted = run(torch.arange(n_stems)), run(order)
    assert base.shape == (n_stems, 10)
    assert torch.allclose(base[order], permuted, atol=1e-5)
    if n_stems > 1:
        assert not torch.allclose(base[0], base[1])  # stems are told apart by their own features


def test_padding_stems_does_not_change_real_stems_and_silent_windows_are_fine():
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    model = MixController().eval()
    torch.nn.init.normal_(model.head.weight, std=0.5)
    e, p, k = _random_inputs(rng, 3)
    e[0, 1, :5] = 0.0  # stem 1 silent in 5 of its windows, stem 2 silent throughout
    p[0, 1, :5] = 0.0
    e[0, 2], p[0, 2], k[0, 2] = 0.0, 0.0, 0.0
    re, rp, rk = _random_inputs(rng, 1)
    ref_x = window_features(re[:, 0], rp[:, 0], rk[:, 0], torch.ones(1))
    x = window_features(e, p, k, torch.ones(1, 1))
    x = torch.cat([x, torch.zeros(*x.shape[:-1], 24)], -1)
    diff = torch.randn(1, 6 * 24)
    with torch.no_grad():
        out = model(x, active_windows(p), torch.ones(1, 3, dtype=torch.bool), ref_x, active_windows(rp[:, 0]), diff)
        pad = torch.zeros_like(x[:, :2])
        padded = model(torch.cat([x, pad], 1), torch.cat([active_windows(p), torch.zeros(1, 2, 8, dtype=torch.bool)], 1),
                       torch.tensor([[True, True, True, False, False]]), ref_x, active_windows(rp[:, 0]), diff)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, padded[:, :3], atol=1e-5)


def test_band_energy_mix_matches_a_rendered_mix():
    """Gain, pan and EQ through the loss's band-energy console against window statistics of the real sum."""
    from reaper_automix.strip import fixed_band_eq
    from reaper_automix.matching import render_console_mix
    from reaper_automix.strip import Compressor, Strip

    rng = np.random.default_rng(0)
    stems = [_noise(rng, 6.0), _noise(rng, 6.0, colour=0.05), _noise(rng, 6.0, left=0.3)]
    settings = [Strip(g, fixed_band_eq(eq), Compressor(), pan)
                for g, eq, pan in [(-3.0, [0, 3, 0, 0, -4, 0], -0.6), (4.0, [2, 0, 0, 0, 0, 0], 0.3),
                                   (0.0, [0, 0, 0, 5, 0, 2], 0.0)]]
    mix = render_console_mix(stems, settings, SR)
    truth = [[s.gain_db, *(b.gain_db for b in s.eq), s.compressor.threshold_db, 1.0, s.pan] for s in settings]
    batch = _stats_batch(stems, mix)
    predicted = mix_energies(torch.as_tensor(truth, dtype=torch.float64)[None], batch)[0].numpy()
    rendered = F.window_stats(mix, SR).energy.sum(axis=0)
    main = rendered[:2].sum(axis=0) > rendered[:2].sum() * 1e-3
    ratio_db = 10 * np.log10(predicted[:2, main] / rendered[:2, main])
    assert np.abs(ratio_db).max() < 1.5  # stems add in energy; the EQ is taken at each band's centre
    assert abs(10 * np.log10(predicted[:2].sum() / rendered[:2].sum())) < 0.3
    loss, terms = feature_loss(torch.as_tensor(truth, dtype=torch.float32)[None], batch)
    worse, _ = feature_loss(torch.zeros(1, 3, 10).index_fill_(2, torch.tensor([8]), 1.0), batch)
    assert float(loss) < 0.5 * float(worse)


def test_parameter_loss_is_zero_at_the_truth_and_ignores_the_mean_gain():
    rng = np.random.default_rng(1)
    stems = [_noise(rng), _noise(rng)]
    truth = torch.tensor([[2.0, 1, 0, 0, -2, 0, 0, -20.0, 3.0, 0.4], [-1.0, 0, 0, 3, 0, 0, 1, -25.0, 1.0, -0.2]])
    batch = _stats_batch(stems, stems[0], truth)
    zero, _ = parameter_loss(truth[None], batch)
    shifted = truth.clone()
    shifted[:, 0] += 5.0
    same, _ = parameter_loss(shifted[None], batch)
    assert float(zero) == pytest.approx(0.0, abs=1e-8) and float(same) == pytest.approx(0.0, abs=1e-8)
    off = truth.clone()
    off[0, 9] = -0.4
    assert float(parameter_loss(off[None], batch)[0]) > 1.0
    no_comp = truth.clone()  # at ratio 1 the threshold does not matter
    no_comp[1, 7] = -50.0
    assert float(parameter_loss(no_comp[None], batch)[1]["comp"]) == pytest.approx(0.0, abs=1e-8)


def _checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = MixController()
    torch.nn.init.normal_(model.head.weight, std=0.3)
    path = tmp_path / "c.safetensors"
    save_checkpoint(model, path)
    return path


def test_checkpoint_round_trip_and_refusals(tmp_path):
    path = _checkpoint(tmp_path)
    loaded = load_checkpoint(path)
    assert len(loaded.sha256) == 64
    from safetensors.torch import load_file, safe_open, save_file

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    meta["config_hash"] = "0123456789abcdef"
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(AutomixError, match="config hash 0123456789abcdef"):
        load_checkpoint(tmp_path / "bad.safetensors")
    meta = json.loads(dict(meta)["config"])
    save_file(tensors, str(tmp_path / "plain.safetensors"))
    with pytest.raises(AutomixError, match="not a reaper-automix controller"):
        load_checkpoint(tmp_path / "plain.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(AutomixError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.safetensors")
    with pytest.raises(AutomixError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    wider = MixController(ControllerConfig(d_model=32, heads=2))
    save_checkpoint(wider, tmp_path / "small.safetensors")
    assert load_checkpoint(tmp_path / "small.safetensors").config_hash != loaded.config_hash


def _bus_violations(stems, settings, bounds, reductions):
    return [v for stem, s, level, gr in zip(stems, settings, bounds.levels_db, reductions)
            for v in violations(s.eq, s.compressor, s.pan, level, gr, pan_max=bounds.pan_max,
                                mean_gain_reduction_max_db=bounds.gain_reduction_max_db,
                                heavy=bounds.gain_reduction_reason is not None)]


def test_learned_settings_keep_to_the_limits_and_options_apply(tmp_path):
    """A network with wild outputs (random head) still writes plausible settings: the limits API's own check
    finds nothing, measured on the exact console."""
    rng = np.random.default_rng(2)
    stems = [_noise(rng, 6.0), _noise(rng, 6.0, colour=0.05), _noise(rng, 6.0) * 0.01]
    ref = _noise(rng, 6.0, left=0.2)
    loaded = load_checkpoint(_checkpoint(tmp_path))
    raw = predict_settings(stems, SR, reference_audio=[ref], checkpoint=loaded)
    learned = learned_settings(stems, SR, reference_audio=[ref], checkpoint=loaded)
    assert _bus_violations(stems, raw.settings, learned.bounds, [GainReduction(0.0, 0.0)] * 3)  # raw: they break them
    exact = [gain_reduction(stem, s.eq, s.compressor, SR) for stem, s in zip(stems, learned.settings)]
    for e, got in zip(exact, learned.gain_reduction):  # None: proved under the cap without measuring
        cap = learned.bounds.gain_reduction_max_db
        assert e.mean_db <= cap if got is None else got.mean_db == pytest.approx(e.mean_db)
    assert _bus_violations(stems, learned.settings, learned.bounds, exact) == []
    assert list(learned.bounds.levels_db) == pytest.approx([stem_level_db(x, SR) for x in stems])
    neutral = learned_settings(stems, SR, options=MatchOptions(strength=0.0), reference_audio=[ref],
                               checkpoint=loaded).settings
    assert all(s.gain_db == 0 and s.pan == 0 and s.compressor.ratio == 1 and all(b.gain_db == 0 for b in s.eq)
               for s in neutral)
    no_pan = apply_options(learned.settings, MatchOptions(pan=False))
    assert [s.pan for s in no_pan] == [0.0] * 3 and [s.gain_db for s in no_pan] == [s.gain_db for s in
                                                                                      learned.settings]


@pytest.mark.parametrize("seed", range(6))
def test_reduction_bound_holds_on_the_exact_console(seed):
    """The static bound is never below what the exact console's compressor takes off (mean or peak), for
    random EQ, thresholds, ratios, knees and times on a bursty stem."""
    from reaper_automix.strip import Compressor, fixed_band_eq

    rng = np.random.default_rng(seed)
    x = _noise(rng, 3.0, colour=0.05 if seed % 2 else 0.0)
    x[:, SR // 2: SR] *= 8.0  # a loud burst
    eq = fixed_band_eq(rng.uniform(-6, 6, 6))
    comp = Compressor(threshold_db=float(rng.uniform(-40, -5)), ratio=float(rng.uniform(1.2, 4.0)),
                      attack_ms=float(rng.uniform(1, 50)), release_ms=float(rng.uniform(20, 300)),
                      knee_db=float(rng.uniform(0, 12)))
    measured = gain_reduction(x, eq, comp, SR)
    peak = stem_measures([x], SR)[1][0]
    assert peak == float(np.max(np.abs(x)))
    bound = reduction_bound_db(peak, eq, comp, SR)
    assert measured.peak_db <= bound + 1e-9 and measured.mean_db <= bound + 1e-9
    assert reduction_bound_db(peak, eq, Compressor(threshold_db=-60.0, ratio=1.0), SR) == 0.0


def test_one_pass_stem_measures_read_as_the_definitions_do():
    rng = np.random.default_rng(3)
    stems = [_noise(rng, 3.0), _noise(rng, 2.0, colour=0.05)]
    total = stems[0].copy()
    total[:, : stems[1].shape[1]] += stems[1]
    levels, peaks, mix_crest = stem_measures(stems, SR)
    assert mix_crest == pytest.approx(song_features(total, SR).crest_db, abs=1e-5)  # float32 sum
    assert crest_db(stems[1], SR) == pytest.approx(song_features(stems[1], SR).crest_db, abs=1e-9)
    assert levels == [stem_level_db(s, SR) for s in stems]  # to the bit
    assert peaks == [float(np.max(np.abs(s))) for s in stems]
    wide = [s.astype(np.float64) * (1.0 + 1e-9) for s in stems]  # float64 samples that float32 cannot hold
    assert stem_measures(wide, SR)[1] == [float(np.max(np.abs(s))) for s in wide]
    short = [_noise(rng, 0.01)]  # shorter than one 50 ms block
    assert stem_measures(short, SR)[0] == [stem_level_db(short[0], SR)]


@pytest.mark.parametrize("law", [PanLaw(-3.0), PanLaw(-6.0, "linear"), PanLaw(0.0, "linear"),
                                 PanLaw(-3.0, "sine", True), PanLaw(-4.5, "hybrid")])
@pytest.mark.parametrize("pan", [-0.7, -0.2, 0.0, 0.35, 1.0])
def test_equivalent_pan_gives_the_same_channel_energies(law, pan):
    """Under the bus's law the moved pan and the fader change put the same energy in each channel as the
    trained law does at the predicted pan (checked on rendered noise through the console's panner)."""
    from reaper_automix.console.pan import apply_pan

    moved, gain_db = equivalent_pan(pan, law)
    x = torch.from_numpy(_noise(np.random.default_rng(7), 1.0)).double()[None]
    trained = apply_pan(x, torch.tensor([pan], dtype=torch.float64), TRAINED_PAN_LAW)
    bus = apply_pan(x * 10 ** (gain_db / 20), torch.tensor([moved], dtype=torch.float64), law)
    assert (bus[0] ** 2).sum(dim=-1).numpy() == pytest.approx((trained[0] ** 2).sum(dim=-1).numpy(), rel=1e-6,
                                                               abs=1e-9)
    assert equivalent_pan(pan, TRAINED_PAN_LAW) == (pan, 0.0)


def _two_stems_and_reference(tmp_path, seed, right=0.5):
    """Two 6 s noise stems, a reference file leaning ``right`` and a random-head checkpoint."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    stems = [_noise(rng, 6.0), _noise(rng, 6.0, colour=0.05)]
    ref_path = tmp_path / "ref.wav"
    sf.write(ref_path, _noise(rng, 6.0, right=right).T, SR, subtype="FLOAT")
    return stems, ref_path, load_checkpoint(_checkpoint(tmp_path))


def test_learned_engine_pans_each_bus_by_its_law_and_reports_the_limits(tmp_path):
    stems, ref_path, loaded = _two_stems_and_reference(tmp_path, 8)
    plain = match_with_engine(stems, SR, [ref_path], MatchOptions(engine="learned"), loaded)
    laws = [PanLaw(-3.0), TRAINED_PAN_LAW]
    lawful = match_with_engine(stems, SR, [ref_path], MatchOptions(engine="learned"), loaded, pan_laws=laws)
    moved, gain_db = equivalent_pan(plain.stems[0].pan, laws[0])
    assert lawful.stems[0].pan == pytest.approx(max(-lawful.pan_max, min(lawful.pan_max, moved)))
    assert lawful.stems[0].gain_db == pytest.approx(plain.stems[0].gain_db + gain_db)
    assert lawful.stems[1] == plain.stems[1]
    assert lawful.levels_db == pytest.approx([stem_level_db(x, SR) for x in stems])
    assert len(lawful.gain_reduction) == 2 and lawful.gain_reduction_max_db == LIMITS.mean_gain_reduction_db
    with pytest.raises(AutomixError, match="3 pan laws for 2 stems"):
        match_with_engine(stems, SR, [ref_path], MatchOptions(engine="learned"), loaded,
                          pan_laws=laws + laws[:1])


def test_engines_name_themselves_and_the_checkpoint(tmp_path):
    stems, ref_path, loaded = _two_stems_and_reference(tmp_path, 4)
    learned = match_with_engine(stems, SR, [ref_path], MatchOptions(engine="learned"), loaded)
    assert learned.engine == "learned" and learned.checkpoint_sha256 == loaded.sha256
    assert learned.matched_mix.shape == (2, stems[0].shape[1]) and len(learned.stems) == 2
    hybrid = match_with_engine(stems, SR, [ref_path], MatchOptions(iterations=20, rounds=1, engine="hybrid"), loaded)
    assert hybrid.engine == "hybrid" and hybrid.checkpoint_sha256 == loaded.sha256
    with pytest.raises(AutomixError, match="unknown stage-2 engine"):
        MatchOptions(engine="magic")


def test_hybrid_starts_from_the_prediction_and_stays_near_it(tmp_path):
    """With no iterations the hybrid returns its start (inside the search's limits)."""
    from reaper_automix.matching import match_reference

    stems, ref_path, loaded = _two_stems_and_reference(tmp_path, 5, right=1.0)
    start = learned_settings(stems, SR, [ref_path], checkpoint=loaded).settings  # inside the same limits
    result = match_reference(stems, SR, [ref_path], MatchOptions(iterations=1, rounds=1, learning_rate=1e-9),
                             start=start)
    for a, b in zip(result.stems, start):
        assert a.gain_db == pytest.approx(b.gain_db, abs=0.05)
        assert a.pan == pytest.approx(b.pan, abs=0.01)
        assert [x.gain_db for x in a.eq] == pytest.approx([x.gain_db for x in b.eq], abs=0.05)


def test_training_smoke_loss_falls(tmp_path):
    """A few steps on a tiny generated set (TimGM6mb, which CI has), end to end through the CLI's functions."""
    from reaper_automix.dataset import DatasetOptions, make_dataset
    from reaper_automix.demo.synth import SOUNDFONT
    from reaper_automix.controller.train import TrainOptions, train_and_save

    make_dataset(tmp_path / "ds", DatasetOptions(songs=3, length_s=8.0, consoles=2, max_tracks=10,
                                                 soundfonts=(str(SOUNDFONT),)))
    options = TrainOptions(steps=40, batch_size=8, learning_rate=3e-3, validation_songs=1, eval_every=40)
    summary = train_and_save(tmp_path / "ds", tmp_path / "m.safetensors", options)
    train = summary["history"]["train"]
    assert np.mean(train[-2:]) < 0.8 * np.mean(train[:2])
    assert (tmp_path / "m.png").stat().st_size > 1000
    again = train_and_save(tmp_path / "ds", tmp_path / "m2.safetensors", options)
    assert again["history"]["train"] == train  # deterministic for a seed
    assert load_checkpoint(tmp_path / "m.safetensors").sha256 == summary["checkpoint_sha256"]
