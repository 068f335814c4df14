"""The ``dataset`` and ``train`` commands (registered on the main CLI)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from ..errors import AutomixError

console = Console(stderr=True)


def _bar():  # rich.progress loads only when a command runs (CLI start-up)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console)


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--songs", type=click.IntRange(1, 100_000), default=160, show_default=True,
              help="Number of songs (song i depends only on --seed + i, so a larger number extends a dataset).")
@click.option("--seed", type=int, default=100_000, show_default=True,
              help="First song seed (training seeds start at 100000; lower ones are held out for evaluation).")
@click.option("--length", "length_s", type=float, default=20.0, show_default=True, help="Song length in seconds.")
@click.option("--consoles", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Random consoles (method-1 references) per song.")
@click.option("--min-tracks", type=click.IntRange(8, 512), default=8, show_default=True,
              help="Fewest tracks per generated song.")
@click.option("--max-tracks", type=click.IntRange(8, 512), default=40, show_default=True,
              help="Most tracks per generated song.")
def dataset(out_dir: Path, songs: int, seed: int, length_s: float, consoles: int, min_tracks: int,
            max_tracks: int) -> None:
    """Make the learned controller's training data in OUT_DIR (generated songs, group stems, random consoles,
    window statistics; resumable). Needs the Debian SoundFonts fluid-soundfont-gm and
    musescore-general-soundfont-small."""
    from ..dataset import DatasetOptions, make_dataset

    options = DatasetOptions(songs=songs, seed=seed, length_s=length_s, consoles=consoles, min_tracks=min_tracks,
                             max_tracks=max_tracks)
    with _bar() as bar:
        task = bar.add_task("songs", total=songs, info="")
        manifest = make_dataset(out_dir, options, progress=lambda _s, done, _t: bar.update(task, completed=done))
    console.print(f"dataset: {len(manifest['songs'])} songs in {out_dir}")


@click.command()
@click.argument("dataset_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("reaper_automix/models/controller.safetensors"), show_default=True,
              help="Checkpoint to write (.safetensors); the loss curves go to the same name with .png, the "
                   "history to .json.")
@click.option("--steps", type=click.IntRange(1, 10_000_000), default=1200, show_default=True,
              help="Optimiser steps (the shipped checkpoint: the default).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=24, show_default=True,
              help="Examples per step.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same dataset and seed: same weights.")
@click.option("--threads", type=click.IntRange(1, 256), default=1, show_default=True, help="torch threads.")
def train(dataset_dir: Path, out: Path, steps: int, batch_size: int, seed: int, threads: int) -> None:
    """Train the learned stage-2 controller on DATASET_DIR (made by `reaper-automix dataset`)."""
    from .train import TrainOptions, train_and_save

    if out.suffix != ".safetensors":
        raise AutomixError(f"the checkpoint must be a .safetensors file, got {out}")
    if not out.parent.is_dir():
        raise AutomixError(f"folder {out.parent} does not exist")
    options = TrainOptions(steps=steps, batch_size=batch_size, seed=seed, threads=threads)
    with _bar() as bar:
        task = bar.add_task("training", total=steps, info="")
        summary = train_and_save(dataset_dir, out, options,
                                 progress=lambda step, _n, loss: bar.update(task, completed=step,
                                                                            info=f"loss {loss:.3f}"))
    history = summary["history"]
    last = f", validation loss {history['val'][-1]:.3f}" if history["val"] else ""
    console.print(f"wrote {out} ({summary['parameters']} parameters, {summary['wall_s']:.0f} s{last}); "
                  f"loss curves: {out.with_suffix('.png')}")
