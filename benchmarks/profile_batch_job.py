"""Where a batch job's time goes on each engine: the same stage-1 projects, one after another, in a pool process
and in a local-cluster worker with Dask's defaults and with the settings ``batch --cluster local`` uses.

Per job it reads the job thread's processor time (user and system) and minor page faults (``RUSAGE_THREAD``,
Linux), the whole worker process's processor time (the job plus the worker's own threads: event loop,
monitors) and wall time; it prints medians over the jobs after the first two (which load the pipeline). Each
setup runs in a fresh process (a nanny leaves its environment settings in the process that started it).
Processor time hardly depends on other load on the machine; wall time does.

    .venv/bin/python benchmarks/profile_batch_job.py              # 8 projects x 10 s
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_batch import make_projects  # noqa: E402
from isolated import add_child_arguments, run_isolated, serve_child  # noqa: E402

SETUPS = ("pool", "dask-defaults", "cluster-local")
FIELDS = ("user_s", "system_s", "page_faults", "process_cpu_s", "wall_s")


def timed_job(job) -> tuple[float, float, int, float, float]:
    """Run one job; its thread's user and system seconds and minor faults, the process's CPU seconds, wall."""
    import resource
    import time

    from reaper_automix.batch.jobs import run_job

    before, process, wall = resource.getrusage(resource.RUSAGE_THREAD), time.process_time(), time.perf_counter()
    outcome = run_job(job)
    after = resource.getrusage(resource.RUSAGE_THREAD)
    if not outcome.ok:
        raise RuntimeError(outcome.error)
    return (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, after.ru_minflt - before.ru_minflt,
            time.process_time() - process, time.perf_counter() - wall)


def run(setup: str, jobs: list) -> list[tuple]:
    if setup == "pool":
        from concurrent.futures import ProcessPoolExecutor

        from reaper_automix.batch.engines import _init_pool_worker  # the pool's workers as batch starts them

        with ProcessPoolExecutor(1, initializer=_init_pool_worker) as pool:
            return [pool.submit(timed_job, job).result() for job in jobs]
    import distributed

    if setup == "cluster-local":
        from reaper_automix.batch.engines import DaskEngine

        engine = DaskEngine("local", workers=1)
        try:
            return [engine.client.submit(timed_job, job, pure=False).result() for job in jobs]
        finally:
            engine.close()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        return [client.submit(timed_job, job, pure=False).result() for job in jobs]


def run_one(setup: str, folder: Path, args) -> dict:
    """In a fresh process: the jobs of ``folder`` on ``setup``; medians per job after the first two."""
    from reaper_automix.batch.jobs import ProjectJob, StageSpec, find_projects, output_paths
    from reaper_automix.config import BalanceConfig
    from reaper_automix.stage1 import BalanceOptions

    spec = StageSpec(BalanceOptions(workers=1), BalanceConfig())
    jobs = [ProjectJob(p.name, p, *output_paths(p, folder, folder), spec, replace=True)
            for p in find_projects(folder, recursive=True)]
    rows = run(setup, jobs)[2:]
    medians = {f: statistics.median(r[i] for r in rows) for i, f in enumerate(FIELDS)}
    return {"setup": setup, **medians, "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    add_child_arguments(parser)
    args = parser.parse_args()
    if serve_child(args, run_one):
        return
    with tempfile.TemporaryDirectory(prefix="profile-batch-") as tmp:
        make_projects(Path(tmp), args.projects, args.seconds)
        print(f"{args.projects} projects x {args.seconds:g} s, one worker; medians per job after the first two")
        print(f"{'setup':<14}" + "".join(f"{f:>15}" for f in FIELDS) + f"{'load':>8}")
        for setup in SETUPS:
            row = run_isolated(__file__, setup, ["--folder", tmp])
            print(f"{setup:<14}" + "".join(f"{row[f]:15.0f}" if f == "page_faults" else f"{row[f]:15.3f}"
                                           for f in FIELDS) + f"{row['load']:8.1f}")


if __name__ == "__main__":
    main()
