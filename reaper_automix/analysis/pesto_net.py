"""PESTO's pitch encoder with its frequency-axis convolutions done by FFT: the same function, about 4x faster.

PESTO 2.0.1's encoder (``pesto.model.Resnet1d`` with the bundled ``mir-1k_g7`` weights) maps each CQT frame,
219 log-magnitude bins, to 384 pitch-bin probabilities. Every layer works along the frequency axis of one frame,
frames independently:

1. layer norm over the 219 bins;
2. a 1 -> 40 channel convolution with 39 taps, zero-padded by 19 ("same" length), leaky ReLU (slope 0.3);
3. two residual 40 -> 40 channel, 39-tap convolutions, each ``x + leaky_relu(conv(x))``;
4. four 1-tap (channel-mixing) convolutions 40 -> 30 -> 30 -> 10 -> 3, each followed by leaky ReLU;
5. the 3 x 219 features flattened channel-major into 657, the output layer (a ``ToeplitzLinear``: a one-channel
   convolution whose 1040-tap kernel slides over them) to 384 bins, softmax.

The two 40 -> 40 convolutions are nearly all of PESTO's cost (about 4.2 G multiply-adds each over 12 s of
excerpts: ~94 % of the network's time in oneDNN on one core). Here each 39-tap convolution is a product in the
frequency domain of a 256-point real FFT along the bins: one ``rfft`` of the input channels, per FFT bin a
(frames x 40) @ (40 x 40) complex matrix product (written as a real product of interleaved real and imaginary
parts, (frames x 80) @ (80 x 80)), one ``irfft``: about 16x fewer multiply-adds. Zero padding makes the circular
convolution the linear one: a ``same`` convolution of ``bins`` samples with ``padding`` on each side needs
``n_fft >= bins + padding`` (238 here). The 1-tap convolutions are matrix products, the output layer the
(657, 384) matrix that the Toeplitz convolution applies (:class:`ToeplitzAsMatrix`).

The weights are PESTO's own, read from the loaded module; nothing of PESTO's code is copied. The outputs equal
PESTO's to float32 rounding (activations ~1e-5 absolute against a float64 evaluation of PESTO's own network, the
same size as PESTO's own float32 error; ``tests/test_pesto_net.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import AutomixError


class ToeplitzAsMatrix(torch.nn.Module):
    """PESTO's output layer (``ToeplitzLinear``: a one-channel ``conv1d`` whose kernel, ``in + out - 1`` taps, slides
    over the ``in`` flattened features with ``out - 1`` zeros of padding, giving ``out`` pitch bins) as the same
    linear map written out as an ``(in, out)`` matrix. torch runs that convolution ~40x slower than the matrix
    product (0.15 s against 4 ms for a pass over 12 s of excerpts); the outputs differ by float32 summation order
    only (~1e-6 relative)."""

    def __init__(self, conv: torch.nn.Conv1d):
        """``conv``: PESTO's ``ToeplitzLinear`` (its ``forward`` takes ``(rows, in)``)."""
        super().__init__()
        n_in = conv.kernel_size[0] - conv.padding[0]  # kernel = in + out - 1, padding = out - 1
        with torch.no_grad():
            matrix = conv(torch.eye(n_in))  # (in, out); row i: the map applied to unit vector i
        self.register_buffer("matrix", matrix)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (frames, in) -> (frames, out)."""
        return x @ self.matrix


def _kernel_spectrum(conv: torch.nn.Conv1d, n_fft: int) -> torch.Tensor:
    """The ``rfft`` of ``conv``'s kernel placed for a circular convolution of length ``n_fft`` that equals the
    "same" cross-correlation ``y[o, i] = sum_c sum_j w[o, c, j] x[c, i + j - padding]``: complex128
    ``(n_fft // 2 + 1, in_channels, out_channels)``, computed in float64."""
    weight = conv.weight.detach().to(torch.float64)  # (out, in, taps)
    padding = conv.padding[0]
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


def _check_architecture(encoder: torch.nn.Module) -> tuple[list[torch.nn.Conv1d], list[torch.nn.Conv1d], float]:
    """The encoder's frequency convolutions (first, then the residual ones), its 1-tap convolutions and the leaky
    ReLU slope, after checking that it is the architecture this module reimplements (PESTO 2.0.1's)."""
    frequency = [encoder.conv1[0]] + [layer[0] for layer in encoder.prefilt_layers]
    pointwise = [layer for layer in encoder.conv_layers if isinstance(layer, torch.nn.Conv1d)]
    activations = [m for m in encoder.modules() if isinstance(m, torch.nn.LeakyReLU)]
    slopes = {m.negative_slope for m in activations}
    ok = (
        encoder.residual
        and frequency[0].in_channels == 1
        and len(slopes) == 1
        and len(activations) == len(frequency) + len(pointwise)
        and all(
            c.stride == (1,) and c.dilation == (1,) and c.groups == 1 and c.padding_mode == "zeros"
            and c.bias is not None
            for c in frequency + pointwise
        )
        and all(c.kernel_size[0] == 2 * c.padding[0] + 1 for c in frequency)
        and all(c.kernel_size == (1,) and c.padding == (0,) for c in pointwise)
        and all(c.in_channels == c.out_channels == frequency[1].in_channels for c in frequency[1:])
        and isinstance(encoder.final_norm, torch.nn.Softmax)
        and not encoder.training
    )
    if not ok:
        raise AutomixError("PESTO's encoder is not the architecture reaper_automix reimplements (pesto-pitch 2.0.1)")
    return frequency, pointwise, float(slopes.pop())


class FFTEncoder(torch.nn.Module):
    """The function of PESTO's loaded encoder ``encoder`` (see the module docstring), its weights copied at
    construction. Input: CQT frames ``(frames, 1, bins)`` in dB, as PESTO's ``PESTO.forward`` passes them; output:
    ``(frames, 384)`` pitch-bin probabilities. Evaluation only (no dropout, no gradients)."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        frequency, pointwise, self.slope = _check_architecture(encoder)
        self.layernorm = encoder.layernorm  # PESTO's own module (its weights; bit-identical output)
        self.n_bins = encoder.layernorm.normalized_shape[-1]
        padding = frequency[0].padding[0]
        self.n_fft = 1 << (self.n_bins + padding - 1).bit_length()  # >= bins + padding: no wrap-around
        self.fc = ToeplitzAsMatrix(encoder.fc)
        with torch.no_grad():
            # first layer, one input channel: a per-bin product, (out, fft bins)
            self.register_buffer("first_spectrum", _kernel_spectrum(frequency[0], self.n_fft)[:, 0, :].T
                                 .to(torch.complex64).contiguous())
            self.register_buffer("first_bias", frequency[0].bias.detach()[:, None].clone())
            self.residual_spectra = [_interleaved_real(_kernel_spectrum(c, self.n_fft)) for c in frequency[1:]]
            self.residual_biases = [c.bias.detach()[:, None].clone() for c in frequency[1:]]
            self.pointwise = [(c.weight.detach()[:, :, 0].clone(), c.bias.detach()[:, None].clone())
                              for c in pointwise]

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
        """``x`` (frames, 1, bins) CQT in dB -> (frames, 384) probabilities (see the class docstring)."""
        x = self.layernorm(x)
        spectrum = torch.fft.rfft(x, n=self.n_fft) * self.first_spectrum  # (frames, 40, fft bins)
        x = F.leaky_relu(torch.fft.irfft(spectrum, n=self.n_fft)[..., : self.n_bins] + self.first_bias, self.slope)
        for kernel, bias in zip(self.residual_spectra, self.residual_biases):
            x = F.leaky_relu(self._residual_conv(x, kernel) + bias, self.slope) + x
        for weight, bias in self.pointwise:
            x = F.leaky_relu(torch.matmul(weight, x) + bias, self.slope)
        return torch.softmax(self.fc(x.flatten(1)), dim=-1)
