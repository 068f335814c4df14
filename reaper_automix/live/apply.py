"""Apply a :class:`~reaper_automix.changes.ChangeSet` to the project open in REAPER.

The ChangeSet is resolved into operations against the session of the open project
(:func:`reaper_automix.operations.resolve`), which become a plain-data plan (:func:`plan_from_changes`: effect
settings already converted to what REAPER's API takes, plus the values REAPER should show back);
:func:`reaper_automix.live.ops.apply_plan` executes it as one undo point named ``ChangeSet.description``.

Batched (default), the whole plan is one server-side call: one round-trip, and REAPER's UI waits only for
that one defer tick. Unbatched, the same code runs here and every API call is a round-trip (about 30 per
second in REAPER); it exists to measure the difference and as a fallback for a server without our operations.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..changes import ChangeSet
from ..errors import AutomixError
from ..operations import InsertFolderTrack, Operation, ReplaceTaggedFx, operations, resolve
from ..session import Session
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


def operation_name(op: Operation) -> str:
    """The name :mod:`.ops` executes ``op`` under: its class name in snake case (``"set_volume"``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(op).__name__).lower()


def plan_from_changes(session: Session, changes: ChangeSet, calibration: dict | None = None) -> tuple[dict, list[str]]:
    """The JSON plan :func:`ops.apply_plan` takes (``changes`` resolved against ``session``, the open project as
    read), and notes on what could not be expressed."""
    notes: list[str] = []
    names = {t.guid: t.name for t in session.tracks}
    steps = resolve(session, changes)
    for op in operations(steps):
        if isinstance(op, InsertFolderTrack):
            names[op.track] = op.name
    plan_steps = []
    for step in steps:
        plan_ops = []
        for op in step.operations:
            if isinstance(op, ReplaceTaggedFx):
                fx = fxmap.reaeq_specs(op.eq) if op.eq else []
                if op.compressor is not None:
                    params, checks, comp_notes = fxmap.reacomp_params(op.compressor, calibration)
                    fx.append({"name": fxmap.REACOMP, "params": params, "checks": checks})
                    notes += [f"{names[op.track]}: {n}" for n in comp_notes]
                plan_ops.append({"op": operation_name(op), "track": op.track, "fx": fx})
            else:
                plan_ops.append({"op": operation_name(op), **asdict(op)})
        plan_steps.append({"label": step.label, "operations": plan_ops})
    plan = {
        "description": changes.description,
        "tracks": [t.guid for t in session.tracks],
        "names": names,
        "steps": plan_steps,
    }
    return plan, notes


def apply_changes(bridge: Bridge, session: Session, changes: ChangeSet, *, batched: bool = True,
                  calibration_file: Path | None = None) -> ApplyResult:
    """Apply ``changes`` to REAPER's current project, whose tracks ``session`` holds (the whole project, as
    read last), as one undo point; raises AutomixError on failure.

    A track deleted since the project was read (or tracks added or moved) stops the run before anything
    changes, naming the deleted tracks.
    A failure part-way (REAPER refusing an effect, the connection dropping) still closes the undo block --
    inside REAPER (``finally``) when batched, by the server when the connection drops unbatched -- and the
    error says so: the partial change is one undo step.
    """
    if changes.is_empty:
        return ApplyResult(changes.description, {"faders": 0, "take_items": 0, "buses_created": 0,
                                                 "buses_reused": 0, "fx_added": 0, "fx_removed": 0,
                                                 "check_problems": [], "steps": []}, 0, 0.0, batched,
                           ["nothing to change"])
    plan, notes = plan_from_changes(session, changes, fxmap.load_calibration(calibration_file))
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
    created = sum(op["op"] == "insert_folder_track" for step in plan["steps"] for op in step["operations"])
    summary = {"faders": len(changes.faders), "buses_created": created, "buses_reused": len(changes.buses) - created,
               **summary}
    return ApplyResult(changes.description, summary, bridge.round_trips - start_trips,
                       time.perf_counter() - start, batched, notes)
