"""Errors for expected problems with the user's input.

The CLI prints an :class:`AutomixError` as one clear message (naming the file, track or line) and exits
non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AutomixError(Exception):
    """An expected problem: bad input, missing media, an unreachable REAPER."""


class ProjectParseError(AutomixError):
    """A malformed ``.rpp`` file. ``line`` is 1-based."""

    def __init__(self, path: Path | str, line: int, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}: line {line}: {message}")

    def __reduce__(self):  # picklable, so it can cross from a worker process (batch) intact
        return type(self), (self.path, self.line, self.message)


class MediaError(AutomixError):
    """Media files that are missing or unreadable, all listed at once."""

    def __init__(self, problems: list[tuple[str, Path, str]]):
        # (track name, file, what is wrong)
        self.problems = problems
        lines = [f"  track {name!r}: {path} ({why})" for name, path, why in problems]
        super().__init__(
            f"{len(problems)} media file(s) missing or unreadable:\n" + "\n".join(lines)
            + "\nFix the paths, or pass --skip-missing to leave these tracks out."
        )

    def __reduce__(self):  # picklable, so it can cross from a worker process (batch) intact
        return type(self), (self.problems,)
