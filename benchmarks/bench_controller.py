"""Cost of the learned controller's prediction on a full-size session (issue 8: under 3 s on 2 cores).

16 stereo stage-1 stems x 240 s at 44.1 kHz, memory-mapped from ``.npy`` files as stage 1 leaves them
(:func:`bench_mix.synthetic_stems`), and a 240 s reference. Measured in one process: the baseline (one plain
render of the stems through the console with neutral settings), loading the shipped checkpoint, and the learned
engine's decision :func:`~reaper_automix.controller.predict.learned_settings` (reading the reference, window
statistics of every stem and the reference, the model, its console refinement, then the plausibility limits of matching/limits.py:
stem levels, pan limit, crest factors, clamping, each compressor's gain reduction measured on its stem:
everything after stage 1 except rendering the result for the report and preview), as a ratio to the baseline,
with the network's part alone (:func:`~reaper_automix.controller.predict.predict_settings`) and the network plus
the refinement beside it, and peak resident memory.

Run: ``.venv/bin/python benchmarks/bench_controller.py [--stems 16] [--seconds 240] [--repeats 3]
[--checkpoint FILE]``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_mix import SR, synthetic_stems

from reaper_automix.audio.io import write_audio
from reaper_automix.controller.checkpoint import load_checkpoint
from reaper_automix.controller.predict import learned_settings, predict_settings
from reaper_automix.controller.refine import RefineOptions
from reaper_automix.matching import ScaledStem, render_console_mix
from reaper_automix.strip import Strip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stems", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped one")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as tmp:
        folder = Path(tmp)
        paths = synthetic_stems(folder, args.stems, args.seconds)
        stems = [ScaledStem(np.load(p, mmap_mode="r"), -3.0) for p in paths]
        neutral = [Strip.neutral()] * len(stems)
        reference = render_console_mix(stems, neutral, SR)  # also warms the console's kernels
        write_audio(folder / "reference.wav", reference, SR, subtype="FLOAT")
        del reference

        start = time.perf_counter()
        render_console_mix(stems, neutral, SR)
        t_base = time.perf_counter() - start

        start = time.perf_counter()
        loaded = load_checkpoint(args.checkpoint) if args.checkpoint else load_checkpoint()
        t_load = time.perf_counter() - start

        times, network, refined = [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            learned_settings(stems, SR, [folder / "reference.wav"], checkpoint=loaded)
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            predict_settings(stems, SR, [folder / "reference.wav"], checkpoint=loaded)
            network.append(time.perf_counter() - start)
            start = time.perf_counter()
            predict_settings(stems, SR, [folder / "reference.wav"], checkpoint=loaded, refine=RefineOptions())
            refined.append(time.perf_counter() - start)
    t_predict, t_network = float(np.median(times)), float(np.median(network))
    t_refined = float(np.median(refined))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.stems} stems x {args.seconds:.0f} s, {torch.get_num_threads()} threads; checkpoint "
          f"{loaded.sha256[:12]}")
    print(f"baseline: one neutral console render of the song: {t_base:.2f} s")
    print(f"checkpoint load: {t_load:.2f} s")
    print(f"prediction within the limits (median of {args.repeats}; reference read and measured included): "
          f"{t_predict:.2f} s = {t_predict / t_base:.3f} x baseline (budget: 3 s)")
    print(f"  of which the network's part (reference read, window statistics, model): {t_network:.2f} s "
          f"= {t_network / t_base:.3f} x baseline")
    print(f"  the network's part + the console refinement: {t_refined:.2f} s = {t_refined / t_base:.3f} x baseline "
          f"(the refinement: {t_refined - t_network:.2f} s)")
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
