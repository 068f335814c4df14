"""Test-time refinement of the network's prediction through the differentiable band-energy console.

The network predicts each stem's strip in one forward pass (:mod:`.losses`' :func:`~.losses.forward`). The same
window statistics then let the prediction be *refined* for the song at hand: 100 Adam steps (cosine-decayed
rate) on the fader gains and EQ band gains (the compressor stays as predicted), through the console the network
is trained with (:func:`~.losses.band_console`: EQ magnitude per Bark band, the compressor's static curve on every
sampled frame, fader, REAPER's pan law; stems add in energy), minimising

* the feature terms of the training loss between the mix and the reference (:func:`~.losses.mix_features`:
  mid and side Bark spectra relative to the total, width, imbalance and each band's left/right balance), plus
* a Gaussian prior toward the network's prediction: ``((gain - predicted) / gain_scale_db)^2`` (strong: the
  predicted balance is good) and ``((eq - predicted) / eq_scale_db)^2`` per band, averaged over the stems and
  weighted by ``prior_weight``.

**Pans are not refined by the features.** The side spectrum and the width are even in pan, so for a stem whose
place the per-band balance cannot pin, the loss has mirror-image minima on either side, and which one the descent
fell into was decided by rounding: a 1e-6 change of every stem's level moved a bus from +0.06 to -0.21, and the
live and offline renders of one project got different pans. The pans' prior is the product of two:
``((pan - predicted) / pan_scale)^2`` and, with ``centre_scale`` > 0, ``(pan / centre_scale)^2`` toward the
centre, where engineers keep most buses (with ``low_centre_hz`` > 0 that scale is multiplied by one minus the
stem's energy share below that frequency: bass and kick stay centred); its minimum is
``predicted x c^2 / (c^2 + s^2)``. With ``balance_pans`` (the default) each pan is that prior's posterior mean
given the reference's per-band left/right balance (:func:`_pans_from_balance`: the balance equations are linear
in the stems' energy imbalances, so one weighted least-squares solve over every band, then a 1-D posterior per
stem; odd in pan, a smooth function of the statistics), estimated once at the prediction's gains and the EQ's
start (flat) before the one gain and EQ descent (``pans_first``; the earlier order, a descent with the prior's pans,
the balance pans at its result and a second descent, gave the same validation numbers at twice the cost). Without
it, each pan is the prior's minimum.

The reference is made of other bars than the stems the engine hears, so even the right settings leave the band
features off by however much the stems change from one part of the song to another. With ``noise_weight`` > 0
each band's level and balance terms are scaled by that expected spread, estimated from the stems' own
window-to-window changes (:func:`_band_noise`): bands carried by steady stems count, bands carried by a stem that
comes and goes count less.

The defaults were chosen on validation songs only (``benchmarks/refine_validation.py``: dataset songs of seeds
the shipped network never saw, training SoundFonts, 12 s songs as the evaluation's, method-1 references of the
training consoles and of an evaluation-like console distribution, and other-song references); the balance
estimate's noise floor (0.05) and the EQ prior (1 dB: the smallest EQ error, no worse than flat there) were chosen
on those songs as well.
EQ gains are kept within the plausibility limit's +/-6 dB during the search (the limits are applied afterwards
anyway). It works on the statistics already computed for the network (a few tenths of a CPU second for 6-8
stems here, whatever the song's length). Deterministic: plain full-batch Adam from the prediction, no randomness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from ..adam import Adam
from ..matching.features import SPECTRUM_FLOOR_DB
from ..matching.limits import LIMITS
from . import features as F
from .losses import (
    FEATURE_SCALES,
    Batch,
    compressor_gains,
    eq_band_gains,
    eq_curves_db,
    feature_terms,
    mix_features,
)
from .model import active_windows

PAN_MAX = 1.0
_TINY = 1e-12


@dataclass(frozen=True)
class RefineOptions:
    """The refinement's schedule and prior (units: dB, pan units); ``steps=0`` turns it off."""

    steps: int = 100
    learning_rate: float = 0.15
    gain_scale_db: float = 1.0
    eq_scale_db: float = 1.0
    pan_scale: float = 0.3
    centre_scale: float = 0.3  # > 0: a second pan prior, toward the centre, of this scale (engineers centre most)
    low_centre_hz: float = 150.0  # > 0: the centre prior's scale shrinks with the stem's energy share below this
    prior_weight: float = 1.0
    noise_weight: float = 1.0  # > 0: bands whose mix the stems' window-to-window changes make uncertain count less
    network_eq_share: float = 0.0  # the EQ prior's centre (and start): this share of the predicted EQ; 0: flat
    network_pan_share: float = 1.0  # the same for pan; 0: centre
    balance_pans: bool = True  # True: pans from the reference's per-band left/right balance (_pans_from_balance)
    balance_floor: float = 0.05  # the balance equations' noise floor (balance units) besides the stems' own spread
    balance_noise_scale: float = 1.0  # multiplies the stems' window-to-window balance spread in that noise
    pan_prior_widen: float = 1.0  # multiplies the two pan priors' combined scale in the balance estimate
    pan_grid: int = 401  # points of the posterior's pan grid over -1..+1
    pans_first: bool = True  # True: balance pans at the prediction's gains and the EQ's start, then one descent;
    # False: a descent, the balance pans at its gains and EQ, a second descent (twice the cost, same validation)


