"""The whole ``reaper-automix balance`` command against reading every media file once, for several session sizes.

Writes a project of ``--tracks`` mono 24-bit WAV tracks x ``--seconds`` in ``--groups`` folders (band-limited
noise plus a harmonic tone per track, each band different, with two silent stretches per track), then measures,
each in a fresh process and ``--repeats`` times alternating:

  (a) the baseline: every media file read once (``soundfile.read``, float32) on ``--workers`` processes;
  (b) ``reaper-automix balance PROJECT -o OUT --workers N`` (method centroid), the whole command in one process;
  (c) the same with ``--method f0`` (``--no-f0`` skips it);
  (d) with ``--own-read``: every media file read once by the project's own reader
      (:func:`reaper_automix.audio.io.read_audio`, which decodes plain WAV itself, faster than libsndfile, to the
      same samples), the read ``balance`` really does: the ratio (b)/(d) says what the analysis costs beyond it.

Prints the median and the spread (min-max) of each, the ratios (b)/(a) and (c)/(b) of wall time and of processor
time (user + system, all processes: less sensitive than wall time to what else runs on a shared machine), peak
resident memory of the command's main process and of its largest worker, and the machine's core count and load
averages; writes the same as JSON (``--json``). ``--tracks`` takes several sizes for the scaling table. ``--profile FILE`` also runs
the command once in-process on one worker under cProfile and writes the top functions by cumulative time
(``--profile-method f0`` for the f0 method).
Targets (issue 13, 128 x 240 s): (b) at most 1.5x (a); (c) at most 3x (b).

    .venv/bin/python benchmarks/bench_balance_command.py                               # 128 x 240 s
    .venv/bin/python benchmarks/bench_balance_command.py --tracks 32 64 128 256 --no-f0  # scaling table
    .venv/bin/python benchmarks/bench_balance_command.py --tracks 16 --seconds 30       # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolated import cpu_s, measurement  # noqa: E402

from reaper_automix.demo.project import ProjectItem, ProjectTrack, project_text  # noqa: E402

SAMPLE_RATE = 44100


def _guid(kind: int, k: int) -> str:
    return f"{{{kind:08X}-0000-4000-8000-{k:012X}}}"


def write_track(path: Path, k: int, seconds: float) -> None:
    """Band-limited noise (band k-dependent) plus a harmonic tone, silent in two stretches, written in chunks."""
    rng = np.random.default_rng(k)
    frames = round(seconds * SAMPLE_RATE)
    low_hz = 40.0 * 2 ** (k % 8 * 0.75)
    sos = signal.butter(2, [low_hz, min(4 * low_hz, 0.4 * SAMPLE_RATE)], btype="bandpass", fs=SAMPLE_RATE,
                        output="sos")
    state = np.zeros((sos.shape[0], 2))
    silences = [(a, a + rng.uniform(0.05, 0.12) * frames) for a in rng.uniform(0.1, 0.8, 2) * frames]
    f0_hz = 1.5 * low_hz
    chunk = 10 * SAMPLE_RATE
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, subtype="PCM_24") as f:
        for start in range(0, frames, chunk):
            i = np.arange(start, min(start + chunk, frames))
            noise, state = signal.sosfilt(sos, rng.standard_normal(len(i)), zi=state)
            tone = sum(np.sin(2 * np.pi * f0_hz * h * i / SAMPLE_RATE) / h for h in (1, 2, 3))
            x = 0.1 * noise / np.sqrt(low_hz / 1000) + 0.1 * tone
            for a, b in silences:
                x[(i >= a) & (i < b)] = 0.0
            f.write((x * 10 ** (-(k % 5) * 3 / 20)).astype(np.float32))


def write_project(folder: Path, n_tracks: int, seconds: float, groups: int) -> Path:
    """The media (reused when already there) and ``bench.rpp``: ``groups`` folders holding the tracks in turn."""
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    per = -(-n_tracks // groups)
    tracks = []
    for g, first in enumerate(range(0, n_tracks, per)):
        members = range(first, min(first + per, n_tracks))
        tracks.append(ProjectTrack(f"Group {g + 1}", _guid(1, g), 1))
        for k in members:
            path = media / f"track{k:03d}.wav"
            if not path.exists() or sf.info(str(path)).frames != round(seconds * SAMPLE_RATE):
                write_track(path, k, seconds)
            item = ProjectItem(0.0, seconds, 0.0, f"media/{path.name}", path.name, _guid(2, k), _guid(3, k))
            tracks.append(ProjectTrack(f"track {k}", _guid(4, k), -1 if k == members[-1] else 0, items=(item,)))
    project = folder / f"bench-{n_tracks}.rpp"
    project.write_text(project_text(tempo_bpm=120, sample_rate=SAMPLE_RATE, regions=[], tracks=tracks))
    return project


def _read_one(path: str) -> int:
    return sf.read(path, dtype="float32")[0].shape[0]


def _read_one_own(path: str) -> int:
    from reaper_automix.audio.io import read_audio

    return read_audio(path)[0].shape[1]


def media_files(project: Path, n_tracks: int) -> list[str]:
    return [str(project.parent / "media" / f"track{k:03d}.wav") for k in range(n_tracks)]


def run_child(what: str, project: Path, args: argparse.Namespace) -> dict:
    """One measurement in this (fresh) process."""
    t0, c0 = time.perf_counter(), cpu_s()
    if what in ("read", "read-own"):
        files = media_files(project, args.n)
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            frames = sum(pool.map(_read_one if what == "read" else _read_one_own, files, chunksize=1))
        summary = f"read {len(files)} files, {frames / SAMPLE_RATE:.0f} s of audio"
    else:
        from reaper_automix.cli import main as cli

        method = "f0" if what == "f0" else "centroid"
        out = project.with_name(f"{project.stem}-{method}-automix.rpp")
        try:
            cli(["balance", str(project), "-o", str(out), "--force", "--workers", str(args.workers),
                 "--method", method], standalone_mode=False)
        finally:
            wall = time.perf_counter() - t0
        summary = f"balance --method {method}: wrote {out.name}"
        return measurement(what, wall, summary, c0)
    return measurement(what, time.perf_counter() - t0, summary, c0)


def run_isolated(what: str, project: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--run", what, "--project", str(project), "--n", str(args.n),
               "--workers", str(args.workers)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def profile(project: Path, out: Path, method: str = "centroid") -> None:
    """The command (``--method method``) in-process on one worker under cProfile; the top functions by cumulative
    time to ``out``. The process keeps freed memory as a pool worker does
    (:func:`~reaper_automix.stage1.keep_freed_memory`) and, for f0, runs torch on one thread as a pool worker does
    (in-process, torch would take a thread per core)."""
    import cProfile
    import io
    import pstats

    from reaper_automix.cli import main as cli
    from reaper_automix.stage1 import keep_freed_memory

    keep_freed_memory()
    if method == "f0":
        import torch

        torch.set_num_threads(1)

    target = project.with_name(f"{project.stem}-profile-automix.rpp")
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    cli(["balance", str(project), "-o", str(target), "--force", "--workers", "1", "--method", method],
        standalone_mode=False)
    profiler.disable()
    wall = time.perf_counter() - t0
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# reaper-automix balance {project.name} --workers 1 --method {method} under cProfile: "
                   f"{wall:.1f} s wall, "
                   f"load averages {os.getloadavg()}, {os.cpu_count()} cores\n" + text.getvalue())
    print(f"profile: {out} ({wall:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, nargs="+", default=[128])
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-f0", action="store_true")
    parser.add_argument("--own-read", action="store_true", help="also read the media with the project's reader")
    parser.add_argument("--folder", type=Path, help="keep the generated media here (reused by later runs)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--profile", type=Path, help="also profile the largest size on one worker into this file")
    parser.add_argument("--profile-method", choices=["centroid", "f0"], default="centroid",
                        help="the method --profile runs")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # internal: one measurement in this process
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_child(args.run, args.project, args)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-balance-cmd-") as tmp:
        folder = args.folder or Path(tmp)
        t0 = time.perf_counter()
        projects = {n: write_project(folder, n, args.seconds, args.groups) for n in args.tracks}
        print(f"media for up to {max(args.tracks)} tracks x {args.seconds:g} s ready in "
              f"{time.perf_counter() - t0:.0f} s")
        whats = ["read", "centroid"] + ([] if args.no_f0 else ["f0"]) + (["read-own"] if args.own_read else [])
        results = []
        for n, project in projects.items():
            args.n = n
            runs: dict[str, list[dict]] = {w: [] for w in whats}
            loads = [os.getloadavg()]
            for _ in range(args.repeats):
                for what in whats:
                    runs[what].append(run_isolated(what, project, args))
                    print(f"  {n} tracks, {what}: {runs[what][-1]['wall_s']:.1f} s")
                loads.append(os.getloadavg())
            results.append(summarise(n, args, runs, loads))
        if args.profile:
            profile(projects[max(args.tracks)], args.profile, args.profile_method)

    print_table(results, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cores": os.cpu_count(), "seconds": args.seconds, "groups": args.groups,
                                         "workers": args.workers, "repeats": args.repeats, "results": results},
                                        indent=1) + "\n")


def summarise(n: int, args: argparse.Namespace, runs: dict[str, list[dict]], loads: list) -> dict:
    row: dict = {"tracks": n, "load_averages_1_5_15": [list(map(float, load)) for load in loads]}
    for what, rs in runs.items():
        walls = [r["wall_s"] for r in rs]
        row[what] = {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
                     "cpu_median_s": statistics.median(r["cpu_s"] for r in rs),
                     "rss_main_mb": max(r["rss_main_mb"] for r in rs),
                     "rss_worker_mb": max(r["rss_worker_mb"] for r in rs)}
    row["centroid_over_read"] = row["centroid"]["median_s"] / row["read"]["median_s"]
    row["centroid_over_read_cpu"] = row["centroid"]["cpu_median_s"] / row["read"]["cpu_median_s"]
    # the spread of the ratio: each repeat's centroid run against the read run just before it
    ratios = [c["wall_s"] / r["wall_s"] for c, r in zip(runs["centroid"], runs["read"])]
    row["centroid_over_read_range"] = [min(ratios), max(ratios)]
    if "read-own" in runs:
        row["centroid_over_read_own"] = row["centroid"]["median_s"] / row["read-own"]["median_s"]
    if "f0" in runs:
        row["f0_over_centroid"] = row["f0"]["median_s"] / row["centroid"]["median_s"]
        row["f0_over_centroid_cpu"] = row["f0"]["cpu_median_s"] / row["centroid"]["cpu_median_s"]
    return row


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\n{os.cpu_count()} cores, {args.workers} workers, {args.seconds:g} s tracks, {args.groups} folders, "
          f"median of {args.repeats} (min-max)")
    print(f"{'tracks':>6s} {'read s':>16s} {'balance s':>16s} {'ratio':>14s} {'cpu ratio':>9s} {'f0 s':>16s} "
          f"{'f0/centroid':>11s} {'f0 cpu':>7s} {'RSS main+worker MB':>19s} {'load 1 min':>11s}")
    for r in results:
        def cell(what: str) -> str:
            m = r.get(what)
            return f"{m['median_s']:.1f} ({m['min_s']:.1f}-{m['max_s']:.1f})" if m else "-"
        lo, hi = r["centroid_over_read_range"]
        f0 = f"{r['f0_over_centroid']:.2f}x" if "f0_over_centroid" in r else "-"
        f0_cpu = f"{r['f0_over_centroid_cpu']:.2f}x" if "f0_over_centroid" in r else "-"
        rss = f"{r['centroid']['rss_main_mb']:.0f} + {r['centroid']['rss_worker_mb']:.0f}"
        load = statistics.median(load[0] for load in r["load_averages_1_5_15"])
        print(f"{r['tracks']:6d} {cell('read'):>16s} {cell('centroid'):>16s} "
              f"{r['centroid_over_read']:5.2f}x ({lo:.1f}-{hi:.1f}) {r['centroid_over_read_cpu']:8.2f}x "
              f"{cell('f0'):>16s} {f0:>11s} {f0_cpu:>7s} {rss:>19s} "
              f"{load:11.1f}")
    for r in results:
        if "read-own" in r:
            print(f"{r['tracks']:6d} tracks: the project's own read {cell_of(r, 'read-own')} s; balance / own read "
                  f"{r['centroid_over_read_own']:.2f}x")


def cell_of(r: dict, what: str) -> str:
    m = r[what]
    return f"{m['median_s']:.1f} ({m['min_s']:.1f}-{m['max_s']:.1f})"


if __name__ == "__main__":
    main()
