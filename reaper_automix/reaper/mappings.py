"""Console settings <-> ReaEQ / ReaComp states and track pan, driven by ``data/reaper_fx_mappings.yaml``.

The table says how each console value becomes a stored REAPER value and how sure that is (decoded / inferred /
unverified, reaper.md section 3). The functions here only apply it. Where REAPER will still sound different from
the console after a faithful translation (all unverifiable without a running REAPER):

* **Detector.** ReaComp measures RMS over an "RMS size" window whose shape (rectangular or exponential) and
  stored scale are unknown (we assume 100 ms per unit: default 5 ms). The console uses a one-pole RMS of the
  same time constant: equal on steady signals, different on transients.
* **Knee.** The console uses the quadratic soft knee of Giannoulis et al.; ReaComp's knee curve and its dB scale
  (assumed 24 dB full scale) are unverified.
* **Ballistics.** Console attack/release are one-pole time constants on the gain in dB (63 % of a step);
  ReaComp's attack/release definitions (time constant, 10-90 % time, dB or linear smoothing) are unverified.
  Auto-release and auto-makeup are forced off.
* **Stereo link.** The console links channels by their mean square; how ReaComp links is unverified.
* **Makeup.** ReaComp has no makeup control; makeup goes to the Wet level (linear), which is equivalent as long
  as Dry stays off.
* **EQ bandwidth.** The console's RBJ Q maps to octaves by the analog relation
  ``BW = (2/ln 2) asinh(1/(2Q))``; RBJ's digital peak is narrower near Nyquist than that, and ReaEQ's own
  bandwidth definition (and its meaning for shelves) is unverified. Peak gains and centre frequencies match.
* **Pan.** Only the hard-left/centre/hard-right values of REAPER's default (0 dB, balance) law are certain; the
  taper between them is a documented guess (console/pan.py).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import torch
import yaml

from ..console.pan import PanLaw
from ..console.params import BandKind, CompressorParams, DetectorSettings, EqBandSpec, EqParams
from .fxstate import FxStateError, ReaCompState, ReaEqBand, ReaEqState


@dataclass(frozen=True)
class FxMappings:
    """The parsed mapping table (see ``data/reaper_fx_mappings.yaml`` for meanings and certainty)."""

    raw: dict[str, Any]

    def reaeq(self, key: str) -> dict[str, Any]:
        return self.raw["reaeq"][key]

    def reacomp_param(self, name: str) -> dict[str, Any]:
        return self.raw["reacomp"]["params"][name]


@lru_cache(maxsize=1)
def load_fx_mappings() -> FxMappings:
    """The package's mapping table (read once; it is immutable data)."""
    text = resources.files("reaper_automix").joinpath("data/reaper_fx_mappings.yaml").read_text(encoding="utf-8")
    return FxMappings(yaml.safe_load(text))


def _to_stored(entry: dict[str, Any], value: float) -> float:
    kind = entry["map"]
    if kind == "identity":
        return value
    if kind == "db_to_linear":
        return 10.0 ** (value / 20.0)
    if kind == "scaled":
        return value / entry["full_scale"]
    if kind == "ratio":
        return (value - 1.0) / entry["span"]
    if kind == "q_to_octaves":
        return (2.0 / math.log(2.0)) * math.asinh(1.0 / (2.0 * value))
    raise ValueError(f"unknown map kind {kind!r} in reaper_fx_mappings.yaml")


def _from_stored(entry: dict[str, Any], stored: float) -> float:
    kind = entry["map"]
    if kind == "identity":
        return stored
    if kind == "db_to_linear":
        return 20.0 * math.log10(stored)
    if kind == "scaled":
        return stored * entry["full_scale"]
    if kind == "ratio":
        return 1.0 + stored * entry["span"]
    if kind == "q_to_octaves":
        return 1.0 / (2.0 * math.sinh(math.log(2.0) / 2.0 * stored))
    raise ValueError(f"unknown map kind {kind!r} in reaper_fx_mappings.yaml")


def console_eq_to_reaeq(
    eq: EqParams, index: int = 0, *, template: ReaEqState | None = None, mappings: FxMappings | None = None
) -> ReaEqState:
    """ReaEQ state for row ``index`` of ``eq``: one enabled band per console band, in layout order.

    ``template`` supplies what the console does not set (version, tail with master gain and window size,
    header); REAPER's default ReaEQ otherwise.
    """
    m = mappings or load_fx_mappings()
    lo, hi = m.reaeq("bandwidth_oct_range")
    bands = []
    for i, spec in enumerate(eq.layout):
        bandwidth = _to_stored(m.reaeq("q"), float(eq.q[index, i]))
        if not lo <= bandwidth <= hi:
            raise ValueError(
                f"EQ band {i}: Q {float(eq.q[index, i]):.3g} is {bandwidth:.3g} octaves, outside ReaEQ's "
                f"{lo}-{hi}"
            )
        bands.append(
            ReaEqBand(
                type=m.reaeq("band_types")[spec.kind.value]["code"],
                enabled=True,
                freq_hz=_to_stored(m.reaeq("freq_hz"), float(eq.freq_hz[index, i])),
                gain_linear=_to_stored(m.reaeq("gain_db"), float(eq.gain_db[index, i])),
                bandwidth_oct=bandwidth,
            )
        )
    base = template or ReaEqState(bands=[])
    return ReaEqState(bands, base.version, base.tail, base.header, base.program)


