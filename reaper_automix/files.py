"""Writing output files atomically (a temporary file in the same folder, renamed over the target), with the
permissions a file created by the user's programs gets: ``0o666`` less the umask (``tempfile`` alone would
leave ``0o600``)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

_umask: int | None = None
_umask_lock = threading.Lock()


def user_file_mode() -> int:
    """``0o666`` less the process umask: what ``open(path, "w")`` would create."""
    global _umask
    with _umask_lock:  # two threads reading it at once would leave the temporary value set
        if _umask is None:  # there is no way to read the umask without setting it
            _umask = os.umask(0o022)
            os.umask(_umask)
        return 0o666 & ~_umask


def write_atomic(path: Path | str, write: Callable[[str], None], *, mode: int | None = None) -> None:
    """``write(temporary_path)`` fills a temporary file beside ``path``, which then replaces ``path`` with
    ``mode`` (default: :func:`user_file_mode`); on any failure the temporary file is removed and ``path`` is
    untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, user_file_mode() if mode is None else mode)
        fd = os.open(tmp, os.O_RDONLY)  # on disk before the rename, so a crash leaves the old file or the new one
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path | str, data: bytes, *, mode: int | None = None) -> None:
    """:func:`write_atomic` of ``data``."""
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(data), mode=mode)
