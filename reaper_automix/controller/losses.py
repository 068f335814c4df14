"""Batches of window statistics, the model's forward pass on them, and the two training losses.

* **Parameter loss** (method 1, known settings): fader gains compared after removing each song's mean over its
  stems (a mix louder or quieter as a whole is the same mix); EQ compared as dB response curves of the console's
  EQ on a log-frequency grid (two settings that sound alike count as alike, whatever their band gains); the
  compressor compared as its static gain-reduction curve at levels 0..18 dB above the stem's level (a ratio of 1
  makes the threshold irrelevant, and the curve knows it); pan as the pan value.
* **Feature loss** (both methods): the mix that the predicted settings make, computed from the stems' band
  energies *through the console's own functions* (EQ magnitude response per band, the compressor's static curve
  on every sampled frame's level, fader, REAPER's pan law; stems add in energy) against the reference's
  features: mid and side Bark spectra relative to the total, width, imbalance and each band's left/right
  balance (the same terms as :mod:`reaper_automix.matching.features`, plus per-band balance, which makes pan
  identifiable). Sample-level rendering with gradients would cost ~1 s per stem-second on these machines;
  the band-energy form is exact for gain, pan and EQ magnitude and models the compressor without ballistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from ..console.compressor import gain_computer_db
from ..console.eq import eq_response_db
from ..console.pan import PanLaw
from ..console.params import EQ_LAYOUT_DEFAULT, EqParams
from ..matching.features import SPECTRUM_FLOOR_DB
from ..strip import Compressor, flat_eq
from . import features as F
from .model import MixController, active_windows, band_shape, to_physical, window_features

SAMPLE_RATE = 44100.0
CURVE_FREQS_HZ = torch.logspace(math.log10(30.0), math.log10(16000.0), 40, dtype=torch.float64)
CURVE_LEVELS_DB = torch.tensor([0.0, 6.0, 12.0, 18.0], dtype=torch.float64)
# Scales: an error of this size counts 1 (squared).
SCALE_GAIN_DB, SCALE_EQ_DB, SCALE_COMP_DB, SCALE_PAN = 3.0, 2.0, 2.0, 0.2
SCALE_MID_DB, SCALE_SIDE_DB, SCALE_WIDTH, SCALE_IMBALANCE, SCALE_BAND_BALANCE = 1.0, 2.0, 0.05, 0.05, 0.1


@dataclass
class Batch:
    """Window statistics of a batch of songs, stems padded to the batch's largest count (float32 tensors)."""

    stem_energy: Tensor  # (B, S, W, 3, K)
    stem_frame_power: Tensor  # (B, S, W, F)
    stem_peak: Tensor  # (B, S, W)
    stem_mask: Tensor  # (B, S) bool: a real stem
    stem_level_db: Tensor  # (B, S) each stem's mean-square level (threshold reference)
    ref_energy: Tensor  # (B, W, 3, K)
    ref_frame_power: Tensor  # (B, W, F)
    ref_peak: Tensor  # (B, W)
    truth: Tensor | None = None  # (B, S, 10) physical settings (absolute threshold), NaN where unknown

    @classmethod
    def single(cls, stems: list[F.WindowStats], levels_db: list[float], reference: F.WindowStats) -> Batch:
        """A batch of one song (for prediction)."""
        def t(a) -> Tensor:
            return torch.as_tensor(np.asarray(a), dtype=torch.float32)[None]

        return cls(
            stem_energy=t([s.energy for s in stems]), stem_frame_power=t([s.frame_power for s in stems]),
            stem_peak=t([s.peak for s in stems]), stem_mask=torch.ones(1, len(stems), dtype=torch.bool),
            stem_level_db=t(levels_db), ref_energy=t(reference.energy), ref_frame_power=t(reference.frame_power),
            ref_peak=t(reference.peak),
        )

    def to(self, dtype: torch.dtype) -> Batch:
        return Batch(**{f.name: (v.to(dtype) if isinstance(v, Tensor) and v.is_floating_point() else v)
                        for f in fields(self) for v in [getattr(self, f.name)]})


def forward(model: MixController, batch: Batch) -> Tensor:
    """Physical predictions ``(B, S, 10)``: ``[gain_db, eq gains x6, threshold_db (absolute), ratio, pan]``."""
    mask = batch.stem_mask
    stem_power = batch.stem_frame_power.mean(dim=(-1, -2)) * mask  # (B, S)
    mix_power = stem_power.sum(dim=1).clamp_min(1e-12)[:, None]  # (B, 1)
    ref_power = batch.ref_frame_power.mean(dim=(-1, -2)).clamp_min(1e-12)  # (B,)
    stem_x = window_features(batch.stem_energy, batch.stem_frame_power, batch.stem_peak, mix_power)
    stem_band = batch.stem_energy[..., 0, :] + batch.stem_energy[..., 1, :]  # (B, S, W, K)
    sum_band = (stem_band * mask[..., None, None]).sum(dim=1, keepdim=True)
    share = (10 * torch.log10(stem_band / sum_band.clamp_min(1e-20) + 1e-6) + 30) / 15
    stem_x = torch.cat([stem_x, share], dim=-1)
    ref_x = window_features(batch.ref_energy, batch.ref_frame_power, batch.ref_peak, ref_power)
    stem_active = active_windows(batch.stem_frame_power) & mask[..., None]
    ref_active = active_windows(batch.ref_frame_power)
    stem_sum = (batch.stem_energy * mask[..., None, None, None]).sum(dim=(1, 2))  # (B, 3, K) over stems, windows
    ref_sum = (batch.ref_energy * ref_active[..., None, None]).sum(dim=1)
    difference = band_shape(ref_sum) - band_shape(stem_sum)
    out = to_physical(model(stem_x, stem_active, mask, ref_x, ref_active, difference))
    threshold = batch.stem_level_db + out[..., 7]
    return torch.cat([out[..., :7], threshold[..., None], out[..., 8:]], dim=-1)


