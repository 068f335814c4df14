"""Pan of a stereo stem as REAPER's track pan does it, with the pan law given as data.

REAPER facts (certainty as in reaper.md):

* ``D_PAN``/``VOLPAN`` pan runs -1 (left) .. +1 (right) [sdk].
* Track pan modes (``I_PANMODE``): 0 classic 3.x balance, 3 "new balance" = *stereo balance / mono pan*, the
  project default, 5 stereo pan (pan + width), 6 dual pan [sdk]. Every fixture project (REAPER 5.50, 6.13,
  6.69) stores ``PANMODE 3`` [decoded].
* Pan law (``D_PANLAW``, project ``PANLAW``): the gain at centre, linear: 1 = +0 dB, 0.707 = -3 dB,
  0.5 = -6 dB; values above 1 (1.414, 2) mean the same law "with gain compensation" (centre at unity, hard pan
  boosted); a track value < 0 follows the project [sdk]. Every fixture stores ``PANLAW 1``, i.e. 0 dB, and
  tracks use ``-1`` (project default) [decoded]. Taper flags (``I_PANLAW_FLAGS``, the track line
  ``PANLAWFLAGS``): 0 sine (default), 2 linear, 3 hybrid [sdk]; REAPER 7.09+ writes 3 [reaper.md]. The hybrid
  curve is unverified: here it is the mean of the sine and linear tapers.
* A 0 dB law is a balance control: no dip at centre, no boost at the sides; the opposite channel fades to
  silence at hard pan [inferred from the documentation of the laws]. How it fades in between (sine or linear
  taper, and how REAPER combines the taper with a 0 dB law) is **unverified**: measure it in a live REAPER and
  change :class:`PanLaw` data, not code.

Our stems are stereo and the buses we create use REAPER's defaults (mode 3, project law); a user's folder that
carries a group keeps its own law (:meth:`PanLaw.of_track`), and the console pans each bus by its law
(:func:`pan_gains`), scaling each channel (balance, no cross-feed): for ``p > 0`` the right channel gets
``near(p)`` and the left ``far(p)``; mirrored for ``p < 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ..session import Session, Track


@dataclass(frozen=True)
class PanLaw:
    """A balance/pan law for one stereo channel pair.

    ``centre_db``: gain of both channels at centre, relative to the near channel at hard pan (0 = balance
    control, -3 = constant power, -6 = linear sum). ``gain_compensated`` raises everything by ``-centre_db``
    so that centre is unity. ``taper``: how the gains travel between centre and the sides. The defaults are
    REAPER's project default (0 dB, sine taper), recorded as data in ``data/reaper_fx_mappings.yaml`` (the tests
    check the two agree).
    """

    centre_db: float = 0.0
    taper: Literal["sine", "linear", "hybrid"] = "sine"
    gain_compensated: bool = False

    @classmethod
    def reaper_default(cls) -> PanLaw:
        """REAPER's project-default law as recorded in ``data/reaper_fx_mappings.yaml``."""
        from ..reaper.mappings import default_pan_law

        law = default_pan_law()
        return cls(float(law["centre_db"]), law["taper"], bool(law["gain_compensated"]))

    @classmethod
    def from_reaper(cls, centre_gain: float, flags: int = 0) -> PanLaw:
        """The law REAPER stores as a linear centre gain (``D_PANLAW``/``PANLAW``: 1 = 0 dB, 0.707 = -3 dB,
        above 1 = that law gain-compensated) and taper flags (``PANLAWFLAGS``)."""
        from ..reaper.mappings import pan_taper

        if not (math.isfinite(centre_gain) and centre_gain > 0):
            raise ValueError(f"pan law centre gain {centre_gain} is not a positive number")
        compensated = centre_gain > 1.0
        centre_db = 20.0 * math.log10(1.0 / centre_gain if compensated else centre_gain)
        return cls(centre_db, pan_taper(flags), compensated)

    @classmethod
    def of_track(cls, session: Session, track: Track) -> PanLaw:
        """The law ``track`` pans with: its own (``VOLPAN`` field 3) or the project's when that is < 0, with
        the track's taper."""
        gain = track.pan_law_gain if track.pan_law_gain >= 0 else session.pan_law_gain
        return cls.from_reaper(gain, track.pan_law_flags)

    @classmethod
    def of_new_track(cls, session: Session) -> PanLaw:
        """The law of a track this tool inserts: the project's law, REAPER's default taper."""
        return cls.from_reaper(session.pan_law_gain, 0)

    def gains(self, pan: Tensor) -> tuple[Tensor, Tensor]:
        """``(left, right)`` linear gains for pan positions in [-1, 1]."""
        p = pan.clamp(-1.0, 1.0)
        near, far = self._near_far(p.abs())
        left = torch.where(p > 0, far, near)
        right = torch.where(p > 0, near, far)
        if self.gain_compensated:
            boost = 10.0 ** (-self.centre_db / 20.0)
            left, right = left * boost, right * boost
        return left, right

    def _near_far(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """Gains of the channel towards the pan side and the one away from it, for ``u = |pan|``."""
        if self.taper == "hybrid":
            sine, linear = PanLaw(self.centre_db, "sine")._near_far(u), PanLaw(self.centre_db, "linear")._near_far(u)
            return 0.5 * (sine[0] + linear[0]), 0.5 * (sine[1] + linear[1])
        if self.centre_db == 0.0:
            # Balance control: the near channel stays at unity, the far one fades out.
            fade = torch.sin(0.5 * math.pi * (1.0 - u)) if self.taper == "sine" else 1.0 - u
            return torch.ones_like(u), fade
        # A pan law: both channels at centre_db at centre; the shape is the taper's -3 dB (sine) or -6 dB
        # (linear) law raised to the power that puts the centre at centre_db.
        position = 0.5 * (1.0 + u)  # 0.5 at centre, 1 at hard pan towards this side
        if self.taper == "sine":
            near, far = torch.sin(0.5 * math.pi * position), torch.cos(0.5 * math.pi * position)
            base_db = -20.0 * math.log10(math.sqrt(2.0))
        else:
            near, far = position, 1.0 - position
            base_db = -20.0 * math.log10(2.0)
        exponent = self.centre_db / base_db
        # The floor keeps the power's gradient finite where a channel reaches silence (-120 dB at most).
        return near.clamp_min(1e-12) ** exponent, far.clamp_min(1e-12) ** exponent


def pan_gains(laws: Sequence[PanLaw], pan: Tensor) -> tuple[Tensor, Tensor]:
    """``(left, right)`` gains for ``pan`` shaped ``(n,)``, element ``i`` under ``laws[i]`` (one law for all:
    a single-element sequence)."""
    if len(set(laws)) == 1:
        return laws[0].gains(pan)
    if len(laws) != pan.shape[0]:
        raise ValueError(f"{len(laws)} pan laws for {pan.shape[0]} pans")
    pairs = [law.gains(pan[i : i + 1]) for i, law in enumerate(laws)]
    return torch.cat([left for left, _ in pairs]), torch.cat([right for _, right in pairs])


def apply_pan(x: Tensor, pan: Tensor, law: PanLaw | Sequence[PanLaw] = PanLaw()) -> Tensor:
    """Pan ``x`` shaped ``(batch, 2, samples)`` by ``pan`` shaped ``(batch,)``, under one ``law`` or one law per
    row (each bus pans by its own, :func:`pan_gains`). Mono input (1 channel) is duplicated to both sides first
    (REAPER plays a mono item on both channels of a stereo track)."""
    if x.shape[1] == 1:
        x = x.expand(-1, 2, -1)
    if x.shape[1] != 2:
        raise ValueError(f"apply_pan expects 1 or 2 channels, got {x.shape[1]}")
    left, right = pan_gains((law,) if isinstance(law, PanLaw) else tuple(law), pan.to(x.dtype))
    return x * torch.stack([left, right], dim=1)[:, :, None]
