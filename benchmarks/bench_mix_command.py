"""The whole ``mix`` job (stage 1 + reference matching + level-matched preview) on 16 groups x 240 s.

Writes a session of ``--tracks`` mono 24-bit WAV tracks x ``--seconds`` in ``--groups`` folders (media from
benchmarks/bench_render.py) and a stereo reference, then measures, each in a fresh process:

  (a) the baseline: one plain offline render of every track (``render_track``), one core;
  (b) ``mix_session`` on ``--workers`` processes, then the level-matched A/B preview written as two float WAVs:
      what ``reaper-automix mix --preview`` does after reading the project.

Prints wall times, the ratio (b)/(a), the wall time of (b)'s parts (stage 1, stage 2, preview) and peak
resident memory of (b): main process and largest worker, and the main process and its workers together
(sampled: resident and proportional set size). ``--repeats N`` alternates the two N times and gives the median
ratio and its spread (min-max of the per-pair ratios), with the load average before each pair. ``--media DIR``
keeps the generated session in DIR (reused when it is already there, so repeated runs skip the minutes of writing);
``--profile FILE`` also runs the mix once under cProfile (main process; the stage-1 workers' time shows as the
main process waiting) and writes the top functions by cumulative time.
Targets: issue 4, 16 stems x 240 s on 2 cores under 90 s, peak RSS under 4 GB; issue 13, at most 3x the
baseline on 128 tracks / 16 folders / 240 s, main + workers under 2 GB.

    .venv/bin/python benchmarks/bench_mix_command.py                           # full size
    .venv/bin/python benchmarks/bench_mix_command.py --tracks 16 --seconds 30  # quick check
    .venv/bin/python benchmarks/bench_mix_command.py --tracks 128 --repeats 3 --media /tmp/mix-128x240
    PYTHONPATH=/tmp/old-checkout .venv/bin/python benchmarks/bench_mix_command.py ...  # an older tree, same media
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_balance import in_folders  # noqa: E402
from bench_render import make_session  # noqa: E402
from isolated import add_child_arguments, measurement, run_isolated, serve_child  # noqa: E402

from reaper_automix.audio.render import render_track  # noqa: E402


def write_reference(path: Path, seconds: float) -> None:
    """A stereo song-like reference: a low tone, a wide noisy top and sections of different density."""
    rng = np.random.default_rng(1)
    n = int(seconds * 44100)
    t = np.arange(n) / 44100
    envelope = np.repeat(rng.uniform(0.3, 1.0, int(seconds / 8) + 1), 8 * 44100)[:n]
    low = 0.3 * np.sin(2 * np.pi * 55 * t)
    left = envelope * (low + 0.1 * rng.standard_normal(n))
    right = envelope * (low + 0.1 * rng.standard_normal(n))
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), 44100, subtype="PCM_24")


class TreeMemory:
    """Peak memory of this process and all its children together, sampled every ``interval_s``: resident
    (``rss_total_mb``; pages shared between forked workers count in each) and proportional (``pss_total_mb``:
    shared pages split between their processes, what the processes take from the machine together)."""

    def __init__(self, interval_s: float = 0.05):
        import threading

        self.interval_s = interval_s
        self.rss_mb = self.pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            rss = pss = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    info = p.memory_full_info()
                except psutil.Error:  # a worker that just ended
                    continue
                rss, pss = rss + info.rss, pss + info.pss
            self.rss_mb, self.pss_mb = max(self.rss_mb, rss / 2**20), max(self.pss_mb, pss / 2**20)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_one(what: str, folder: Path, args: argparse.Namespace) -> dict:
    session = in_folders(make_session(folder, args.tracks, args.seconds, 44100, 3, write=False), args.groups)
    t0 = time.perf_counter()
    with TreeMemory() as tree:
        if what == "render":
            for track in session.tracks:
                render_track(session, track)
            summary = "one plain render of every track"
        else:
            summary = mix_job(session, folder, args.workers, args.engine)
    return {**measurement(what, time.perf_counter() - t0, summary), "rss_total_mb": tree.rss_mb,
            "pss_total_mb": tree.pss_mb, "stages_s": dict(STAGE_S)}


STAGE_S = {"stage 1": 0.0, "stage 2": 0.0, "preview": 0.0}  # the last mix job's wall time per part


def _timed_stage1() -> None:
    """Time stage 1 inside ``mix_session`` (its ``balance_session`` call), in this tree or an older one."""
    import reaper_automix.stage2 as stage2

    inner = stage2.balance_session

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            STAGE_S["stage 1"] = time.perf_counter() - t0

    stage2.balance_session = timed


def mix_job(session, folder: Path, workers: int, engine: str | None = None) -> str:
    """What ``reaper-automix mix --preview`` does after reading the project; returns a one-line summary.
    :data:`STAGE_S` gets the wall time of stage 1 (``balance_session``), the rest of ``mix_session`` (stage 2)
    and the level-matched preview written."""
    _timed_stage1()
    from reaper_automix.audio.io import write_audio
    from reaper_automix.matching import MatchOptions
    from reaper_automix.stage1 import BalanceOptions
    from reaper_automix.stage2 import mix_session

    matching = MatchOptions() if engine is None else MatchOptions(engine=engine)
    t0 = time.perf_counter()
    result = mix_session(session, [folder / "reference.wav"], balance_options=BalanceOptions(workers=workers),
                         match_options=matching)
    STAGE_S["stage 2"] = time.perf_counter() - t0 - STAGE_S["stage 1"]
    if hasattr(result, "level_matched_previews"):
        before, after = result.level_matched_previews()
    else:  # an older tree (PYTHONPATH=an older checkout, for a before/after comparison in one session)
        from reaper_automix.matching import level_matched_ab

        before, after, _, _ = level_matched_ab(result.stage1_mix, result.match.matched_mix, session.sample_rate)
    write_audio(folder / "preview.wav", after, session.sample_rate, subtype="FLOAT")
    write_audio(folder / "preview-before.wav", before, session.sample_rate, subtype="FLOAT")
    STAGE_S["preview"] = time.perf_counter() - t0 - STAGE_S["stage 1"] - STAGE_S["stage 2"]
    d0, d1 = result.match.distances_before["total"], result.match.distances_after["total"]
    return f"{result.changes.description}; distance {d0:.2f} -> {d1:.2f}"


def profile(folder: Path, args: argparse.Namespace, out: Path) -> None:
    """The mix job in this process under cProfile (numba caches warmed by the measured runs); the top functions
    by cumulative time to ``out``."""
    import cProfile
    import io
    import os
    import pstats

    session = in_folders(make_session(folder, args.tracks, args.seconds, 44100, 3, write=False), args.groups)
    load = os.getloadavg()
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    summary = mix_job(session, folder, args.workers, args.engine)
    profiler.disable()
    wall = time.perf_counter() - t0
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    out.write_text(f"# mix job under cProfile: {args.tracks} tracks x {args.seconds:g} s, {args.groups} folders, "
                   f"{args.workers} workers, engine {args.engine or 'default'}, preview written\n# {summary}\n"
                   f"# wall {wall:.1f} s; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
                   + text.getvalue())
    print(f"profile: {out} ({wall:.1f} s)")


def prepare(folder: Path, args: argparse.Namespace) -> None:
    """The session's media and the reference in ``folder`` (skipped when a previous run left them complete)."""
    marker = folder / f"complete-{args.tracks}x{args.seconds:g}"
    if marker.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    make_session(folder, args.tracks, args.seconds, 44100, 3)
    write_reference(folder / "reference.wav", args.seconds)
    marker.touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=64)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", help="stage 2's engine (default: the project's default engine)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate baseline and mix this many times (0: only --profile)")
    parser.add_argument("--media", type=Path, help="keep (and reuse) the generated session in this folder")
    parser.add_argument("--profile", type=Path, help="also profile one mix job; write the summary here")
    add_child_arguments(parser)
    args = parser.parse_args()
    if serve_child(args, run_one):
        return
    import os
    import statistics

    with contextlib.ExitStack() as stack:
        folder = args.media or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mix-")))
        prepare(folder, args)
        pairs = []
        for repeat in range(args.repeats):
            load = os.getloadavg()[0]
            pair = {}
            for what in ("render", "mix"):
                pair[what] = run_isolated(__file__, what, [
                    "--folder", str(folder), "--tracks", str(args.tracks), "--groups", str(args.groups),
                    "--seconds", str(args.seconds), "--workers", str(args.workers),
                    *(["--engine", args.engine] if args.engine else [])])
                print(f"  run {repeat + 1} {what}: {pair[what]['wall_s']:.1f} s ({pair[what]['summary']})")
            pair["load"] = load
            pairs.append(pair)
        if args.profile:
            profile(folder, args, args.profile)
    if not pairs:  # --repeats 0: the profile only
        return
    print("\nRSS main / worker: peaks of the main process and of its largest worker (getrusage); total RSS / PSS:"
          " the peak of the main process and its workers together, sampled every 50 ms (PSS splits shared pages)")
    print(f"\n{'run':>4s} {'load':>5s} {'render s':>9s} {'mix s':>7s} {'ratio':>7s} {'RSS main MB':>12s} "
          f"{'RSS worker MB':>14s} {'total RSS MB':>13s} {'total PSS MB':>13s}  mix: stage 1 / stage 2 / preview s")
    for k, p in enumerate(pairs, 1):
        r, m = p["render"], p["mix"]
        print(f"{k:4d} {p['load']:5.1f} {r['wall_s']:9.1f} {m['wall_s']:7.1f} {m['wall_s'] / r['wall_s']:6.2f}x "
              f"{m['rss_main_mb']:12.0f} {m['rss_worker_mb']:14.0f} {m['rss_total_mb']:13.0f} "
              f"{m['pss_total_mb']:13.0f}  {' / '.join(f'{v:.1f}' for v in m['stages_s'].values())}")
    ratios = [p["mix"]["wall_s"] / p["render"]["wall_s"] for p in pairs]
    print(f"median ratio {statistics.median(ratios):.2f}x (spread {min(ratios):.2f}-{max(ratios):.2f}x over "
          f"{len(ratios)} runs); median mix {statistics.median(p['mix']['wall_s'] for p in pairs):.1f} s, "
          f"baseline {statistics.median(p['render']['wall_s'] for p in pairs):.1f} s")
    later = [sum(list(p["mix"]["stages_s"].values())[1:]) / p["render"]["wall_s"] for p in pairs]
    print(f"stage 2 + preview: median {statistics.median(later):.2f}x the baseline")


if __name__ == "__main__":
    main()
