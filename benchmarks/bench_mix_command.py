"""The whole ``mix`` job (stage 1 + reference matching + level-matched preview) on 16 groups x 240 s.

Writes a session of ``--tracks`` mono 24-bit WAV tracks x ``--seconds`` in ``--groups`` folders (media from
benchmarks/bench_render.py) and a stereo reference, then measures, each in a fresh process:

  (a) the baseline: one plain offline render of every track (``render_track``), one core;
  (b) ``mix_session`` on ``--workers`` processes, then the level-matched A/B preview written as two float WAVs:
      what ``reaper-automix mix --preview`` does after reading the project.

Prints wall times, the ratio (b)/(a), and peak resident memory of (b) (main process and largest worker).
Target (issue 4): 16 stems x 240 s on 2 cores under 90 s, peak RSS under 4 GB.

    .venv/bin/python benchmarks/bench_mix_command.py                           # full size
    .venv/bin/python benchmarks/bench_mix_command.py --tracks 16 --seconds 30  # quick check
"""

from __future__ import annotations

import argparse
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


def run_one(what: str, folder: Path, args: argparse.Namespace) -> dict:
    session = in_folders(make_session(folder, args.tracks, args.seconds, 44100, 3, write=False), args.groups)
    t0 = time.perf_counter()
    if what == "render":
        for track in session.tracks:
            render_track(session, track)
        summary = "one plain render of every track"
    else:
        from reaper_automix.audio.io import write_audio
        from reaper_automix.matching import level_matched_ab
        from reaper_automix.stage1 import BalanceOptions
        from reaper_automix.stage2 import mix_session

        result = mix_session(session, [folder / "reference.wav"], balance_options=BalanceOptions(workers=args.workers))
        before, after, _, _ = level_matched_ab(result.stage1_mix, result.match.matched_mix, session.sample_rate)
        write_audio(folder / "preview.wav", after, session.sample_rate, subtype="FLOAT")
        write_audio(folder / "preview-before.wav", before, session.sample_rate, subtype="FLOAT")
        d0, d1 = result.match.distances_before["total"], result.match.distances_after["total"]
        summary = f"{result.changes.description}; distance {d0:.2f} -> {d1:.2f}"
    return measurement(what, time.perf_counter() - t0, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=64)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--workers", type=int, default=2)
    add_child_arguments(parser)
    args = parser.parse_args()
    if serve_child(args, run_one):
        return
    with tempfile.TemporaryDirectory(prefix="bench-mix-") as tmp:
        make_session(Path(tmp), args.tracks, args.seconds, 44100, 3)
        write_reference(Path(tmp) / "reference.wav", args.seconds)
        rows = []
        for what in ("render", "mix"):
            rows.append(run_isolated(__file__, what, ["--folder", tmp, "--tracks", str(args.tracks),
                       "--groups", str(args.groups), "--seconds", str(args.seconds), "--workers", str(args.workers)]))
            print(f"  {what}: {rows[-1]['summary']}")
    base = rows[0]["wall_s"]
    print(f"\n{'what':44s} {'wall s':>8s} {'ratio':>7s} {'RSS main MB':>12s} {'RSS worker MB':>14s}")
    for r in rows:
        label = "baseline: render every track once" if r["what"] == "render" else "mix job incl. preview"
        print(f"{label:44s} {r['wall_s']:8.1f} {r['wall_s'] / base:6.2f}x {r['rss_main_mb']:12.0f} "
              f"{r['rss_worker_mb']:14.0f}")


if __name__ == "__main__":
    main()
