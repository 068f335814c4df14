"""A fast differentiable model of the console (the "proxy") that the search descends on.

Running the exact IIR console with gradients costs ~0.9 s per second of 16 stems (benchmarks/console_speed.py),
far too slow for hundreds of steps. Every feature except the crest is a sum of energies, so the proxy works on
short-time energies: for each stem and excerpt, the energies of L, R and their cross term per STFT frame (2048
at 44.1 kHz, hop 1024) and per Bark band (plus the bands below 20 Hz and above 15.5 kHz). EQ multiplies a band's
energy by ``|H(f)|^2`` weighted by the stem's long-term spectrum inside the band; the compressor is the
console's static curve and attack/release ballistics run at frame rate on the frame's EQ'd mean square; gain and
pan (the bus's pan law) scale the channels; stems add in energy (cross-stem correlation neglected). The crest
factor, a sample peak, has no energy form: the proxy models the mix's peak from each stem's per-frame sample
peaks (scaled by gain, pan, the EQ's broadband gain and the compressor gain *before* the frame, since the
attack lets transients through; stems add in power; a 16th-power mean over frames stands in for the maximum).
A frame-energy crest was tried first and moved the wrong way: compression lowers it while the sample crest
rises.

What the proxy keeps fixed (and so the search too): the EQ bands at the layout's neutral frequencies and Q
(:data:`EQ_LAYOUT`), the compressor's times, knee and makeup at their defaults (:data:`FIXED_COMPRESSOR`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torchcomp.core import compressor_core

from ..console.compressor import gain_computer_db, time_constant_coef
from ..console.eq import eq_response_db
from ..console.pan import PanLaw, pan_gains
from ..console.params import EqParams
from ..strip import EQ_LAYOUT_DEFAULT, Compressor
from .features import BARK_EDGES_HZ, N_BANDS, torch_features_from_sums

EQ_LAYOUT = EQ_LAYOUT_DEFAULT
FIXED_COMPRESSOR = Compressor()
CREST_POWER = 16.0  # the proxy peak's power mean over frames


@dataclass
class Proxy:
    """Precomputed short-time band energies of every stem on the excerpts (see the module docstring)."""

    energy: Tensor  # (stems, 3, frames, bands): L^2, R^2, L*R mean squares per frame and band
    peak: Tensor  # (stems, 2, frames): largest |sample| of L and R per frame (between frame centres)
    weights: Tensor  # (stems, bins): each bin's share of its band's long-term energy, per stem
    onehot: Tensor  # (bins, bands)
    freqs_hz: Tensor  # (bins,)
    frame_rate: float
    excerpt_frames: int  # frames per excerpt (ballistics restart at each excerpt)
    share: Tensor  # (stems,) each stem's share of the stage-1 mix's energy on the excerpts
    low_share: Tensor  # (stems,) the share of each stem's own energy below 200 Hz


def _proxy_bands(n_fft: int, sample_rate: float) -> np.ndarray:
    """Band of each rfft bin: 0 below 20 Hz, 1..24 the Bark bands, 25 above 15.5 kHz."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return np.searchsorted(np.asarray(BARK_EDGES_HZ), freqs, side="right").clip(0, N_BANDS + 1)


