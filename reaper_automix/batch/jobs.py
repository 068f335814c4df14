"""Batch jobs: one whole project each, run by the same entry points as the ``balance`` and ``mix`` commands
(:mod:`reaper_automix.projects`), in whatever process or cluster worker the engine picked.

A job never raises for a problem with its project: :func:`run_job` returns a :class:`JobOutcome` with the error,
so that an exception reaching the engine means the worker itself was lost.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import BalanceConfig
from ..errors import AutomixError, MediaError


@dataclass(frozen=True)
class StageSpec:
    """What every job of a batch runs: stage 1 alone (``matching is None``) or stages 1 and 2.

    ``balance`` and ``matching`` are :class:`~reaper_automix.stage1.BalanceOptions` and
    :class:`~reaper_automix.matching.MatchOptions`.
    """

    balance: object
    config: BalanceConfig
    matching: object | None = None
    references: tuple[Path, ...] = ()
    reference_track: str | None = None

    @property
    def stage(self) -> str:
        return "balance" if self.matching is None else "mix"


@dataclass(frozen=True)
class ProjectJob:
    """One project: read ``project``, write ``output`` and ``report`` (replacing them only if ``replace``)."""

    key: str  # the project's path relative to the input folder
    project: Path
    output: Path
    report: Path
    spec: StageSpec
    replace: bool = False


@dataclass(frozen=True)
class JobOutcome:
    """How one attempt ended. ``error`` is empty on success; ``input_error``: the project's own problem (a bad
    ``.rpp``, missing media), as opposed to a bug."""

    key: str
    worker: str
    seconds: float
    summary: str = ""
    error: str = ""
    input_error: bool = False
    peak_rss_mb: float = 0.0  # of the worker process so far (Linux, macOS)
    started_at: float = 0.0  # when the attempt began, seconds since the epoch (the worker's clock)

    @property
    def ok(self) -> bool:
        return not self.error


def find_projects(folder: Path, *, recursive: bool = False, exclude: Path | None = None) -> list[Path]:
    """The ``.rpp`` projects in ``folder`` (sorted), leaving out our own outputs and backups, and anything
    under ``exclude`` (an output folder inside the input folder)."""
    pattern = "**/*" if recursive else "*"
    found = []
    for path in folder.glob(pattern):
        if path.suffix.lower() != ".rpp" or not path.is_file():
            continue
        if path.stem.endswith("-automix") or "-automix-backup-" in path.stem:
            continue
        if exclude is not None and exclude.resolve() in path.resolve().parents:
            continue
        found.append(path)
    return sorted(found)


def output_paths(project: Path, folder: Path, out_root: Path) -> tuple[Path, Path]:
    """Where a project's result and report go: ``NAME-automix.rpp`` and ``NAME-automix-report.json`` in the
    project's own folder, or at the same relative place under ``out_root``."""
    place = out_root / project.parent.relative_to(folder)
    return place / f"{project.stem}-automix{project.suffix}", place / f"{project.stem}-automix-report.json"


def media_files(project: Path) -> list[Path]:
    """Every media file the project's takes name (absolute), or ``[]`` if the project cannot be read (the job
    then reports why)."""
    from ..rpp.reader import load_session

    try:
        session, _ = load_session(project)
    except AutomixError:
        return []
    return [i.take.source.file for t in session.tracks for i in t.items if i.take and i.take.source.file]


def worker_name() -> str:
    """The Dask worker's address inside a cluster worker, else ``host:pid``."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def worker_environment() -> str:
    """Run on each cluster worker when the batch starts: loads the pipeline (so the first projects do not pay
    for it one by one), lets the allocator reuse freed buffers (:func:`~reaper_automix.stage1.keep_freed_memory`)
    and returns the reaper-automix version the worker has."""
    from .. import __version__, projects  # noqa: F401
    from ..stage1 import keep_freed_memory

    keep_freed_memory()
    return __version__


def run_job(job: ProjectJob) -> JobOutcome:
    """Run one project to the end. Several may run at once in threads of one process (a cluster worker with
    ``--per-worker N``): a run keeps all its state with it."""
    return replace(_run_job(job), peak_rss_mb=_peak_rss_mb())


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def _run_job(job: ProjectJob) -> JobOutcome:
    """Run one project to the end. Writes only ``job.output`` and ``job.report``, each atomically."""
    from ..projects import Outputs, balance_project, mix_project

    start, started_at = time.perf_counter(), time.time()
    worker = worker_name()
    spec = job.spec

    def outcome(**fields) -> JobOutcome:
        return JobOutcome(job.key, worker, time.perf_counter() - start, started_at=started_at, **fields)

    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        outputs = Outputs(job.output, force=job.replace, report=job.report)
        if spec.matching is None:
            run = balance_project(job.project, outputs, spec.balance, spec.config)
        else:
            run = mix_project(job.project, outputs, spec.references, reference_track=spec.reference_track,
                              balance_options=spec.balance, match_options=spec.matching, config=spec.config)
    except MediaError as exc:
        # on a cluster the usual cause is a worker that does not mount the projects' media where they are
        return outcome(error=f"{job.project}: on worker {worker}: {exc}", input_error=True)
    except AutomixError as exc:
        return outcome(error=str(exc), input_error=True)
    except Exception as exc:  # a bug in one project must not stop the batch; it is reported with the project
        return outcome(error=f"internal error: {exc!r}")
    return outcome(summary=run.result.changes.description)
