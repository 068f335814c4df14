"""The ``reaper-automix`` command line.

Every expected problem (bad project, missing media, bad settings) is printed as one message naming the file,
track or line, with exit status 2; a failed batch exits 1.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from . import __version__
from .errors import AutomixError
from .options import (balance_options, bus_strength_option, fader_strength_option, make_balance_options,
                      make_match_options, match_options, plot_option, report_option)
from .projects import Outputs, default_output

if TYPE_CHECKING:
    from rich.progress import Progress

# Start-up: heavy libraries (scipy.signal, numba, torch, matplotlib, rich.progress, process pools) are imported
# inside the commands that need them, so `info` and `--help` start in a fraction of a second
# (tests/test_cli_startup.py checks which modules `info` loads).

# Status and error lines are never wrapped: off a terminal rich would break them at 80 columns, mid-sentence.
console = Console(stderr=True, soft_wrap=True)
out = Console()


class AutomixGroup(click.Group):
    """Turns expected errors into a clear message and a non-zero exit instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AutomixError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            sys.exit(2)
        except KeyboardInterrupt:
            console.print("interrupted; nothing was written")
            sys.exit(130)


@click.group(cls=AutomixGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="reaper-automix")
def main() -> None:
    """Automatic mixing for REAPER projects.

    Stage 1 balances the tracks inside each folder so they sound equally loud in their characteristic
    frequency band; stage 2 (mix) sets gain, EQ, compression and pan on each folder bus to match a
    reference mix. Projects are read from .rpp files and written to a NEW .rpp next to the original
    (PROJECT-automix.rpp); the original is only replaced with --in-place, which keeps a backup.
    """
    # The renderer's notes (a feature REAPER has that is not emulated, channels dropped) are for the user, not
    # a developer: one plain line each, without the source location. Worker processes inherit this.
    warnings.formatwarning = _plain_warning
    from .cleanup import handle_termination

    handle_termination()  # SIGTERM/SIGHUP: workers stopped, temporary folders removed


def _plain_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def progress_bar() -> Progress:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


class _Reporter:
    """Adapts the pipeline's progress callback to one rich progress bar per stage."""

    def __init__(self, bar: Progress):
        self.bar = bar
        self.tasks: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done)


# --- info ------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("project", type=click.Path(dir_okay=False, path_type=Path))
def info(project: Path) -> None:
    """Show the tracks, folders, items, media, plug-ins and sends of PROJECT.rpp, and what a balance would leave
    out and why."""
    from .audio.render import check_media
    from .fx_notes import dry_note, dry_warning, receive_labels, send_note, track_fx_summary
    from .grouping import group_tracks
    from .rpp.reader import load_session

    session, _ = load_session(project)
    grouping = group_tracks(session)
    missing = {}
    for name, path, why in check_media(session):
        missing.setdefault(name, []).append(f"{path} ({why})")
    excluded = {e.track: e.reason for e in grouping.excluded}
    group_of = {t: g.name for g in grouping.groups for t in g.members}

    out.print(f"[bold]{project}[/]  {session.sample_rate} Hz, {len(session.tracks)} tracks, "
              f"{sum(len(t.items) for t in session.tracks)} items, {session.length_s:.1f} s")
    from rich.table import Table

    table = Table()
    for col in ("#", "track", "items", "sources", "FX", "receives", "group", "status"):
        table.add_column(col)
    for t in session.tracks:
        depth = session.folder_level(t.index)
        kinds = sorted({i.take.source.kind.value for i in t.items if i.take} | ({"no take"} if any(i.take is None for i in t.items) else set()))
        status = [excluded[t.index]] if t.index in excluded else []
        if t.name in missing:
            status.append("missing media: " + ", ".join(missing[t.name]))
        if t.index in group_of:
            status += [n for n in (dry_note(t), send_note(session, t.index)) if n]
        table.add_row(
            str(t.index + 1),
            "  " * depth + ("[bold]" + t.name + "/[/]" if t.is_folder else t.name),
            str(len(t.items)),
            ",".join(kinds),
            track_fx_summary(t),
            receive_labels(session, t),
            group_of.get(t.index, ""),
            "; ".join(status),
        )
    out.print(table)
    for g in grouping.groups:
        out.print(f"group [bold]{g.name}[/] ({g.source}): {len(g.members)} tracks")
    n_missing = sum(len(v) for v in missing.values())
    out.print(f"missing or unreadable media files: {n_missing}" if n_missing else "all media found")
    warning = dry_warning(session, group_of, renders_fx=False)
    if warning:
        out.print(f"[bold yellow]warning:[/] {warning}", highlight=False)


