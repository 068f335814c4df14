"""CLI commands for the live bridge: ``reaper-automix live balance|mix`` and ``reaper-automix reaper
install|uninstall|calibrate``. Register with ``main.add_command(live)`` and ``main.add_command(reaper)``.

``live`` commands act on the project open in REAPER. REAPER's actions (``reascripts/``) start them as a
worker process with ``--progress-file``: each progress line goes there too, and the last line is
``DONE: <summary>`` or ``ERROR: <message>``, which the action's deferred poll prints in REAPER's console.
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import click

from ..errors import AutomixError
from ..options import (balance_options, bus_strength_option, fader_strength_option, make_balance_options,
                       make_match_options, match_options, plot_option, report_option)
from ..session import Session, folder_depths
from ..units import gain_to_db


class _Progress:
    """Progress lines to stderr and, when given, appended to the worker's progress file."""

    def __init__(self, path: Path | None):
        self.path = path
        self._last: tuple[str, int] | None = None

    def line(self, text: str, *, echo: bool = True) -> None:
        if echo:
            click.echo(text, err=True)
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(text.replace("\n", " | ") + "\n")

    def __call__(self, stage: str, done: int, total: int) -> None:
        step = (stage, (10 * done) // max(total, 1))  # at most ~10 lines per stage
        if step != self._last or done == total:
            self._last = step
            self.line(f"{stage}: {done}/{total}")


def restrict(session: Session, guids: list[str]) -> Session:
    """The tracks named by ``guids`` and everything inside those that are folders, re-indexed, with folder
    depths recomputed so that the sub-session nests exactly as in REAPER."""
    wanted = set(guids)
    keep = [t for t in session.tracks if any(session.tracks[p].guid in wanted for p in session.fader_path(t.index))]
    kept = {t.index for t in keep}
    depths = folder_depths([sum(p in kept for p in session.ancestors(t.index)) for t in keep])
    out = []
    new_index = {t.index: i for i, t in enumerate(keep)}
    for i, (t, depth) in enumerate(zip(keep, depths)):
        # receives from tracks outside the scope cannot be followed there: they are dropped
        received = tuple(replace(r, source=new_index[r.source]) for r in t.receives if r.source in new_index)
        out.append(replace(t, index=i, folder_depth=depth, ext=dict(t.ext), receives=received))
    return Session(session.path, session.sample_rate, tuple(out))


def _connect(web_port: int | None):
    from .bridge import connect

    return connect(web_port=web_port)


def _scope(live, tracks: str | None, progress: _Progress) -> Session:
    chosen = [g for g in (tracks or "").split(",") if g] or list(live.selected_guids)
    if not chosen:
        return live.session
    known = {t.guid for t in live.session.tracks}
    unknown = [g for g in chosen if g not in known]
    if unknown:
        raise AutomixError(f"tracks not in the open project: {', '.join(unknown)}")
    session = restrict(live.session, chosen)
    progress.line(f"working on {len(session.tracks)} selected tracks (with the tracks inside selected folders)")
    return session


def _finish(progress: _Progress, run) -> None:
    """Run the job; its one-line outcome ends the progress file (the error itself reaches the terminal once,
    from the command line's error handler)."""
    try:
        summary = run()
    except AutomixError as exc:
        progress.line(f"ERROR: {exc}", echo=False)
        raise
    except Exception as exc:  # a bug: still tell REAPER's console before the traceback
        progress.line(f"ERROR: unexpected {type(exc).__name__}: {exc}", echo=False)
        raise
    progress.line(f"DONE: {summary}")


_common = [
    click.option("--tracks", help="Comma-separated track GUIDs to work on (default: REAPER's selection, else all)."),
    click.option("--faders-changed", type=click.Choice(["ask", "apply", "stop"]), default="ask", show_default=True,
                 help="When faders or pans the analysis read were moved in REAPER meanwhile: ask in REAPER "
                      "(a message box naming them), overwrite them, or stop without changing anything."),
    click.option("--progress-file", type=click.Path(path_type=Path), help="Append progress lines here."),
    click.option("--web-port", type=int, help="REAPER's web interface port (default 2307)."),
    click.option("--unbatched", is_flag=True, help="One round-trip per API call (slow; for comparison)."),
    click.option("--dry-run", is_flag=True, help="Compute and report, change nothing in REAPER."),
]


def common(f):
    for option in reversed(_common):
        f = option(f)
    return f


@click.group("live")
def live() -> None:
    """Act on the project open in REAPER (through the safe reapy server action)."""


def moved_faders(before: Session, now: Session) -> list[str]:
    """One line per track of ``before`` whose fader or pan differs in ``now`` (tracks matched by GUID)."""
    current = {t.guid: t for t in now.tracks}
    out = []
    for t in before.tracks:
        n = current.get(t.guid)
        if n is None:
            continue  # deleted: applying names it and changes nothing
        what = []
        if not math.isclose(n.volume, t.volume, rel_tol=1e-9, abs_tol=1e-12):
            what.append(f"fader {gain_to_db(t.volume):+.2f} -> {gain_to_db(n.volume):+.2f} dB")
        if not math.isclose(n.pan, t.pan, abs_tol=1e-9):
            what.append(f"pan {t.pan:+.2f} -> {n.pan:+.2f}")
        if what:
            out.append(f"{t.name}: " + ", ".join(what))
    return out


def _check_faders(bridge, session: Session, policy: str) -> Session:
    """Before applying: the faders the analysis read must be where they were, or the user agrees to overwrite
    the ones moved meanwhile (``policy`` ask/apply/stop). Returns the whole project as it is now (what the
    changes are then resolved against)."""
    from .bridge import RemoteApi
    from .session import read_live_session

    now = read_live_session(bridge).session
    moved = moved_faders(session, now)
    if not moved or policy == "apply":
        return now
    listed = "\n".join(moved[:12]) + (f"\n... and {len(moved) - 12} more" if len(moved) > 12 else "")
    if policy == "ask":
        question = (f"These faders or pans were changed in REAPER while Automix was analysing:\n\n{listed}\n\n"
                    "Overwrite them with Automix's result? (No: change nothing)")
        if RemoteApi(bridge).ShowMessageBox(question, "Automix", 4) == 6:  # 4 = Yes/No; 6 = Yes
            return now
    raise AutomixError("faders or pans changed in REAPER during the analysis, nothing was applied: "
                       + "; ".join(moved) + " (run again, or pass --faders-changed apply)")


def _compute_and_apply(bridge, session: Session, progress: _Progress, dry_run: bool, unbatched: bool, compute,
                       faders_changed: str = "ask", report=None) -> str:
    """Render the session's audio through REAPER (offline renderer as fallback), ``compute(renderer)`` the
    result (its ``changes``), ``report(result)`` it when asked, check that the faders it read were not moved
    meanwhile, and apply the changes as one undo point; returns the summary line."""
    from .apply import apply_changes
    from .session import track_audio

    sounding = [t.guid for t in session.tracks if t.has_audio or t.is_return or t.is_instrument_track]
    audio = track_audio(bridge, session, sounding)
    progress.line(f"audio rendered by {audio.method}" + (f" ({audio.reason})" if audio.reason else ""))
    result = compute(audio)
    if report is not None:
        progress.line(report(result))
    changes = result.changes
    if dry_run:
        return f"{changes.description} (dry run: nothing changed)"
    now = _check_faders(bridge, session, faders_changed)
    applied = apply_changes(bridge, now, changes, batched=not unbatched)
    for line in applied.lines()[1:]:
        progress.line(line)
    return applied.lines()[0]


def _load_config(config_path: Path | None):
    from ..config import BalanceConfig, load_config

    return load_config(config_path) if config_path else BalanceConfig()


def _reporter(report_path: Path | None, plots: Path | None, make_report, draw):
    """``result -> line``: writes ``make_report(result)`` as JSON to ``report_path`` and ``draw(result, report,
    plots)``'s pictures (None when neither is asked for)."""
    if report_path is None and plots is None:
        return None

    def write(result) -> str:
        from ..report import write_json

        report = make_report(result)
        lines = []
        if report_path is not None:
            write_json(report, report_path)
            lines.append(f"report: {report_path}")
        if plots is not None:
            lines.append("pictures: " + ", ".join(str(p) for p in draw(result, report, plots)))
        return "; ".join(lines)

    return write


@live.command("balance")
@common
@fader_strength_option
@balance_options
@report_option
@plot_option
def balance_cmd(tracks, faders_changed, progress_file, web_port, unbatched, dry_run, strength, config_path,
                report_path, plot_dir, **kw) -> None:
    """Balance levels within folders of the open project (one undo point); the options of ``balance``."""
    from ..plots import draw_balance, plot_folder

    progress = _Progress(progress_file)
    options = make_balance_options(strength=strength, **kw)
    config = _load_config(config_path)  # a bad settings file or --plot folder stops the job before REAPER is touched
    plots = plot_folder(plot_dir) if plot_dir else None

    def run() -> str:
        from ..memory import check_memory
        from ..report import balance_report
        from ..stage1 import balance_session
        from .session import read_live_session

        bridge = _connect(web_port)
        live_session = read_live_session(bridge)
        session = _scope(live_session, tracks, progress)
        check_memory(session, workers=options.workers)
        return _compute_and_apply(
            bridge, session, progress, dry_run, unbatched,
            lambda render: balance_session(session, options, config, progress=progress, renderer=render),
            faders_changed, _reporter(report_path, plots, balance_report, lambda r, rep, f: draw_balance(rep, f)),
        )

    _finish(progress, run)


@live.command("mix")
@common
@click.option("--reference", required=True,
              help="Reference mix: an audio file, or 'track:NAME' for a track of the open project.")
@bus_strength_option
@match_options
@balance_options
@report_option
@plot_option
def mix_cmd(tracks, faders_changed, progress_file, web_port, unbatched, dry_run, reference, strength, no_gain,
            no_eq, no_comp, no_pan, seed, engine, config_path, report_path, plot_dir, **kw) -> None:
    """Mix the open project's groups to a reference (gain, EQ, compression, pan on folder buses); the options
    of ``mix``."""
    from ..plots import draw_mix, plot_folder

    progress = _Progress(progress_file)
    matching = make_match_options(strength, no_gain, no_eq, no_comp, no_pan, seed, engine)
    balancing = make_balance_options(**kw)
    config = _load_config(config_path)
    plots = plot_folder(plot_dir) if plot_dir else None

    def run() -> str:
        from ..grouping import group_tracks
        from ..memory import check_memory
        from ..report import mix_report
        from ..stage2 import mix_session
        from .session import read_live_session, track_audio

        bridge = _connect(web_port)
        live_session = read_live_session(bridge)
        session = _scope(live_session, tracks, progress)
        check_memory(session, workers=balancing.workers, stage="mix",
                     groups=len(group_tracks(session, config).groups))
        if reference.startswith("track:"):
            name = reference[len("track:") :]
            matches = [t for t in live_session.session.tracks if t.name == name]
            if len(matches) != 1:
                raise AutomixError(f"reference track {name!r}: {len(matches)} tracks have that name")
            audio = track_audio(bridge, live_session.session, [matches[0].guid])
            if audio.method != "reaper":
                raise AutomixError(f"could not render reference track {name!r} through REAPER: {audio.reason}")
            reference_path = audio.stems[matches[0].guid]
            session = restrict(session, [t.guid for t in session.tracks if t.guid != matches[0].guid])
        else:
            reference_path = Path(reference)
            if not reference_path.exists():
                raise AutomixError(f"reference file {reference_path} does not exist")
        return _compute_and_apply(
            bridge, session, progress, dry_run, unbatched,
            lambda render: mix_session(session, [reference_path], balance_options=balancing, match_options=matching,
                                       config=config, progress=progress, renderer=render, stem_dir=stems),
            faders_changed, _reporter(report_path, plots, mix_report, draw_mix),
        )

    with contextlib.ExitStack() as stack:  # --plot: the stage-1 stems are kept until the pictures are drawn
        stems = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="automix-stems-"))) if plots else None
        _finish(progress, run)


