"""PESTO's encoder with its frequency convolutions by FFT (analysis/pesto_net.py) against PESTO's own network."""

import copy
import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("pesto") is None:  # not importorskip: importing pesto needs the stand-in
    pytest.skip("the f0 method needs pesto-pitch", allow_module_level=True)

import torch  # noqa: E402

from reaper_automix.analysis.pitch import ANALYSIS_RATE_HZ, _import_pesto  # noqa: E402
from reaper_automix.errors import AutomixError  # noqa: E402

SR = ANALYSIS_RATE_HZ


@pytest.fixture(scope="module")
def pesto_model():
    """PESTO as shipped, its own encoder (not the project's)."""
    return _import_pesto().load_model("mir-1k_g7", step_size=40.0, sampling_rate=SR)


@pytest.fixture(scope="module")
def fast(pesto_model):
    from reaper_automix.analysis.pesto_net import FFTEncoder

    return FFTEncoder(pesto_model.encoder)


def _harmonic(f0_hz: float, seconds: float = 2.0, first: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.2 * sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(first, 40) if k * f0_hz < 0.45 * SR))


def _cqt_frames(pesto_model, audio: np.ndarray) -> torch.Tensor:
    """What PESTO's forward passes its encoder: the cropped dB CQT, (frames, 1, 219)."""
    with torch.inference_mode():
        x = pesto_model.preprocessor(torch.from_numpy(audio.astype(np.float32))[None], sr=SR).flatten(0, 1)
        return pesto_model.crop_cqt(x)


def _inputs(pesto_model) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    edges = torch.full((4, 1, 219), -120.0)  # one loud bin each: the first, the last and next to them
    for row, b in enumerate((0, 1, 217, 218)):
        edges[row, 0, b] = 0.0
    tones = torch.cat([_cqt_frames(pesto_model, _harmonic(f)) for f in (55.0, 220.0, 1000.0)])
    missing = _cqt_frames(pesto_model, _harmonic(220.0, first=2))
    noise = _cqt_frames(pesto_model, np.random.default_rng(1).standard_normal(2 * SR) * 0.1)
    return {
        "random dB": torch.rand(64, 1, 219, generator=generator) * -100.0,
        "random around 0": torch.randn(64, 1, 219, generator=generator),
        "edge bins": edges,
        "harmonic tones": tones,
        "missing fundamental": missing,
        "noise": noise,
    }


def test_same_activations_as_pestos_encoder(pesto_model, fast):
    """Against PESTO's encoder in float64 (its own weights, its own code): the FFT encoder's float32 error is
    no larger than a small multiple of PESTO's own float32 error on the same frames."""
    exact = copy.deepcopy(pesto_model.encoder).double()
    with torch.inference_mode():
        for name, x in _inputs(pesto_model).items():
            truth = exact(x.double())
            pesto_error = float((pesto_model.encoder(x).double() - truth).abs().max())
            got = fast(x)
            assert got.shape == truth.shape == (x.shape[0], 384), name
            error = float((got.double() - truth).abs().max())
            assert error <= max(4 * pesto_error, 1e-6), (name, error, pesto_error)
            assert torch.allclose(got.sum(-1), torch.ones(x.shape[0]), atol=1e-5), name


def test_same_pitch_as_pesto(pesto_model, fast):
    """The whole network with the FFT encoder in place: the same f0 (within a millicent on average, a few at
    most), confidences and volumes identical (they do not go through the encoder)."""
    accelerated = copy.deepcopy(pesto_model)
    accelerated.encoder = fast
    audio = torch.from_numpy(np.stack([_harmonic(f, first=first) for f, first in
                                       [(41.2, 1), (110.0, 1), (220.0, 2), (440.0, 1), (1760.0, 1)]])
                             .astype(np.float32))
    with torch.inference_mode():
        f0_ref, confidence_ref, vol_ref, _ = pesto_model(audio, sr=SR, convert_to_freq=True)
        f0, confidence, vol, _ = accelerated(audio, sr=SR, convert_to_freq=True)
    cents = 1200 * np.abs(np.log2(f0.numpy().astype(np.float64) / f0_ref.numpy()))
    assert float(np.mean(cents)) < 1e-3 and float(np.max(cents)) < 5e-3, (np.mean(cents), np.max(cents))
    assert torch.equal(confidence, confidence_ref) and torch.equal(vol, vol_ref)


def test_loaded_models_use_the_fft_encoder():
    from reaper_automix.analysis.pesto_net import FFTEncoder
    from reaper_automix.analysis.pitch import load_pitch_model

    model = load_pitch_model(44100)
    assert isinstance(model.network.encoder, FFTEncoder)
    assert model.network_octave_up.encoder is model.network.encoder  # the same weights, built once


@pytest.mark.parametrize("change", ["no residual", "stride", "kernel", "padding mode", "training"])
def test_other_architectures_are_refused(pesto_model, change):
    from reaper_automix.analysis.pesto_net import FFTEncoder

    encoder = copy.deepcopy(pesto_model.encoder)
    if change == "no residual":
        encoder.residual = False
    elif change == "stride":
        encoder.prefilt_layers[0][0].stride = (2,)
    elif change == "kernel":
        encoder.conv1[0].padding = (3,)
    elif change == "padding mode":
        encoder.prefilt_layers[1][0].padding_mode = "circular"
    else:
        encoder.train()
    with pytest.raises(AutomixError, match="architecture"):
        FFTEncoder(encoder)
