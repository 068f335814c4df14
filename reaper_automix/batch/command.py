"""The ``reaper-automix batch`` command (registered by :mod:`reaper_automix.cli`), with the stage options of
``balance`` and ``mix`` from :mod:`reaper_automix.options`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from ..errors import AutomixError
from ..options import balance_options, make_balance_options, make_match_options, match_options
from .runner import BatchInterrupted, BatchSummary, Counts

console = Console(stderr=True)
out = Console()


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--mix", "stage2", is_flag=True, help="Run stages 1 and 2 (as `mix`), not stage 1 alone (as `balance`).")
@click.option("-r", "--reference", "references", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="With --mix: reference mix for every project. Repeat for several: their features are averaged.")
@click.option("--reference-track", metavar="NAME",
              help="With --mix: each project's own track of this name is its reference (left out of the mix).")
@click.option("--out", "out_root", type=click.Path(file_okay=False, path_type=Path),
              help="Write results, reports and the manifest under this folder, mirroring FOLDER's tree "
                   "[default: beside each project].")
@click.option("--recursive", is_flag=True, help="Also look in sub-folders.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=2, show_default=True,
              help="Worker processes: of the local pool, or of the cluster --cluster local starts.")
@click.option("--cluster", metavar="ADDRESS",
              help="Run on a Dask distributed cluster: its scheduler (tcp://HOST:PORT, tls://...), or 'local' to "
                   "start one on this machine with --jobs workers. Needs reaper-automix[cluster].")
@click.option("--per-worker", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Projects one cluster worker runs at once (threads of its process; --cluster local gives "
                   "each worker that many threads). Each holds its own session's stems: memory grows with N.")
@click.option("--retries", type=click.IntRange(0, 20), default=1, show_default=True,
              help="Further attempts for a project whose worker was lost or failed (on a cluster: on another "
                   "worker, also after a missing-media error); then it is reported and skipped.")
@click.option("--force", is_flag=True, help="Replace existing outputs that this batch's manifest did not write.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout instead of a table.")
@click.option("--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="How far to move faders (balance) or bus settings (--mix) toward the computed result.")
@match_options
@balance_options
def batch(folder: Path, stage2, references, reference_track, out_root, recursive, jobs, cluster, per_worker, retries,
          force, as_json, strength, no_gain, no_eq, no_comp, no_pan, seed, engine, config_path, **kw) -> None:
    """Balance (or with --mix, mix) every .rpp project in FOLDER, each one a job for a local pool or a cluster.

    Each project's PROJECT-automix.rpp and PROJECT-automix-report.json are written beside it (or under --out);
    the projects themselves are never modified. The manifest automix-batch.json in the output root records
    each project's inputs, options and result: a re-run skips what is done and unchanged and redoes the rest,
    and Ctrl-C stops with the manifest consistent. Exits 1 if any project failed.
    """
    from ..config import BalanceConfig, load_config
    from .jobs import StageSpec, find_projects
    from .runner import run_batch

    ctx = click.get_current_context()
    if ctx.get_parameter_source("workers") is not click.core.ParameterSource.DEFAULT:
        raise AutomixError("batch analyses each project in its worker's own process: use -j/--jobs, not --workers")
    if stage2 and bool(references) == bool(reference_track):
        raise AutomixError("batch --mix needs either -r/--reference FILE or --reference-track NAME")
    if not stage2 and (references or reference_track):
        raise AutomixError("-r/--reference and --reference-track need --mix")
    if per_worker > 1 and cluster is None:
        raise AutomixError("--per-worker is for --cluster; the local pool runs one project per process (-j)")
    folder = folder.resolve()
    out_root = (out_root or folder).resolve()
    if out_root.exists() and not out_root.is_dir():
        raise AutomixError(f"{out_root}: --out must be a folder")
    out_root.mkdir(parents=True, exist_ok=True)

    kw["workers"] = 1  # parallelism is across projects
    config = load_config(config_path) if config_path else BalanceConfig()
    spec = StageSpec(
        balance=make_balance_options(strength=1.0 if stage2 else strength, **kw),
        config=config,
        matching=make_match_options(strength, no_gain, no_eq, no_comp, no_pan, seed, engine) if stage2 else None,
        references=tuple(p.resolve() for p in references),
        reference_track=reference_track,
    )
    projects = find_projects(folder, recursive=recursive, exclude=out_root if out_root != folder else None)
    if not projects:
        raise AutomixError(f"{folder}: no .rpp projects found" + ("" if recursive else " (try --recursive)"))

    engine = _engine(cluster, jobs, per_worker)
    try:
        with _progress_bar() as bar:
            task = bar.add_task("projects", total=len(projects), done=0, failed=0, running=0, skipped=0)

            def show(counts: Counts) -> None:
                bar.update(task, completed=counts.finished, done=counts.done, failed=counts.failed,
                           running=counts.running, skipped=counts.skipped)

            summary = run_batch(projects, folder, out_root, spec, engine, retries=retries, force=force,
                                progress=show)
    except BatchInterrupted as stop:
        _print_summary(stop.summary, as_json)
        console.print(f"interrupted: {stop.summary.count('done')} projects finished and recorded in "
                      f"{stop.summary.manifest}; run the same command again to resume")
        sys.exit(130)
    finally:
        engine.close()
    _print_summary(summary, as_json)
    if not summary.ok:
        sys.exit(1)



def _engine(cluster: str | None, jobs: int, per_worker: int):
    from .engines import DaskEngine, PoolEngine

    if cluster is None:
        return PoolEngine(jobs)
    with console.status(f"connecting to the cluster ({cluster})"):
        return DaskEngine(cluster, workers=jobs, per_worker=per_worker)


def _progress_bar():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[done]} done, {task.fields[skipped]} skipped, [red]{task.fields[failed]} failed[/], "
                   "{task.fields[running]} running"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _print_summary(summary: BatchSummary, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    from rich.table import Table

    table = Table(title=f"batch ({summary.stage}, {summary.engine})")
    for column in ("project", "result", "attempts", "seconds", "details"):
        table.add_column(column, overflow="fold")
    style = {"done": "green", "skipped": "dim", "failed": "red", "interrupted": "yellow"}
    for p in summary.projects:
        table.add_row(p.key, f"[{style[p.state]}]{p.state}[/]", str(p.attempts) if p.attempts else "",
                      f"{p.seconds:.1f}" if p.seconds else "", p.error or p.summary)
    out.print(table)
    out.print(f"{summary.count('done')} done, {summary.count('skipped')} skipped (unchanged), "
              f"{summary.count('failed')} failed, {summary.count('interrupted')} interrupted "
              f"of {len(summary.projects)} projects in {summary.seconds:.1f} s; manifest: {summary.manifest}",
              highlight=False)
