"""A run's output files: all checked before any audio work starts, all written together at its end.

:func:`check_outputs` refuses, before the analysis, what would otherwise fail (or destroy something) after it: an
existing project output without ``--force``, a folder that does not exist or cannot be written, a directory
where a file should go, an unknown audio format for a preview, two outputs on one path, an output over the input.

:class:`Staged` then lets the report and previews be written under temporary names next to their
destinations; they are moved into place only after the project itself was written, and removed if anything
fails first, so a run leaves all its outputs or none.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import AutomixError


def _check_folder(path: Path, what: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise AutomixError(f"{what} {path}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise AutomixError(f"{what} {path}: {folder} is not a folder")
    try:  # a real probe: permissions, read-only file systems and quotas all show here
        fd, probe = tempfile.mkstemp(prefix=".automix-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AutomixError(f"{what} {path}: cannot write in {folder} ({exc.strerror or exc})") from None
    if path.is_dir():
        raise AutomixError(f"{what} {path} is a folder; give a file name")


def check_outputs(
    *,
    source: Path,
    project: Path | None = None,
    in_place: bool = False,
    force: bool = False,
    report: Path | None = None,
    previews: Sequence[Path] = (),
) -> None:
    """Raise AutomixError for any output of a run that could not be written (see the module docstring).

    ``source``: the project read; ``project``: the project written (``source`` itself with ``in_place``);
    ``previews``: audio files written as 32-bit float."""
    outputs: list[tuple[Path, str]] = []
    if project is not None:
        _check_folder(project, "output")
        if in_place:
            if not project.is_file():
                raise AutomixError(f"--in-place: {project} is not a file")
        else:
            if _same(project, source):
                raise AutomixError(f"the output {project} is the project itself: use --in-place to replace it "
                                   "(a backup is kept)")
            if project.exists() and not force:
                raise AutomixError(f"{project} exists; pass --force to replace it, or choose another file with -o")
        outputs.append((project, "the project output"))
    if report is not None:
        _check_folder(report, "report")
        outputs.append((report, "the report"))
    for preview in previews:
        _check_folder(preview, "preview")
        from .audio.io import check_audio_format

        check_audio_format(preview, "FLOAT")
        outputs.append((preview, "a preview"))
    for i, (path, what) in enumerate(outputs):
        if what != "the project output" and _same(path, source):
            raise AutomixError(f"{what} {path} would overwrite the project being read")
        for other, other_what in outputs[:i]:
            if _same(path, other):
                raise AutomixError(f"{what} and {other_what} are the same file ({path}); give them different names")


def _same(a: Path, b: Path) -> bool:
    try:
        return Path(os.path.abspath(a)) == Path(os.path.abspath(b)) or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


class Staged:
    """Files written under temporary names beside their destinations, then moved into place together.

    ``with Staged() as staged: write(staged.path(final)); ...; staged.commit()``: leaving the block without
    :meth:`commit` (an exception) removes what was staged."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def path(self, final: Path) -> Path:
        """Where to write ``final`` for now (same folder, same suffix, so formats follow the extension)."""
        final = Path(final)
        temporary = final.with_name(f".{final.stem}.automix-{secrets.token_hex(4)}{final.suffix}")
        self._pending.append((temporary, final))
        return temporary

    def commit(self) -> None:
        for temporary, final in self._pending:
            os.replace(temporary, final)
        self._pending.clear()

    def discard(self) -> None:
        for temporary, _ in self._pending:
            temporary.unlink(missing_ok=True)
        self._pending.clear()

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()
