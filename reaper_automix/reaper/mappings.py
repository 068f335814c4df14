"""Physical settings <-> ReaEQ / ReaComp states and track pan, driven by ``data/reaper_fx_mappings.yaml``.

Torch-free: the settings are :mod:`reaper_automix.changes` values (the console converts its tensors to them).

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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ..strip import Compressor, EqBand
from .fxstate import FxStateError, ReaCompState, ReaEqBand, ReaEqState


@dataclass(frozen=True)
class FxMappings:
    """The parsed mapping table (see ``data/reaper_fx_mappings.yaml`` for meanings and certainty)."""

    raw: dict[str, Any]

    def reaeq(self, key: str) -> dict[str, Any]:
        return self.raw["reaeq"][key]

    def reacomp_param(self, name: str) -> dict[str, Any]:
        return self.raw["reacomp"]["params"][name]

    def reacomp_by_index(self) -> dict[int, tuple[str, dict[str, Any]]]:
        """{parameter index: (console field, table entry)} of the ReaComp parameters the console sets."""
        return {int(entry["index"]): (name, entry) for name, entry in self.raw["reacomp"]["params"].items()}


@lru_cache(maxsize=1)
def load_fx_mappings() -> FxMappings:
    """The package's mapping table (read once; it is immutable data)."""
    text = resources.files("reaper_automix").joinpath("data/reaper_fx_mappings.yaml").read_text(encoding="utf-8")
    return FxMappings(yaml.safe_load(text))


def to_stored(entry: dict[str, Any], value: float) -> float:
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


def from_stored(entry: dict[str, Any], stored: float) -> float:
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


def reaeq_state(
    bands: Sequence[EqBand], *, template: ReaEqState | None = None, mappings: FxMappings | None = None
) -> ReaEqState:
    """ReaEQ state with one band per :class:`~reaper_automix.strip.EqBand`, in order.

    ``template`` supplies what the bands do not set (version, tail with master gain and window size, header);
    REAPER's default ReaEQ otherwise.
    """
    m = mappings or load_fx_mappings()
    lo, hi = m.reaeq("bandwidth_oct_range")
    out = []
    for i, band in enumerate(bands):
        bandwidth = to_stored(m.reaeq("q"), band.q)
        if not lo <= bandwidth <= hi:
            raise ValueError(f"EQ band {i}: Q {band.q:.3g} is {bandwidth:.3g} octaves, outside ReaEQ's {lo}-{hi}")
        out.append(
            ReaEqBand(
                type=m.reaeq("band_types")[band.kind]["code"],
                enabled=band.enabled,
                freq_hz=to_stored(m.reaeq("freq_hz"), band.freq_hz),
                gain_linear=to_stored(m.reaeq("gain_db"), band.gain_db),
                bandwidth_oct=bandwidth,
            )
        )
    base = template or ReaEqState(bands=[])
    return ReaEqState(out, base.version, base.tail, base.header, base.program, base.layout)


def eq_bands(state: ReaEqState, *, mappings: FxMappings | None = None) -> tuple[EqBand, ...]:
    """The bands of a ReaEQ state as physical :class:`~reaper_automix.strip.EqBand` values, in order.

    Disabled bands of a type the console has no shape for (pass, notch, legacy band...) do not change the sound
    and are left out; an enabled one, or a band whose stored values have no physical meaning (gain <= 0,
    bandwidth outside ReaEQ's range, non-finite), raises FxStateError naming the band."""
    m = mappings or load_fx_mappings()
    kinds = {spec["code"]: kind for kind, spec in m.reaeq("band_types").items()}
    others = m.reaeq("other_band_types")
    lo, hi = m.reaeq("bandwidth_oct_range")
    out = []
    for i, b in enumerate(state.bands):
        if b.type not in kinds:
            if not b.enabled:
                continue
            name = others.get(b.type, "unknown")
            raise FxStateError(
                f"ReaEQ band {i + 1} is type {b.type} ({name}), which the console does not model "
                f"(it models {', '.join(k.replace('_', ' ') for k in kinds.values())})"
            )
        values = (b.freq_hz, b.gain_linear, b.bandwidth_oct)
        if not all(math.isfinite(v) for v in values) or b.freq_hz <= 0 or b.gain_linear <= 0:
            raise FxStateError(
                f"ReaEQ band {i + 1}: frequency {b.freq_hz:g} Hz, gain {b.gain_linear:g} (linear) is not a "
                "physical setting"
            )
        if not lo <= b.bandwidth_oct <= hi:
            raise FxStateError(f"ReaEQ band {i + 1}: bandwidth {b.bandwidth_oct:g} octaves is outside {lo}-{hi}")
        out.append(
            EqBand(
                kind=kinds[b.type],
                freq_hz=from_stored(m.reaeq("freq_hz"), b.freq_hz),
                gain_db=from_stored(m.reaeq("gain_db"), b.gain_linear),
                q=from_stored(m.reaeq("q"), b.bandwidth_oct),
                enabled=b.enabled,
            )
        )
    return tuple(out)


