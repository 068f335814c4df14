"""Physical units -> what REAPER's API takes for ReaEQ and ReaComp, and what it should show back.

ReaEQ is set with ``TrackFX_SetEQParam(..., isnorm=False)``: Hz, linear gain, bandwidth in octaves (REAPER's
header: "for paramtype 1=gain, val=1 ==> 0 dB, val=2 ==> 6.02 dB"). No mapping table is needed for it.

ReaComp has no such call: its parameters are set normalized (0..1) through a mapping. The mapping is data:
- a calibrated table (``reaper-automix reaper calibrate`` measures it from a running REAPER by bisection over
  ``TrackFX_FormatParamValueNormalized``), when one exists: piecewise-linear between measured points;
- else the formulas below, from reaper.md section 3 (threshold, attack, release: several sources agree;
  ratio: fitted to stock presets, its top unverified). Knee and wet (make-up) have no known formula: they are
  only set from a calibrated table, otherwise left alone and reported.

All of it sits behind :func:`reacomp_params` (the one function the apply path calls for ReaComp) and
:func:`reaeq_specs`.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..changes import CompressorSetting, EqBand

REAEQ = "ReaEQ (Cockos)"
REACOMP = "ReaComp (Cockos)"

# ReaEQ's default band layout (what TrackFX_AddByName creates): low shelf, band, band, high shelf, in
# TrackFX_SetEQParam's band-type codes (0 HP, 1 LS, 2 band, 3 notch, 4 HS, 5 LP, 6 BP). Band k's parameters
# are 3k (freq), 3k+1 (gain), 3k+2 (bandwidth).
REAEQ_LAYOUT = (1, 2, 2, 4)
API_BANDTYPE = {"low_shelf": 1, "peak": 2, "high_shelf": 4}

# ReaComp parameter indices (reaper.md section 3).
COMP_PARAMS = {"threshold_db": 0, "ratio": 1, "attack_ms": 2, "release_ms": 3, "knee_db": 14, "makeup_db": 11}


def _thresh_x(db: float) -> float:
    return min(1.0, 10.0 ** (db / 20.0))


FORMULAS = {  # physical -> normalized x, and back (the stand-in host formats with these)
    0: (_thresh_x, lambda x: 20.0 * math.log10(x) if x > 0 else -math.inf),
    1: (lambda r: (r - 1.0) / 99.0, lambda x: 1.0 + 99.0 * x),
    2: (lambda ms: ms / 500.0, lambda x: 500.0 * x),
    3: (lambda ms: ms / 5000.0, lambda x: 5000.0 * x),
}


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
    """(``[[param, x], ...]``, checks ``[[param, expected, floor, label], ...]``, notes) for ReaComp."""
    tables = (calibration or {}).get(REACOMP, {})
    params, checks, notes = [], [], []
    for field, param in COMP_PARAMS.items():
        value = getattr(setting, field)
        if param in tables:
            x = tables[param].to_normalized(value)
        elif param in FORMULAS:
            x = FORMULAS[param][0](value)
        else:
            if value:
                notes.append(f"ReaComp {field} = {value:g} not set: no calibrated mapping "
                             "(run `reaper-automix reaper calibrate`)")
            continue
        if not 0.0 <= x <= 1.0:
            notes.append(f"ReaComp {field} = {value:g} is outside the plug-in's range; clamped")
            x = min(1.0, max(0.0, x))
        params.append([param, x])
        floor = 0.02 * abs(value) if field in ("attack_ms", "release_ms", "ratio") else 0.05
        checks.append([param, value, floor, f"ReaComp {field}"])
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
