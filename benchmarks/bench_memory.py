"""Peak memory per track buffer: the measurements behind ``reaper_automix.memory``'s factors.

Writes two projects (6 tracks in 2 folders, ``--short`` and ``--long`` seconds), then runs stage 1 with 1 and 2
workers and stage 2 (2 groups, the search engine with few steps: memory, not quality) on each, every run in a
fresh process. The peak resident memory grows with the session's length; the difference between the long and
the short run, divided by one track buffer (2 channels x samples x 4 B), is the factor per buffer. Printed
beside the factors ``reaper_automix.memory`` uses, which must not be smaller.

    .venv/bin/python benchmarks/bench_memory.py                     # 2 s and 300 s
    .venv/bin/python benchmarks/bench_memory.py --long 120          # quicker
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the test suite's project writer (known signals, real WAVs)
from isolated import add_child_arguments, peak_rss_mb, run_isolated, serve_child  # noqa: E402

RUNS = ("balance-1", "balance-2", "mix-2")


def make_project(folder: Path, seconds: float) -> Path:
    import soundfile as sf
    from audio_projects import SR, AudioTrack, harmonic_tone, pink_noise, write_project

    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    tracks = [AudioTrack("Drums", depth=1), AudioTrack("Kick", harmonic_tone(n, 55.0, 3)),
              AudioTrack("Snare", pink_noise(n, rng)), AudioTrack("Hat", pink_noise(n, rng), depth=-1),
              AudioTrack("Keys", depth=1), AudioTrack("Piano", harmonic_tone(n, 220.0), depth=-1)]
    sf.write(folder / "ref.wav", (0.1 * rng.standard_normal((10 * SR, 2))).astype(np.float32), SR, subtype="FLOAT")
    return write_project(folder, tracks)


def run_one(what: str, folder: Path, args) -> dict:
    """In a fresh process: read the project, note the memory, run, report the growth."""
    from reaper_automix.config import BalanceConfig
    from reaper_automix.rpp.reader import load_session
    from reaper_automix.stage1 import BalanceOptions, balance_session

    stage, workers = what.split("-")
    session, _ = load_session(folder / "song.rpp")
    options = BalanceOptions(workers=int(workers))
    if stage == "mix":
        import torch  # noqa: F401  (its import is the process base, not the session's memory)

        from reaper_automix.matching import MatchOptions
        from reaper_automix.stage2 import mix_session

        base = peak_rss_mb()
        mix_session(session, [folder / "ref.wav"], balance_options=options, config=BalanceConfig(),
                    match_options=MatchOptions(iterations=3, rounds=1, engine="search"))
    else:
        base = peak_rss_mb()
        balance_session(session, options, BalanceConfig())
    import resource

    return {"what": what, "samples": round(session.length_s * session.sample_rate), "main_mb": peak_rss_mb() - base,
            "worker_mb": peak_rss_mb(resource.RUSAGE_CHILDREN)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=float, default=2.0, help="seconds of the short project")
    parser.add_argument("--long", type=float, default=300.0, help="seconds of the long project")
    add_child_arguments(parser)
    args = parser.parse_args()
    if serve_child(args, run_one):
        return
    from reaper_automix import memory

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        rows = {}
        for seconds in (args.short, args.long):
            folder = Path(tmp) / f"s{seconds:g}"
            folder.mkdir()
            make_project(folder, seconds)
            for what in RUNS:  # the first run of each compiles numba's caches; measured runs find them warm
                run_isolated(__file__, what, ["--folder", str(folder)])
            for what in RUNS:
                rows[what, seconds] = run_isolated(__file__, what, ["--folder", str(folder)])
    print(f"peak memory growth per track buffer (2 x samples x 4 B), {args.short:g} s vs {args.long:g} s:")
    for what in RUNS:
        short, long = rows[what, args.short], rows[what, args.long]
        buffer_mb = 2 * 4 * (long["samples"] - short["samples"]) / 2**20
        main = (long["main_mb"] - short["main_mb"]) / buffer_mb
        worker = (long["worker_mb"] - short["worker_mb"]) / buffer_mb
        print(f"  {what:10s} main process {main:5.2f}  largest worker {worker:5.2f}")
    print(f"memory.py uses: worker {memory.WORKER_BUFFERS}, parent {memory.PARENT_BUFFERS}, stage 2 "
          f"{memory.STAGE2_BUFFERS_PER_GROUP} per group + {memory.STAGE2_BUFFERS_FIXED}")


if __name__ == "__main__":
    main()
