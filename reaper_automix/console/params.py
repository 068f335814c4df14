"""Console parameters: plain dataclasses of tensors, and the one converter between them, physical
:class:`~reaper_automix.strip.Strip` values and the normalised ``(batch, n_params)`` vectors in 0..1.

One channel strip per stem, in REAPER's signal order (so that a strip maps one-to-one onto a REAPER track):
``6-band EQ (ReaEQ) -> compressor (ReaComp) -> fader gain_db (D_VOL) -> pan (D_PAN)``. Diff-MST applies its
gain *before* the EQ; we put it after the compressor because REAPER's track FX chain runs pre-fader. Stems reach
the console loudness-normalised, so compressor thresholds stay meaningful either way.

Every parameter tensor of a :class:`ChannelParams` has the batch shape ``(stems,)`` (EQ fields
``(stems, bands)``); a :class:`MasterParams` has batch shape ``(1,)``. Values are physical (dB, Hz, ms).

The ranges are defined once, in :mod:`reaper_automix.strip`. They start from Diff-MST's (mixing.md section 2),
with these documented deviations:

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
* **Plausible limits.** Gain +/-12 dB about the level a strip receives (stage 1's balance is the starting point,
  not something to redo), EQ gains -12..+6 dB (no large boosts chasing a spectrum), ratio at most 4:1 (a bus
  compressor, not a limiter). These are also the reference search's default limits, so every strip the search
  finds is representable in the normalised space a controller learns in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import Tensor

from ..strip import (
    COMPRESSOR_RANGES,
    EQ_GAIN_DB,
    EQ_LAYOUT_DEFAULT,
    EQ_Q,
    GAIN_DB,
    PAN,
    Compressor,
    EqBand,
    EqBandSpec,
    Strip,
)


def _rows(values: Sequence[Sequence[float]] | Sequence[float]) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


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
        """Row ``index`` as physical :class:`~reaper_automix.strip.EqBand` values."""
        return tuple(
            EqBand(spec.kind.value, float(self.freq_hz[index, i]), float(self.gain_db[index, i]),
                   float(self.q[index, i]))
            for i, spec in enumerate(self.layout)
        )

    @classmethod
    def from_bands(
        cls, rows: Sequence[Sequence[EqBand]], layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT
    ) -> EqParams:
        """A batch, one row per sequence of physical bands; each must match ``layout`` kind by kind."""
        for bands in rows:
            if [b.kind for b in bands] != [spec.kind.value for spec in layout]:
                raise ValueError(
                    f"EQ bands {[b.kind for b in bands]} do not match the layout {[s.kind.value for s in layout]}"
                )
        return cls(_rows([[b.freq_hz for b in r] for r in rows]), _rows([[b.gain_db for b in r] for r in rows]),
                   _rows([[b.q for b in r] for r in rows]), layout)

    @classmethod
    def neutral(cls, batch: int, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> EqParams:
        """Flat EQ: 0 dB gains at each band's neutral frequency and Q."""
        return cls(
            freq_hz=_rows([[b.neutral_freq_hz for b in layout]] * batch),
            gain_db=torch.zeros(batch, len(layout), dtype=torch.float64),
            q=_rows([[b.neutral_q for b in layout]] * batch),
            layout=layout,
        )

    def rows(self, index: Tensor) -> EqParams:
        """Rows ``index`` of every field (e.g. one row per stem x excerpt)."""
        return EqParams(self.freq_hz[index], self.gain_db[index], self.q[index], self.layout)


