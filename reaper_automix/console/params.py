"""Console parameters: plain dataclasses of tensors, their ranges, and normalised <-> physical conversion.

One channel strip per stem, in REAPER's signal order (so that a strip maps one-to-one onto a REAPER track):
``6-band EQ (ReaEQ) -> compressor (ReaComp) -> fader gain_db (D_VOL) -> pan (D_PAN)``. Diff-MST applies its
gain *before* the EQ; we put it after the compressor because REAPER's track FX chain runs pre-fader. Stems reach
the console loudness-normalised, so compressor thresholds stay meaningful either way.

Every parameter tensor of a :class:`ChannelParams` has the batch shape ``(stems,)`` (EQ fields
``(stems, bands)``); a :class:`MasterParams` has batch shape ``(1,)``. Values are physical (dB, Hz, ms).

Ranges start from Diff-MST's (mixing.md section 2), with two documented deviations:

* **EQ layout.** Diff-MST's peaks sit at 80-2000, 2000-8000, 8000-12000 and 12000-21050 Hz: one band for the
  whole 80 Hz-2 kHz region where most mix decisions happen (mud, boxiness, body) and two bands above 8 kHz where
  little but "air" lives; a 21 kHz biquad is also cramped against Nyquist at 44.1 kHz (bilinear warping).
  :data:`EQ_LAYOUT_DEFAULT` uses four overlapping decade-wide peaks, log-spaced (50-500, 200-2000, 800-8000,
  2000-16000 Hz), a low shelf 30-1000 Hz and a high shelf 3-18 kHz. :data:`EQ_LAYOUT_DIFF_MST` keeps the
  original for comparison.
* **Scales.** Frequencies, Q, ratio, attack and release map from the normalised (0, 1) interval on a log
  scale (an octave, or a doubling of ratio or time, is the same step everywhere); Diff-MST maps everything
  linearly. Gains, threshold, knee, makeup and pan stay linear.
* **Q** starts at 0.27, not 0.1: ReaEQ stores at most 4 octaves of bandwidth (Q 0.27), and every console setting
  must be representable in REAPER.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import Tensor

from ..changes import CompressorSetting, EqBand


@dataclass(frozen=True)
class ParamRange:
    """A parameter's physical range and how a normalised value ``x`` in [0, 1] maps onto it."""

    low: float
    high: float
    unit: str
    scale: Literal["linear", "log"] = "linear"

    def to_physical(self, x: Tensor) -> Tensor:
        """Map ``x`` in [0, 1] (e.g. a sigmoid output) to the range."""
        if self.scale == "log":
            return self.low * (self.high / self.low) ** x
        return self.low + (self.high - self.low) * x

    def to_normalised(self, value: Tensor) -> Tensor:
        """Inverse of :meth:`to_physical` (values outside the range give x outside [0, 1])."""
        if self.scale == "log":
            return torch.log(value / self.low) / math.log(self.high / self.low)
        return (value - self.low) / (self.high - self.low)

    def clamp(self, value: Tensor) -> Tensor:
        return value.clamp(self.low, self.high)


class BandKind(enum.Enum):
    """RBJ cookbook filter shapes used by the console EQ."""

    LOW_SHELF = "low_shelf"
    PEAK = "peak"
    HIGH_SHELF = "high_shelf"


@dataclass(frozen=True)
class EqBandSpec:
    """One EQ band of a layout: its shape and the range its centre/corner frequency may take."""

    kind: BandKind
    freq_hz: ParamRange

    @property
    def default_freq_hz(self) -> float:
        """Geometric centre of the frequency range (the neutral position)."""
        return math.sqrt(self.freq_hz.low * self.freq_hz.high)


def _hz(low: float, high: float) -> ParamRange:
    return ParamRange(low, high, "Hz", "log")


EQ_LAYOUT_DEFAULT: tuple[EqBandSpec, ...] = (
    EqBandSpec(BandKind.LOW_SHELF, _hz(30.0, 1000.0)),
    EqBandSpec(BandKind.PEAK, _hz(50.0, 500.0)),
    EqBandSpec(BandKind.PEAK, _hz(200.0, 2000.0)),
    EqBandSpec(BandKind.PEAK, _hz(800.0, 8000.0)),
    EqBandSpec(BandKind.PEAK, _hz(2000.0, 16000.0)),
    EqBandSpec(BandKind.HIGH_SHELF, _hz(3000.0, 18000.0)),
)
"""The project's EQ layout (see the module docstring for why it differs from Diff-MST's)."""

EQ_LAYOUT_DIFF_MST: tuple[EqBandSpec, ...] = (
    EqBandSpec(BandKind.LOW_SHELF, _hz(20.0, 2000.0)),
    EqBandSpec(BandKind.PEAK, _hz(80.0, 2000.0)),
    EqBandSpec(BandKind.PEAK, _hz(2000.0, 8000.0)),
    EqBandSpec(BandKind.PEAK, _hz(8000.0, 12000.0)),
    EqBandSpec(BandKind.PEAK, _hz(12000.0, 21050.0)),
    EqBandSpec(BandKind.HIGH_SHELF, _hz(6000.0, 21050.0)),
)
"""Diff-MST's published EQ ranges (ISMIR 2024), kept for comparison experiments."""

