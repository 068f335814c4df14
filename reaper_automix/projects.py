"""One ``.rpp`` file through a stage: read it, compute, write the new project and its JSON report.

The entry points shared by the ``balance`` and ``mix`` commands and by ``batch`` (which runs them in worker
processes or on cluster workers): nothing here prints. Every output (project, report, previews) is checked
before the project is even read (:func:`~reaper_automix.outputs.check_outputs`), and all are written together
at the end or none (:class:`~reaper_automix.outputs.Staged`). The computation itself is
:func:`~reaper_automix.stage1.balance_session` / :func:`~reaper_automix.stage2.mix_session`; the writing is
:func:`~reaper_automix.rpp.apply.write_project` (atomic, never over the input without ``in_place``).
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cleanup import remove_folder, temp_folder
from .config import BalanceConfig
from .errors import AutomixError
from .grouping import group_tracks
from .memory import check_memory
from .outputs import Staged, check_outputs

if TYPE_CHECKING:  # the pipeline (numpy, torch) is imported when a project runs, not when the CLI starts
    from .matching import MatchOptions
    from .rpp.apply import Written
    from .stage1 import BalanceOptions, BalanceResult, Progress, Renderer
    from .stage2 import MixResult


@dataclass
class ProjectRun:
    """What one project's run produced."""

    result: BalanceResult | MixResult
    report: dict[str, Any]
    written: Written
    report_path: Path | None


# Writes a run's previews: called with the result and a function that gives the (staged) path to write each
# preview file to.
PreviewWriter = Callable[[Any, Callable[[Path], Path]], None]


def _write_all(document, session, result, report, target: Path, *, in_place: bool, force: bool,
               report_path: Path | None, write_previews: PreviewWriter | None):
    from .report import write_json
    from .rpp.apply import write_project

    with Staged() as staged:
        if report_path is not None:
            write_json(report, staged.path(report_path))
        if write_previews is not None:
            write_previews(result, staged.path)
        written = write_project(document, session, result.changes, target, in_place=in_place, force=force)
        staged.commit()
    return written


def default_output(project: Path) -> Path:
    """``PROJECT-automix.rpp`` beside ``PROJECT.rpp``."""
    return project.with_name(f"{project.stem}-automix{project.suffix}")


def balance_project(
    project: Path,
    target: Path,
    options: BalanceOptions | None = None,
    config: BalanceConfig | None = None,
    *,
    in_place: bool = False,
    force: bool = False,
    report_path: Path | None = None,
    previews: Sequence[Path] = (),
    write_previews: PreviewWriter | None = None,
    progress: Progress | None = None,
    renderer: Renderer | None = None,
) -> ProjectRun:
    """Stage 1 on ``project``, written to ``target`` (and the report to ``report_path``, the ``previews`` files
    by ``write_previews``, if given). ``renderer``: as for :func:`~reaper_automix.stage1.balance_session`."""
    from .report import balance_report
    from .rpp.reader import load_session
    from .stage1 import BalanceOptions, balance_session

    check_outputs(source=project, project=target, in_place=in_place, force=force, report=report_path,
                  previews=previews)
    options = options or BalanceOptions()
    session, document = load_session(project)
    check_memory(session, workers=options.workers)
    result = balance_session(session, options, config or BalanceConfig(), progress=progress, renderer=renderer)
    report = balance_report(result)
    written = _write_all(document, result.session, result, report, target, in_place=in_place, force=force,
                         report_path=report_path, write_previews=write_previews)
    return ProjectRun(result, report, written, report_path)


def mix_project(
    project: Path,
    target: Path,
    references: Sequence[Path] = (),
    *,
    reference_track: str | None = None,
    balance_options: BalanceOptions | None = None,
    match_options: MatchOptions | None = None,
    config: BalanceConfig | None = None,
    in_place: bool = False,
    force: bool = False,
    report_path: Path | None = None,
    previews: Sequence[Path] = (),
    write_previews: PreviewWriter | None = None,
    progress: Progress | None = None,
    renderer: Renderer | None = None,
    stem_dir: Path | None = None,
) -> ProjectRun:
    """Stages 1 and 2 on ``project`` against ``references`` (audio files) or the project's own track named
    ``reference_track`` (rendered pre-fader by the offline renderer and left out of the mix, fader untouched).
    ``renderer``, ``stem_dir``: as for :func:`~reaper_automix.stage2.mix_session`.
    """
    from .report import mix_report
    from .rpp.reader import load_session
    from .matching import MatchOptions
    from .stage1 import BalanceOptions
    from .stage2 import mix_session

    if bool(references) == (reference_track is not None):
        raise AutomixError("give either reference files or a reference track, not both or neither")
    check_outputs(source=project, project=target, in_place=in_place, force=force, report=report_path,
                  previews=previews)
    config = config or BalanceConfig()
    balance_options = balance_options or BalanceOptions()
    session, document = load_session(project)
    if reference_track is not None:
        config = replace(config, exclude=config.exclude + (glob.escape(reference_track),))
    check_memory(session, workers=balance_options.workers, stage="mix",
                 groups=len(group_tracks(session, config).groups))
    scratch = temp_folder("automix-reference-")
    try:
        if reference_track is not None:
            references = [_render_reference_track(session, reference_track, scratch)]
        result = mix_session(session, references, balance_options=balance_options,
                             match_options=match_options or MatchOptions(), config=config, progress=progress,
                             renderer=renderer, stem_dir=stem_dir)
    finally:
        remove_folder(scratch)
    report = mix_report(result)
    written = _write_all(document, session, result, report, target, in_place=in_place, force=force,
                         report_path=report_path, write_previews=write_previews)
    return ProjectRun(result, report, written, report_path)


def _render_reference_track(session, name: str, folder: Path) -> Path:
    from .audio.io import write_audio
    from .audio.render import render_track

    matches = [t for t in session.tracks if t.name == name]
    if len(matches) != 1:
        raise AutomixError(f"{session.path}: reference track {name!r}: {len(matches)} tracks have that name")
    if not matches[0].audio_items:
        raise AutomixError(f"{session.path}: reference track {name!r} has no audio items")
    path = folder / "reference.wav"
    write_audio(path, render_track(session, matches[0]), session.sample_rate, subtype="FLOAT")
    return path
