"""Objective evaluation of stage 1 and reference matching on generated songs (see reaper_automix/evaluate).

Songs: ``generate_demo`` sessions with fixed seeds (default 3 songs x 40 tracks x 30 s) and their references
(different songs). Conditions: raw faders summed; stage 1 only with each method (centroid, f0, lufs); stage 1 +
reference matching; the equal-loudness sum mastered by Matchering against the same reference. Ground truth:
the same stems mixed with known random console settings as the reference (parameter recovery, MRSTFT).

Matchering is GPL-3.0: it is never imported here. The script installs it into its own virtual environment
``benchmarks/.venv-matchering`` (``python3 -m venv`` + ``pip install matchering``; keep that folder out of git
with a ``/benchmarks/.venv-matchering/`` line in .gitignore) and runs it as a separate program.

Writes ``benchmarks/results/evaluate.json`` and ``benchmarks/results/evaluate-bark-<song>.png``; songs are cached
under ``benchmarks/results/tmp/songs``. Run: ``.venv/bin/python benchmarks/evaluate.py [--songs 3] [--tracks 40]
[--seconds 30] [--methods centroid,f0,lufs] [--no-matchering]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from reaper_automix.evaluate.harness import (
    SongSpec,
    ensure_song,
    evaluate_song,
    format_table,
    summarise,
)
from reaper_automix.matching.features import BARK_EDGES_HZ
from reaper_automix.matching.optimise import MatchOptions

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MATCHERING_VENV = HERE / ".venv-matchering"


def matchering_python() -> Path:
    """The interpreter of the Matchering venv, created and filled on first use."""
    python = MATCHERING_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(MATCHERING_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import matchering"], capture_output=True, check=False)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "matchering"], check=True)
    return python


def plot_bark(name: str, features: dict, path: Path) -> None:
    edges = np.asarray(BARK_EDGES_HZ)
    centres = np.sqrt(edges[:-1] * edges[1:])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    styles = {"reference": ("k", 2.5), "stage1_centroid": ("tab:blue", 1.2), "matched": ("tab:red", 1.8),
              "matchering": ("tab:green", 1.2), "raw": ("0.6", 1.0)}
    for condition, (colour, width) in styles.items():
        if condition not in features:
            continue
        f = features[condition]
        axes[0].semilogx(centres, f.bark_mid_db, color=colour, lw=width, label=condition)
        axes[1].semilogx(centres, f.bark_side_db, color=colour, lw=width, label=condition)
    for ax, title in zip(axes, ("mid", "side")):
        ax.set_title(f"{name}: Bark spectrum of the {title} (share of total energy)")
        ax.set_xlabel("Hz")
        ax.set_ylabel("dB")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--songs", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--methods", default="centroid,f0,lufs")
    parser.add_argument("--no-matchering", action="store_true")
    parser.add_argument("--no-ground-truth", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    methods = tuple(args.methods.split(","))
    python = None if args.no_matchering else matchering_python()
    RESULTS.mkdir(parents=True, exist_ok=True)
    songs_root = RESULTS / "tmp" / "songs"
    records = []
    started = time.perf_counter()
    for i in range(args.songs):
        spec = SongSpec(seed=100 + i, length_s=args.seconds, n_tracks=args.tracks)
        print(f"{spec.name}:")
        folder = ensure_song(songs_root, spec)
        t0 = time.perf_counter()
        record, features = evaluate_song(folder, methods=methods, match_options=MatchOptions(),
                                         matchering_python=python,
                                         ground_truth_seed=None if args.no_ground_truth else i,
                                         workers=args.workers)
        record["seconds"] = time.perf_counter() - t0
        records.append(record)
        plot_bark(spec.name, features, RESULTS / f"evaluate-bark-{spec.name}.png")
    summary = summarise(records)
    summary["wall_s"] = time.perf_counter() - started
    summary["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(format_table(summary))
    print(f"wall {summary['wall_s']:.0f} s, peak RSS {summary['peak_rss_mib']:.0f} MiB")
    (RESULTS / "evaluate.json").write_text(json.dumps({"summary": summary, "songs": records}, indent=1))


if __name__ == "__main__":
    main()
