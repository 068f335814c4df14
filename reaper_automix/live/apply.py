"""Apply a :class:`~reaper_automix.changes.ChangeSet` to the project open in REAPER.

The ChangeSet becomes a plain-data plan (:func:`plan_from_changes`: effect parameters already converted to
what REAPER's API takes, plus the values REAPER should show back), which
:func:`reaper_automix.live.ops.apply_plan` applies as one undo point named ``ChangeSet.description``.

Batched (default), the whole plan is one server-side call: one round-trip, and REAPER's UI waits only for
that one defer tick. Unbatched, the same code runs here and every API call is a round-trip (about 30 per
second in REAPER); it exists to measure the difference and as a fallback for a server without our operations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..changes import ChangeSet
from ..errors import AutomixError
from ..rpp.facts import rpp_facts
from . import fxmap, ops
from .bridge import Bridge, RemoteApi


@dataclass
class ApplyResult:
    description: str
    summary: dict
    round_trips: int
    wall_s: float
    batched: bool
    notes: list[str] = field(default_factory=list)

    @property
    def check_problems(self) -> list[str]:
        return list(self.summary.get("check_problems", ()))

    def lines(self) -> list[str]:
        s = self.summary
        out = [f"{self.description}: {s['faders']} faders, {s['take_items']} take volumes, "
               f"{s['buses_created']} new buses, {s['buses_reused']} reused, {s['fx_added']} effects added "
               f"({s['fx_removed']} earlier ones replaced); {self.round_trips} round-trips, {self.wall_s:.2f} s"]
        out += [f"  check: {p}" for p in self.check_problems]
        out += [f"  note: {n}" for n in self.notes]
        return out


def plan_from_changes(changes: ChangeSet, calibration: dict | None = None) -> tuple[dict, list[str]]:
    """The JSON plan :func:`ops.apply_plan` takes, and notes on what could not be expressed."""
    notes: list[str] = []
    names: dict[str, str] = {}
    for f in changes.faders:
        names[f.track_guid] = f.track_name
    for t in changes.take_gains:
        names[t.track_guid] = t.track_name
    buses = []
    for bus in changes.buses:
        fx = None
        if bus.eq is not None or bus.compressor is not None:
            fx = fxmap.reaeq_specs(bus.eq) if bus.eq else []
            if bus.compressor is not None:
                params, checks, comp_notes = fxmap.reacomp_params(bus.compressor, calibration)
                fx.append({"name": fxmap.REACOMP, "params": params, "checks": checks})
                notes += [f"{bus.group}: {n}" for n in comp_notes]
        buses.append({"group": bus.group, "members": list(bus.member_guids), "folder_guid": bus.folder_guid,
                      "volume": bus.volume, "pan": bus.pan, "fx": fx})
    facts = rpp_facts()
    audio = facts["source_types"]["audio"]
    plan = {
        "description": changes.description,
        # take gains apply to audio items only, as in the .rpp path (offline media count as their type)
        "audio_source_types": audio + [facts["offline_prefix"] + t for t in audio],
        "names": names,
        "faders": [[f.track_guid, f.track_name, f.volume_after] for f in changes.faders],
        "take_gains": [[t.track_guid, t.track_name, 10.0 ** (t.gain_db / 20.0)] for t in changes.take_gains],
        "buses": buses,
    }
    return plan, notes


def apply_changes(bridge: Bridge, changes: ChangeSet, *, batched: bool = True,
                  calibration_file: Path | None = None) -> ApplyResult:
    """Apply ``changes`` to REAPER's current project as one undo point; raises AutomixError on failure.

    A track deleted since the project was read stops the run before anything changes, naming the track.
    A failure part-way (REAPER refusing an effect, the connection dropping) still closes the undo block --
    inside REAPER (``finally``) when batched, by the server when the connection drops unbatched -- and the
    error says so: the partial change is one undo step.
    """
    if changes.is_empty:
        return ApplyResult(changes.description, {"faders": 0, "take_items": 0, "buses_created": 0,
                                                 "buses_reused": 0, "fx_added": 0, "fx_removed": 0,
                                                 "check_problems": [], "steps": []}, 0, 0.0, batched,
                           ["nothing to change"])
    plan, notes = plan_from_changes(changes, fxmap.load_calibration(calibration_file))
    start_trips, start = bridge.round_trips, time.perf_counter()
    try:
        if batched:
            summary = bridge.request(ops.apply_plan, [plan], what=f"applying {changes.description!r}")
        else:
            summary = ops.apply_plan(plan, api=RemoteApi(bridge))
    except ops.TrackGone as exc:  # unbatched: raised here directly
        raise AutomixError(f"cannot apply {changes.description!r}: {exc}") from None
    except AutomixError as exc:
        text = str(exc)
        if "tracks no longer in the project" in text:
            reason = text[text.index("tracks no longer in the project") :]
            raise AutomixError(f"cannot apply {changes.description!r}: {reason}") from None
        raise AutomixError(f"{exc}\nThe run stopped part-way; what was applied is one undo step named "
                           f"{changes.description!r} in REAPER (Edit > Undo).") from None
    return ApplyResult(changes.description, summary, bridge.round_trips - start_trips,
                       time.perf_counter() - start, batched, notes)