# --- analyze / balance -----------------------------------------------------------------------------------------


def _stems_option(f):
    for option in reversed([
        click.option("--stems", "stems_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Measure stems rendered in REAPER (pre-fader, with FX; named by track number and name) "
                          "instead of our own render [default: PROJECT-stems/ when the action \"Automix: Render "
                          "stems for offline analysis...\" recorded it there]."),
        click.option("--no-stems", is_flag=True, help="Use our own render even when recorded stems exist."),
    ]):
        f = option(f)
    return f


def _stems_renderer(project: Path, config, stems_dir: Path | None, no_stems: bool):
    """The ``--stems`` renderer, or None for our own render; recorded stems beside the project are used (and
    said so) unless ``--no-stems``."""
    from .audio.stems import load_stems, stems_folder
    from .grouping import group_tracks
    from .rpp.fx import fx_facts
    from .rpp.reader import load_session

    if no_stems:
        if stems_dir is not None:
            raise AutomixError("give either --stems or --no-stems, not both")
        return None
    if stems_dir is None:
        recorded = stems_folder(project)
        if not (recorded / fx_facts()["stems"]["manifest"]).is_file():
            return None
        stems_dir = recorded
        console.print(f"measuring the stems REAPER rendered in {recorded} (--no-stems: our own render)")
    session, _ = load_session(project)
    grouping = group_tracks(session, config, renders_fx=True)
    return load_stems(session, stems_dir, [t for g in grouping.groups for t in g.members])


def _run_balance(project: Path, options, config_path: Path | None, *, stems_dir: Path | None = None,
                 no_stems: bool = False):
    from .config import BalanceConfig, load_config
    from .memory import check_memory
    from .rpp.reader import load_session
    from .stage1 import balance_session

    config = load_config(config_path) if config_path else BalanceConfig()
    session, document = load_session(project)
    check_memory(session, workers=options.workers)
    renderer = _stems_renderer(project, config, stems_dir, no_stems)
    with progress_bar() as bar:
        return balance_session(session, options, config, progress=_Reporter(bar), renderer=renderer), document


@main.command()
@click.argument("project", type=click.Path(dir_okay=False, path_type=Path))
@balance_options
@_stems_option
@report_option
@plot_option
def analyze(project: Path, config_path, report_path, plot_dir, stems_dir, no_stems, **kw) -> None:
    """Measure PROJECT.rpp and show the balance stage 1 would set, without writing a project."""
    from .outputs import check_outputs
    from .report import balance_report, print_balance_table, write_json

    check_outputs(source=project, report=report_path)
    plots = _plot_folder(plot_dir)
    result, _ = _run_balance(project, make_balance_options(**kw), config_path, stems_dir=stems_dir,
                             no_stems=no_stems)
    report = balance_report(result)
    print_balance_table(report, out)
    if report_path:
        write_json(report, report_path)
        console.print(f"report: {report_path}")
    if plots:
        from .plots import draw_balance

        _print_pictures(draw_balance(report, plots))


def _plot_folder(plot_dir: Path | None) -> Path | None:
    """--plot's folder, checked (and created) before any audio work."""
    if plot_dir is None:
        return None
    from .plots import plot_folder

    return plot_folder(plot_dir)


def _print_pictures(paths: list[Path]) -> None:
    console.print("pictures: " + ", ".join(str(p) for p in paths))