def reaeq_to_console_eq(
    state: ReaEqState, layout: tuple[EqBandSpec, ...], *, mappings: FxMappings | None = None
) -> EqParams:
    """Console EQ (batch of 1) from a ReaEQ state whose enabled bands match ``layout`` kind by kind."""
    m = mappings or load_fx_mappings()
    codes = {spec["code"]: BandKind(kind) for kind, spec in m.reaeq("band_types").items()}
    bands = [b for b in state.bands if b.enabled]
    kinds = [codes.get(b.type) for b in bands]
    if kinds != [spec.kind for spec in layout]:
        raise FxStateError(
            f"ReaEQ bands {[b.type for b in bands]} do not match the console layout "
            f"{[spec.kind.value for spec in layout]}"
        )

    def row(values: list[float]) -> torch.Tensor:
        return torch.tensor([values], dtype=torch.float64)

    return EqParams(
        freq_hz=row([_from_stored(m.reaeq("freq_hz"), b.freq_hz) for b in bands]),
        gain_db=row([_from_stored(m.reaeq("gain_db"), b.gain_linear) for b in bands]),
        q=row([_from_stored(m.reaeq("q"), b.bandwidth_oct) for b in bands]),
        layout=layout,
    )


_COMP_FIELDS = ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db", "makeup_db")


def console_comp_to_reacomp(
    comp: CompressorParams,
    index: int = 0,
    *,
    detector: DetectorSettings = DetectorSettings(),
    template: ReaCompState | None = None,
    mappings: FxMappings | None = None,
) -> ReaCompState:
    """ReaComp state for row ``index`` of ``comp``; parameters the console does not set come from
    ``template`` (REAPER's default ReaComp otherwise), with the table's ``fixed`` values forced."""
    m = mappings or load_fx_mappings()
    base = template or ReaCompState()
    params = list(base.params)
    for name in _COMP_FIELDS:
        entry = m.reacomp_param(name)
        params[entry["index"]] = _to_stored(entry, float(getattr(comp, name)[index]))
    rms = m.raw["reacomp"]["rms_ms"]
    params[rms["index"]] = _to_stored(rms, detector.rms_ms if detector.detector == "rms" else 0.0)
    for fixed in m.raw["reacomp"]["fixed"]:
        params[fixed["index"]] = fixed["value"]
    return ReaCompState(params, base.header, base.program)


def reacomp_to_console_comp(
    state: ReaCompState, *, mappings: FxMappings | None = None
) -> tuple[CompressorParams, DetectorSettings]:
    """Console compressor (batch of 1) and detector settings from a ReaComp state (RMS size 0 = peak)."""
    m = mappings or load_fx_mappings()
    values = {
        name: torch.tensor(
            [_from_stored(m.reacomp_param(name), state.params[m.reacomp_param(name)["index"]])],
            dtype=torch.float64,
        )
        for name in _COMP_FIELDS
    }
    rms = m.raw["reacomp"]["rms_ms"]
    rms_ms = _from_stored(rms, state.params[rms["index"]])
    detector = DetectorSettings("rms", rms_ms) if rms_ms > 0 else DetectorSettings("peak")
    return CompressorParams(**values), detector


def pan_to_d_pan(pan: float) -> float:
    """REAPER's ``D_PAN`` (and the ``VOLPAN`` pan field) for a console pan; the same -1..1 scale [sdk]."""
    return _to_stored(load_fx_mappings().raw["pan"]["d_pan"], pan)


def reaper_default_pan_law() -> PanLaw:
    """REAPER's project-default pan law as recorded in the table."""
    law = load_fx_mappings().raw["pan"]["default_law"]
    return PanLaw(float(law["centre_db"]), law["taper"], bool(law["gain_compensated"]))


def plugin_file(plugin: str, platform: str = sys.platform) -> str:
    """File name of ``plugin`` (``"reaeq"`` or ``"reacomp"``) on the ``<VST`` line for a ``sys.platform``."""
    files = load_fx_mappings().raw["plugin_files"][plugin]
    if platform.startswith("win"):
        return files["windows"]
    if platform == "darwin":
        return files["macos"]
    return files["linux"]