def build_proxy(stems: Sequence[np.ndarray], windows: list[tuple[int, int]], sample_rate: int) -> Proxy:
    n_fft = 1 << round(math.log2(0.0464 * sample_rate))  # ~46 ms frames: 2048 at 44.1/48 kHz
    hop = n_fft // 2
    window = np.hanning(n_fft + 1)[:-1]
    band = _proxy_bands(n_fft, sample_rate)
    onehot = np.zeros((len(band), N_BANDS + 2))
    onehot[np.arange(len(band)), band] = 1.0
    # Parseval: a frame's mean square = sum_k c_k |X_k|^2 / (N sum w^2), c_k = 2 except at DC and Nyquist.
    c = np.full(len(band), 2.0)
    c[0] = c[-1] = 1.0
    c /= n_fft * np.sum(window**2)
    length = min(b - a for a, b in windows)
    frames_per = 1 + max(0, (length - n_fft) // hop)
    energies, weights = [], []
    peak_list = []
    for s in stems:
        per_window, peaks = [], []
        bins = np.zeros(len(band))
        for a, _ in windows:
            x = np.zeros((2, (frames_per - 1) * hop + n_fft))
            part = np.asarray(s[:, a : a + x.shape[1]], dtype=np.float64)
            x[:, : part.shape[1]] = part
            framed = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[:, ::hop][:, :frames_per]
            spec = np.fft.rfft(framed * window, axis=-1)  # (2, frames, bins)
            ll = c * np.abs(spec[0]) ** 2
            rr = c * np.abs(spec[1]) ** 2
            lr = c * (spec[0] * spec[1].conj()).real
            per_window.append(np.stack([ll @ onehot, rr @ onehot, lr @ onehot]))  # (3, frames, bands)
            # Peaks over each hop-long span around a frame's centre (the spans tile the excerpt).
            centre = x[:, hop // 2 : hop // 2 + frames_per * hop].reshape(2, frames_per, hop)
            peaks.append(np.abs(centre).max(axis=-1))
            bins += (ll + rr).sum(axis=0)
        energies.append(np.concatenate(per_window, axis=1))
        peak_list.append(np.concatenate(peaks, axis=1))
        weights.append(bins)
    def shares(b: np.ndarray) -> np.ndarray:
        per_band = b @ onehot
        return b / np.maximum(per_band[band], 1e-30)

    energy = np.stack(energies)
    frame_power = energy[:, :2].sum(axis=(1, 3)) / 2  # (stems, frames)
    return Proxy(
        energy=torch.from_numpy(energy),
        peak=torch.from_numpy(np.stack(peak_list)),
        weights=torch.from_numpy(np.stack([shares(w) for w in weights])),
        onehot=torch.from_numpy(onehot),
        freqs_hz=torch.from_numpy(np.fft.rfftfreq(n_fft, 1.0 / sample_rate)),
        frame_rate=sample_rate / hop,
        excerpt_frames=frames_per,
        share=torch.from_numpy(frame_power.sum(axis=1) / max(frame_power.sum(), 1e-30)),
        low_share=torch.from_numpy(energy[:, :2, :, :3].sum(axis=(1, 2, 3))
                                   / np.maximum(energy[:, :2].sum(axis=(1, 2, 3)), 1e-30)),
    )


@dataclass
class Physical:
    """Optimised values as tensors (the rest of a setting is fixed)."""

    gain_db: Tensor  # (S,)
    eq_gain_db: Tensor  # (S, 6)
    threshold_db: Tensor  # (S,)
    ratio: Tensor  # (S,)
    pan: Tensor  # (S,)


def _band_gain(eq_gain_db: Tensor, proxy: Proxy, sample_rate: float) -> Tensor:
    """Energy gain of the fixed-frequency EQ per proxy band, weighted by the spectrum inside each band."""
    batch = eq_gain_db.shape[0]
    neutral = EqParams.neutral(batch, EQ_LAYOUT)
    eq = EqParams(neutral.freq_hz, eq_gain_db, neutral.q, EQ_LAYOUT)
    response = 10.0 ** (eq_response_db(eq, proxy.freqs_hz, sample_rate) / 10.0)  # (batch, bins) energy gain
    return (proxy.weights * response) @ proxy.onehot  # (batch, bands)


def _ballistics_db(level_db: Tensor, threshold_db: Tensor, ratio: Tensor, proxy: Proxy) -> Tensor:
    """Compressor gain (dB) per frame for frame levels ``(batch, frames)``, ballistics restarting per excerpt."""
    batch, frames = level_db.shape
    target = gain_computer_db(level_db, threshold_db[:, None], ratio[:, None],
                              torch.full((batch, 1), FIXED_COMPRESSOR.knee_db, dtype=torch.float64))
    per = proxy.excerpt_frames
    target = target.reshape(batch * (frames // per), per)
    attack = time_constant_coef(FIXED_COMPRESSOR.attack_ms, proxy.frame_rate).expand(target.shape[0]).contiguous()
    release = time_constant_coef(FIXED_COMPRESSOR.release_ms, proxy.frame_rate).expand(target.shape[0]).contiguous()
    gain = compressor_core(target.contiguous(), torch.zeros(target.shape[0], dtype=torch.float64), attack, release)
    return gain.reshape(batch, frames)


def proxy_features(p: Physical, proxy: Proxy, sample_rate: float, laws: Sequence[PanLaw]) -> dict[str, Tensor]:
    energy = proxy.energy  # (S, 3, F, B)
    g_band = _band_gain(p.eq_gain_db, proxy, sample_rate)  # (S, B)
    eqd = energy * g_band[:, None, None, :]
    level = 10 * torch.log10((eqd[:, 0] + eqd[:, 1]).sum(dim=-1) / 2 + 1e-10)  # (S, F) detector
    comp_db = _ballistics_db(level, p.threshold_db, p.ratio, proxy)  # (S, F)
    comp = 10 ** (comp_db / 10)  # energy gain
    left, right = pan_gains(laws, p.pan)
    scale = comp * (10 ** (p.gain_db / 10))[:, None]  # (S, F)
    ll = torch.einsum("sf,sfb->fb", scale * (left**2)[:, None], eqd[:, 0])
    rr = torch.einsum("sf,sfb->fb", scale * (right**2)[:, None], eqd[:, 1])
    lr = torch.einsum("sf,sfb->fb", scale * (left * right)[:, None], eqd[:, 2])
    peak_power = _peak_power(p, proxy, comp_db, g_band, left, right)
    mid = (ll + rr + 2 * lr) / 4
    side = (ll + rr - 2 * lr) / 4
    frame_power = (ll + rr).sum(dim=-1) / 2  # (F,)
    features = torch_features_from_sums(
        ll.sum(), rr.sum(), lr.sum(), float(frame_power.shape[0]), torch.tensor(1.0, dtype=torch.float64),
        mid.sum(dim=0)[1:-1], side.sum(dim=0)[1:-1], (mid + side).sum(),
    )
    # A CREST_POWER-power mean over frames stands in for the maximum (smooth, not one frame's gradient).
    peak_power = peak_power.pow(CREST_POWER).mean().pow(1 / CREST_POWER)
    features["crest_db"] = 10 * torch.log10(peak_power / frame_power.mean())
    return features


def _peak_power(p: Physical, proxy: Proxy, comp_db: Tensor, g_band: Tensor, left: Tensor, right: Tensor) -> Tensor:
    """The mix's squared sample peak, modelled: each stem's frame peak scaled by its gain, pan, the EQ's
    broadband amplitude gain on that stem, and the compressor gain *before* the frame (a 20 ms attack lets a
    transient through before the gain falls); stems' peaks add in power (they rarely coincide); a
    Returns the per-frame peak power ``(frames,)`` of the stem sum."""
    held = _held(comp_db, proxy)
    band_energy = proxy.energy[:, :2].sum(dim=(1, 2))  # (S, B)
    total = band_energy.sum(-1)
    # A stem silent in the excerpts has no broadband EQ gain (0 / 0): taken as 1, so that the square root's
    # gradient there is not 0 / 0 (NaN, which Adam spreads to every stem's settings).
    eq_power = torch.where(total > 0, (g_band * band_energy).sum(-1) / total.clamp_min(1e-30), 1.0)
    eq_amp = eq_power.sqrt()  # (S,)
    amp = 10 ** ((held + p.gain_db[:, None]) / 20) * eq_amp[:, None]  # (S, F)
    channel = torch.stack([left, right], dim=1)[:, :, None] * proxy.peak * amp[:, None]  # (S, 2, F)
    return (channel**2).sum(dim=0).amax(dim=0)  # (F,)


def _held(gain_db: Tensor, proxy: Proxy) -> Tensor:
    """Per-frame gains ``(batch, frames)`` delayed by one frame within each excerpt (0 dB at its start)."""
    per = proxy.excerpt_frames
    held = gain_db.reshape(gain_db.shape[0], -1, per)
    return torch.cat([torch.zeros_like(held[..., :1]), held[..., :-1]], dim=-1).reshape(gain_db.shape)