def _output_options(f):
    for option in reversed([
        click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                     help="Where to write the result [default: PROJECT-automix.rpp next to PROJECT]."),
        click.option("--in-place", is_flag=True,
                     help="Replace PROJECT itself (a timestamped backup is kept beside it)."),
        click.option("--force", is_flag=True, help="Replace an existing output file."),
    ]):
        f = option(f)
    return f


def output_path(project: Path, output: Path | None, in_place: bool) -> Path:
    if in_place and output is not None:
        raise AutomixError("give either -o/--output or --in-place, not both")
    if in_place:
        return project
    return output if output is not None else default_output(project)


@main.command()
@click.argument("project", type=click.Path(dir_okay=False, path_type=Path))
@_output_options
@fader_strength_option
@balance_options
@_stems_option
@report_option
@plot_option
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path),
              help="Render the balanced mix to this WAV file.")
def balance(project: Path, output, in_place, force, strength, config_path, report_path, plot_dir, preview,
            stems_dir, no_stems, **kw) -> None:
    """Balance the tracks inside each folder of PROJECT.rpp and write the faders to a new project.

    Track faders get the within-group balance, folder faders the group levels. Gains beyond REAPER's
    +12 dB fader go into the items' take volume. Running it again on its output changes nothing.
    """
    from .config import BalanceConfig, load_config
    from .projects import balance_project
    from .report import print_balance_table

    target = output_path(project, output, in_place)
    plots = _plot_folder(plot_dir)
    config = load_config(config_path) if config_path else BalanceConfig()
    renderer = _stems_renderer(project, config, stems_dir, no_stems)
    with progress_bar() as bar:

        def write_preview(result, staged_path) -> None:
            from .audio.io import write_audio

            # 32-bit float: no clipping, no dither
            write_audio(staged_path(preview), result.preview_mix, result.session.sample_rate, subtype="FLOAT")

        outputs = Outputs(target, in_place=in_place, force=force, report=report_path,
                          previews=[preview] if preview else [], write_previews=write_preview if preview else None)
        run = balance_project(project, outputs, make_balance_options(strength=strength, **kw), config,
                              progress=_Reporter(bar), renderer=renderer)
    written = run.written
    print_balance_table(run.report, out)
    console.print(f"wrote {written.path}" + (f" (backup: {written.backup})" if written.backup else ""))
    if report_path:
        console.print(f"report: {report_path}")
    if plots:
        from .plots import draw_balance

        _print_pictures(draw_balance(run.report, plots))
    if preview:
        console.print(f"preview: {preview}")


# --- mix (stage 1 + stage 2) ------------------------------------------------------------------------------------


@main.command()
@click.argument("project", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-r", "--reference", "references", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Reference mix (WAV, FLAC, MP3..., any rate). Repeat for several: their features are averaged.")
@click.option("--reference-track", metavar="NAME",
              help="Use the project's own track of this name as the reference instead (left out of the mix, "
                   "its fader untouched).")
@_output_options
@bus_strength_option
@match_options
@balance_options
@_stems_option
@report_option
@plot_option
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path),
              help="Render the matched mix of the groups to this WAV; PREVIEW-before.wav beside it is the stage-1 "
                   "mix at the same loudness, for a fair A/B.")
