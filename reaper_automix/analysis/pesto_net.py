"""PESTO's pitch network (Riou et al., ISMIR 2023) for its bundled checkpoint, reimplemented to run faster: the
same function of the same weights, to float32 rounding.

Why not PESTO's own modules: ``import pesto`` costs ~1.7 s in every worker process (it imports matplotlib's
``pyplot`` and ``scipy.signal`` at module level, and ``torchaudio`` for its file CLI), and its encoder spends ~94 %
of its time in two frequency-axis convolutions that an FFT does ~16x cheaper. Here only the installed package's
weights file is used (``pesto/weights/mir-1k_g7.ckpt``, read with ``torch.load``); nothing of PESTO's code is
copied or imported. What the network computes, as read from PESTO 2.0.1 and its checkpoint's hyper-parameters:

1. **Constant-Q transform** (variable-Q, ``gamma`` 7) of 16 kHz mono audio: 251 bins, 3 per semitone, the first
   the lowest ``fmin = 27.5 / 2**((bps - 1) / (24 bps))`` Hz (one bin below 27.5 Hz, so that each semitone's
   three bins are centred on it). Bin ``k`` at
   ``f_k = fmin 2**(k / 36)`` has length ``l_k = ceil(Q fs / (f_k + gamma / alpha))`` with ``alpha = 2**(1/36) - 1``,
   ``Q = 1 / alpha``; its kernel is a periodic Hann window of ``l_k`` samples times ``exp(2 pi i f_k n / fs)``
   (``n`` from ``-ceil(l_k / 2)``), scaled to unit L1 norm, placed at ``(width - l_k) // 2`` in a
   ``width``-sample frame (the next power of two above the longest kernel: 4096), stored as complex64. The audio
   is reflect-padded by ``width / 2`` on both sides and correlated with the kernels' real and negated imaginary
   parts every ``hop`` samples; each bin is multiplied by ``sqrt(l_k)``. The magnitude in dB,
   ``20 log10(max(|X|, eps))``, is then multiplied by ``ln(10) / 10`` (PESTO does this in place, so the encoder
   sees ``2 ln |X|``, not dB).
2. **Volume and confidence** from the energies ``exp`` of that: ``vol`` is their sum over the bins; the confidence
   is ``sigmoid(linear([relu(conv(energy)), flatness]))`` with a 39-tap, stride-3 one-channel convolution (71
   outputs), the spectral flatness (geometric over arithmetic mean, the latter floored at 1e-8) and a 72 -> 1
   linear layer.
3. **Encoder** (:class:`FFTEncoder`) on the bins cropped by 16 on each side (219), giving 384 pitch-bin
   probabilities; rolled by ``-round(shift * 3)`` bins (the checkpoint's ``shift``).
4. **Pitch**: argmax-local weighted average over the 5 bins around the argmax (clipped at the ends), in
   semitones (bin / 3), as Hz ``440 * 2**((p - 69) / 12)``.

The encoder, frame by frame along the 219 bins: layer norm; a 1 -> 40 channel, 39-tap convolution zero-padded by
19 ("same" length) and leaky ReLU (slope 0.3); two residual 40 -> 40, 39-tap convolutions, each
``x + leaky_relu(conv(x))``; four 1-tap convolutions 40 -> 30 -> 30 -> 10 -> 3, each with leaky ReLU; the
3 x 219 features flattened channel-major (657); the output layer, a ``ToeplitzLinear`` (a one-channel
convolution whose 1040-tap kernel slides over the 657 features with 383 zeros of padding), to 384; softmax.

How it is made faster, all exact up to float32 rounding:

- The 39-tap convolutions are products in the frequency domain of a 256-point real FFT along the bins: one
  ``rfft`` of the input channels, per FFT bin a (frames x 40) @ (40 x 40) complex product (written as a real
  product of interleaved real and imaginary parts, (frames x 80) @ (80 x 80)), one ``irfft``: ~16x fewer
  multiply-adds than the direct convolution. Zero padding makes the circular convolution the linear one: a "same"
  convolution of ``bins`` samples with ``padding`` on each side needs ``n_fft >= bins + padding`` (238).
- The 1-tap convolutions are matrix products; the output layer is the (657, 384) matrix its Toeplitz convolution
  applies (torch ran that convolution ~40x slower than the product).
- The CQT kernels are built once for both hops (they do not depend on the hop); the encoder runs on chunks of
  frames that fit the caches (:data:`ENCODER_CHUNK_FRAMES`).

Outputs against PESTO's own network (``tests/test_pesto_net.py``): the encoder's probabilities are within PESTO's
own float32 error of a float64 evaluation of PESTO's encoder; f0 within a few millicents; confidence and volume
equal to float32 rounding.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import AutomixError

CHECKPOINT = "mir-1k_g7"
# The encoder runs on this many frames at a time: its intermediate tensors (frames x 40 channels x 256 floats,
# 2.6 MB at 64 frames) then stay in the processor's caches. Measured on a pass over 12 s (306 frames), one
# thread: 53-57 ms in one batch, 41-47 ms in chunks of 16-102 frames. Frames are independent: same results.
ENCODER_CHUNK_FRAMES = 64
_INSTALL = "pip install --no-deps pesto-pitch==2.0.1 omegaconf"


def checkpoint_path(name: str = CHECKPOINT) -> Path:
    """The weights file ``name`` inside the installed ``pesto-pitch`` package (found without importing it)."""
    spec = importlib.util.find_spec("pesto")
    if spec is None or not spec.submodule_search_locations:
        raise AutomixError(f"the f0 method needs PESTO's weights: {_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{name}.ckpt"
    if not path.is_file():
        raise AutomixError(f"PESTO's checkpoint {path} is missing: reinstall pesto-pitch ({_INSTALL})")
    return path


def load_checkpoint(path: Path) -> dict:
    """The checkpoint as saved by PESTO's training code: ``state_dict`` (tensors), ``hparams``, ``hcqt_params``.
    Its pickle holds omegaconf containers, which ``weights_only`` loading refuses; the file is the installed
    package's own (not user input)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:  # omegaconf, which the pickle refers to
        raise AutomixError(f"PESTO's checkpoint needs {exc.name}: {_INSTALL}") from exc


