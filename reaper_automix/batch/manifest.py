"""The batch manifest, ``automix-batch.json`` in the output root: what each project's last run was and did.

Per project (keyed by its path relative to the input folder, ``/``-separated): the input's content hash (the
``.rpp`` bytes and each media file's path, size and modification time), the options hash, the state, the output
and report paths, attempts, seconds and the error. A re-run skips a project whose entry is ``done`` with the
same two hashes and whose output still exists; it redoes the rest.

The manifest also says which outputs are the batch's own: a project is *claimed* (state ``running``) before it
is started, so a re-run may replace an output the batch wrote, even one an interrupted run finished writing
after its last save, while any other existing file is left alone unless ``--force``. The file is replaced
atomically, so a reader (or a run stopped by Ctrl-C or a kill) always sees a whole manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import AutomixError
from ..files import write_bytes_atomic

MANIFEST_NAME = "automix-batch.json"
FORMAT_VERSION = 1
STATES = ("running", "done", "failed", "interrupted")


@dataclass
class Entry:
    """One project's record. Paths are relative to the output root."""

    input_hash: str
    options_hash: str
    state: str  # one of STATES
    output: str
    report: str
    attempts: int = 0
    seconds: float = 0.0
    summary: str = ""  # what the run changed, for the summary table
    error: str = ""
    workers: list[str] = field(default_factory=list)  # where each attempt ran
    finished_at: str = ""  # UTC, ISO 8601


class Manifest:
    """The manifest of one output root, loaded from and saved to ``root / automix-batch.json``."""

    def __init__(self, root: Path, entries: dict[str, Entry] | None = None):
        self.root = Path(root)
        self.entries: dict[str, Entry] = entries or {}
        self._saved_at = 0.0

    @property
    def path(self) -> Path:
        return self.root / MANIFEST_NAME

    @classmethod
    def load(cls, root: Path) -> Manifest:
        """The manifest under ``root``, or an empty one if there is none yet.

        Raises:
            AutomixError: the file exists but is not a manifest this version can read.
        """
        path = Path(root) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(root)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AutomixError(f"{path}: not a readable batch manifest ({exc}); move it away to start afresh") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION or not isinstance(data.get("projects"), dict):
            raise AutomixError(f"{path}: not a batch manifest of format {FORMAT_VERSION}; move it away to start afresh")
        names = {f.name for f in fields(Entry)}
        entries = {}
        for key, value in data["projects"].items():
            if not isinstance(value, dict) or value.get("state") not in STATES:
                raise AutomixError(f"{path}: project {key!r}: malformed entry")
            try:
                entries[key] = Entry(**{k: v for k, v in value.items() if k in names})
            except TypeError as exc:
                raise AutomixError(f"{path}: project {key!r}: malformed entry ({exc})") from None
        return cls(root, entries)

    def save(self, *, at_most_every_s: float = 0.0) -> None:
        """Write the manifest atomically; with ``at_most_every_s``, skip if the last save is more recent."""
        now = time.monotonic()
        if at_most_every_s and now - self._saved_at < at_most_every_s:
            return
        data: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "projects": {key: asdict(entry) for key, entry in sorted(self.entries.items())},
        }
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        try:  # keep permissions the user gave the manifest; a new one gets what their umask gives
            mode: int | None = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = None
        write_bytes_atomic(self.path, text.encode("utf-8"), mode=mode)
        self._saved_at = now

    def is_current(self, key: str, input_hash: str, options_hash: str) -> bool:
        """True when ``key`` finished with these hashes and its output is still there."""
        entry = self.entries.get(key)
        return (
            entry is not None
            and entry.state == "done"
            and entry.input_hash == input_hash
            and entry.options_hash == options_hash
            and (self.root / entry.output).is_file()
        )

    def owns(self, output: Path) -> bool:
        """True when ``output`` (absolute) is an output or report some run of this manifest claimed."""
        relative = _relative(output, self.root)
        return any(relative in (e.output, e.report) for e in self.entries.values())


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def file_stamp(path: Path) -> list[Any]:
    """``[path, size, mtime_ns]`` of a file, or ``[path, "missing"]``: cheap change detection for media."""
    try:
        st = os.stat(path)
    except OSError:
        return [str(path), "missing"]
    return [str(path), st.st_size, st.st_mtime_ns]


def input_hash(project: Path, media: list[Path]) -> str:
    """SHA-256 over the project's bytes and the stamps of its media files (sorted, each once)."""
    h = hashlib.sha256()
    try:
        h.update(Path(project).read_bytes())
    except OSError as exc:
        h.update(f"unreadable: {exc}".encode())
    for path in sorted(set(media)):
        h.update(json.dumps(file_stamp(path)).encode())
    return h.hexdigest()


def options_hash(options: dict[str, Any]) -> str:
    """SHA-256 of the options as canonical JSON (sorted keys; paths as text)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()
