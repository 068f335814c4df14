"""The project's PESTO network (analysis/pesto_net.py: CQT front end, confidence, an encoder with its frequency
convolutions by FFT) against PESTO's own, installed model (tests/pesto_reference.py)."""

import copy
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("pesto") is None:  # not importorskip: importing pesto needs the stand-in
    pytest.skip("the f0 method needs pesto-pitch", allow_module_level=True)

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pesto_reference import load_pesto  # noqa: E402

from reaper_automix.analysis import pesto_net  # noqa: E402
from reaper_automix.errors import AutomixError  # noqa: E402

SR = 16000


@pytest.fixture(scope="module")
def checkpoint():
    return pesto_net.load_checkpoint(pesto_net.checkpoint_path())


@pytest.fixture(scope="module")
def weights(checkpoint):
    return pesto_net.PestoWeights(checkpoint, SR)


@pytest.fixture(scope="module")
def pesto_model():
    """PESTO as shipped, its own modules throughout."""
    return load_pesto(step_ms=40.0, sample_rate=SR)


def _harmonic(f0_hz: float, seconds: float = 2.0, first: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return 0.2 * sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(first, 40) if k * f0_hz < 0.45 * SR)


def _audio() -> torch.Tensor:
    """Tones from 41 Hz to 1.76 kHz (one without its fundamental), a chirp and noise: (6, 32000) float32."""
    t = np.arange(2 * SR) / SR
    chirp = 0.3 * np.sin(2 * np.pi * 60.0 * (2 ** (3 * t) - 1) / (3 * np.log(2)))
    noise = 0.1 * np.random.default_rng(1).standard_normal(2 * SR)
    rows = [_harmonic(41.2), _harmonic(110.0), _harmonic(220.0, first=2), _harmonic(1760.0), chirp, noise]
    return torch.from_numpy(np.stack(rows).astype(np.float32))


def _encoder_inputs(pesto_model) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    edges = torch.full((4, 1, 219), -12.0)  # one loud bin each: the first, the last and next to them
    for row, b in enumerate((0, 1, 217, 218)):
        edges[row, 0, b] = 0.0
    with torch.inference_mode():  # what PESTO's forward gives its encoder: the cropped CQT times ln(10)/10
        cqt = pesto_model.preprocessor(_audio(), sr=SR).flatten(0, 1).mul(np.log(10) / 10)
    return {
        "random": torch.rand(64, 1, 219, generator=generator) * -20.0,
        "random around 0": torch.randn(64, 1, 219, generator=generator),
        "edge bins": edges,
        "tones, chirp, noise": pesto_model.crop_cqt(cqt),
    }


def test_encoder_equals_pestos(pesto_model, weights):
    """Against PESTO's encoder evaluated in float64 (its own weights and code): the FFT encoder's float32 error is
    no larger than a small multiple of PESTO's own float32 error on the same frames."""
    exact = copy.deepcopy(pesto_model.encoder).double()
    with torch.inference_mode():
        for name, x in _encoder_inputs(pesto_model).items():
            truth = exact(x.double())
            pesto_error = float((pesto_model.encoder(x).double() - truth).abs().max())
            got = weights.encoder(x)
            assert got.shape == truth.shape == (x.shape[0], 384), name
            error = float((got.double() - truth).abs().max())
            assert error <= max(4 * pesto_error, 1e-6), (name, error, pesto_error)


def test_cqt_kernels_equal_pestos(pesto_model, weights):
    pesto_cqt = pesto_model.preprocessor.hcqt_kernels.cqt_kernels[0]
    assert torch.allclose(weights.cqt_weight, pesto_cqt.conv.weight, rtol=0, atol=1e-12)
    assert torch.equal(weights.sqrt_lengths, pesto_cqt.sqrt_lengths)


@pytest.mark.parametrize("step_ms", [40.0, 20.0])  # the two passes' hops: 640 and 320 samples
def test_network_equals_pestos(weights, step_ms):
    """The whole forward pass against PESTO's ``PESTO.forward``: f0 within a few millicents, confidence and
    volume equal to float32 rounding, on tones, a chirp and noise."""
    pesto_model = load_pesto(step_ms=step_ms, sample_rate=SR)
    network = pesto_net.PestoNetwork(weights, int(step_ms * SR / 1000 + 0.5))
    audio = _audio()
    with torch.inference_mode():
        f0_ref, confidence_ref, vol_ref, _ = pesto_model(audio, sr=SR, convert_to_freq=True)
        f0, confidence, vol = network(audio)
    assert f0.shape == f0_ref.shape == confidence.shape == vol.shape == (6, 2 * SR // network.hop_length + 1)
    cents = 1200 * np.abs(np.log2(f0.numpy().astype(np.float64) / f0_ref.numpy()))
    assert float(np.mean(cents)) < 1e-3 and float(np.max(cents)) < 1e-2, (np.mean(cents), np.max(cents))
    assert torch.allclose(confidence, confidence_ref, rtol=1e-6, atol=1e-7)
    assert torch.allclose(vol, vol_ref, rtol=1e-6, atol=0)


def test_loaded_models_share_one_set_of_weights():
    from reaper_automix.analysis.pitch import load_pitch_model

    model = load_pitch_model(44100)
    assert model.network.weights is model.network_octave_up.weights
    assert (model.network.hop_length, model.network_octave_up.hop_length) == (640, 320)


@pytest.mark.parametrize("change", ["residual", "activation_fn", "prefilt_kernel_size", "final_norm", "layers"])
def test_other_architectures_are_refused(checkpoint, change):
    hparams = copy.deepcopy(checkpoint["hparams"]["encoder"])
    state = {k[len("encoder."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("encoder.")}
    if change == "residual":
        hparams["residual"] = False
    elif change == "activation_fn":
        hparams["activation_fn"] = "relu"
    elif change == "prefilt_kernel_size":
        hparams["prefilt_kernel_size"] = 38
    elif change == "final_norm":
        hparams["final_norm"] = "sigmoid"
    else:
        hparams["n_chan_layers"] = [40, 30, 3]
    with pytest.raises(AutomixError, match="encoder"):
        pesto_net.FFTEncoder(state, hparams)
