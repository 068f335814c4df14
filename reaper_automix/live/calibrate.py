"""Measure ReaComp/ReaEQ parameter mappings from a running REAPER.

For each parameter and each physical target value, REAPER's own display (``TrackFX_FormatParamValueNormalized``)
is bisected over the normalized value x, inside REAPER, in one round-trip per plug-in
(:func:`reaper_automix.live.ops.bisect_params`). Targets the display never reaches are dropped. The result is
written as the calibration file :mod:`reaper_automix.live.fxmap` reads (piecewise-linear tables), so the
mappings marked unverified in reaper.md are replaced by measurements without code changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import write_bytes_atomic
from ..reaper.mappings import load_fx_mappings
from . import fxmap, ops
from .bridge import Bridge

# Physical targets (display units) per console field of ReaComp; the mapping table gives each its parameter index.
_REACOMP_TARGETS: dict[str, list[float]] = {
    "threshold_db": [float(v) for v in np.arange(-60.0, 0.01, 1.0)],
    "ratio": [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0],
    "attack_ms": [0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 500.0],
    "release_ms": [1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0, 5000.0],
    "makeup_db": [float(v) for v in np.arange(-24.0, 12.01, 1.0)],  # ReaComp's Wet
    "knee_db": [float(v) for v in np.arange(0.0, 24.01, 1.0)],
}

# param -> physical targets (display units), per plug-in.
TARGETS: dict[str, dict[int, list[float]]] = {
    fxmap.REACOMP: {load_fx_mappings().reacomp_param(field)["index"]: values
                    for field, values in _REACOMP_TARGETS.items()},
    fxmap.REAEQ: {
        3: [20.0, 30.0, 50.0, 80.0, 100.0, 150.0, 200.0, 300.0, 500.0, 800.0, 1000.0, 2000.0, 3000.0, 5000.0,
            8000.0, 10000.0, 15000.0, 20000.0, 24000.0],  # band 2 frequency, Hz
        4: [float(v) for v in np.arange(-24.0, 12.01, 1.0)],  # band 2 gain, dB
        5: [0.05, 0.1, 0.2, 0.33, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0],  # band 2 bandwidth, octaves
    },
}


def calibrate(bridge: Bridge, output: Path | None = None, tolerance: float = 0.01) -> dict:
    """Measure the tables, write them to ``output`` (default :func:`fxmap.calibration_path`) atomically, and
    return ``{"file", "fx": {name: {param: {"name", "points"}}}, "dropped": [...], "round_trips"}``."""
    output = Path(output or fxmap.calibration_path())
    before = bridge.round_trips
    result: dict = {"fx": {}, "dropped": []}
    for fx_name, targets in TARGETS.items():
        measured = bridge.request(ops.bisect_params, [fx_name, [[p, v] for p, v in targets.items()]],
                                  what=f"calibrating {fx_name}")
        tables = {}
        for param, name, points, _increasing in measured:
            kept = []
            for value, x, shown in points:
                # keep a point only where the display at the bisected x reaches the target (within rounding)
                if abs(shown - value) <= max(tolerance, tolerance * abs(value)) + 1e-9:
                    kept.append([value, x])
                else:
                    result["dropped"].append(f"{fx_name} {name} {value:g}: outside the display range")
            if len(kept) >= 2:
                tables[str(param)] = {"name": name, "points": kept}
        result["fx"][fx_name] = tables
    output.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(output, json.dumps({"fx": result["fx"]}, indent=1).encode("utf-8"))
    result["file"] = str(output)
    result["round_trips"] = bridge.round_trips - before
    return result