@dataclass
class CompressorParams:
    """Feed-forward compressor settings; each field shaped ``(batch,)``, named as
    :class:`~reaper_automix.strip.Compressor`'s."""

    threshold_db: Tensor
    ratio: Tensor
    attack_ms: Tensor
    release_ms: Tensor
    knee_db: Tensor
    makeup_db: Tensor

    def to_compressor(self, index: int = 0) -> Compressor:
        """Row ``index`` as a physical :class:`~reaper_automix.strip.Compressor`."""
        return Compressor(**{f.name: float(getattr(self, f.name)[index]) for f in fields(Compressor)})

    @classmethod
    def from_compressors(cls, compressors: Sequence[Compressor]) -> CompressorParams:
        """A batch, one row per physical compressor."""
        return cls(**{f.name: _rows([getattr(c, f.name) for c in compressors]) for f in fields(Compressor)})

    @classmethod
    def neutral(cls, batch: int) -> CompressorParams:
        """A compressor that does nothing (ratio 1), batch rows of :class:`~reaper_automix.strip.Compressor`'s
        defaults."""
        return cls.from_compressors([Compressor()] * batch)

    def rows(self, index: Tensor) -> CompressorParams:
        return CompressorParams(**{f.name: getattr(self, f.name)[index] for f in fields(Compressor)})


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
        return cls.from_strips([Strip.neutral(layout)] * n_stems, layout)

    @classmethod
    def from_strips(cls, strips: Sequence[Strip], layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> ChannelParams:
        """The console's tensors for physical strips, one row per strip."""
        return cls(
            gain_db=_rows([s.gain_db for s in strips]),
            eq=EqParams.from_bands([s.eq for s in strips], layout),
            comp=CompressorParams.from_compressors([s.compressor for s in strips]),
            pan=_rows([s.pan for s in strips]),
        )

    def to_strips(self) -> list[Strip]:
        """Inverse of :meth:`from_strips`."""
        return [
            Strip(float(self.gain_db[i]), self.eq.to_bands(i), self.comp.to_compressor(i), float(self.pan[i]))
            for i in range(self.n_stems)
        ]

    def rows(self, index: Tensor) -> ChannelParams:
        """Rows ``index`` of every field (e.g. one strip per stem x excerpt)."""
        return ChannelParams(self.gain_db[index], self.eq.rows(index), self.comp.rows(index), self.pan[index])

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
        return cls.from_strip(Strip.neutral(layout), layout)

    @classmethod
    def from_strip(cls, strip: Strip, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> MasterParams:
        """The master bus's tensors for a physical strip (its pan must be 0: the master is not panned)."""
        if strip.pan != 0.0:
            raise ValueError(f"a master strip has no pan, got pan {strip.pan}")
        return cls(_rows([strip.gain_db]), EqParams.from_bands([strip.eq], layout),
                   CompressorParams.from_compressors([strip.compressor]))

    def to_strip(self) -> Strip:
        return Strip(float(self.gain_db[0]), self.eq.to_bands(0), self.comp.to_compressor(0))

    @classmethod
    def from_normalised(cls, x: Tensor, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> MasterParams:
        """Parameters from ``x`` shaped ``(1, n)``, laid out as :func:`master_param_names`."""
        return _from_normalised(cls, x, layout, with_pan=False)

    def to_normalised(self) -> Tensor:
        return _to_normalised(self.gain_db, self.eq, self.comp, None)


def normalise(strips: Sequence[Strip], layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> Tensor:
    """Strips as a ``(len(strips), n_params)`` float64 tensor in 0..1 (columns :func:`channel_param_names`);
    values outside the ranges of :mod:`reaper_automix.strip` fall outside 0..1."""
    return ChannelParams.from_strips(strips, layout).to_normalised()


def denormalise(x: Tensor, layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> list[Strip]:
    """Inverse of :func:`normalise`: ``x`` shaped ``(batch, n_params)`` in 0..1 -> one strip per row."""
    return ChannelParams.from_normalised(x.detach().to(torch.float64), layout).to_strips()


def channel_param_names(layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> list[str]:
    """Names of the columns of a normalised channel vector, e.g. ``eq.2.freq_hz``."""
    return master_param_names(layout) + ["pan"]


def master_param_names(layout: tuple[EqBandSpec, ...] = EQ_LAYOUT_DEFAULT) -> list[str]:
    """Names of the columns of a normalised master vector."""
    names = ["gain_db"]
    for i in range(len(layout)):
        names += [f"eq.{i}.freq_hz", f"eq.{i}.gain_db", f"eq.{i}.q"]
    return names + [f"comp.{name}" for name in COMPRESSOR_RANGES]


def _from_normalised(cls, x: Tensor, layout, *, with_pan: bool):
    n_expected = 1 + 3 * len(layout) + len(COMPRESSOR_RANGES) + int(with_pan)
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
    comp = CompressorParams(**{name: rng.to_physical(x[:, next(col)]) for name, rng in COMPRESSOR_RANGES.items()})
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
    cols += [rng.to_normalised(getattr(comp, name)) for name, rng in COMPRESSOR_RANGES.items()]
    if pan is not None:
        cols.append(PAN.to_normalised(pan))
    return torch.stack(cols, 1)