def _eq(gains_db: Tensor) -> EqParams:
    n = gains_db.shape[0]
    freq = torch.tensor([b.freq_hz for b in flat_eq()], dtype=torch.float64).expand(n, -1)
    q = torch.tensor([b.q for b in flat_eq()], dtype=torch.float64).expand(n, -1)
    return EqParams(freq, gains_db.to(torch.float64), q, EQ_LAYOUT_DEFAULT)


def eq_curves_db(gains_db: Tensor, freqs_hz: Tensor = CURVE_FREQS_HZ) -> Tensor:
    """Console EQ response (dB) of fixed-band gains ``(..., 6)`` at ``freqs_hz``: ``(..., len(freqs_hz))``."""
    flat = gains_db.reshape(-1, gains_db.shape[-1])
    return eq_response_db(_eq(flat), freqs_hz, SAMPLE_RATE).reshape(*gains_db.shape[:-1], -1)


def comp_curves_db(threshold_db: Tensor, ratio: Tensor, level_db: Tensor) -> Tensor:
    """Static gain reduction (dB) at levels ``level_db + CURVE_LEVELS_DB``: ``(..., 4)``."""
    levels = level_db[..., None].to(torch.float64) + CURVE_LEVELS_DB
    knee = torch.full_like(levels, Compressor().knee_db)
    return gain_computer_db(levels, threshold_db[..., None].to(torch.float64), ratio[..., None].to(torch.float64),
                            knee)