_COMP_FIELDS = ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db", "makeup_db")


def reacomp_state(
    setting: Compressor,
    *,
    rms_ms: float = 5.0,
    template: ReaCompState | None = None,
    mappings: FxMappings | None = None,
) -> ReaCompState:
    """ReaComp state for a :class:`~reaper_automix.strip.Compressor`; ``rms_ms`` is the detector's RMS
    window (0 = peak detection). Parameters the setting does not cover come from ``template`` (REAPER's default
    ReaComp otherwise), with the table's ``fixed`` values forced."""
    m = mappings or load_fx_mappings()
    base = template or ReaCompState()
    _check_param_count(base, m)
    params = list(base.params)
    for name in _COMP_FIELDS:
        entry = m.reacomp_param(name)
        params[entry["index"]] = to_stored(entry, float(getattr(setting, name)))
    rms = m.raw["reacomp"]["rms_ms"]
    params[rms["index"]] = to_stored(rms, rms_ms)
    for fixed in m.raw["reacomp"]["fixed"]:
        params[fixed["index"]] = fixed["value"]
    return ReaCompState(params, base.header, base.program, base.layout)


def compressor_setting(
    state: ReaCompState, *, mappings: FxMappings | None = None
) -> tuple[Compressor, float]:
    """The physical setting of a ReaComp state and its RMS window in ms (0 = peak detection).

    Raises FxStateError for a state the console cannot reproduce: too few parameters, a non-finite value, a
    threshold or Wet level of zero (minus infinity dB)."""
    m = mappings or load_fx_mappings()
    _check_param_count(state, m)
    values = {}
    for name in _COMP_FIELDS:
        entry = m.reacomp_param(name)
        stored = state.params[entry["index"]]
        if not math.isfinite(stored) or (entry["map"] == "db_to_linear" and stored <= 0.0):
            raise FxStateError(f"ReaComp parameter {entry['index']} ({name}) holds {stored:g}, not a physical value")
        values[name] = from_stored(entry, stored)
    rms = m.raw["reacomp"]["rms_ms"]
    return Compressor(**values), from_stored(rms, state.params[rms["index"]])


def _check_param_count(state: ReaCompState, m: FxMappings) -> None:
    indices = [e["index"] for e in m.raw["reacomp"]["params"].values()]
    indices += [m.raw["reacomp"]["rms_ms"]["index"], *(f["index"] for f in m.raw["reacomp"]["fixed"])]
    if len(state.params) <= max(indices):
        raise FxStateError(f"ReaComp state has {len(state.params)} parameters; at least {max(indices) + 1} expected")


def pan_to_d_pan(pan: float) -> float:
    """REAPER's ``D_PAN`` (and the ``VOLPAN`` pan field) for a console pan; the same -1..1 scale [sdk]."""
    return to_stored(load_fx_mappings().raw["pan"]["d_pan"], pan)


def default_pan_law(mappings: FxMappings | None = None) -> dict[str, Any]:
    """REAPER's project-default pan law as recorded in the table (``centre_db``, ``taper``,
    ``gain_compensated``); :meth:`reaper_automix.console.pan.PanLaw.reaper_default` builds the console's."""
    return (mappings or load_fx_mappings()).raw["pan"]["default_law"]


def pan_taper(flags: int, mappings: FxMappings | None = None) -> str:
    """The taper (``"sine"``, ``"linear"``, ``"hybrid"``) of a track's ``PANLAWFLAGS`` value; ValueError for
    codes the table does not know."""
    table = (mappings or load_fx_mappings()).raw["pan"]["taper_flags"]
    if flags not in table:
        raise ValueError(f"pan law flags {flags} are not a known taper ({sorted(table)})")
    return table[flags]


def plugin_file(plugin: str, platform: str = sys.platform) -> str:
    """File name of ``plugin`` (``"reaeq"`` or ``"reacomp"``) on the ``<VST`` line for a ``sys.platform``."""
    files = load_fx_mappings().raw["plugin_files"][plugin]
    if platform.startswith("win"):
        return files["windows"]
    if platform == "darwin":
        return files["macos"]
    return files["linux"]
