"""Physical units -> what REAPER's API takes for ReaEQ and ReaComp, and what it should show back.

ReaEQ is set with ``TrackFX_SetEQParam(..., isnorm=False)``: Hz, linear gain, bandwidth in octaves (REAPER's
header: "for paramtype 1=gain, val=1 ==> 0 dB, val=2 ==> 6.02 dB"). No mapping table is needed for it.

ReaComp has no such call: its parameters are set normalized (0..1) through a mapping. The mapping is data:
- a calibrated table (``reaper-automix reaper calibrate`` measures it from a running REAPER by bisection over
  ``TrackFX_FormatParamValueNormalized``), when one exists: piecewise-linear between measured points;
- else the project's table ``data/reaper_fx_mappings.yaml`` (``reacomp.params``: index, map kind, certainty;
  the one :mod:`reaper_automix.reaper.mappings` uses for ``.rpp`` states), taking a stored value in 0..1 as the
  normalized value. That equality is itself unverified: every value is checked back against REAPER's display
  (``TrackFX_GetFormattedParamValue``) and a mismatch is reported, pointing at ``calibrate``.

All of it sits behind :func:`reacomp_params` (the one function the apply path calls for ReaComp) and
:func:`reaeq_specs`. The YAML is read here directly (not through ``reaper.mappings``, which imports torch) so
that the stand-in REAPER host can format values with the same table.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..changes import CompressorSetting, EqBand

REAEQ = "ReaEQ (Cockos)"
REACOMP = "ReaComp (Cockos)"

# ReaEQ's default band layout (what TrackFX_AddByName creates): low shelf, band, band, high shelf, in
# TrackFX_SetEQParam's band-type codes (0 HP, 1 LS, 2 band, 3 notch, 4 HS, 5 LP, 6 BP). Band k's parameters
# are 3k (freq), 3k+1 (gain), 3k+2 (bandwidth).
REAEQ_LAYOUT = (1, 2, 2, 4)
API_BANDTYPE = {"low_shelf": 1, "peak": 2, "high_shelf": 4}


@dataclass(frozen=True)
class CompParam:
    """One ReaComp parameter of the table: console field, index, map kind and its constant."""

    field: str
    index: int
    kind: str
    constant: float = 1.0

    def to_normalized(self, value: float) -> float:
        if self.kind == "db_to_linear":
            return 10.0 ** (value / 20.0)
        if self.kind == "scaled":
            return value / self.constant
        if self.kind == "ratio":
            return (value - 1.0) / self.constant
        if self.kind == "identity":
            return value
        raise ValueError(f"unknown map kind {self.kind!r} in reaper_fx_mappings.yaml")

    def from_normalized(self, x: float) -> float:
        if self.kind == "db_to_linear":
            return 20.0 * math.log10(x) if x > 0 else -math.inf
        if self.kind == "scaled":
            return x * self.constant
        if self.kind == "ratio":
            return 1.0 + x * self.constant
        if self.kind == "identity":
            return x
        raise ValueError(f"unknown map kind {self.kind!r} in reaper_fx_mappings.yaml")


@functools.cache
def comp_table() -> tuple[dict[int, CompParam], tuple[tuple[int, float], ...]]:
    """({param index: CompParam}, ((index, fixed value), ...)) from ``data/reaper_fx_mappings.yaml``."""
    text = resources.files("reaper_automix").joinpath("data/reaper_fx_mappings.yaml").read_text(encoding="utf-8")
    reacomp = yaml.safe_load(text)["reacomp"]
    params = {}
    for name, e in reacomp["params"].items():
        params[int(e["index"])] = CompParam(name, int(e["index"]), e["map"],
                                            float(e.get("full_scale", e.get("span", 1.0))))
    fixed = tuple((int(f["index"]), float(f["value"])) for f in reacomp.get("fixed", ()))
    return params, fixed


@dataclass(frozen=True)
class ParamTable:
    """Measured (physical value, normalized x) points of one parameter, physical values ascending."""

    name: str
    points: tuple[tuple[float, float], ...]

    def to_normalized(self, value: float) -> float:
        values = [p[0] for p in self.points]
        i = min(max(bisect.bisect_left(values, value), 1), len(values) - 1)
        (v0, x0), (v1, x1) = self.points[i - 1], self.points[i]
        t = 0.0 if v1 == v0 else (value - v0) / (v1 - v0)
        return min(1.0, max(0.0, x0 + min(1.0, max(0.0, t)) * (x1 - x0)))


def calibration_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "reaper-automix" / "reaper_fx_calibration.json"


def load_calibration(path: Path | None = None) -> dict[str, dict[int, ParamTable]]:
    """{fx name: {param: table}} from a calibration file; empty when there is none."""
    path = path or calibration_path()
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        fx: {int(p): ParamTable(t["name"], tuple(tuple(pt) for pt in sorted(t["points"]))) for p, t in params.items()}
        for fx, params in data.get("fx", {}).items()
    }


def reacomp_params(setting: CompressorSetting, calibration: dict | None = None) -> tuple[list, list, list[str]]:
    """(``[[param, x], ...]``, checks ``[[param, expected, floor, label], ...]``, notes) for ReaComp: the
    setting's six values, then the table's fixed parameters (no look-ahead, dry off, auto make-up/release off)."""
    tables = (calibration or {}).get(REACOMP, {})
    table, fixed = comp_table()
    params, checks, notes = [], [], []
    for param in sorted(table.values(), key=lambda p: p.index):
        value = float(getattr(setting, param.field))
        x = tables[param.index].to_normalized(value) if param.index in tables else param.to_normalized(value)
        if not 0.0 <= x <= 1.0:
            notes.append(f"ReaComp {param.field} = {value:g} is outside the parameter's range (normalized "
                         f"{x:.3g}); clamped -- run `reaper-automix reaper calibrate` if this looks wrong")
            x = min(1.0, max(0.0, x))
        params.append([param.index, x])
        floor = 0.02 * abs(value) if param.kind in ("scaled", "ratio") else 0.05
        checks.append([param.index, param.from_normalized(x) if param.index not in tables else value,
                       floor, f"ReaComp {param.field}"])
    params += [[index, value] for index, value in fixed if 0.0 <= value <= 1.0]
    return params, checks, notes


def reaeq_specs(bands: tuple[EqBand, ...]) -> list[dict]:
    """ReaEQ instances carrying ``bands``: each fills the default layout (one low shelf, two peaks, one high
    shelf); more bands of a kind take further instances. Unused slots are disabled."""
    queues = {kind: [b for b in bands if b.kind == kind] for kind in API_BANDTYPE}
    specs = []
    while any(queues.values()):
        slots, checks = [], []
        seen: dict[int, int] = {}
        for k, bandtype in enumerate(REAEQ_LAYOUT):
            kind = next(kd for kd, code in API_BANDTYPE.items() if code == bandtype)
            bandidx = seen.get(bandtype, 0)
            seen[bandtype] = bandidx + 1
            band = queues[kind].pop(0) if queues[kind] else None
            slot = {"bandtype": bandtype, "bandidx": bandidx, "enabled": bool(band and band.enabled)}
            if band is not None and band.enabled:
                slot.update(freq_hz=band.freq_hz, gain_linear=10.0 ** (band.gain_db / 20.0),
                            bandwidth_oct=band.bandwidth_oct)
                checks += [[3 * k, band.freq_hz, 0.005 * band.freq_hz, f"band {k + 1} frequency (Hz)"],
                           [3 * k + 1, band.gain_db, 0.05, f"band {k + 1} gain (dB)"],
                           [3 * k + 2, band.bandwidth_oct, 0.01, f"band {k + 1} bandwidth (oct)"]]
            slots.append(slot)
        specs.append({"name": REAEQ, "eq_bands": slots, "checks": checks})
    return specs