def imbalance_of_pan(pan: Tensor) -> Tensor:
    """The energy imbalance ``(R^2 - L^2) / (R^2 + L^2)`` that the trained console's law (REAPER's balance: 0 dB
    centre, sine taper, the far channel at ``cos(pi p / 2)``) gives a stem with equal channels at ``pan``."""
    far2 = torch.cos(0.5 * math.pi * pan.clamp(-1.0, 1.0)) ** 2
    return torch.sign(pan) * (1.0 - far2) / (1.0 + far2)


def channel_gains(imbalance: Tensor) -> Tensor:
    """``(L^2, R^2, L R)`` power gains of the trained law at the pan of energy imbalance ``imbalance`` (see
    :func:`imbalance_of_pan`), ``(..., 3)``."""
    u = imbalance.clamp(-1.0, 1.0)
    one = torch.ones_like(u)
    left2 = torch.where(u >= 0, (1.0 - u) / (1.0 + u), one)
    right2 = torch.where(u < 0, (1.0 + u) / (1.0 - u), one)
    return torch.stack([left2, right2, torch.sqrt(left2 * right2 + _TINY)], dim=-1)


def _pans_from_balance(stem_energy: Tensor, fader: Tensor, band_gain: Tensor, ref_energy: Tensor, heard: Tensor,
                       balance_noise: Tensor, mask: Tensor, prior_pan: Tensor, prior_scale: Tensor,
                       options: RefineOptions) -> Tensor:
    """Each stem's pan ``(B, S)`` from the reference's per-band left/right balance, an estimator that is *odd*
    in pan (mirror the reference and the prior and the pans mirror) with one smooth answer (no descent, no
    mirror-image minima).

    With the trained law a pan of energy imbalance ``u`` scales a stem's left and right energies by ``1 - u``
    and ``1 + u`` (times ``1 / (1 + |u|)``, a level change the fader takes), so the mix's balance in band ``k``
    equals the reference's ``beta_k`` exactly where ``sum_s (1 + u_s) R_sk - (1 - u_s) L_sk = beta_k sum_s
    ((1 + u_s) R_sk + (1 - u_s) L_sk)``: one *linear* equation per band in the stems' imbalances, with
    ``L_sk``, ``R_sk`` the stems' whole-song band energies after their compressor, EQ and fader (``stem_energy``
    ``(B, S, 3, K)``, ``fader (B, S)`` power, ``band_gain (B, S, K)`` power). Divided by the band's total, each
    equation's error is in balance units; its spread is ``balance_floor`` plus the stems' own window-to-window
    balance spread in that band (``balance_noise (B, K)``: bands where a stem that comes and goes sits count
    less), only bands the reference carries (``heard (B, K)``). Weighted least squares over all bands gives a
    Gaussian likelihood of the imbalances; each stem's marginal of it, times a Gaussian prior in *pan* (mean
    ``prior_pan``, scale ``prior_scale``: the two priors of the module docstring) on a grid, gives the posterior
    mean pan. Near the centre the law's imbalance is quadratic in pan, so small pans are nearly invisible and the
    prior holds them; large pans show clearly and the balance places them."""
    e = fader[..., None, None] * band_gain[:, :, None, :] * stem_energy  # (B, S, 3, K)
    left, right = e[:, :, 0], e[:, :, 1]  # (B, S, K)
    beta = (ref_energy[:, 1] - ref_energy[:, 0]) / (ref_energy[:, 1] + ref_energy[:, 0]).clamp_min(_TINY)
    total = (left + right).sum(dim=1).clamp_min(_TINY)  # (B, K)
    constant = ((right - left) - beta[:, None] * (right + left)).sum(dim=1) / total  # (B, K): the error at u = 0
    slope = ((right + left) - beta[:, None] * (right - left)) / total[:, None]  # (B, S, K): its change per u_s
    weight = heard / (options.balance_floor**2 + (options.balance_noise_scale * balance_noise) ** 2)  # (B, K)
    n = mask.shape[1]
    eye = torch.eye(n, dtype=e.dtype)
    # A weak ridge (imbalance scale 1) keeps the system regular where stems share every band; silent or padded
    # stems are pinned at 0.
    ridge = torch.where(mask, torch.ones_like(fader), torch.full_like(fader, 1e6))
    precision = torch.einsum("bsk,bk,btk->bst", slope, weight, slope) + torch.diag_embed(ridge)
    rhs = -torch.einsum("bsk,bk,bk->bs", slope, weight, constant)
    covariance = torch.linalg.solve(precision, eye.expand_as(precision))
    mean_u = torch.einsum("bst,bt->bs", covariance, rhs)
    var_u = torch.diagonal(covariance, dim1=-2, dim2=-1).clamp_min(_TINY)  # (B, S): each stem's marginal
    grid = torch.linspace(-PAN_MAX, PAN_MAX, options.pan_grid, dtype=e.dtype)  # (G,)
    scale = (options.pan_prior_widen * prior_scale).clamp_min(1e-3)
    log_post = (-0.5 * (imbalance_of_pan(grid) - mean_u[..., None]) ** 2 / var_u[..., None]
                - 0.5 * ((grid - prior_pan[..., None]) / scale[..., None]) ** 2)  # (B, S, G)
    pan = (torch.softmax(log_post, dim=-1) * grid).sum(-1)
    return torch.where(mask, pan, prior_pan)


