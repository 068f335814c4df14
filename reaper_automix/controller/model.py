"""The controller network: per-stem and reference encoders, a Transformer over the tokens, heads in console units.

Diff-MST's design (mixing.md section 2), scaled down to train on two CPU cores in well under an hour:

* **Encoders.** Instead of a CNN14 over STFTs, a small MLP encodes each window's band statistics
  (:func:`window_features`: level of L, R, mid and side per Bark band, each band's left/right balance and side
  share, the window's level, dynamics and crest); the per-window codes are pooled over the windows where the
  signal plays (masked mean and max), so stems silent in some windows are fine and the whole song counts. One
  encoder is shared by every stem; the reference has its own, which yields :data:`REFERENCE_TOKENS` tokens.
* **Difference token.** The spectral and stereo shape (:func:`band_shape`) of the reference minus that of the
  unprocessed stem sum: what the mix has to change, given to the Transformer directly rather than left for it to
  work out from the stem tokens; each stem's windows also carry its share of the sum in every band, so that
  a change can be attributed to the stems that carry the band.
* **Controller.** A Transformer encoder over ``stems + reference tokens + difference`` with no positional
  encoding: it is
  permutation-equivariant in the stems and takes any number of them (1..:data:`MAX_STEMS`), padded stems masked.
  A learned embedding tells the two kinds of token apart.
* **Heads.** One linear layer per stem token and a sigmoid, mapped linearly (log for the ratio) onto physical
  ranges (:data:`HEAD_RANGES`): fader gain, the gains of the six fixed EQ bands (+/-12 dB), the
  compressor threshold *relative to the stem's mean-square level*, the ratio, and pan (REAPER's -1..+1).
  Attack, release and knee stay at the search's fixed values: the window statistics cannot see ballistics.

Levels are relative: stems are measured against the power of their sum, the reference against its own, so the
model compares shapes and balances, never absolute loudness.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..matching.features import BARK_EDGES_HZ, N_BANDS
from ..strip import Compressor, ParamRange, flat_eq
from . import features as F

MAX_STEMS = 32
REFERENCE_TOKENS = 2
N_SCALARS = 3
# Output columns in order, with the physical ranges of the heads (threshold relative to the stem's mean-square
# level). They are the network's own and wider than what the console writes: the plausibility limits
# (matching/limits.py) are applied after the network, so that a change of limits does not void the weights.
HEAD_RANGES: tuple[tuple[str, ParamRange], ...] = (
    ("gain_db", ParamRange(-24.0, 24.0, "dB")),
    *((f"eq.{i}.gain_db", ParamRange(-12.0, 12.0, "dB")) for i in range(len(flat_eq()))),
    ("threshold_rel_db", ParamRange(-36.0, 12.0, "dB")),
    ("ratio", ParamRange(1.0, 10.0, "", "log")),
    ("pan", ParamRange(-1.0, 1.0, "")),
)
N_OUTPUTS = len(HEAD_RANGES)
_DB_FLOOR = -100.0
_TINY = 1e-12


@dataclass(frozen=True)
class ControllerConfig:
    """Architecture and the input/output contract; :func:`config_hash` fingerprints it with the code's
    constants, and a checkpoint made for another contract is refused."""

    d_model: int = 64
    heads: int = 4
    layers: int = 3
    feedforward: int = 128
    hidden: int = 128
    dropout: float = 0.1

    @property
    def n_inputs(self) -> int:
        """Per-window inputs of the reference encoder (the stem encoder adds each band's share of the mix)."""
        return 6 * N_BANDS + N_SCALARS


def config_hash(config: ControllerConfig) -> str:
    """16 hex digits over the config and every constant the weights depend on (features, bands, heads)."""
    contract = {
        "config": asdict(config),
        "features": {"n_fft": F.N_FFT, "windows": F.N_WINDOWS, "frames": F.FRAMES_PER_WINDOW,
                     "active_within_db": F.ACTIVE_WITHIN_DB, "bark_edges_hz": list(BARK_EDGES_HZ)},
        "heads": [(name, r.low, r.high, r.scale) for name, r in HEAD_RANGES],
        "eq": {"freqs_hz": [b.freq_hz for b in flat_eq()], "q": [b.q for b in flat_eq()]},
        "compressor": [Compressor().attack_ms, Compressor().release_ms, Compressor().knee_db],
        "reference_tokens": REFERENCE_TOKENS,
        "inputs": "window features + band share; difference token of band_shape",
    }
    return hashlib.sha256(json.dumps(contract, sort_keys=True).encode()).hexdigest()[:16]


def _db(x: Tensor, norm: Tensor) -> Tensor:
    return 10.0 * torch.log10(x.clamp_min(0.0) / norm + 1e-10)


def window_features(energy: Tensor, frame_power: Tensor, peak: Tensor, norm_power: Tensor) -> Tensor:
    """Encoder inputs per window, ``(..., windows, 6 * bands + 3)``, from window statistics shaped ``energy
    (..., windows, 3, bands)``, ``frame_power (..., windows, frames)``, ``peak (..., windows)``; levels in dB
    relative to ``norm_power`` (shaped to broadcast against ``...``), scaled to about unit range."""
    ll, rr, lr = energy[..., 0, :], energy[..., 1, :], energy[..., 2, :]
    mid = ((ll + rr + 2 * lr) / 4).clamp_min(0.0)
    side = ((ll + rr - 2 * lr) / 4).clamp_min(0.0)
    n = norm_power[..., None, None]
    levels = torch.cat([_db(ll, n), _db(rr, n), _db(mid, n), _db(side, n)], dim=-1)
    balance = (rr - ll) / (rr + ll + _TINY)
    side_share = side / (mid + side + _TINY)
    power = frame_power.mean(dim=-1)
    level = _db(power, norm_power[..., None])
    frame_db = 10.0 * torch.log10(frame_power + 1e-10)
    spread = frame_db.std(dim=-1) if frame_power.shape[-1] > 1 else torch.zeros_like(level)
    crest = 20.0 * torch.log10(peak + 1e-5) - 10.0 * torch.log10(power + 1e-10)
    scalars = torch.stack([(level + 30) / 20, spread / 10, (crest - 12) / 10], dim=-1)
    return torch.cat([(levels + 50) / 25, balance, side_share, scalars], dim=-1)


def band_shape(energy: Tensor) -> Tensor:
    """Spectral and stereo shape of pooled band energies ``(..., 3, bands)``: L, R, mid and side levels relative
    to the total (dB, scaled), each band's left/right balance and side share, ``(..., 6 * bands)``."""
    ll, rr, lr = energy[..., 0, :], energy[..., 1, :], energy[..., 2, :]
    mid = ((ll + rr + 2 * lr) / 4).clamp_min(0.0)
    side = ((ll + rr - 2 * lr) / 4).clamp_min(0.0)
    total = (mid + side).sum(-1, keepdim=True).clamp_min(1e-20)
    levels = torch.cat([_db(ll, total), _db(rr, total), _db(mid, total), _db(side, total)], dim=-1)
    balance = (rr - ll) / (rr + ll + _TINY)
    return torch.cat([(levels.clamp_min(-60.0) + 30) / 15, balance, side / (mid + side + _TINY)], dim=-1)


def active_windows(frame_power: Tensor) -> Tensor:
    """Windows in which a signal plays (see :data:`~.features.ACTIVE_WITHIN_DB`), bool ``(..., windows)``."""
    power = frame_power.mean(dim=-1)
    loudest = power.amax(dim=-1, keepdim=True)
    return (power > F.SILENCE_POWER) & (power >= loudest * 10 ** (-F.ACTIVE_WITHIN_DB / 10))


class _Encoder(nn.Module):
    """Window MLP, masked mean and max pooling over windows, projection to ``outputs`` tokens."""

    def __init__(self, config: ControllerConfig, outputs: int, inputs: int):
        super().__init__()
        d = config.d_model
        self.window = nn.Sequential(nn.Linear(inputs, config.hidden), nn.GELU(),
                                    nn.Linear(config.hidden, d), nn.GELU())
        self.project = nn.Linear(2 * d, outputs * d)
        self.outputs = outputs

    def forward(self, x: Tensor, active: Tensor) -> Tensor:
        """``x (..., windows, inputs)``, ``active (..., windows)`` -> ``(..., outputs, d_model)``."""
        h = self.window(x)
        w = active[..., None].to(h.dtype)
        mean = (h * w).sum(dim=-2) / w.sum(dim=-2).clamp_min(1.0)
        peak = torch.where(active[..., None], h, torch.full_like(h, -1e4)).amax(dim=-2)
        peak = torch.where(active.any(dim=-1, keepdim=True), peak, torch.zeros_like(peak))
        out = self.project(torch.cat([mean, peak], dim=-1))
        return out.reshape(*out.shape[:-1], self.outputs, -1)


class MixController(nn.Module):
    """Stem and reference statistics -> normalised strip parameters per stem (see the module docstring)."""

    def __init__(self, config: ControllerConfig = ControllerConfig()):
        super().__init__()
        self.config = config
        d = config.d_model
        self.stem_encoder = _Encoder(config, 1, config.n_inputs + N_BANDS)
        self.reference_encoder = _Encoder(config, REFERENCE_TOKENS, config.n_inputs)
        self.difference = nn.Sequential(nn.Linear(6 * N_BANDS, config.hidden), nn.GELU(),
                                        nn.Linear(config.hidden, d))
        self.kind = nn.Parameter(torch.zeros(3, d))  # token kind: 0 stem, 1 reference, 2 difference
        layer = nn.TransformerEncoderLayer(d, config.heads, config.feedforward, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, N_OUTPUTS)
        nn.init.zeros_(self.head.weight)  # start at the middle of every range: 0 dB, flat, centred
        nn.init.zeros_(self.head.bias)

    def forward(self, stem_x: Tensor, stem_active: Tensor, stem_mask: Tensor, ref_x: Tensor, ref_active: Tensor,
                difference: Tensor) -> Tensor:
        """``stem_x (batch, stems, windows, inputs + bands)``, ``stem_active (batch, stems, windows)``,
        ``stem_mask (batch, stems)`` (True: a real stem), ``ref_x (batch, windows, inputs)``, ``ref_active
        (batch, windows)``, ``difference (batch, 6 * bands)``: :func:`band_shape` of the reference minus that of
        the unprocessed stem sum (what the mix must change). Returns the heads' sigmoid outputs
        ``(batch, stems, N_OUTPUTS)`` in [0, 1]."""
        stems = self.stem_encoder(stem_x, stem_active)[..., 0, :] + self.kind[0]
        ref = self.reference_encoder(ref_x, ref_active) + self.kind[1]
        diff = self.difference(difference)[:, None] + self.kind[2]
        tokens = torch.cat([stems, ref, diff], dim=1)
        pad = torch.cat([~stem_mask, torch.zeros(ref.shape[0], ref.shape[1] + 1, dtype=torch.bool)], dim=1)
        h = self.transformer(tokens, src_key_padding_mask=pad)
        return torch.sigmoid(self.head(self.norm(h[:, : stems.shape[1]])))


def to_physical(x: Tensor) -> Tensor:
    """Sigmoid outputs ``(..., N_OUTPUTS)`` -> physical values, columns as :data:`HEAD_RANGES`."""
    return torch.stack([r.to_physical(x[..., i]) for i, (_, r) in enumerate(HEAD_RANGES)], dim=-1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
