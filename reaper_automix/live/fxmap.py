"""Physical units -> what REAPER's API takes for ReaEQ and ReaComp, and what it should show back.

The value conversions and the mapping table are :mod:`reaper_automix.reaper.mappings`'s (``to_stored``,
``from_stored``, ``data/reaper_fx_mappings.yaml``), the same ones the ``.rpp`` path writes FX states with; this
module adds only what the API needs on top:

* ReaEQ is set with ``TrackFX_SetEQParam(..., isnorm=False)`` in the units its state stores (Hz, linear gain,
  bandwidth in octaves; REAPER's header: "for paramtype 1=gain, val=1 ==> 0 dB, val=2 ==> 6.02 dB"), so the
  table's stored values are passed as they are. The API's band-type codes (:data:`API_BANDTYPE`) differ from the
  state's and are kept here, with ReaEQ's default band layout (:func:`reaeq_specs`).
* ReaComp has no such call: its parameters are set normalized (0..1). The normalized value comes from a
  calibrated table (``reaper-automix reaper calibrate`` measures it from a running REAPER by bisection over
  ``TrackFX_FormatParamValueNormalized``) when one exists: piecewise-linear between measured points; else it is
  taken to be the table's stored value. That equality is itself unverified: every value is checked back against
  REAPER's display (``TrackFX_GetFormattedParamValue``) and a mismatch is reported, pointing at ``calibrate``
  (:func:`reacomp_params`, the one function the apply path calls for ReaComp).
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..strip import Compressor, EqBand
from ..reaper.mappings import from_stored, load_fx_mappings, to_stored

REAEQ = "ReaEQ (Cockos)"
REACOMP = "ReaComp (Cockos)"

# ReaEQ's default band layout (what TrackFX_AddByName creates): low shelf, band, band, high shelf, in
# TrackFX_SetEQParam's band-type codes (0 HP, 1 LS, 2 band, 3 notch, 4 HS, 5 LP, 6 BP). Band k's parameters
# are 3k (freq), 3k+1 (gain), 3k+2 (bandwidth).
REAEQ_LAYOUT = (1, 2, 2, 4)
API_BANDTYPE = {"low_shelf": 1, "peak": 2, "high_shelf": 4}


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


def reacomp_params(setting: Compressor, calibration: dict | None = None) -> tuple[list, list, list[str]]:
    """(``[[param, x], ...]``, checks ``[[param, expected, floor, label], ...]``, notes) for ReaComp: the
    setting's six values, then the table's fixed parameters (no look-ahead, dry off, auto make-up/release off)."""
    tables = (calibration or {}).get(REACOMP, {})
    m = load_fx_mappings()
    params, checks, notes = [], [], []
    for index, (field, entry) in sorted(m.reacomp_by_index().items()):
        value = float(getattr(setting, field))
        x = tables[index].to_normalized(value) if index in tables else to_stored(entry, value)
        if not 0.0 <= x <= 1.0:
            notes.append(f"ReaComp {field} = {value:g} is outside the parameter's range (normalized "
                         f"{x:.3g}); clamped -- run `reaper-automix reaper calibrate` if this looks wrong")
            x = min(1.0, max(0.0, x))
        params.append([index, x])
        floor = 0.02 * abs(value) if entry["map"] in ("scaled", "ratio") else 0.05
        checks.append([index, from_stored(entry, x) if index not in tables else value, floor, f"ReaComp {field}"])
    params += [[f["index"], f["value"]] for f in m.raw["reacomp"]["fixed"] if 0.0 <= f["value"] <= 1.0]
    return params, checks, notes


def reaeq_specs(bands: tuple[EqBand, ...]) -> list[dict]:
    """ReaEQ instances carrying ``bands``: each fills the default layout (one low shelf, two peaks, one high
    shelf); more bands of a kind take further instances. Unused slots are disabled."""
    m = load_fx_mappings()
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
                bandwidth_oct = to_stored(m.reaeq("q"), band.q)
                slot.update(freq_hz=to_stored(m.reaeq("freq_hz"), band.freq_hz),
                            gain_linear=to_stored(m.reaeq("gain_db"), band.gain_db), bandwidth_oct=bandwidth_oct)
                checks += [[3 * k, band.freq_hz, 0.005 * band.freq_hz, f"band {k + 1} frequency (Hz)"],
                           [3 * k + 1, band.gain_db, 0.05, f"band {k + 1} gain (dB)"],
                           [3 * k + 2, bandwidth_oct, 0.01, f"band {k + 1} bandwidth (oct)"]]
            slots.append(slot)
        specs.append({"name": REAEQ, "eq_bands": slots, "checks": checks})
    return specs
