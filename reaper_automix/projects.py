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


@dataclass(frozen=True)
class Outputs:
    """Where a run writes: the project ``target`` (the input itself with ``in_place``, a backup kept; an existing
    one replaced only with ``force``), the JSON ``report``, and the ``previews`` files, written by
    ``write_previews`` (called with the result and a function giving each preview's staged path)."""

    target: Path
    in_place: bool = False
    force: bool = False
    report: Path | None = None
    previews: Sequence[Path] = ()
    write_previews: PreviewWriter | None = None

    def check(self, source: Path) -> None:
        """Raise AutomixError for any output that could not be written (see
        :func:`~reaper_automix.outputs.check_outputs`)."""
        check_outputs(source=source, project=self.target, in_place=self.in_place, force=self.force,
                      report=self.report, previews=self.previews)

    def write(self, document, session, result, report: dict[str, Any]) -> ProjectRun:
        """Write the report, the previews and the project together (or none of them)."""
        from .report import write_json
        from .rpp.apply import write_project

        with Staged() as staged:
            if self.report is not None:
                write_json(report, staged.path(self.report))
            if self.write_previews is not None:
                self.write_previews(result, staged.path)
            written = write_project(document, session, result.changes, self.target, in_place=self.in_place,
                                    force=self.force)
            staged.commit()
        return ProjectRun(result, report, written, self.report)


def default_output(project: Path) -> Path:
    """``PROJECT-automix.rpp`` beside ``PROJECT.rpp``."""
    return project.with_name(f"{project.stem}-automix{project.suffix}")


def balance_project(
    project: Path,
    outputs: Outputs,
    options: BalanceOptions | None = None,
    config: BalanceConfig | None = None,
    *,
    progress: Progress | None = None,
    renderer: Renderer | None = None,
) -> ProjectRun:
    """Stage 1 on ``project``, written to ``outputs``. ``renderer``: as for
    :func:`~reaper_automix.stage1.balance_session`, which also sums the preview when ``outputs`` writes one."""
    from .report import balance_report
    from .rpp.reader import load_session
    from .stage1 import BalanceOptions, balance_session

    outputs.check(project)
    options = options or BalanceOptions()
    session, document = load_session(project)
    check_memory(session, workers=options.workers)
    result = balance_session(session, options, config or BalanceConfig(), progress=progress, renderer=renderer,
                             preview=outputs.write_previews is not None)
    return outputs.write(document, result.session, result, balance_report(result))


def mix_project(
    project: Path,
    outputs: Outputs,
    references: Sequence[Path] = (),
    *,
    reference_track: str | None = None,
    balance_options: BalanceOptions | None = None,
    match_options: MatchOptions | None = None,
    config: BalanceConfig | None = None,
    progress: Progress | None = None,
    renderer: Renderer | None = None,
    stem_dir: Path | None = None,
) -> ProjectRun:
    """Stages 1 and 2 on ``project`` against ``references`` (audio files) or the project's own track named
    ``reference_track`` (rendered pre-fader by the offline renderer and left out of the mix, fader untouched),
    written to ``outputs``. ``renderer``, ``stem_dir``: as for :func:`~reaper_automix.stage2.mix_session`.
    """
    from .report import mix_report
    from .rpp.reader import load_session
    from .matching import MatchOptions
    from .stage1 import BalanceOptions
    from .stage2 import mix_session

    if bool(references) == (reference_track is not None):
        raise AutomixError("give either reference files or a reference track, not both or neither")
    outputs.check(project)
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
    return outputs.write(document, session, result, mix_report(result))


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