@click.group("reaper")
def reaper() -> None:
    """Set REAPER up for the live bridge."""


@reaper.command("install")
@click.option("--resource-path", type=click.Path(path_type=Path, file_okay=False),
              help="REAPER's resource folder (default: the standard one for this OS).")
@click.option("--keymap", is_flag=True, help="Also write a key map with suggested shortcuts.")
@click.option("--web-port", type=int, default=2307, show_default=True,
              help="Port of the web interface install adds, through which reapy finds REAPER.")
def install_cmd(resource_path, keymap, web_port) -> None:
    """Register the Automix actions, enable Python ReaScript and reapy (backs up every file it edits)."""
    from .install import install

    for line in install(resource_path, keymap=keymap, web_port=web_port).lines():
        click.echo(line)


@reaper.command("uninstall")
@click.option("--resource-path", type=click.Path(path_type=Path, file_okay=False),
              help="REAPER's resource folder (default: the standard one for this OS).")
def uninstall_cmd(resource_path) -> None:
    """Restore the files install changed from their backups."""
    from .install import uninstall

    for line in uninstall(resource_path).lines():
        click.echo(line)


@reaper.command("calibrate")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the tables (default: the user config folder).")
@click.option("--web-port", type=int, help="REAPER's web interface port (default 2307).")
def calibrate_cmd(output, web_port) -> None:
    """Measure ReaComp/ReaEQ parameter mappings from the running REAPER."""
    from .calibrate import calibrate

    result = calibrate(_connect(web_port), output)
    for fx, tables in result["fx"].items():
        click.echo(f"{fx}: " + ", ".join(f"{t['name']} ({len(t['points'])} points)" for t in tables.values()))
    click.echo(f"written to {result['file']} ({result['round_trips']} round-trips, "
               f"{len(result['dropped'])} targets outside the plug-ins' ranges)")


def main() -> None:
    """Entry point of the worker REAPER's actions start (``python -m reaper_automix.live.worker``)."""
    group = click.Group(commands={"live": live, "reaper": reaper})
    try:
        group.main(prog_name="reaper-automix", standalone_mode=False)
    except AutomixError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
