"""Stage 1 end to end (render, analyse, group stems, rules, fader plan) against a naive per-track loop.

Writes a session of ``--tracks`` mono 24-bit WAV tracks x ``--seconds`` in 16 folders (benchmarks/bench_render.py
makes the media), then times in the same process:

  (a) the naive baseline: per track, ``soundfile.read`` + pyloudnorm integrated loudness + one band filter
      (scipy Butterworth, float64) + pyloudnorm of the filtered track + a librosa-style float64 STFT centroid and
      bandwidth (n_fft 2048, hop 512), one core. Timed on ``--baseline-tracks`` tracks and scaled to all tracks
      (printed as an extrapolation);
  (b) ``balance_session`` with the centroid method on ``--workers`` processes;
  (c) ``balance_session`` with the f0 method (PESTO) on ``--workers`` processes (``--no-f0`` skips it).

Each measurement runs in a fresh process, ``--repeats`` times alternating. Prints the median wall time and the
spread (min-max), the ratios of the medians to the baseline, peak resident memory of the main process and of the
largest worker, and the machine's core count and load averages (``--json`` writes them too). Targets (issue 3,
128 x 240 s on 2 cores): centroid < 30 s, f0 < 120 s, peak RSS < 1.5 GB.

    .venv/bin/python benchmarks/bench_balance.py                          # full size
    .venv/bin/python benchmarks/bench_balance.py --tracks 32 --seconds 30 # quick check
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_render import make_session  # noqa: E402
from isolated import add_child_arguments, cpu_s, measurement, run_isolated, serve_child  # noqa: E402

from reaper_automix.session import Session, Track  # noqa: E402
from reaper_automix.stage1 import BalanceOptions, balance_session  # noqa: E402


def in_folders(session: Session, groups: int = 16) -> Session:
    """The same tracks, in ``groups`` folders (a folder track without items opens each)."""
    per = -(-len(session.tracks) // groups)
    tracks: list[Track] = []
    for g, start in enumerate(range(0, len(session.tracks), per)):
        members = session.tracks[start : start + per]
        tracks.append(Track(index=0, name=f"Group {g + 1}", guid=f"{{folder-{g}}}", folder_depth=1))
        for k, t in enumerate(members):
            tracks.append(dataclasses.replace(t, folder_depth=-1 if k == len(members) - 1 else 0))
    return dataclasses.replace(session, tracks=tuple(dataclasses.replace(t, index=i) for i, t in enumerate(tracks)))


def naive_track(path: Path) -> float:
    x, sr = sf.read(path, dtype="float64")
    meter = pyloudnorm.Meter(sr)
    meter.integrated_loudness(x)
    n_fft, hop = 2048, 512
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1))
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    norm = mag.sum(axis=1) + 1e-12
    centroid = (mag * freqs).sum(axis=1) / norm
    bandwidth = np.sqrt((mag * (freqs[None, :] - centroid[:, None]) ** 2).sum(axis=1) / norm)
    c, b = centroid.mean(), bandwidth.mean()
    sos = signal.butter(2, [max(c - b / 2, 20), min(c + b / 2, sr * 0.45)], btype="bandpass", fs=sr, output="sos")
    return meter.integrated_loudness(signal.sosfilt(sos, x))


def run_one(what: str, folder: Path, args: argparse.Namespace) -> dict:
    """One measurement in this process (called in a fresh child process by :func:`main`)."""

    session = in_folders(make_session(folder, args.tracks, args.seconds, 44100, 3, write=False))
    t0, c0 = time.perf_counter(), cpu_s()
    if what == "naive":
        files = sorted(folder.glob("track*.wav"))[: args.baseline_tracks]
        for f in files:
            naive_track(f)
        scale = args.tracks / len(files)
        wall = (time.perf_counter() - t0) * scale
        row = measurement(what, wall, f"extrapolated from {len(files)} tracks", c0)
        row["cpu_s"] *= scale
        return row
    result = balance_session(session, BalanceOptions(method=what, workers=args.workers))
    wall = time.perf_counter() - t0
    summary = f"{result.changes.description}, mix peak {result.mix_peak_dbfs:.2f} dBFS"
    return measurement(what, wall, summary, c0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-tracks", type=int, default=8)
    parser.add_argument("--no-f0", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results here")
    add_child_arguments(parser)
    args = parser.parse_args()
    if serve_child(args, run_one):
        return

    whats = ["naive", "centroid"] + ([] if args.no_f0 else ["f0"])
    runs: dict[str, list[dict]] = {w: [] for w in whats}
    loads = [os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-balance-") as tmp:
        t0 = time.perf_counter()
        make_session(Path(tmp), args.tracks, args.seconds, 44100, 3)
        print(f"generated {args.tracks} tracks x {args.seconds:.0f} s in {time.perf_counter() - t0:.1f} s")
        # Each measurement in a fresh process, so that peak memory is its own (not the generator's or the
        # baseline's) and no state is shared.
        for _ in range(args.repeats):
            for what in whats:
                runs[what].append(run_isolated(__file__, what, ["--folder", tmp, "--tracks", str(args.tracks),
                                  "--seconds", str(args.seconds), "--workers", str(args.workers),
                                  "--baseline-tracks", str(args.baseline_tracks)]))
                print(f"  {what}: {runs[what][-1]['wall_s']:.1f} s, {runs[what][-1]['summary']}")
            loads.append(os.getloadavg())

    naive = statistics.median(r["wall_s"] for r in runs["naive"])
    print(f"\n{os.cpu_count()} cores; median of {args.repeats} (min-max); load averages (1, 5, 15 min) before and "
          f"after each round: {[tuple(round(v, 1) for v in load) for load in loads]}")
    naive_cpu = statistics.median(r["cpu_s"] for r in runs["naive"])
    print(f"{'what':36s} {'wall s':>20s} {'vs naive':>9s} {'cpu s':>8s} {'vs naive':>9s} {'RSS main MB':>12s} "
          f"{'RSS worker MB':>14s}")
    rows = []
    for what, rs in runs.items():
        walls = [r["wall_s"] for r in rs]
        row = {"what": what, "median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
               "cpu_median_s": statistics.median(r["cpu_s"] for r in rs),
               "rss_main_mb": max(r["rss_main_mb"] for r in rs), "rss_worker_mb": max(r["rss_worker_mb"] for r in rs)}
        rows.append(row)
        label = "naive loop, 1 core" if what == "naive" else f"balance_session {what}, {args.workers} workers"
        spread = f"{row['median_s']:.1f} ({row['min_s']:.1f}-{row['max_s']:.1f})"
        print(f"{label:36s} {spread:>20s} {row['median_s'] / naive:8.2f}x {row['cpu_median_s']:8.1f} "
              f"{row['cpu_median_s'] / naive_cpu:8.2f}x {row['rss_main_mb']:12.0f} "
              f"{row['rss_worker_mb']:14.0f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cores": os.cpu_count(), "tracks": args.tracks, "seconds": args.seconds,
                                         "workers": args.workers, "repeats": args.repeats,
                                         "load_averages_1_5_15": loads, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
