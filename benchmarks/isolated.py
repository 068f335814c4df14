"""Shared by the benchmarks: peak memory, and running one measurement in a fresh process.

A measurement in its own process has its own peak resident memory (not the data generator's, not another
measurement's) and shares no warmed-up state; the parent collects the child's JSON line.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (``RUSAGE_SELF``) or of its largest finished child, in MB."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # KiB on Linux, bytes on macOS
    return resource.getrusage(who).ru_maxrss * scale


def cpu_s() -> float:
    """Processor time (user + system) of this process and its finished children so far, in seconds.

    On a shared machine wall time depends on what else runs; the processor time a job needs much less so."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def measurement(what: str, wall_s: float, summary: str, cpu_start_s: float = 0.0) -> dict:
    """One result row, with this process's and its workers' peak memory and processor time (since
    ``cpu_start_s``, a :func:`cpu_s` reading)."""
    return {
        "what": what,
        "wall_s": wall_s,
        "cpu_s": cpu_s() - cpu_start_s,
        "summary": summary,
        "rss_main_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "rss_worker_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
    }


def run_isolated(script: str, what: str, arguments: list[str]) -> dict:
    """Run ``script --run WHAT ARGUMENTS...`` in a fresh interpreter; return the row it prints last."""
    command = [sys.executable, script, "--run", what, *arguments]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def add_child_arguments(parser) -> None:
    """The hidden options a benchmark script's child process is started with (see :func:`run_isolated`)."""
    import argparse

    parser.add_argument("--run", help=argparse.SUPPRESS)  # internal: measure one thing in this process
    parser.add_argument("--folder", help=argparse.SUPPRESS)


def serve_child(args, run_one) -> bool:
    """In a child process (``--run`` given): measure, print the row as JSON, and return True."""
    from pathlib import Path

    if not args.run:
        return False
    print(json.dumps(run_one(args.run, Path(args.folder), args)))
    return True