def parameter_loss(pred: Tensor, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
    """Mean over songs with known settings of the four terms (see the module docstring); per-term values too."""
    truth = batch.truth
    known = ~torch.isnan(truth[..., 0]) & batch.stem_mask  # (B, S)
    songs = known.any(dim=1)
    if not bool(songs.any()):
        zero = pred.sum() * 0.0
        return zero, {}
    w = known.to(pred.dtype)
    count = w.sum(dim=1).clamp_min(1.0)

    def per_stem_mean(err: Tensor) -> Tensor:  # (B, S) -> scalar over songs with truth
        return ((err * w).sum(dim=1) / count)[songs].mean()

    t = torch.where(known[..., None], torch.nan_to_num(truth), pred.detach())  # unknown rows: no error
    gain_p = pred[..., 0] - (pred[..., 0] * w).sum(1, keepdim=True) / count[:, None]
    gain_t = t[..., 0] - (t[..., 0] * w).sum(1, keepdim=True) / count[:, None]
    terms = {
        "gain": per_stem_mean(((gain_p - gain_t) / SCALE_GAIN_DB) ** 2),
        "eq": per_stem_mean((((eq_curves_db(pred[..., 1:7]) - eq_curves_db(t[..., 1:7])) / SCALE_EQ_DB) ** 2)
                            .mean(-1).to(pred.dtype)),
        "comp": per_stem_mean((((comp_curves_db(pred[..., 7], pred[..., 8], batch.stem_level_db)
                                 - comp_curves_db(t[..., 7], t[..., 8], batch.stem_level_db)) / SCALE_COMP_DB) ** 2)
                              .mean(-1).to(pred.dtype)),
        "pan": per_stem_mean(((pred[..., 9] - t[..., 9]) / SCALE_PAN) ** 2),
    }
    return sum(terms.values()), terms


def eq_band_gains(settings: Tensor) -> Tensor:
    """The console EQ's power gain at each Bark band's centre, ``(B, S, K)``, for physical ``settings``."""
    return 10 ** (eq_curves_db(settings[..., 1:7], torch.from_numpy(F.band_centres_hz())) / 10)


def compressor_gains(settings: Tensor, stem_energy: Tensor, stem_frame_power: Tensor, band_gain: Tensor,
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The compressor's static curve on every sampled frame after the EQ (float64 inputs): ``(comp (B, S, W)``
    each window's energy gain, ``eqd (B, S, W, F)`` the frame powers after the EQ, ``frame_gain`` the same shape,
    each frame's power gain, ``broadband (B, S)`` the EQ's power gain on the stem's whole spectrum)``."""
    band_energy = (stem_energy[..., 0, :] + stem_energy[..., 1, :]).sum(dim=2)  # (B, S, K) over windows
    broadband = (band_energy * band_gain).sum(-1) / band_energy.sum(-1).clamp_min(1e-20)  # (B, S)
    eqd = stem_frame_power * broadband[..., None, None]
    level = 10 * torch.log10(eqd + 1e-10)  # (B, S, W, F)
    knee = torch.full_like(level, Compressor().knee_db)
    frame_gain = 10 ** (gain_computer_db(level, settings[..., 7, None, None].to(torch.float64),
                                         settings[..., 8, None, None].to(torch.float64), knee) / 10)
    comp = (stem_frame_power * frame_gain).sum(-1) / stem_frame_power.sum(-1).clamp_min(1e-20)
    return comp, eqd, frame_gain, broadband


def band_console(settings: Tensor, stem_energy: Tensor, stem_frame_power: Tensor, stem_peak: Tensor,
                 stem_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The console on window statistics: the mix's ``(energy (B, W, 3, K), frame_power (B, W, F), peak (B, W))``
    for physical ``settings (B, S, 10)`` on stems ``(B, S, ...)`` (see the module docstring). Frames line up
    across the stems of a song (:func:`~.features.frame_starts` depends only on the length), so frame powers
    add; peaks add in power (a model: they rarely coincide)."""
    e = stem_energy.to(torch.float64)  # (B, S, W, 3, K)
    fp = stem_frame_power.to(torch.float64)  # (B, S, W, F)
    band_gain = eq_band_gains(settings)
    comp, eqd, frame_gain, broadband = compressor_gains(settings, e, fp, band_gain)
    left, right = PanLaw().gains(settings[..., 9].to(torch.float64))  # (B, S)
    fader = 10 ** (settings[..., 0].to(torch.float64) / 10) * stem_mask  # (B, S)
    chan = torch.stack([left**2, right**2, left * right], dim=-1)  # (B, S, 3)
    energy = torch.einsum("bsw,bs,bsc,bsk,bswck->bwck", comp, fader, chan, band_gain, e)
    side_power = (left**2 + right**2) / 2 * fader  # (B, S)
    frame_power = torch.einsum("bswf,bs->bwf", eqd * frame_gain, side_power)
    amplitude = torch.maximum(left, right) * fader.sqrt() * broadband.sqrt()  # (B, S)
    peak = ((stem_peak.to(torch.float64) * amplitude[..., None]) ** 2).sum(1).sqrt()
    return energy, frame_power, peak


def mix_energies(pred: Tensor, batch: Batch) -> Tensor:
    """Band energies ``(B, 3, K)`` (LL, RR, LR summed over windows) of the mix the predicted settings make."""
    return band_console(pred, batch.stem_energy, batch.stem_frame_power, batch.stem_peak, batch.stem_mask)[0].sum(1)


def mix_features(energy: Tensor) -> dict[str, Tensor]:
    """The loss's features of band energies ``(B, 3, K)`` (see the module docstring)."""
    ll, rr, lr = energy[:, 0], energy[:, 1], energy[:, 2]
    mid = ((ll + rr + 2 * lr) / 4).clamp_min(0.0)
    side = ((ll + rr - 2 * lr) / 4).clamp_min(0.0)
    total = (mid + side).sum(-1, keepdim=True).clamp_min(1e-20)
    floor = 10 ** (SPECTRUM_FLOOR_DB / 10)
    return {
        "mid_db": 10 * torch.log10(mid / total + floor),
        "side_db": 10 * torch.log10(side / total + floor),
        "width": side.sum(-1) / mid.sum(-1).clamp_min(1e-20),
        "imbalance": (rr.sum(-1) - ll.sum(-1)) / (rr.sum(-1) + ll.sum(-1)).clamp_min(1e-20),
        "band_balance": (rr - ll) / (rr + ll + total * 1e-6),
    }


FEATURE_SCALES = {"mid_db": SCALE_MID_DB, "side_db": SCALE_SIDE_DB, "width": SCALE_WIDTH,
                  "imbalance": SCALE_IMBALANCE, "band_balance": SCALE_BAND_BALANCE}


def feature_loss(pred: Tensor, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
    """Mean over the batch of the scaled squared feature differences, mix against reference."""
    mine = mix_features(mix_energies(pred, batch))
    ref = mix_features(batch.ref_energy.to(torch.float64).sum(dim=1))
    terms = {k: v.mean().to(pred.dtype) for k, v in feature_terms(mine, ref).items()}
    return sum(terms.values()), terms


def feature_terms(mine: dict[str, Tensor], ref: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per example ``(B,)``, the scaled squared differences of :func:`mix_features` ``mine`` against ``ref``
    (spectra averaged over bands; the per-band balance over the bands where the reference has energy, as
    elsewhere it is noise)."""
    heard = (ref["mid_db"].detach() > SPECTRUM_FLOOR_DB + 20).to(ref["mid_db"].dtype)
    terms = {}
    for k, scale in FEATURE_SCALES.items():
        err = ((mine[k] - ref[k]) / scale) ** 2
        if k == "band_balance":
            err = (err * heard).sum(-1) / heard.sum(-1).clamp_min(1.0)
        elif err.ndim > 1:
            err = err.mean(-1)
        terms[k] = err
    return terms