def cqt_kernels(sample_rate: float, fmin_hz: float, n_bins: int, bins_per_octave: int,
                gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """The variable-Q kernels of step 1 of the module docstring: complex64 ``(n_bins, width)`` and the kernel
    lengths ``(n_bins,)`` in samples (float64)."""
    freqs_hz = fmin_hz * 2.0 ** (np.arange(n_bins) / bins_per_octave)
    if freqs_hz[-1] > sample_rate / 2:
        raise AutomixError(f"the CQT's top bin {freqs_hz[-1]:.0f} Hz is above the Nyquist frequency")
    alpha = 2.0 ** (1.0 / bins_per_octave) - 1.0
    lengths = np.ceil(sample_rate / alpha / (freqs_hz + gamma / alpha))
    width = 1 << (int(lengths.max()) - 1).bit_length()
    kernels = np.zeros((n_bins, width), dtype=np.complex64)
    for k, (freq_hz, length) in enumerate(zip(freqs_hz, lengths.astype(int))):
        n = np.arange(length) - (length + 1) // 2
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)  # periodic
        kernel = hann * np.exp(2j * np.pi * freq_hz / sample_rate * n)
        start = (width - length) // 2
        kernels[k, start : start + length] = kernel / np.sum(np.abs(kernel))
    return kernels, lengths


