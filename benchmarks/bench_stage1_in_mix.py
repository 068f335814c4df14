"""Stage 1 (``balance_session``) on ``bench_mix_command.py``'s session, as ``mix`` runs it and as ``balance`` does.

Why stage 1 took ~17 s inside the mix job and ~9 s in ``balance`` (issue 13): each variant runs once in a fresh
process on the same media (``--media``: a folder ``bench_mix_command.py --media`` completed), and prints its wall
time and the main process's peak RSS:

  kept              stems written to a scratch folder the caller keeps (what ``mix_session`` asks for: stage 2
                    reads them; always two rows)
  scratch           stems in stage 1's own scratch folder (what ``balance`` does; one row where both are equal)
  centred-kept      as ``kept``, with every take pan at the centre (``bench_render.make_session`` pans two tracks
                    in three by +/-0.1, so their renders, and every stem, are two different channels)
  centred-scratch   as ``scratch``, centred

``--profile FILE`` instead runs one variant (``--variant``, default ``kept``) in this process on one worker, with
the pool workers' allocator setting (:func:`~reaper_automix.stage1.keep_freed_memory`), under cProfile, and writes
the top functions by internal time.

    .venv/bin/python benchmarks/bench_stage1_in_mix.py --media /tmp/bench-media --tracks 128 --seconds 240
    .venv/bin/python benchmarks/bench_stage1_in_mix.py --media /tmp/bench-media --profile stage1.txt
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_balance import in_folders  # noqa: E402
from bench_render import make_session  # noqa: E402

VARIANTS = ("kept", "scratch", "centred-kept", "centred-scratch")


def run_variant(variant: str, args: argparse.Namespace) -> None:
    from reaper_automix.cleanup import remove_folder
    from reaper_automix.stage1 import BalanceOptions, balance_session, keep_freed_memory, scratch_stem_folder

    session = in_folders(make_session(args.media, args.tracks, args.seconds, 44100, 3, write=False), args.groups)
    if variant.startswith("centred"):
        session = dataclasses.replace(session, tracks=tuple(
            dataclasses.replace(t, items=tuple(dataclasses.replace(i, take=dataclasses.replace(i.take, pan=0.0))
                                               for i in t.items))
            for t in session.tracks))
    options = BalanceOptions(workers=1 if args.profile else args.workers)
    if args.profile:
        import cProfile

        keep_freed_memory()
        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    if variant.endswith("scratch"):
        result = balance_session(session, options)
    else:
        folder = scratch_stem_folder(session, args.groups)
        try:
            result = balance_session(session, options, stem_dir=folder)
        finally:
            remove_folder(folder)
    wall = time.perf_counter() - t0
    if args.profile:
        import io
        import pstats

        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        args.profile.write_text(f"# stage 1 ({variant}) under cProfile, 1 worker: {wall:.1f} s\n{text.getvalue()}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{variant:16s} {wall:7.1f} s  RSS main {rss:5.0f} MB  ({result.changes.description})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, required=True)
    parser.add_argument("--tracks", type=int, default=128)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variant", choices=VARIANTS, help="run this one variant here (the parent's child)")
    parser.add_argument("--profile", type=Path, help="profile one variant in this process; write the summary here")
    args = parser.parse_args()
    if args.variant or args.profile:
        run_variant(args.variant or "kept", args)
        return
    common = ["--media", str(args.media), "--tracks", str(args.tracks), "--groups", str(args.groups),
              "--seconds", str(args.seconds), "--workers", str(args.workers)]
    for _ in range(args.repeats):
        for variant in VARIANTS:
            subprocess.run([sys.executable, __file__, *common, "--variant", variant], check=True)


if __name__ == "__main__":
    main()
