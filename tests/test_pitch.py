"""f0 with PESTO: synthetic harmonic tones, SoundFont-rendered instruments, unpitched material, octave errors."""

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

if importlib.util.find_spec("pesto") is None:  # not importorskip: importing pesto needs the stand-in
    pytest.skip("the f0 method needs pesto-pitch", allow_module_level=True)
tinysoundfont = pytest.importorskip("tinysoundfont")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pesto_reference import import_pesto, load_pesto  # noqa: E402

from reaper_automix.analysis.pitch import (  # noqa: E402
    ANALYSIS_RATE_HZ,
    _resample,
    _run_pesto,
    estimate_f0,
    load_pitch_model,
    octave_correction,
)

SR = 44100
SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


@pytest.fixture(scope="module")
def model():
    return load_pitch_model(SR)


def _cents(measured_hz: float, true_hz: float) -> float:
    return 1200 * math.log2(measured_hz / true_hz)


def _harmonic(f0_hz: float, seconds: float = 6.0, first: int = 1, sr: int = SR) -> np.ndarray:
    """Sawtooth-like tone (1/k amplitudes) from harmonic ``first`` up; first=2 removes the fundamental."""
    t = np.arange(int(seconds * sr)) / sr
    ks = [k for k in range(first, 80) if k * f0_hz < 0.45 * sr]
    return (0.2 * sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in ks)).astype(np.float32)


def _soundfont(program: int, key: int, *, drums: bool = False, repeats: int = 3, note_s: float = 1.0) -> np.ndarray:
    """``repeats`` notes of ``key`` on a General MIDI program, each held note_s then 0.2 s of release."""
    synth = tinysoundfont.Synth(samplerate=SR)
    synth.program_select(0, synth.sfload(str(SOUNDFONT)), 0, program, is_drums=drums)
    parts = []
    for _ in range(repeats):
        synth.noteon(0, key, 100)
        parts.append(np.frombuffer(synth.generate(int(note_s * SR)), np.float32).reshape(-1, 2).copy())
        synth.noteoff(0, key)
        parts.append(np.frombuffer(synth.generate(int(0.2 * SR)), np.float32).reshape(-1, 2).copy())
    return np.concatenate(parts).T


@pytest.mark.parametrize("f0_hz", [41.2, 55.0, 110.0, 440.0, 880.0])
def test_harmonic_tones(model, f0_hz):
    estimate = estimate_f0(_harmonic(f0_hz), SR, model)
    assert estimate.pitched
    assert abs(_cents(estimate.f0_hz, f0_hz)) < 30


@pytest.mark.parametrize("f0_hz", [110.0, 220.0])
def test_missing_fundamental(model, f0_hz):
    estimate = estimate_f0(_harmonic(f0_hz, first=2), SR, model)
    assert estimate.pitched
    assert abs(_cents(estimate.f0_hz, f0_hz)) < 30


def test_octave_error_of_pesto_is_corrected(model):
    # Precondition: PESTO alone reads a 220 Hz tone without its fundamental an octave up...
    x = _harmonic(220.0, seconds=2.0, first=2, sr=ANALYSIS_RATE_HZ)
    raw_f0, _, _ = _run_pesto(model, x[np.newaxis], octave_up=False)
    assert abs(_cents(np.median(raw_f0), 440.0)) < 30
    # ...and the estimate, after the octave check, is right.
    estimate = estimate_f0(np.repeat(_harmonic(220.0, seconds=6.0, first=2)[np.newaxis], 2, axis=0), SR, model)
    assert abs(_cents(estimate.f0_hz, 220.0)) < 30


@pytest.mark.parametrize("first", [1, 2])
def test_octave_correction_moves_wrong_octaves_to_the_true_pitch(first):
    # Independent of PESTO: the spectral check alone, on a 110 Hz tone with and without its fundamental.
    x = _harmonic(110.0, seconds=1.0, first=first, sr=ANALYSIS_RATE_HZ)
    centre = x.size // 2
    assert octave_correction(x, centre, 220.0) == pytest.approx(110.0)
    assert octave_correction(x, centre, 110.0) == pytest.approx(110.0)
    if first == 1:  # with no energy at 110 Hz, 55 Hz -> 110 Hz cannot be told from a 55 Hz tone's odd gaps
        assert octave_correction(x, centre, 55.0) == pytest.approx(110.0)


