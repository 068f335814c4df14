"""Stage 1 end to end, independent of where the session came from.

session -> groups -> per-track render + analysis (worker processes) -> Rule 1 gains -> group stems (Rule 2
offsets) -> Rule 3 between stems -> mix ceiling -> fader plan -> :class:`~reaper_automix.changes.ChangeSet`.

Audio is never held for the whole session: each worker renders one track, measures it and drops it; stems are
written to a scratch folder as float32 ``.npy`` files and memory-mapped when needed (stage 2 reads them too).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .analysis.cfb import TrackAnalysis, analyse_track
from .audio.render import render_track, render_tracks
from .balance import (
    FaderPlan,
    GroupGains,
    between_group_gains,
    db_to_gain,
    equal_loudness_gains,
    gain_to_db,
    plan_faders,
    stem_offset_db,
)
from .changes import ChangeSet, FaderChange, TakeGainChange
from .config import BalanceConfig
from .errors import AutomixError
from .grouping import Group, Grouping, group_tracks
from .session import Session

METHODS = ("centroid", "f0", "lufs")
Progress = Callable[[str, int, int], None]  # (stage description, done, total)


@dataclass(frozen=True)
class BalanceOptions:
    method: str = "centroid"
    filter_order: int = 1  # 1: the authors' first-order high-pass + low-pass; 2/4: Butterworth
    group_peak_dbfs: float = -0.1  # Rule 2: each stem peaks here before the between-group gain
    mix_ceiling_dbfs: float = -1.0  # the balanced mix peaks here
    silence_lufs: float = -60.0  # tracks quieter than this are left untouched and reported
    between_groups: bool = True  # Rule 3: equal band loudness between stems (off: stems keep the Rule 2 level)
    strength: float = 1.0
    skip_missing: bool = False
    workers: int = 2

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AutomixError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise AutomixError(f"--strength must be within 0..1, got {self.strength}")
        if self.workers < 1:
            raise AutomixError(f"--workers must be at least 1, got {self.workers}")


@dataclass(frozen=True)
class GroupResult:
    group: Group
    relative_db: dict[int, float]  # Rule 1 gains
    stem_peak_dbfs: float  # the stem at the Rule 1 gains, before any group gain
    stem_band_loudness: float  # likewise
    stem_lufs: float
    gain_db: float = 0.0  # Rule 2 + Rule 3 + ceiling + settings offset: the group's final gain
    stem_file: Path | None = None


@dataclass
class BalanceResult:
    session: Session
    options: BalanceOptions
    grouping: Grouping
    analyses: dict[int, TrackAnalysis]
    excluded: dict[int, str]  # track -> reason (settings, muted, MIDI, silent, missing media)
    groups: list[GroupResult]
    plan: FaderPlan
    mix_peak_dbfs: float  # of the balanced groups summed, after the ceiling offset
    changes: ChangeSet = field(default_factory=lambda: ChangeSet(description=""))
    stem_dir: Path | None = None


# --- worker-process side -------------------------------------------------------------------------------------

_worker: dict = {}  # per-process state set by _init_worker: the session and the loaded pitch model


def _init_worker(session: Session, method: str) -> None:
    # Torch would otherwise start one thread per core in every worker and oversubscribe the machine.
    import torch

    torch.set_num_threads(1)
    _worker["session"] = session
    _worker["pitch_model"] = None
    if method == "f0":
        from .analysis.pitch import load_pitch_model

        _worker["pitch_model"] = load_pitch_model(session.sample_rate)


def _analyse_one(args: tuple[int, str, int]) -> tuple[int, TrackAnalysis]:
    index, method, filter_order = args
    session: Session = _worker["session"]
    audio = render_track(session, session.tracks[index])
    return index, analyse_track(
        audio, session.sample_rate, method, pitch_model=_worker["pitch_model"], filter_order=filter_order
    )


def _render_stem(args: tuple[str, dict[int, float], str, str, int]) -> tuple[str, float, TrackAnalysis]:
    name, gains_db, path, method, filter_order = args
    session: Session = _worker["session"]
    stem = np.zeros((2, max(1, round(session.length_s * session.sample_rate))), dtype=np.float32)
    for t, g in gains_db.items():
        audio = render_track(session, session.tracks[t])
        stem[:, : audio.shape[1]] += np.float32(db_to_gain(g)) * audio[:2, : stem.shape[1]]
    np.save(path, stem)
    peak = float(np.max(np.abs(stem))) if stem.size else 0.0
    analysis = analyse_track(
        stem, session.sample_rate, method, pitch_model=_worker["pitch_model"], filter_order=filter_order
    )
    return name, gain_to_db(peak), analysis


@contextmanager
def _pool(session: Session, options: BalanceOptions) -> Iterator[Callable]:
    """``imap_unordered``-like mapping over worker processes (or in-process for one worker)."""
    if options.workers == 1:
        _init_worker(session, options.method)
        yield lambda fn, jobs: map(fn, jobs)
        _worker.clear()
        return
    with ProcessPoolExecutor(
        max_workers=options.workers, initializer=_init_worker, initargs=(session, options.method)
    ) as pool:
        yield lambda fn, jobs: pool.map(fn, jobs)


# --- orchestration --------------------------------------------------------------------------------------------


def balance_session(
    session: Session,
    options: BalanceOptions = BalanceOptions(),
    config: BalanceConfig | None = None,
    *,
    stem_dir: Path | None = None,
    progress: Progress | None = None,
) -> BalanceResult:
    """Run stage 1 on ``session`` and return the decisions (nothing is written).

    ``stem_dir``: where group stems are written (float32 ``.npy``, one per group); by default a temporary
    folder that is removed before returning.
    """
    config = config or BalanceConfig()
    grouping = group_tracks(session, config)
    excluded: dict[int, str] = {e.track: e.reason for e in grouping.excluded}

    # Checks every member's media up front: one MediaError listing all problems, or (skip_missing) exclusions.
    candidates = [t for g in grouping.groups for t in g.members if t not in excluded]
    for exclusion in render_tracks(session, candidates, skip_missing=options.skip_missing).excluded:
        excluded[exclusion.index] = exclusion.reason

    members = [t for g in grouping.groups for t in g.members if t not in excluded]
    note = progress or (lambda *_: None)
    analyses: dict[int, TrackAnalysis] = {}

    with _pool(session, options) as run_map:
        jobs = [(t, options.method, options.filter_order) for t in members]
        for done, (t, analysis) in enumerate(run_map(_analyse_one, jobs), 1):
            analyses[t] = analysis
            note("analysing tracks", done, len(jobs))
        for t, analysis in analyses.items():
            if not math.isfinite(analysis.lufs) or analysis.lufs < options.silence_lufs:
                excluded[t] = f"silent (below {options.silence_lufs:g} LUFS)"

        rule1: list[GroupGains] = []
        for g in grouping.groups:
            band = {t: analyses[t].band_loudness_lufs for t in g.members if t not in excluded}
            band = {t: v for t, v in band.items() if math.isfinite(v)}
            if band:
                rule1.append(equal_loudness_gains(g, band, session, config))

        cleanup = stem_dir is None
        stem_root = Path(tempfile.mkdtemp(prefix="automix-stems-")) if cleanup else Path(stem_dir)
        stem_root.mkdir(parents=True, exist_ok=True)
        stem_jobs = [
            (gg.group.name, gg.relative_db, str(stem_root / f"stem{i:03d}.npy"), options.method, options.filter_order)
            for i, gg in enumerate(rule1)
        ]
        stems: dict[str, tuple[float, TrackAnalysis]] = {}
        for done, (name, peak, analysis) in enumerate(run_map(_render_stem, stem_jobs), 1):
            stems[name] = (peak, analysis)
            note("rendering group stems", done, len(stem_jobs))

    groups: list[GroupResult] = []
    for (name, _, path, _, _), gg in zip(stem_jobs, rule1):
        peak, analysis = stems[name]
        groups.append(
            GroupResult(
                group=gg.group,
                relative_db=gg.relative_db,
                stem_peak_dbfs=peak,
                stem_band_loudness=analysis.band_loudness_lufs,
                stem_lufs=analysis.lufs,
                stem_file=Path(path),
            )
        )

    # Rule 2: each stem to the group peak; Rule 3: equal band loudness between the stems.
    offsets = {r.group.name: stem_offset_db(r.stem_peak_dbfs, options.group_peak_dbfs) for r in groups}
    if options.between_groups:
        between = between_group_gains(
            {r.group.name: r.stem_band_loudness + offsets[r.group.name] for r in groups},
            {r.group.name: config.group_offset_db(r.group.name) for r in groups},
        )
    else:
        between = {r.group.name: config.group_offset_db(r.group.name) for r in groups}
    group_db = {r.group.name: offsets[r.group.name] + between[r.group.name] for r in groups}

    mix_peak = _mix_peak_dbfs(groups, group_db)
    ceiling = options.mix_ceiling_dbfs - mix_peak if math.isfinite(mix_peak) else 0.0
    groups = [replace(r, gain_db=group_db[r.group.name] + ceiling) for r in groups]

    locked = frozenset(t for gg in rule1 for t in gg.locked)
    plan = plan_faders(
        session,
        {t: g for r in groups for t, g in r.relative_db.items()},
        {r.group: r.gain_db for r in groups},
        locked,
        strength=options.strength,
    )
    result = BalanceResult(
        session=session,
        options=options,
        grouping=grouping,
        analyses=analyses,
        excluded=excluded,
        groups=groups,
        plan=plan,
        mix_peak_dbfs=mix_peak + ceiling if math.isfinite(mix_peak) else mix_peak,
        stem_dir=None if cleanup else stem_root,
    )
    result.changes = changes_from_plan(result)
    if cleanup:
        for r in groups:
            if r.stem_file is not None:
                r.stem_file.unlink(missing_ok=True)
        stem_root.rmdir()
        result.groups = [replace(r, stem_file=None) for r in groups]
    return result


def _mix_peak_dbfs(groups: list[GroupResult], group_db: dict[str, float], block: int = 1 << 20) -> float:
    """Peak of the stems summed at their group gains, streamed block by block from the memory-mapped stems."""
    stems = [(np.load(r.stem_file, mmap_mode="r"), db_to_gain(group_db[r.group.name])) for r in groups]
    if not stems:
        return -math.inf
    n = max(s.shape[1] for s, _ in stems)
    peak = 0.0
    for start in range(0, n, block):
        acc = np.zeros((2, min(block, n - start)), dtype=np.float32)
        for s, g in stems:
            part = s[:, start : start + block]
            acc[:, : part.shape[1]] += np.float32(g) * part
        peak = max(peak, float(np.max(np.abs(acc))))
    return gain_to_db(peak)


def changes_from_plan(result: BalanceResult) -> ChangeSet:
    session = result.session
    faders = []
    takes = []
    for t, change in sorted(result.plan.changes.items()):
        track = session.tracks[t]
        faders.append(FaderChange(track.guid, track.name, track.volume, db_to_gain(change.fader_after_db)))
        if change.take_gain_db:
            takes.append(TakeGainChange(track.guid, track.name, change.take_gain_db))
    balanced = sum(len(r.relative_db) for r in result.groups)
    description = f"Automix: balanced {balanced} tracks in {len(result.groups)} groups"
    notes = tuple(
        f"{session.tracks[t].name}: {c.note}" for t, c in sorted(result.plan.changes.items()) if c.note
    )
    return ChangeSet(description=description, faders=tuple(faders), take_gains=tuple(takes), notes=notes)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