EQ_TABLE_DB = 12.0  # the table spans the network's EQ head range
EQ_TABLE_STEP_DB = 0.05


@lru_cache(maxsize=1)
def _eq_table() -> Tensor:
    """``(bands, gains, K)``: the dB response at each Bark band's centre of the console's EQ with one band at
    each gain of a 0.05 dB grid over +/-12 dB and the others flat. A cascade's dB responses add, so
    :func:`eq_band_db` is exact up to linear interpolation in one band's gain (well under 0.01 dB), and costs a
    gather instead of six biquads per step."""
    grid = torch.arange(-EQ_TABLE_DB, EQ_TABLE_DB + EQ_TABLE_STEP_DB / 2, EQ_TABLE_STEP_DB, dtype=torch.float64)
    n_bands = 6
    gains = torch.zeros(n_bands, len(grid), n_bands, dtype=torch.float64)
    for j in range(n_bands):
        gains[j, :, j] = grid
    return eq_curves_db(gains, torch.from_numpy(F.band_centres_hz()))


def eq_band_db(eq_gains_db: Tensor) -> Tensor:
    """The console EQ's response (dB) at each Bark band's centre for fixed-band gains ``(..., 6)`` within
    +/-12 dB: ``(..., K)`` (from :func:`_eq_table`; differentiable, piecewise linear in each gain)."""
    table = _eq_table()
    position = ((eq_gains_db.clamp(-EQ_TABLE_DB, EQ_TABLE_DB) + EQ_TABLE_DB) / EQ_TABLE_STEP_DB)
    low = position.detach().floor().clamp(0, table.shape[1] - 2).long()
    frac = (position - low)[..., None]
    bands = torch.arange(table.shape[0])
    return ((1.0 - frac) * table[bands, low] + frac * table[bands, low + 1]).sum(dim=-2)


