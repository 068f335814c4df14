"""Stage 2 end to end: stage 1's decision extended by one channel strip per bus.

session -> layout (every bus decided, :func:`~reaper_automix.layout.plan_layout`: a layout that cannot work fails
before any audio) -> stage 1 (per-track gains, and the group stems rendered once to ``.npy``) -> an engine
(:mod:`reaper_automix.controller.engines`) reads those stems at their stage-1 level and returns one
:class:`~reaper_automix.strip.Strip` per bus (gain, EQ, compressor, pan) with the stage-1 sum and the matched mix
it measured (the A/B preview reuses both) -> one fader plan for the combined decision -> a
:class:`~reaper_automix.changes.ChangeSet` with faders, take gains and one bus per group.

Track faders carry the within-group balance and stage 1's group gain (so the bus compressor sees the stem at
the level it was matched at), the bus fader the matched gain; faders are solved along the folder hierarchy like
stage 1 (:func:`~reaper_automix.balance.plan_faders`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .audio.io import StemFile
from .balance import FaderPlan, plan_faders
from .changes import BusChange, ChangeSet
from .cleanup import remove_folder
from .config import BalanceConfig
from .console.pan import PanLaw
from .errors import AutomixError
from .controller.engines import match_with_engine
from .controller.predict import controller
from .grouping import Group, group_tracks
from .layout import BusLayout, plan_layout
from .matching import MatchOptions, MatchResult, ScaledStem, level_matched_ab
from .matching.features import check_reference
from .session import Session
from .stage1 import (
    BalanceOptions,
    BalanceResult,
    Progress,
    Renderer,
    balance_session,
    changes_from_plan,
    scratch_stem_folder,
)
from .units import db_to_gain


@dataclass
class MixResult:
    balance: BalanceResult
    match: MatchResult
    groups: list[Group]  # in stem order, as matched
    new_bus: list[bool]  # per group: a new folder track is created as its bus
    plan: FaderPlan
    changes: ChangeSet

    @property
    def stage1_mix(self) -> np.ndarray:
        """The groups summed at their stage-1 levels, float32 ``(2, samples)`` (the A/B "before"): the sum the
        matching measured, not a second one."""
        return self.match.before_mix

    def level_matched_previews(self) -> tuple[np.ndarray, np.ndarray]:
        """The A/B preview ``(before, after)``: the stage-1 mix and the matched mix at the stage-1 mix's loudness
        (:func:`~reaper_automix.matching.level_matched_ab`), from the mixes and loudnesses the matching measured:
        nothing is rendered or K-weighted again."""
        m = self.match
        before, after, _, _ = level_matched_ab(m.before_mix, m.matched_mix, self.balance.session.sample_rate,
                                               before_lufs=m.before.loudness_lufs, after_lufs=m.after.loudness_lufs)
        return before, after


def bus_pan_law(session: Session, bus: BusLayout) -> PanLaw:
    """The pan law of the bus that will carry a group's pan: the bus track's own law, or for a bus this tool
    is about to insert, the project's."""
    if bus.track is None:
        return PanLaw.of_new_track(session)
    return PanLaw.of_track(session, session.tracks[bus.track])


def mix_session(
    session: Session,
    references: Sequence[Path],
    *,
    balance_options: BalanceOptions = BalanceOptions(),
    match_options: MatchOptions = MatchOptions(),
    config: BalanceConfig | None = None,
    progress: Progress | None = None,
    renderer: Renderer | None = None,
    stem_dir: Path | None = None,
) -> MixResult:
    """Run stage 1 and match its group stems to ``references`` (audio files; several are averaged).

    The stage-1 stems are written to a temporary folder (in memory where it has room:
    :func:`~reaper_automix.stage1.scratch_stem_folder`), or to ``stem_dir`` (which then keeps them: the result's
    ``balance.groups[i].stem_file``, for pictures of the buses).

    Stage 2 runs the engine ``match_options.engine`` (``learned``, ``search`` or ``hybrid``,
    :mod:`reaper_automix.controller.engines`)."""
    references = [Path(r) for r in references]
    if not references:
        raise AutomixError("stage 2 needs a reference mix (--reference FILE)")
    for reference in references:  # before any audio work
        for warning in check_reference(reference):
            warnings.warn(warning, stacklevel=2)
    note = progress or (lambda *_: None)
    layout = {bus.group: bus for bus in plan_layout(session, group_tracks(session, config or BalanceConfig()).groups)}
    if match_options.engine != "search":
        controller()  # a missing or mismatched checkpoint fails before stage 1 starts
    own = stem_dir is None
    folder = scratch_stem_folder(session, len(layout)) if own else Path(stem_dir)
    try:
        balance = balance_session(session, balance_options, config, stem_dir=folder, progress=progress,
                                  renderer=renderer)
        stems = [ScaledStem(StemFile(r.stem_file), r.gain_db) for r in balance.groups]
        laws = [bus_pan_law(session, layout[r.group]) for r in balance.groups]
        match = match_with_engine(stems, session.sample_rate, references, match_options, progress=note,
                                  pan_laws=laws)
    finally:
        if own:
            remove_folder(folder)

    groups = [r.group for r in balance.groups]
    buses_of = [layout[g] for g in groups]
    new_bus = [bus.created for bus in buses_of]
    # The console compressed each stem at its stage-1 level and then applied the matched gain and pan. The same
    # order in REAPER: the stage-1 group gain goes into the member faders (so the bus FX see the stem at the
    # level the console's compressor saw), the matched gain onto the bus fader, after the FX. A group that gets a
    # new bus is planned as folder-less (the new bus fader takes the matched gain); an existing folder carries it.
    track_gain_db = {t: g + r.gain_db for r in balance.groups for t, g in r.relative_db.items()}
    bus_gain_db = {
        (replace(g, folder=None) if new else g): (0.0 if new else s.gain_db)
        for g, new, s in zip(groups, new_bus, match.stems)
    }
    plan = plan_faders(session, track_gain_db, bus_gain_db, balance.locked, strength=balance_options.strength)
    buses = []
    for bus, new, r, s in zip(buses_of, new_bus, balance.groups, match.stems):
        members = tuple(session.tracks[t].guid for t in bus.members if t in r.relative_db)
        buses.append(
            BusChange(
                group=bus.name,
                member_guids=members,
                folder_guid=None if bus.track is None else session.tracks[bus.track].guid,
                volume=db_to_gain(s.gain_db) if new else None,
                pan=s.pan if match_options.pan else None,
                eq=s.eq if match_options.eq else None,
                compressor=s.compressor if match_options.compressor else None,
            )
        )
    description = f"Automix: mixed {len(groups)} groups to {', '.join(p.name for p in references)}"
    changes = replace(changes_from_plan(session, plan, description), buses=tuple(buses))
    return MixResult(balance, match, groups, new_bus, plan, changes)
