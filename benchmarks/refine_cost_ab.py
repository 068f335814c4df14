"""The learned engine's console refinement alone, A/B in one process: the two-pass order (a descent, the balance
pans at its result, a second descent: ``RefineOptions(pans_first=False)``) against the shipped order (the balance
pans at the prediction, then one descent), on the same batch: 16 synthetic stems x 20 s
(``bench_mix.synthetic_stems``; the refinement works on window statistics, so its cost does not depend on the
length) against their sum, leaned right, as the reference; interleaved runs, medians. Run under the bench lock:
``PYTHONPATH=. .venv/bin/python benchmarks/refine_cost_ab.py [--runs 7] [--threads 2]``."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_mix import synthetic_stems
from reaper_automix.controller import features as F
from reaper_automix.controller.checkpoint import SHIPPED, load_checkpoint
from reaper_automix.controller.losses import Batch, forward
from reaper_automix.controller.refine import RefineOptions, refine_settings

SR = 44100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        stems = [np.load(p) for p in synthetic_stems(Path(tmp), 16, 20.0)]
    stats = [F.window_stats(s, SR) for s in stems]
    reference = np.sum(stems, axis=0) * np.array([[0.8], [1.2]], dtype=np.float32)
    batch = Batch.single(stats, [F.level_db(s) for s in stats], F.window_stats(reference, SR))
    with torch.no_grad():
        pred = forward(load_checkpoint(SHIPPED).model, batch)
    options = {"two-pass (pans_first=False)": RefineOptions(pans_first=False),
               "pans first (shipped)": RefineOptions()}
    times: dict[str, list[float]] = {name: [] for name in options}
    for o in options.values():
        refine_settings(pred, batch, o)  # warm-up
    for _ in range(args.runs):
        for name, o in options.items():
            t0 = time.perf_counter()
            out = refine_settings(pred, batch, o)
            times[name].append(time.perf_counter() - t0)
            assert torch.isfinite(out).all()
    for name, values in times.items():
        print(f"{name}: median {np.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}) "
              f"over {len(values)}")
    before, after = (float(np.median(v)) for v in times.values())
    print(f"ratio pans first / two-pass: {after / before:.2f}")


if __name__ == "__main__":
    main()
