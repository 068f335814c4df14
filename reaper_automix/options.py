"""Command-line options shared by several commands, defined once: the offline commands (``analyze``,
``balance``, ``mix``), ``batch`` and the live ones (``live balance``, ``live mix``) take the same spellings,
defaults and help. Nothing heavy is imported here (the CLI's start-up stays fast)."""

from __future__ import annotations

from pathlib import Path

import click

from .methods import ENGINES, METHODS

fader_strength_option = click.option(
    "--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
    help="How far to move the faders from where they are toward the computed balance.")
bus_strength_option = click.option(
    "--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
    help="How far to move the bus settings from neutral toward the full match.")
plot_option = click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
                           help="Draw PNG pictures of the run into this folder: loudness before/after per track "
                                "and group; with mix also Bark mid/side spectra, each bus's EQ curve and its "
                                "compressor's gain reduction over time.")
report_option = click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                             help="Write a JSON report (every measurement and decision).")


def balance_options(f):
    """Stage 1's options (analyze, balance, mix, batch, live balance, live mix)."""
    options = [
        click.option("--method", type=click.Choice(METHODS), default="centroid", show_default=True,
                     help="Loudness measure: in the band around the spectral centroid, in 2-4x the pitch (PESTO), "
                          "or plain LUFS (the paper's baseline)."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="YAML settings: group overrides, excluded/locked tracks, offsets in dB."),
        click.option("--filter-order", type=click.Choice(["1", "2", "4"]), default="1", show_default=True,
                     help="Band filter slope: 1 = 6 dB/octave as the paper's authors used; 2, 4 = Butterworth."),
        click.option("--ceiling", type=float, default=-1.0, show_default=True, help="Peak of the balanced mix, dBFS."),
        click.option("--group-peak", type=float, default=-0.1, show_default=True,
                     help="Peak of each group stem before the between-group gain, dBFS (the paper's rule)."),
        click.option("--silence", type=float, default=-60.0, show_default=True,
                     help="Tracks quieter than this (LUFS) are left untouched."),
        click.option("--no-between-groups", is_flag=True,
                     help="Do not balance the groups against each other (each stem keeps its -0.1 dBFS peak level)."),
        click.option("--skip-missing", is_flag=True,
                     help="Leave tracks with missing or unreadable media out instead of stopping."),
        click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
                     help="Worker processes for analysis."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def make_balance_options(method, filter_order, ceiling, group_peak, silence, no_between_groups, skip_missing, workers,
                  strength=1.0):
    """The options' values as :class:`~reaper_automix.stage1.BalanceOptions`."""
    from .stage1 import BalanceOptions

    return BalanceOptions(
        method=method,
        filter_order=int(filter_order),
        mix_ceiling_dbfs=ceiling,
        group_peak_dbfs=group_peak,
        silence_lufs=silence,
        between_groups=not no_between_groups,
        strength=strength,
        skip_missing=skip_missing,
        workers=workers,
    )


def match_options(f):
    """Stage 2's aspect switches and seed (mix, batch --mix, live mix)."""
    for option in reversed([
        click.option("--no-gain", is_flag=True, help="Do not change the groups' levels."),
        click.option("--no-eq", is_flag=True, help="Add no EQ."),
        click.option("--no-comp", is_flag=True, help="Add no compressor."),
        click.option("--no-pan", is_flag=True, help="Leave the buses' pans alone."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the optimisation (same seed, same mix)."),
        click.option("--engine", type=click.Choice(ENGINES), default=None,
                     help="Stage 2: the shipped learned controller, the per-song search, or the search started "
                          "from and held near the learned prediction (default: learned; the model card "
                          "reaper_automix/models/README.md says why)."),
    ]):
        f = option(f)
    return f


def make_match_options(strength, no_gain, no_eq, no_comp, no_pan, seed, engine=None):
    """The options' values (with stage 2's ``strength``) as :class:`~reaper_automix.matching.MatchOptions`."""
    from .matching import MatchOptions

    return MatchOptions(strength=strength, gain=not no_gain, eq=not no_eq, compressor=not no_comp, pan=not no_pan,
                        seed=seed, **({"engine": engine} if engine else {}))
