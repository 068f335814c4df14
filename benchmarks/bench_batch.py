"""Batch engines: the same small projects through the local process pool and through a local Dask cluster
(TLS on 127.0.0.1, as ``batch --cluster local`` starts it) with the same number of workers.

Writes ``--projects`` projects of 6 tracks x ``--seconds`` in 2 folders (each with its own media), then runs
stage 1 on all of them with each engine, each run in a fresh process with an empty output folder (so no
engine inherits another's warm caches), ``--repeat`` times alternating. Prints per engine: start-up time (pool or
cluster creation; the cluster's includes loading the pipeline on every worker), batch wall time and projects per minute (best of the repeats, start-up excluded), the
cluster's overhead as the ratio of its batch time to the pool's (and of the totals with start-up), the processor
time of all processes (start-up included), the load average, and peak resident memory per worker (the
largest of the workers, reported by each job). Target (issue 10): the cluster within 10 % of the pool.

    .venv/bin/python benchmarks/bench_batch.py                     # 24 projects x 10 s, 2 workers
    .venv/bin/python benchmarks/bench_batch.py --projects 8 --seconds 4 --repeat 1   # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the test suite's project writer (known signals, real WAVs)
from isolated import add_child_arguments, cpu_s, run_isolated, serve_child  # noqa: E402

ENGINES = ("pool", "cluster")


def make_projects(folder: Path, n: int, seconds: float) -> None:
    from audio_projects import SR, AudioTrack, band_noise, harmonic_tone, pink_noise, write_project

    rng = np.random.default_rng(0)
    samples = int(seconds * SR)
    for i in range(n):
        tracks = [
            AudioTrack("Drums", depth=1),
            AudioTrack("Kick", harmonic_tone(samples, 55.0, 3), gain_db=float(rng.uniform(-12, 0))),
            AudioTrack("Snare", pink_noise(samples, rng), gain_db=float(rng.uniform(-24, -6))),
            AudioTrack("Hat", band_noise(samples, 6000, 12000, rng), gain_db=float(rng.uniform(-30, -10)), depth=-1),
            AudioTrack("Keys", depth=1),
            AudioTrack("Piano", harmonic_tone(samples, 220.0), gain_db=float(rng.uniform(-20, 0))),
            AudioTrack("Pad", pink_noise(samples, rng), gain_db=float(rng.uniform(-30, -6)), depth=-1),
        ]
        write_project(folder / f"song{i:03d}", tracks, f"song{i:03d}.rpp")


def run_one(engine_name: str, folder: Path, args) -> dict:
    """In a fresh process: start the engine, run the batch into an empty output folder, report."""
    from reaper_automix.batch.engines import DaskEngine, PoolEngine
    from reaper_automix.batch.jobs import StageSpec, find_projects
    from reaper_automix.batch.runner import run_batch
    from reaper_automix.config import BalanceConfig
    from reaper_automix.stage1 import BalanceOptions

    projects = find_projects(folder, recursive=True)
    cpu_start = cpu_s()
    with tempfile.TemporaryDirectory(prefix="bench-batch-out-") as out:
        start = time.perf_counter()
        engine = PoolEngine(args.workers) if engine_name == "pool" else DaskEngine("local", workers=args.workers)
        started = time.perf_counter()
        try:
            summary = run_batch(projects, folder, Path(out), StageSpec(BalanceOptions(workers=1), BalanceConfig()),
                                engine)
        finally:
            engine.close()
    cpu = cpu_s() - cpu_start  # this process and every finished descendant: pool workers, nannies, workers
    failed = [p.key for p in summary.projects if p.state != "done"]
    if failed:
        raise SystemExit(f"{engine_name}: projects failed: {failed}")
    return {
        "engine": engine_name,
        "startup_s": started - start,
        "batch_s": summary.seconds,
        "project_s": [p.seconds for p in summary.projects],
        "workers": len({p.workers[-1] for p in summary.projects}),
        "peak_rss_worker_mb": max(p.peak_rss_mb for p in summary.projects),
        "cpu_s": cpu,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each project")
    parser.add_argument("--workers", type=int, default=2, help="pool processes = cluster workers")
    parser.add_argument("--repeat", type=int, default=2, help="runs per engine (alternating); the best counts")
    parser.add_argument("--json", type=Path, help="also write the results here")
    add_child_arguments(parser)
    args = parser.parse_args()
    if serve_child(args, run_one):
        return

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        folder = Path(tmp)
        make_projects(folder, args.projects, args.seconds)
        child = ["--folder", str(folder), "--workers", str(args.workers)]
        runs = {name: [] for name in ENGINES}
        for _ in range(args.repeat):
            for name in ENGINES:
                runs[name].append(run_isolated(__file__, name, child))
                row = runs[name][-1]
                print(f"  {name:<8} start-up {row['startup_s']:5.1f} s, batch {row['batch_s']:6.1f} s, "
                      f"CPU {row['cpu_s']:6.1f} s, load {row['load_average'][0]:.1f}", flush=True)

    best = {name: min(rows, key=lambda r: r["batch_s"]) for name, rows in runs.items()}
    print(f"\n{args.projects} projects x 6 tracks x {args.seconds:g} s, stage 1, {args.workers} workers "
          f"(best of {args.repeat}; start-up excluded)")
    print(f"{'engine':<8} {'start-up s':>10} {'batch s':>8} {'projects/min':>13} {'s/project':>10} "
          f"{'peak RSS/worker MB':>19}")
    for name in ENGINES:
        row = best[name]
        print(f"{name:<8} {row['startup_s']:10.1f} {row['batch_s']:8.1f} {60 * args.projects / row['batch_s']:13.1f} "
              f"{row['batch_s'] * args.workers / args.projects:10.2f} {row['peak_rss_worker_mb']:19.0f}")
    cpu = {name: min(r["cpu_s"] for r in rows) for name, rows in runs.items()}
    print(f"CPU seconds (all processes, start-up included): pool {cpu['pool']:.1f}, cluster {cpu['cluster']:.1f} "
          f"(ratio {cpu['cluster'] / cpu['pool']:.3f}): the engines' cost, less sensitive to other load than wall time")
    ratio = best["cluster"]["batch_s"] / best["pool"]["batch_s"]
    whole = {name: min(r["startup_s"] + r["batch_s"] for r in rows) for name, rows in runs.items()}
    print(f"cluster / pool batch time: {ratio:.3f} (target <= 1.10: {'met' if ratio <= 1.10 else 'NOT met'}); "
          f"with start-up: {whole['cluster'] / whole['pool']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k not in ("run", "folder", "json")},
                                         "runs": runs, "ratio": ratio,
                                         "ratio_with_startup": whole["cluster"] / whole["pool"]}, indent=2))


if __name__ == "__main__":
    main()
