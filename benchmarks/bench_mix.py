"""Cost of the ``mix`` command's stage 2 on a full-size session: reference matching + preview render.

Matching part: 16 stereo stage-1 stems x 240 s at 44.1 kHz, memory-mapped from ``.npy`` files as stage 1 leaves
them (read at their group gain through :class:`~reaper_automix.matching.ScaledStem`), matched against a
reference made from the same stems through the console with random settings. Reports wall time of
:func:`~reaper_automix.matching.match_reference` (which includes its own whole-song render of the matched mix,
reused as the preview), as a ratio to a baseline measured in the same process (one plain render of the whole
song through the console with neutral settings), and peak resident memory. Budget for the whole ``mix`` command
(stage 1 + matching + preview): under 90 s and 4 GB on 2 cores.

Run: ``.venv/bin/python benchmarks/bench_mix.py [--stems 16] [--seconds 240]``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal
import torch

from reaper_automix.analysis.loudness import integrated_loudness
from reaper_automix.audio.io import write_audio
from reaper_automix.evaluate.cases import draw_truth
from reaper_automix.matching.limits import stem_level_db
from reaper_automix.matching import (
    MatchOptions,
    ScaledStem,
    match_reference,
    render_console_mix,
)
from reaper_automix.strip import Strip

SR = 44100


def synthetic_stems(folder: Path, n_stems: int, seconds: float) -> list[Path]:
    """Band-limited noise stems with sections that come and go, written as float32 ``(2, n)`` ``.npy`` files."""
    n = int(seconds * SR)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n_stems):
        low = 40.0 * 2 ** (i * 8 / n_stems)
        sos = scipy.signal.butter(2, [low, min(low * 8, 16000.0)], "bandpass", fs=SR, output="sos")
        x = scipy.signal.sosfilt(sos, rng.standard_normal((2, n)).astype(np.float32), axis=-1)
        x[1] = 0.7 * x[0] + 0.3 * x[1]
        sections = np.repeat(rng.random(int(seconds / 8) + 1) < 0.8, 8 * SR)[:n]  # on in ~80 % of 8 s sections
        beat = 0.4 + 0.6 * (np.arange(n) % (SR // 2) < SR // 8)  # a 120 BPM pulse for the compressors
        x = (x * sections * beat / np.max(np.abs(x)) * 0.25).astype(np.float32)
        paths.append(folder / f"stem{i:03d}.npy")
        np.save(paths[-1], x)
        del x
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stems", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=240.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="bench-mix-") as tmp:
        folder = Path(tmp)
        paths = synthetic_stems(folder, args.stems, args.seconds)
        stems = [ScaledStem(np.load(p, mmap_mode="r"), -3.0) for p in paths]
        heads = [np.asarray(s[:, : SR * 10]) for s in stems]
        truth = draw_truth(["stem"] * len(heads), [integrated_loudness(h, SR) for h in heads],
                           [stem_level_db(h, SR) for h in heads], np.random.default_rng(1))
        reference = render_console_mix(stems, truth, SR)
        write_audio(folder / "reference.wav", reference, SR, subtype="FLOAT")
        del reference
        render_console_mix([s[:, :SR] for s in stems], [Strip.neutral()] * len(stems), SR)  # compile, warm

        start = time.perf_counter()
        render_console_mix(stems, [Strip.neutral()] * len(stems), SR)
        t_base = time.perf_counter() - start

        start = time.perf_counter()
        result = match_reference(stems, SR, [folder / "reference.wav"], MatchOptions())
        t_match = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.stems} stems x {args.seconds:.0f} s, {torch.get_num_threads()} threads")
    print(f"baseline: one neutral console render of the song: {t_base:.1f} s")
    print(f"match_reference (features, {MatchOptions().rounds} rounds x {MatchOptions().iterations} steps, "
          f"excerpt renders, final render): {t_match:.1f} s = {t_match / t_base:.2f} x baseline")
    print(f"total feature distance {result.distances_before['total']:.2f} -> {result.distances_after['total']:.2f}")
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
