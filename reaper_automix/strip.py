"""The channel strip: one bus's gain, EQ bands, compressor and pan in physical units, and their ranges.

A :class:`Strip` is the one representation of a stage-2 decision. The search (:mod:`reaper_automix.matching`)
produces strips, the learned controller will predict them, :mod:`reaper_automix.console.params` converts them to
and from the console's tensors (and to the normalised ``(batch, n_params)`` vectors in 0..1 a network outputs),
and :mod:`reaper_automix.reaper.mappings` / :mod:`reaper_automix.live.fxmap` turn them into ReaEQ, ReaComp and
pan. Torch-free: plain dataclasses and floats.

Signal order is REAPER's track order, so that a strip maps one-to-one onto a REAPER track:
``EQ (ReaEQ) -> compressor (ReaComp) -> fader gain_db (D_VOL) -> pan (D_PAN)``.

The ranges (:class:`ParamRange` constants and the EQ layouts) are the single definition of what a strip may
hold: the normalised layer maps 0..1 onto them, and the search's default limits are read from them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

EqKind = Literal["low_shelf", "peak", "high_shelf"]


# --- ranges --------------------------------------------------------------------------------------------------------


def _log(value: Any) -> Any:
    """Natural log of a float, an array or a tensor (a tensor keeps its graph)."""
    return value.log() if hasattr(value, "log") else np.log(value)


@dataclass(frozen=True)
class ParamRange:
    """A parameter's physical range and how a normalised value ``x`` in [0, 1] maps onto it.

    Works elementwise on floats, numpy arrays and torch tensors alike (tensors stay differentiable)."""

    low: float
    high: float
    unit: str
    scale: Literal["linear", "log"] = "linear"

    def to_physical(self, x: Any) -> Any:
        """Map ``x`` in [0, 1] (e.g. a sigmoid output) to the range."""
        if self.scale == "log":
            return self.low * (self.high / self.low) ** x
        return self.low + (self.high - self.low) * x

    def clip(self, value: float) -> float:
        """``value`` moved into the range (the nearest end when outside)."""
        return float(min(self.high, max(self.low, value)))

    def to_normalised(self, value: Any) -> Any:
        """Inverse of :meth:`to_physical` (values outside the range give x outside [0, 1])."""
        if self.scale == "log":
            return _log(value / self.low) / math.log(self.high / self.low)
        return (value - self.low) / (self.high - self.low)


# Starting from Diff-MST's ranges (mixing.md section 2); the deviations are reasoned in console/params.py.
GAIN_DB = ParamRange(-12.0, 12.0, "dB")  # relative to the level the strip receives (stage 2: the stage-1 balance)
EQ_GAIN_DB = ParamRange(-6.0, 6.0, "dB")  # +/-6 dB: shaping a stem, not chasing a spectrum (matching/limits.py)
EQ_Q = ParamRange(0.27, 5.0, "", "log")  # 0.27 = 4 octaves, ReaEQ's widest bandwidth
THRESHOLD_DB = ParamRange(-60.0, 0.0, "dB")
RATIO = ParamRange(1.0, 4.0, "", "log")  # a bus compressor, not a limiter
ATTACK_MS = ParamRange(5.0, 250.0, "ms", "log")
RELEASE_MS = ParamRange(10.0, 250.0, "ms", "log")
KNEE_DB = ParamRange(3.0, 12.0, "dB")
MAKEUP_DB = ParamRange(0.0, 6.0, "dB")
PAN = ParamRange(-1.0, 1.0, "")  # REAPER's D_PAN: -1 hard left, 0 centre, +1 hard right

COMPRESSOR_RANGES: dict[str, ParamRange] = {
    "threshold_db": THRESHOLD_DB,
    "ratio": RATIO,
    "attack_ms": ATTACK_MS,
    "release_ms": RELEASE_MS,
    "knee_db": KNEE_DB,
    "makeup_db": MAKEUP_DB,
}
"""The compressor's fields, in the order of :class:`Compressor` and of a normalised vector, with their ranges."""

BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)


class BandKind(enum.Enum):
    """RBJ cookbook filter shapes used by the console EQ."""

    LOW_SHELF = "low_shelf"
    PEAK = "peak"
    HIGH_SHELF = "high_shelf"


@dataclass(frozen=True)
class EqBandSpec:
    """One EQ band of a layout: its shape, the range its centre/corner frequency may take, and its neutral
    position (where the search keeps it and where a flat EQ puts it)."""

    kind: BandKind
    freq_hz: ParamRange
    neutral_freq_hz: float
    neutral_q: float = 1.0