def test_octave_correction_keeps_odd_harmonic_tones():
    # A clarinet-like tone (odd harmonics only) has no energy at the odd multiples of f/2 nor at 2f: keep f.
    t = np.arange(ANALYSIS_RATE_HZ) / ANALYSIS_RATE_HZ
    x = sum(np.sin(2 * np.pi * k * 147.0 * t) / k for k in (1, 3, 5, 7, 9))
    assert octave_correction(x, x.size // 2, 147.0) == pytest.approx(147.0)


@pytest.mark.parametrize(
    ("program", "keys"),
    [(33, [28, 40, 52]), (0, [60, 72]), (48, [48, 60, 72]), (73, [84]), (56, [60])],
    ids=["fingered bass", "piano", "strings", "flute", "trumpet"],
)
def test_soundfont_instruments(model, program, keys):
    for key in keys:
        estimate = estimate_f0(_soundfont(program, key), SR, model)
        assert estimate.pitched, key
        assert abs(_cents(estimate.f0_hz, pretty_midi.note_number_to_hz(key))) < 30, key


def test_noise_and_cymbals_are_unpitched(model):
    noise = 0.1 * np.random.default_rng(0).standard_normal((2, 6 * SR)).astype(np.float32)
    assert not estimate_f0(noise, SR, model).pitched
    hats = _soundfont(0, 42, drums=True, repeats=12, note_s=0.3)
    assert not estimate_f0(hats, SR, model).pitched


def test_silence(model):
    estimate = estimate_f0(np.zeros((2, 3 * SR), np.float32), SR, model)
    assert math.isnan(estimate.f0_hz) and not estimate.pitched


def test_short_input_is_padded(model):
    estimate = estimate_f0(_harmonic(220.0, seconds=0.5), SR, model)
    assert abs(_cents(estimate.f0_hz, 220.0)) < 30


def test_rate_mismatch_is_refused(model):
    with pytest.raises(ValueError, match="loaded for"):
        estimate_f0(_harmonic(220.0, seconds=1.0), 48000, model)


@pytest.mark.skipif(importlib.util.find_spec("torchaudio") is not None, reason="a real torchaudio is installed")
def test_torchaudio_stand_in_does_not_leak():
    # The tests' reference PESTO (tests/pesto_reference.py) imports pesto with a torchaudio stand-in.
    import_pesto()
    assert "torchaudio" not in sys.modules
    with pytest.raises(RuntimeError, match="torchaudio is not installed"):
        sys.modules["pesto.core"].torchaudio.load("x.wav")


def test_the_model_runs_without_importing_pesto():
    """The project's network is its own (analysis/pesto_net.py): loading and running it imports neither the
    pesto package (~1.7 s per worker process) nor what pesto imports (torchaudio, matplotlib's pyplot), and the
    excerpts are resampled without scipy.signal (0.5-1 s more)."""
    code = (
        "import sys, numpy as np\n"
        "from reaper_automix.analysis.pitch import estimate_f0, load_pitch_model\n"
        "t = np.arange(3 * 44100) / 44100\n"
        "e = estimate_f0(np.sin(2 * np.pi * 220 * t).astype(np.float32), 44100, load_pitch_model(44100))\n"
        "assert abs(e.f0_hz - 220) < 3, e\n"
        "print(sorted(m for m in ('pesto', 'torchaudio', 'matplotlib.pyplot', 'scipy.signal') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


@pytest.mark.parametrize("rate_hz", [44100, 48000, 22050, 96000, 32000])
@pytest.mark.parametrize("samples", [88200, 1001, 7])
def test_resampling_equals_scipys_resample_poly(rate_hz, samples):
    """The excerpts' resampler against audio.io.resample_by (scipy.signal.resample_poly), to float32 rounding:
    to 16 kHz from common rates, and 16 -> 8 kHz (pass B), on noise with steps at both ends."""
    from reaper_automix.audio.io import resample_by, resample_factors

    x = np.random.default_rng(samples).standard_normal((3, samples)).astype(np.float32)
    x[:, :3], x[:, -3:] = 4.0, -4.0
    for up, down in (resample_factors(rate_hz, ANALYSIS_RATE_HZ), (1, 2)):
        expected = resample_by(x, up, down)
        got = _resample(x, up, down)
        assert got.dtype == np.float32 and got.shape == expected.shape, (up, down)
        assert np.max(np.abs(got - expected)) <= 1e-6 * np.max(np.abs(expected)), (up, down)


def test_output_layer_as_a_matrix_equals_pestos_toeplitz_convolution(model):
    """The output layer is replaced by the same linear map as a matrix product (faster): equal to PESTO's own
    ToeplitzLinear, freshly loaded, up to float32 summation order, on random features."""
    import torch

    reference = load_pesto(step_ms=40.0, sample_rate=ANALYSIS_RATE_HZ)
    features = torch.randn(64, 657, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = reference.encoder.fc(features)
        for network in (model.network, model.network_octave_up):
            assert not isinstance(network.encoder.fc, torch.nn.Conv1d)  # replaced, not PESTO's layer itself
            got = network.encoder.fc(features)
            assert got.shape == expected.shape == (64, 384)
            assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))