class ToeplitzAsMatrix(torch.nn.Module):
    """PESTO's output layer (a one-channel cross-correlation with ``weight`` of ``in + out - 1`` taps sliding over
    the ``in`` features with ``out - 1`` zeros of padding: ``y[o] = sum_i w[i + out - 1 - o] x[i]``) as the
    ``(in, out)`` matrix of the same linear map, ``M[i, o] = w[i + out - 1 - o]`` (the taps themselves, gathered)."""

    def __init__(self, weight: torch.Tensor, n_out: int):
        """``weight``: the layer's kernel, ``(1, 1, in + out - 1)``."""
        super().__init__()
        n_in = weight.shape[-1] - n_out + 1
        taps = torch.arange(n_in)[:, None] + (n_out - 1) - torch.arange(n_out)[None, :]
        self.register_buffer("matrix", weight.detach().reshape(-1)[taps].contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (frames, in) -> (frames, out)."""
        return x @ self.matrix


def _kernel_spectrum(weight: torch.Tensor, padding: int, n_fft: int) -> torch.Tensor:
    """The ``rfft`` of a convolution kernel ``weight`` ``(out, in, taps)`` placed for a circular convolution of
    length ``n_fft`` that equals the "same" cross-correlation ``y[o, i] = sum_c sum_j w[o, c, j] x[c, i + j -
    padding]``: complex128 ``(n_fft // 2 + 1, in, out)``, computed in float64."""
    weight = weight.detach().to(torch.float64)
    circular = torch.zeros(*weight.shape[:2], n_fft, dtype=torch.float64)
    for j in range(weight.shape[2]):
        circular[:, :, (padding - j) % n_fft] = weight[:, :, j]
    return torch.fft.rfft(circular, dim=-1).permute(2, 1, 0)


def _interleaved_real(spectrum: torch.Tensor) -> torch.Tensor:
    """A complex ``(bins, in, out)`` matrix stack as the real ``(bins, 2 in, 2 out)`` one that maps interleaved
    (real, imaginary) inputs to interleaved outputs: ``(xr + i xi)(gr + i gi) = xr gr - xi gi + i (xr gi + xi gr)``.
    float32."""
    bins, n_in, n_out = spectrum.shape
    real = torch.zeros(bins, n_in, 2, n_out, 2, dtype=torch.float64)
    real[:, :, 0, :, 0] = spectrum.real
    real[:, :, 0, :, 1] = spectrum.imag
    real[:, :, 1, :, 0] = -spectrum.imag
    real[:, :, 1, :, 1] = spectrum.real
    return real.reshape(bins, 2 * n_in, 2 * n_out).to(torch.float32).contiguous()


def _check_encoder(hparams: dict) -> None:
    """Refuse an encoder that is not the architecture :class:`FFTEncoder` reimplements (PESTO 2.0.1's)."""
    expected = {"n_chan_input": 1, "residual": True, "activation_fn": "leaky", "fc_margin": 0, "spiral": 0,
                "final_norm": "softmax"}
    wrong = {k: hparams.get(k) for k, v in expected.items() if hparams.get(k) != v}
    if wrong or hparams["prefilt_kernel_size"] % 2 == 0 or hparams["n_prefilt_layers"] < 1:
        raise AutomixError(f"PESTO's encoder is not the architecture reaper_automix reimplements: {wrong or hparams}")


class FFTEncoder(torch.nn.Module):
    """PESTO's encoder (step 3 of the module docstring) from its weights ``state`` (the checkpoint's
    ``encoder.*`` tensors, prefix removed) and hyper-parameters ``hparams``. Input: ``(frames, 1, 219)``; output:
    ``(frames, 384)`` pitch-bin probabilities. Evaluation only (no dropout, no gradients)."""

    def __init__(self, state: dict[str, torch.Tensor], hparams: dict):
        super().__init__()
        _check_encoder(hparams)
        self.slope = float(hparams["a_lrelu"])
        self.n_bins = int(hparams["n_bins_in"])
        padding = int(hparams["prefilt_kernel_size"]) // 2
        self.n_fft = 1 << (self.n_bins + padding - 1).bit_length()  # >= bins + padding: no wrap-around
        self.fc = ToeplitzAsMatrix(state["fc.weight"], int(hparams["output_dim"]))
        self.register_buffer("norm_weight", state["layernorm.weight"].clone())
        self.register_buffer("norm_bias", state["layernorm.bias"].clone())
        with torch.no_grad():
            # first layer, one input channel: a per-bin product, (out channels, fft bins)
            first = _kernel_spectrum(state["conv1.0.weight"], padding, self.n_fft)[:, 0, :].T
            self.register_buffer("first_spectrum", first.to(torch.complex64).contiguous())
            self.register_buffer("first_bias", state["conv1.0.bias"][:, None].clone())
            residual = range(int(hparams["n_prefilt_layers"]) - 1)
            self.residual_spectra = [
                _interleaved_real(_kernel_spectrum(state[f"prefilt_layers.{i}.0.weight"], padding, self.n_fft))
                for i in residual
            ]
            self.residual_biases = [state[f"prefilt_layers.{i}.0.bias"][:, None].clone() for i in residual]
            # 1-tap layers: conv_layers.{0, 3, 6, ...} (each followed by its activation and dropout)
            pointwise = sorted(int(k.split(".")[1]) for k in state if k.startswith("conv_layers.") and
                               k.endswith(".weight"))
            self.pointwise = [(state[f"conv_layers.{i}.weight"][:, :, 0].clone(),
                               state[f"conv_layers.{i}.bias"][:, None].clone()) for i in pointwise]
        if len(self.pointwise) != len(hparams["n_chan_layers"]) - 1:
            raise AutomixError("PESTO's encoder weights do not match its hyper-parameters")

    def _residual_conv(self, x: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
        """The circular convolution of ``x`` (frames, channels, bins) with one layer's kernels given as
        :func:`_interleaved_real` ``spectrum``, cut back to ``bins``: (frames, out channels, bins), no bias."""
        frames = x.shape[0]
        fft_bins = self.n_fft // 2 + 1
        by_bin = torch.fft.rfft(x, n=self.n_fft).permute(2, 0, 1).contiguous()  # (fft bins, frames, channels)
        product = torch.bmm(torch.view_as_real(by_bin).view(fft_bins, frames, -1), spectrum)
        product = torch.view_as_complex(product.view(fft_bins, frames, -1, 2)).permute(1, 2, 0)
        return torch.fft.irfft(product, n=self.n_fft)[..., : self.n_bins]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (frames, 1, bins) -> (frames, 384) probabilities (see the class docstring)."""
        x = F.layer_norm(x, self.norm_weight.shape, self.norm_weight, self.norm_bias)
        spectrum = torch.fft.rfft(x, n=self.n_fft) * self.first_spectrum  # (frames, 40, fft bins)
        # in place where a fresh tensor is at hand: the same values, less memory traffic
        x = F.leaky_relu_(torch.fft.irfft(spectrum, n=self.n_fft)[..., : self.n_bins] + self.first_bias, self.slope)
        for kernel, bias in zip(self.residual_spectra, self.residual_biases):
            x = F.leaky_relu_(self._residual_conv(x, kernel) + bias, self.slope).add_(x)
        for weight, bias in self.pointwise:
            x = F.leaky_relu_(torch.matmul(weight, x).add_(bias), self.slope)
        return torch.softmax(self.fc(x.flatten(1)), dim=-1)


class PestoWeights(torch.nn.Module):
    """Everything of one checkpoint the network needs, built once: CQT kernels, confidence layers, encoder."""

    def __init__(self, checkpoint: dict, sample_rate: int):
        super().__init__()
        hcqt, hparams = checkpoint["hcqt_params"], checkpoint["hparams"]
        state = checkpoint["state_dict"]
        if list(hcqt["harmonics"]) != [1] or not hcqt["center"] or hcqt.get("fmax") is not None \
                or hparams["reduction"] != "alwa":
            raise AutomixError(f"PESTO's front end is not the one reaper_automix reimplements: {hcqt}, {hparams}")
        self.sample_rate = sample_rate
        self.bins_per_semitone = int(hcqt["bins_per_semitone"])
        fmin_hz = float(hcqt["fmin"])
        if hcqt["center_bins"]:
            fmin_hz /= 2 ** ((self.bins_per_semitone - 1) / (24 * self.bins_per_semitone))
        kernels, lengths = cqt_kernels(sample_rate, fmin_hz, int(hcqt["n_bins"]), 12 * self.bins_per_semitone,
                                       float(hcqt["gamma"]))
        self.n_cqt_bins = kernels.shape[0]
        real_then_imaginary = np.concatenate([kernels.real, -kernels.imag])[:, None, :]
        self.register_buffer("cqt_weight", torch.from_numpy(np.ascontiguousarray(real_then_imaginary)))
        self.register_buffer("sqrt_lengths", torch.from_numpy(lengths).float().sqrt()[:, None])
        self.crop = (int(hparams["pitch_shift"]["max_steps"]), int(hparams["pitch_shift"]["min_steps"]))
        self.roll_bins = -round(float(state["shift"]) * self.bins_per_semitone)
        for name in ("conv.weight", "conv.bias", "linear.weight", "linear.bias"):
            self.register_buffer("confidence_" + name.replace(".", "_"), state["confidence." + name].clone())
        self.encoder = FFTEncoder({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")},
                                  hparams["encoder"])


class PestoNetwork(torch.nn.Module):
    """PESTO's forward pass (module docstring) with ``weights`` and a hop of ``hop_length`` samples. Input: a batch
    of equal-length mono segments ``(segments, samples)`` at ``weights.sample_rate``; output ``(f0_hz,
    confidence, vol)``, each ``(segments, frames)``, one frame every ``hop_length`` samples from sample 0."""

    def __init__(self, weights: PestoWeights, hop_length: int):
        super().__init__()
        self.weights = weights
        self.hop_length = hop_length

    @property
    def encoder(self) -> FFTEncoder:
        return self.weights.encoder

    def log_cqt(self, audio: torch.Tensor) -> torch.Tensor:
        """``2 ln |CQT|`` (step 1: PESTO's dB times ln(10)/10), ``(segments * frames, bins)``, segment-major."""
        w = self.weights
        half = w.cqt_weight.shape[-1] // 2
        cqt = F.conv1d(F.pad(audio[:, None, :], (half, half), mode="reflect"), w.cqt_weight, stride=self.hop_length)
        cqt = cqt.view(audio.shape[0], 2, w.n_cqt_bins, -1) * w.sqrt_lengths
        magnitude = torch.view_as_complex(cqt.permute(0, 3, 2, 1).contiguous()).abs()  # (segments, frames, bins)
        db = magnitude.clamp(min=torch.finfo(torch.float32).eps).log10().mul(20)
        return db.mul(math.log(10) / 10).flatten(0, 1)

    def confidence(self, energy: torch.Tensor) -> torch.Tensor:
        """Step 2's voicing confidence of ``energy`` (frames, bins): (frames,) in [0, 1]."""
        w = self.weights
        geometric = energy.log().mean(dim=-1, keepdim=True).exp()
        flatness = geometric / energy.mean(dim=-1, keepdim=True).clip(min=1e-8)
        x = F.relu(F.conv1d(energy.unsqueeze(1), w.confidence_conv_weight, w.confidence_conv_bias, stride=3)
                   .squeeze(1))
        return torch.sigmoid(F.linear(torch.cat((x, flatness), dim=-1), w.confidence_linear_weight,
                                      w.confidence_linear_bias)).squeeze(-1)

    def pitch_semitones(self, activations: torch.Tensor) -> torch.Tensor:
        """Step 4: the argmax-local weighted average of ``activations`` (..., bins) in semitones, (...)."""
        bps = self.weights.bins_per_semitone
        n_bins = activations.shape[-1]
        centre = activations.argmax(dim=-1, keepdim=True)
        indices = (centre + torch.arange(1 - bps, bps)).clip(min=0, max=n_bins - 1)
        local = activations.gather(-1, indices)
        pitches = torch.arange(n_bins, dtype=torch.float32).div(bps).expand_as(activations).gather(-1, indices)
        return (local * pitches).sum(dim=-1) / local.sum(dim=-1)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``audio`` (segments, samples) -> ``(f0_hz, confidence, vol)``, each (segments, frames)."""
        segments = audio.shape[0]
        x = self.log_cqt(audio)
        energy = x.exp()
        vol = energy.sum(dim=-1)
        confidence = self.confidence(energy)
        low, high = self.weights.crop
        frames = x[:, None, low:high]
        activations = torch.cat([self.encoder(chunk) for chunk in frames.split(ENCODER_CHUNK_FRAMES)])
        activations = activations.view(segments, -1, activations.shape[-1]).roll(self.weights.roll_bins, -1)
        f0_hz = 440 * 2 ** ((self.pitch_semitones(activations) - 69) / 12)
        return f0_hz, confidence.view(segments, -1), vol.view(segments, -1)