def _hz(low: float, high: float) -> ParamRange:
    return ParamRange(low, high, "Hz", "log")


EQ_LAYOUT_DEFAULT: tuple[EqBandSpec, ...] = (
    EqBandSpec(BandKind.LOW_SHELF, _hz(30.0, 1000.0), 100.0, BUTTERWORTH_Q),
    EqBandSpec(BandKind.PEAK, _hz(50.0, 500.0), 250.0),
    EqBandSpec(BandKind.PEAK, _hz(200.0, 2000.0), 700.0),
    EqBandSpec(BandKind.PEAK, _hz(800.0, 8000.0), 2000.0),
    EqBandSpec(BandKind.PEAK, _hz(2000.0, 16000.0), 5000.0),
    EqBandSpec(BandKind.HIGH_SHELF, _hz(3000.0, 18000.0), 10000.0, BUTTERWORTH_Q),
)
"""The project's EQ layout (console/params.py says why it differs from Diff-MST's). The neutral frequencies are
the reference search's fixed bands: 100 Hz low shelf, peaks at 250, 700, 2000 and 5000 Hz (Q 1, about 1.4
octaves), 10 kHz high shelf."""


def _centred(kind: BandKind, low: float, high: float) -> EqBandSpec:
    return EqBandSpec(kind, _hz(low, high), math.sqrt(low * high), BUTTERWORTH_Q)


EQ_LAYOUT_DIFF_MST: tuple[EqBandSpec, ...] = (
    _centred(BandKind.LOW_SHELF, 20.0, 2000.0),
    _centred(BandKind.PEAK, 80.0, 2000.0),
    _centred(BandKind.PEAK, 2000.0, 8000.0),
    _centred(BandKind.PEAK, 8000.0, 12000.0),
    _centred(BandKind.PEAK, 12000.0, 21050.0),
    _centred(BandKind.HIGH_SHELF, 6000.0, 21050.0),
)
"""Diff-MST's published EQ ranges (ISMIR 2024), kept for comparison experiments; neutral at the geometric
centre of each range."""


# --- the strip -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EqBand:
    """One parametric EQ band in physical units. ``q`` is the RBJ cookbook Q (for shelves: the shelf slope
    expressed as Q)."""

    kind: EqKind
    freq_hz: float
    gain_db: float
    q: float
    enabled: bool = True

    @property
    def bandwidth_oct(self) -> float:
        """Bandwidth in octaves, as ReaEQ takes it: ``BW = (2/ln 2) asinh(1/(2Q))``."""
        return 2.0 / math.log(2.0) * math.asinh(1.0 / (2.0 * self.q))


@dataclass(frozen=True)
class Compressor:
    """A feed-forward compressor in physical units. The defaults are neutral (ratio 1 compresses nothing) with
    the time constants and knee the reference search keeps fixed."""

    threshold_db: float = 0.0
    ratio: float = 1.0
    attack_ms: float = 20.0
    release_ms: float = 150.0
    knee_db: float = 6.0
    makeup_db: float = 0.0


def fixed_band_eq(gains_db: Sequence[float],
                  layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> tuple[EqBand, ...]:
    """A layout's bands at their neutral frequencies and Q (where the search and the learned controller keep
    them) with these gains (dB, one per band)."""
    if len(gains_db) != len(layout):
        raise ValueError(f"{len(gains_db)} EQ gains for a layout of {len(layout)} bands")
    return tuple(EqBand(spec.kind.value, spec.neutral_freq_hz, float(g), spec.neutral_q)
                 for spec, g in zip(layout, gains_db))


def flat_eq(layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> tuple[EqBand, ...]:
    """A layout's bands at their neutral frequencies and Q, all at 0 dB."""
    return fixed_band_eq([0.0] * len(layout), layout)


@dataclass(frozen=True)
class Strip:
    """One channel strip (REAPER order: EQ -> compressor -> fader -> pan).

    ``gain_db`` is relative to the level the strip receives (in stage 2: the group's stage-1 level); ``pan`` is
    REAPER's D_PAN (-1 left .. +1 right; a master strip's pan stays 0)."""

    gain_db: float
    eq: tuple[EqBand, ...]
    compressor: Compressor
    pan: float = 0.0

    @classmethod
    def neutral(cls, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> Strip:
        """A strip that leaves the signal as it is: 0 dB, flat EQ, ratio 1, centre."""
        return cls(0.0, flat_eq(layout), Compressor(), 0.0)