def _band_noise(energy: Tensor, frame_power: Tensor, mask: Tensor, contribution: Tensor) -> tuple[Tensor, Tensor]:
    """How uncertain the mix's long-term band features are, given that the reference is made of *other* bars:
    from each stem's window-to-window variation of its band energy and its per-band left/right balance (over the
    windows where it plays), weighted by its ``contribution (B, S, K)`` to the mix. Returns the spread of the
    mix's band level (dB) and of its band balance, ``(B, K)`` each."""
    active = (active_windows(frame_power) & mask[..., None]).to(energy.dtype)  # (B, S, W)
    n = active.sum(dim=2).clamp_min(1.0)[..., None]  # (B, S, 1)
    power = energy[..., 0, :] + energy[..., 1, :]  # (B, S, W, K)
    a = active[..., None]
    mean = (power * a).sum(dim=2) / n
    rel_var = (((power - mean[:, :, None]) ** 2) * a).sum(dim=2) / n / mean.clamp_min(1e-20) ** 2
    balance = (energy[..., 1, :] - energy[..., 0, :]) / (power + 1e-20)
    bal_mean = (balance * a).sum(dim=2) / n
    bal_var = (((balance - bal_mean[:, :, None]) ** 2) * a).sum(dim=2) / n
    share = contribution / contribution.sum(dim=1, keepdim=True).clamp_min(1e-20)  # (B, S, K)
    level_db = (10.0 / math.log(10.0)) * torch.sqrt((share**2 * rel_var).sum(dim=1))
    return level_db, torch.sqrt((share**2 * bal_var).sum(dim=1))


def _weighted_terms(mine: dict[str, Tensor], ref: dict[str, Tensor], band_scales: dict[str, Tensor] | None,
                    ) -> Tensor:
    """:func:`~.losses.feature_terms` summed; ``band_scales``: per-band scales ``(B, K)`` for the band features
    (``mid_db``, ``side_db``, ``band_balance``) in place of the fixed ones."""
    if band_scales is None:
        return sum(feature_terms(mine, ref).values())
    heard = (ref["mid_db"] > SPECTRUM_FLOOR_DB + 20).to(ref["mid_db"].dtype)
    total = 0.0
    for key, scale in FEATURE_SCALES.items():
        err = ((mine[key] - ref[key]) / band_scales.get(key, scale)) ** 2
        if key == "band_balance":
            err = (err * heard).sum(-1) / heard.sum(-1).clamp_min(1.0)
        elif err.ndim > 1:
            err = err.mean(-1)
        total = total + err
    return total