def mix(project: Path, references, reference_track, output, in_place, force, strength, no_gain, no_eq, no_comp,
        no_pan, seed, engine, config_path, report_path, plot_dir, preview, stems_dir, no_stems, **kw) -> None:
    """Balance PROJECT.rpp (stage 1), then mix its groups to match a reference (stage 2).

    Each group gets a bus track (its folder track, or a new folder track over its tracks) with ReaEQ, ReaComp,
    fader and pan set so the mix's loudness, spectrum (mid and side), stereo width and balance and crest factor
    approach the reference's. Running it again on its output replaces the EQ/compressor it added.
    """
    from .config import BalanceConfig, load_config
    from .projects import mix_project
    from .report import print_mix_table

    if bool(references) == (reference_track is not None):
        raise AutomixError("give either -r/--reference FILE (repeatable) or --reference-track NAME")
    target = output_path(project, output, in_place)
    plots = _plot_folder(plot_dir)
    config = load_config(config_path) if config_path else BalanceConfig()
    renderer = _stems_renderer(project, config, stems_dir, no_stems)
    matching = make_match_options(strength, no_gain, no_eq, no_comp, no_pan, seed, engine)
    before_path = preview.with_name(f"{preview.stem}-before{preview.suffix}") if preview else None

    def write_previews(result, staged_path) -> None:
        from .audio.io import write_audio

        rate = result.balance.session.sample_rate
        before, after = result.level_matched_previews()
        write_audio(staged_path(preview), after, rate, subtype="FLOAT")
        write_audio(staged_path(before_path), before, rate, subtype="FLOAT")

    with contextlib.ExitStack() as stack:
        stems = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="automix-stems-"))) if plots else None
        with progress_bar() as bar:
            outputs = Outputs(target, in_place=in_place, force=force, report=report_path,
                              previews=[preview, before_path] if preview else [],
                              write_previews=write_previews if preview else None)
            run = mix_project(project, outputs, references, reference_track=reference_track,
                              balance_options=make_balance_options(**kw),
                              match_options=matching, config=config, progress=_Reporter(bar), stem_dir=stems,
                              renderer=renderer)
        result, written = run.result, run.written
        print_mix_table(run.report, out)
        console.print(f"wrote {written.path}" + (f" (backup: {written.backup})" if written.backup else ""))
        if report_path:
            console.print(f"report: {report_path}")
        if plots:  # while the stage-1 stems exist
            from .plots import draw_mix

            _print_pictures(draw_mix(result, run.report, plots))
    if preview:
        console.print(f"preview: {preview} (matched) and {before_path} (stage 1 only, same loudness)")


# --- demo ------------------------------------------------------------------------------------------------------


@main.command()
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-session"),
              show_default=True, help="Folder for the generated project, media and reference mix.")
@click.option("--tracks", type=click.IntRange(16, 400), default=104, show_default=True, help="Number of tracks.")
@click.option("--length", "length_s", type=click.FloatRange(5, 1200), default=150.0, show_default=True,
              help="Song length in seconds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files).")
@click.option("--overwrite", is_flag=True, help="Replace an existing demo folder.")
@click.option("--run/--no-run", "run_pipeline", default=False,
              help="Then mix the generated project: stage 1, and stage 2 against the generated reference "
                   "(writes demo-automix.rpp, a JSON report and level-matched preview WAVs).")
def demo(out_dir: Path, tracks, length_s, seed, overwrite, run_pipeline) -> None:
    """Generate a realistic multitrack REAPER demo project (SoundFont-rendered, deliberately unbalanced)."""
    from .demo import generate_demo

    with progress_bar() as bar:
        manifest = generate_demo(out_dir, seed=seed, length_s=length_s, n_tracks=tracks, overwrite=overwrite,
                                 progress=_Reporter(bar))
    project = out_dir / manifest.project
    console.print(f"generated {project} ({len(manifest.tracks)} audio tracks in {len(manifest.folders)} folders) "
                  f"and the reference mix {out_dir / manifest.reference.file}")
    if not run_pipeline:
        return
    ctx = click.get_current_context()
    ctx.invoke(
        mix,
        project=project,
        references=(out_dir / manifest.reference.file,),
        force=True,
        report_path=out_dir / "demo-automix-report.json",
        preview=out_dir / "demo-automix-preview.wav",
    )


# --- REAPER: live project and installation ---------------------------------------------------------------------

from .batch.command import batch  # noqa: E402  (registered last: the commands above come first in --help)
from .live.commands import live, reaper  # noqa: E402

main.add_command(batch)
main.add_command(live)
main.add_command(reaper)

from .controller.commands import dataset, train  # noqa: E402

main.add_command(dataset)
main.add_command(train)


if __name__ == "__main__":
    main()
