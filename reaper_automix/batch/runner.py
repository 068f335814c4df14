"""The batch loop: plan (skip what is current), run on an engine with retries, record everything in the
manifest, summarise.

Order of events for one project: planned -> claimed in the manifest (``running``, saved before it starts) ->
finished (``done`` or, after ``retries`` more attempts, ``failed``). Ctrl-C (KeyboardInterrupt) stops the
engine, marks the unfinished projects ``interrupted``, saves the manifest and re-raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .jobs import JobOutcome, ProjectJob, StageSpec, media_files, output_paths
from .manifest import Entry, Manifest, _relative, file_stamp, input_hash, options_hash

SAVE_EVERY_S = 1.0  # the manifest is saved at most this often while projects finish (and always at the end)


@dataclass
class Counts:
    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0

    @property
    def finished(self) -> int:
        return self.skipped + self.done + self.failed


Progress = Callable[[Counts], None]


@dataclass
class ProjectResult:
    key: str
    state: str  # "done", "skipped", "failed", "interrupted"
    attempts: int = 0
    seconds: float = 0.0
    summary: str = ""
    error: str = ""
    workers: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0  # of the worker process that finished it, at the end (0: unknown)


@dataclass
class BatchSummary:
    engine: str
    stage: str
    manifest: Path
    seconds: float
    projects: list[ProjectResult]
    interrupted: bool = False

    def count(self, state: str) -> int:
        return sum(1 for p in self.projects if p.state == state)

    @property
    def ok(self) -> bool:
        return not self.interrupted and self.count("failed") == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "stage": self.stage,
            "manifest": str(self.manifest),
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "counts": {s: self.count(s) for s in ("done", "skipped", "failed", "interrupted")},
            "projects": [asdict(p) for p in self.projects],
        }


def spec_options(spec: StageSpec) -> dict[str, Any]:
    """Everything about a batch's options that changes its outputs (hashed into each manifest entry)."""
    from .. import __version__

    return {
        "version": __version__,
        "stage": spec.stage,
        "balance": asdict(spec.balance),
        "config": asdict(spec.config),
        "matching": asdict(spec.matching) if spec.matching is not None else None,
        "references": [file_stamp(Path(r).resolve()) for r in spec.references],
        "reference_track": spec.reference_track,
    }


def run_batch(
    projects: list[Path],
    folder: Path,
    out_root: Path,
    spec: StageSpec,
    engine,
    *,
    retries: int = 1,
    force: bool = False,
    progress: Progress | None = None,
) -> BatchSummary:
    """Run ``spec`` on each of ``projects`` (inside ``folder``) with ``engine``, outputs under ``out_root``
    (which holds the manifest; it is ``folder`` for outputs beside the projects).

    A project is attempted at most ``1 + retries`` times: after a lost worker or an internal error, and, on a
    distributed engine, after an input error (another worker may see files this one did not), each time
    avoiding the workers already tried where the engine can. Existing outputs the manifest does not own are
    replaced only with ``force``.
    """
    start = time.perf_counter()
    manifest = Manifest.load(out_root)
    options_digest = options_hash(spec_options(spec))
    results: dict[str, ProjectResult] = {}
    queued: list[tuple[ProjectJob, str]] = []
    for project in projects:
        key = project.relative_to(folder).as_posix()
        digest = input_hash(project, media_files(project))
        if manifest.is_current(key, digest, options_digest):
            results[key] = ProjectResult(key, "skipped")
            continue
        output, report = output_paths(project, folder, out_root)
        clashes = [p for p in (output, report) if p.exists() and not (force or manifest.owns(p))]
        if clashes:
            results[key] = ProjectResult(
                key, "failed", error=f"{clashes[0]} exists and is not this batch's output; pass --force to replace it")
            continue
        queued.append((ProjectJob(key, project, output, report, spec, replace=True), digest))

    states = [r.state for r in results.values()]
    counts = Counts(total=len(projects), skipped=states.count("skipped"), failed=states.count("failed"))
    note = progress or (lambda _: None)
    tried: dict[str, list[str]] = {}
    digests = {job.key: digest for job, digest in queued}
    pending = [job for job, _ in queued]
    running: dict[str, ProjectJob] = {}
    interrupted = False

    def claim(job: ProjectJob) -> None:
        manifest.entries[job.key] = Entry(
            input_hash=digests[job.key], options_hash=options_digest, state="running",
            output=_relative(job.output, out_root), report=_relative(job.report, out_root),
            attempts=len(tried.get(job.key, [])),
        )

    for job in pending:
        claim(job)
    manifest.save()  # (stopped before this, nothing ran and the manifest is as it was)
    try:
        note(counts)
        while pending or running:
            while pending and len(running) < engine.capacity:
                job = pending.pop(0)
                engine.submit(job, tuple(tried.get(job.key, ())))
                running[job.key] = job
            counts.running = len(running)
            note(counts)
            finished = engine.next_done(timeout=0.25)
            if finished is None:
                continue
            job, outcome = finished
            running.pop(job.key, None)
            lost = isinstance(outcome, BaseException)
            worker = "lost" if lost else outcome.worker
            attempts = tried.setdefault(job.key, [])
            attempts.append(worker)
            entry = manifest.entries[job.key]
            entry.attempts, entry.workers = len(attempts), list(attempts)
            if not lost and outcome.ok:
                entry.state, entry.seconds, entry.summary, entry.error = "done", outcome.seconds, outcome.summary, ""
                entry.finished_at = _now()
                counts.done += 1
                results[job.key] = ProjectResult(job.key, "done", len(attempts), outcome.seconds, outcome.summary,
                                                 workers=list(attempts), peak_rss_mb=outcome.peak_rss_mb)
            else:
                error = f"worker lost: {outcome!r}" if lost else outcome.error
                if len(attempts) <= retries and _worth_retrying(outcome, engine):
                    pending.append(job)  # to the back: other projects go first, often on other workers
                    entry.error = error
                else:
                    entry.state, entry.error = "failed", error
                    entry.seconds = 0.0 if lost else outcome.seconds
                    entry.finished_at = _now()
                    counts.failed += 1
                    results[job.key] = ProjectResult(job.key, "failed", len(attempts), entry.seconds, error=error,
                                                     workers=list(attempts))
            manifest.save(at_most_every_s=SAVE_EVERY_S)
    except KeyboardInterrupt:
        interrupted = True
        engine.stop()
    finally:
        for key in digests.keys() - results.keys():  # queued, running, or between the two when stopped
            entry = manifest.entries[key]
            if entry.state == "running":
                entry.state = "interrupted"
            results[key] = ProjectResult(key, entry.state, entry.attempts, entry.seconds, entry.summary, entry.error,
                                         list(entry.workers))
        manifest.save()
    counts.running = 0
    note(counts)
    order = [p.relative_to(folder).as_posix() for p in projects]
    summary = BatchSummary(engine.name, spec.stage, manifest.path, time.perf_counter() - start,
                           [results[k] for k in order], interrupted)
    if interrupted:
        raise BatchInterrupted(summary)
    return summary


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch; ``summary`` says what had finished (the manifest is saved)."""

    def __init__(self, summary: BatchSummary):
        super().__init__("batch interrupted")
        self.summary = summary


def _worth_retrying(outcome: JobOutcome | BaseException, engine) -> bool:
    if isinstance(outcome, BaseException) or not outcome.input_error:
        return True
    return engine.distributed


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