def refine_settings(pred: Tensor, batch: Batch, options: RefineOptions = RefineOptions()) -> Tensor:
    """``pred`` (``(B, S, 10)`` physical, as :func:`~.losses.forward` returns) with gains, EQ gains and pans
    refined for ``batch``'s references (module docstring); thresholds and ratios unchanged. float64.

    The compressor's energy gain per window is taken once, at the prediction (the compressor is not refined,
    and an EQ change moves its input level little); the rest of :func:`~.losses.band_console` runs every step
    on the window-summed statistics."""
    start = pred.detach().to(torch.float64).clone()
    if options.steps <= 0:
        return start
    start[..., 1:7] *= options.network_eq_share
    start[..., 9] *= options.network_pan_share
    mask = batch.stem_mask
    weight = mask.to(torch.float64)
    count = weight.sum(dim=1).clamp_min(1.0)
    energy = batch.stem_energy.to(torch.float64)  # (B, S, W, 3, K)
    with torch.no_grad():
        comp = compressor_gains(start, energy, batch.stem_frame_power.to(torch.float64), eq_band_gains(start))[0]
        stem_energy = torch.einsum("bsw,bswck->bsck", comp, energy) * weight[..., None, None]  # after the comp
        ref_energy = batch.ref_energy.to(torch.float64).sum(dim=1)
        ref = mix_features(ref_energy)
        band_scales = None
        if options.noise_weight > 0 or options.balance_pans:
            contribution = (10 ** (start[..., 0] / 10))[..., None] * eq_band_gains(start) * (
                stem_energy[..., 0, :] + stem_energy[..., 1, :])
            level_noise, balance_noise = _band_noise(energy, batch.stem_frame_power.to(torch.float64), mask,
                                                     contribution)
        if options.noise_weight > 0:
            band_scales = {key: torch.sqrt(FEATURE_SCALES[key] ** 2 + options.noise_weight * noise**2)
                           for key, noise in (("mid_db", level_noise), ("side_db", level_noise),
                                              ("band_balance", balance_noise))}
    start_pan = start[..., 9].clamp(-PAN_MAX, PAN_MAX)
    centre_scale = torch.full_like(start_pan, options.centre_scale)
    if options.low_centre_hz > 0:  # bass and kick stay centred: the more low end a stem carries, the stronger
        band_power = (energy[..., 0, :] + energy[..., 1, :]).sum(dim=2)  # (B, S, K)
        low = torch.from_numpy(F.band_centres_hz() < options.low_centre_hz)
        low_share = band_power[..., low].sum(-1) / band_power.sum(-1).clamp_min(1e-20)
        centre_scale = centre_scale * (1.0 - low_share).clamp_min(0.05)
    # Pans are not moved by the features' descent: the side spectrum and the width are even in pan, so wherever
    # the per-band balance cannot place a stem the loss has mirror-image minima, and which one the descent fell
    # into was decided by rounding (a 1e-6 gain change of every stem moved a bus from +0.06 to -0.21, and the
    # live and offline renders of one project got different pans). Each pan is the minimum of its two priors,
    # toward the network's pan and toward the centre (a continuous function of the prediction), or, with
    # balance_pans, that prior's posterior given the per-band balance (_pans_from_balance: smooth as well).
    pan = start_pan
    prior_scale = torch.full_like(start_pan, options.pan_scale)
    if options.centre_scale > 0:
        pan = start_pan * centre_scale**2 / (centre_scale**2 + options.pan_scale**2)
        prior_scale = centre_scale * options.pan_scale / torch.sqrt(centre_scale**2 + options.pan_scale**2)

    def descend(pan: Tensor, gain_start: Tensor, eq_start: Tensor) -> tuple[Tensor, Tensor]:
        """Gains and EQ refined by the features with ``pan`` fixed, from ``gain_start``, ``eq_start``."""
        channels = channel_gains(imbalance_of_pan(pan))
        gain = gain_start.clone().requires_grad_(True)
        eq = eq_start.clamp(-LIMITS.eq_db, LIMITS.eq_db).clone().requires_grad_(True)
        optimiser = Adam([([gain, eq], options.learning_rate)])
        for step in range(options.steps):
            fader = 10 ** (gain / 10)
            band_gain = 10 ** (eq_band_db(eq) / 10)
            mix = torch.einsum("bs,bsc,bsk,bsck->bck", fader, channels, band_gain, stem_energy)
            feature = _weighted_terms(mix_features(mix), ref, band_scales)
            prior = (((gain - start[..., 0]) / options.gain_scale_db) ** 2
                     + (((eq - start[..., 1:7]) / options.eq_scale_db) ** 2).mean(-1))
            prior = (prior * weight).sum(dim=1) / count
            loss = (feature + options.prior_weight * prior).sum()
            loss.backward()
            optimiser.step(0.5 * (1.0 + math.cos(math.pi * step / options.steps)))  # cosine decay: settle
            with torch.no_grad():
                eq.clamp_(-LIMITS.eq_db, LIMITS.eq_db)
        return gain.detach(), eq.detach()

    def balance(pan: Tensor, gain: Tensor, eq: Tensor) -> Tensor:
        """The balance pans (_pans_from_balance) at these gains and EQ, the prior's pans ``pan``."""
        with torch.no_grad():
            heard = (ref["mid_db"] > SPECTRUM_FLOOR_DB + 20).to(torch.float64)
            return _pans_from_balance(stem_energy, 10 ** (gain / 10), 10 ** (eq_band_db(eq) / 10), ref_energy,
                                      heard, balance_noise, mask, pan, prior_scale, options)

    if options.balance_pans and options.pans_first:  # pans at the prediction's gains and the EQ's start
        pan = balance(pan, start[..., 0], start[..., 1:7].clamp(-LIMITS.eq_db, LIMITS.eq_db))
    gain, eq = descend(pan, start[..., 0], start[..., 1:7])
    if options.balance_pans and not options.pans_first:
        pan = balance(pan, gain, eq)
        # The gains again with these pans (from where they are): a pan lowers its stem's level.
        gain, eq = descend(pan, gain, eq)
    out = torch.cat([gain[..., None], eq, start[..., 7:9], pan[..., None]], dim=-1)
    return torch.where(mask[..., None], out, start)