GAIN_DB = ParamRange(-48.0, 48.0, "dB")
EQ_GAIN_DB = ParamRange(-12.0, 12.0, "dB")
EQ_Q = ParamRange(0.27, 5.0, "", "log")  # 0.27 = 4 octaves, ReaEQ's widest bandwidth
THRESHOLD_DB = ParamRange(-60.0, 0.0, "dB")
RATIO = ParamRange(1.0, 10.0, "", "log")
ATTACK_MS = ParamRange(5.0, 250.0, "ms", "log")
RELEASE_MS = ParamRange(10.0, 250.0, "ms", "log")
KNEE_DB = ParamRange(3.0, 12.0, "dB")
MAKEUP_DB = ParamRange(0.0, 6.0, "dB")
PAN = ParamRange(-1.0, 1.0, "")  # REAPER's D_PAN: -1 hard left, 0 centre, +1 hard right

NEUTRAL_Q = 1.0 / math.sqrt(2.0)


@dataclass
class EqParams:
    """Parametric EQ settings; each field shaped ``(batch, bands)``, bands ordered as ``layout``."""

    freq_hz: Tensor
    gain_db: Tensor
    q: Tensor
    layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT

    @property
    def n_bands(self) -> int:
        return len(self.layout)

    def to_bands(self, index: int = 0) -> tuple[EqBand, ...]:
        """Row ``index`` as physical :class:`~reaper_automix.changes.EqBand` values (for REAPER's ReaEQ)."""
        return tuple(
            EqBand(spec.kind.value, float(self.freq_hz[index, i]), float(self.gain_db[index, i]),
                   float(self.q[index, i]))
            for i, spec in enumerate(self.layout)
        )

    @classmethod
    def from_bands(cls, bands: Sequence[EqBand], layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> EqParams:
        """A batch of one from physical bands, which must match ``layout`` kind by kind."""
        if [b.kind for b in bands] != [spec.kind.value for spec in layout]:
            raise ValueError(
                f"EQ bands {[b.kind for b in bands]} do not match the layout {[s.kind.value for s in layout]}"
            )

        def row(values: list[float]) -> Tensor:
            return torch.tensor([values], dtype=torch.float64)

        return cls(row([b.freq_hz for b in bands]), row([b.gain_db for b in bands]), row([b.q for b in bands]),
                   layout)

    @classmethod
    def neutral(cls, batch: int, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> EqParams:
        """Flat EQ: 0 dB gains, centred frequencies, Q = 1/sqrt(2)."""
        freq = torch.tensor([b.default_freq_hz for b in layout], dtype=torch.float64)
        return cls(
            freq_hz=freq.expand(batch, -1).clone(),
            gain_db=torch.zeros(batch, len(layout), dtype=torch.float64),
            q=torch.full((batch, len(layout)), NEUTRAL_Q, dtype=torch.float64),
            layout=layout,
        )


@dataclass
class CompressorParams:
    """Feed-forward compressor settings; each field shaped ``(batch,)``."""

    threshold_db: Tensor
    ratio: Tensor
    attack_ms: Tensor
    release_ms: Tensor
    knee_db: Tensor
    makeup_db: Tensor

    def to_setting(self, index: int = 0) -> CompressorSetting:
        """Row ``index`` as a physical :class:`~reaper_automix.changes.CompressorSetting` (for ReaComp)."""
        return CompressorSetting(*(float(getattr(self, f.name)[index]) for f in fields(CompressorSetting)))

    @classmethod
    def from_setting(cls, setting: CompressorSetting) -> CompressorParams:
        """A batch of one from a physical setting."""
        return cls(*(torch.tensor([getattr(setting, f.name)], dtype=torch.float64) for f in fields(CompressorSetting)))

    @classmethod
    def neutral(cls, batch: int) -> CompressorParams:
        """A compressor that does nothing: ratio 1 (threshold and times at harmless mid values)."""

        def full(v: float) -> Tensor:
            return torch.full((batch,), v, dtype=torch.float64)

        return cls(full(0.0), full(1.0), full(10.0), full(100.0), full(6.0), full(0.0))


@dataclass(frozen=True)
class DetectorSettings:
    """How the compressor measures level (a setting, not an optimised parameter).

    ``"rms"``: one-pole mean of the squared signal (time constant ``rms_ms``), channels linked by averaging their
    squares. ``"peak"``: the instantaneous largest absolute sample over the channels. In both, attack and release
    then smooth the *gain* (in dB). ReaComp measures RMS over a window of "RMS size" (0 = peak); the default
    5 ms is our reading of ReaComp's default state, whose scale is unverified (see reaper/mappings.py).
    """

    detector: Literal["rms", "peak"] = "rms"
    rms_ms: float = 5.0


# Order of the compressor's fields in a normalised parameter vector, with their ranges.
_COMP_RANGES: tuple[tuple[str, ParamRange], ...] = (
    ("threshold_db", THRESHOLD_DB),
    ("ratio", RATIO),
    ("attack_ms", ATTACK_MS),
    ("release_ms", RELEASE_MS),
    ("knee_db", KNEE_DB),
    ("makeup_db", MAKEUP_DB),
)


@dataclass
class ChannelParams:
    """One channel strip per stem: ``eq -> comp -> gain_db -> pan``; fields batched over stems."""

    gain_db: Tensor
    eq: EqParams
    comp: CompressorParams
    pan: Tensor

    @property
    def n_stems(self) -> int:
        return int(self.gain_db.shape[0])

    @classmethod
    def neutral(cls, n_stems: int, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> ChannelParams:
        return cls(
            gain_db=torch.zeros(n_stems, dtype=torch.float64),
            eq=EqParams.neutral(n_stems, layout),
            comp=CompressorParams.neutral(n_stems),
            pan=torch.zeros(n_stems, dtype=torch.float64),
        )

    @classmethod
    def from_normalised(
        cls, x: Tensor, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT
    ) -> ChannelParams:
        """Parameters from ``x`` shaped ``(stems, n)`` in [0, 1], laid out as :func:`channel_param_names`."""
        return _from_normalised(cls, x, layout, with_pan=True)

    def to_normalised(self) -> Tensor:
        """Inverse of :meth:`from_normalised`."""
        return _to_normalised(self.gain_db, self.eq, self.comp, self.pan)


@dataclass
class MasterParams:
    """The master bus after the stems are summed: ``eq -> stereo-linked comp -> gain_db``; batch shape (1,)."""

    gain_db: Tensor
    eq: EqParams
    comp: CompressorParams

    @classmethod
    def neutral(cls, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> MasterParams:
        return cls(
            gain_db=torch.zeros(1, dtype=torch.float64),
            eq=EqParams.neutral(1, layout),
            comp=CompressorParams.neutral(1),
        )

    @classmethod
    def from_normalised(cls, x: Tensor, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> MasterParams:
        """Parameters from ``x`` shaped ``(1, n)``, laid out as :func:`master_param_names`."""
        return _from_normalised(cls, x, layout, with_pan=False)

    def to_normalised(self) -> Tensor:
        return _to_normalised(self.gain_db, self.eq, self.comp, None)


def channel_param_names(layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> list[str]:
    """Names of the columns of a normalised channel vector, e.g. ``eq.2.freq_hz``."""
    return master_param_names(layout) + ["pan"]


def master_param_names(layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> list[str]:
    """Names of the columns of a normalised master vector."""
    names = ["gain_db"]
    for i in range(len(layout)):
        names += [f"eq.{i}.freq_hz", f"eq.{i}.gain_db", f"eq.{i}.q"]
    return names + [f"comp.{name}" for name, _ in _COMP_RANGES]


def _from_normalised(cls, x: Tensor, layout, *, with_pan: bool):
    n_expected = 1 + 3 * len(layout) + len(_COMP_RANGES) + int(with_pan)
    if x.ndim != 2 or x.shape[1] != n_expected:
        raise ValueError(f"expected normalised parameters shaped (batch, {n_expected}), got {tuple(x.shape)}")
    col = iter(range(x.shape[1]))
    gain_db = GAIN_DB.to_physical(x[:, next(col)])
    freq, gain, q = [], [], []
    for band in layout:
        freq.append(band.freq_hz.to_physical(x[:, next(col)]))
        gain.append(EQ_GAIN_DB.to_physical(x[:, next(col)]))
        q.append(EQ_Q.to_physical(x[:, next(col)]))
    eq = EqParams(torch.stack(freq, 1), torch.stack(gain, 1), torch.stack(q, 1), layout)
    comp = CompressorParams(**{name: rng.to_physical(x[:, next(col)]) for name, rng in _COMP_RANGES})
    if with_pan:
        return cls(gain_db=gain_db, eq=eq, comp=comp, pan=PAN.to_physical(x[:, next(col)]))
    return cls(gain_db=gain_db, eq=eq, comp=comp)


def _to_normalised(gain_db: Tensor, eq: EqParams, comp: CompressorParams, pan: Tensor | None) -> Tensor:
    cols = [GAIN_DB.to_normalised(gain_db)]
    for i, band in enumerate(eq.layout):
        cols += [
            band.freq_hz.to_normalised(eq.freq_hz[:, i]),
            EQ_GAIN_DB.to_normalised(eq.gain_db[:, i]),
            EQ_Q.to_normalised(eq.q[:, i]),
        ]
    cols += [rng.to_normalised(getattr(comp, name)) for name, rng in _COMP_RANGES]
    if pan is not None:
        cols.append(PAN.to_normalised(pan))
    return torch.stack(cols, 1)

