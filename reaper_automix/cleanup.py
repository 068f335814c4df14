"""Temporary folders and worker processes that do not outlive a run, however it ends.

- :func:`temp_folder` makes a folder in the temporary directory named ``<prefix><pid>-<random>``; it is
  removed by :func:`remove_folder`, at interpreter exit, and on SIGTERM/SIGHUP once :func:`handle_termination`
  is installed (the handler stops the worker processes and raises SystemExit, so ``finally`` blocks and exit
  handlers run).
- A SIGKILL leaves the folder behind: :func:`sweep_stale` (called by :func:`temp_folder`) removes the folders of
  this tool whose process no longer runs.
- :func:`die_with_parent`, called in a worker process, makes it end when its parent does (Linux: the kernel's
  parent-death signal; elsewhere a watchdog thread that polls the parent).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

PREFIXES = ("automix-stems-", "automix_stems_", "automix-reference-")  # every temporary folder this tool makes starts with one of these
_STALE = re.compile(r"^(?:automix-stems-|automix_stems_|automix-reference-)(\d+)-")
_owned: set[Path] = set()
_lock = threading.Lock()


def temp_folder(prefix: str = "automix-stems-", parent: Path | None = None) -> Path:
    """A new temporary folder in ``parent`` (the temporary directory by default), removed at exit or termination
    at the latest (see the module docstring); stale folders in ``parent`` are swept first."""
    if prefix not in PREFIXES:
        raise ValueError(f"temporary folder prefix {prefix!r} is not one of {PREFIXES}")
    sweep_stale(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    with _lock:
        if not _owned:
            atexit.register(remove_all)
        _owned.add(folder)
    return folder


def remove_folder(folder: Path) -> None:
    """Remove a folder made by :func:`temp_folder` (and forget it)."""
    shutil.rmtree(folder, ignore_errors=True)
    with _lock:
        _owned.discard(Path(folder))


def remove_all() -> None:
    """Remove every folder this process made and has not removed yet."""
    with _lock:
        folders = list(_owned)
        _owned.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_stale(folder: Path | None = None, min_age_s: float = 60.0) -> list[Path]:
    """Remove this tool's temporary folders (in ``folder``, the temporary directory by default) whose process no
    longer runs and that are at least ``min_age_s`` old; returns what was removed."""
    root = Path(folder or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _STALE.match(entry.name)
        if not match or int(match.group(1)) == os.getpid():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
                continue
        except OSError:
            continue
        if now - info.st_mtime >= min_age_s and not _running(int(match.group(1))):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _terminate(signum, frame) -> None:
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
    remove_all()
    raise SystemExit(128 + signum)


def handle_termination() -> None:
    """On SIGTERM/SIGHUP: stop the worker processes, remove the temporary folders and exit (128 + signal)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)


def die_with_parent() -> None:
    """End this (worker) process when the process that started it ends, even by SIGKILL.

    A worker made by a fork server (or spawned through one) is the operating system's child of that server, not
    of the process that asked for it, and the parent-death signal follows the operating system's parent: such a
    worker watches multiprocessing's sentinel of the process that started it instead (readable once it ends)."""
    import multiprocessing.connection

    starter = multiprocessing.parent_process()
    if starter is not None and starter.pid != os.getppid():
        sentinel = starter.sentinel

        def wait_for_starter() -> None:
            multiprocessing.connection.wait([sentinel])
            os._exit(1)

        threading.Thread(target=wait_for_starter, name="die-with-parent", daemon=True).start()
        return
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            if libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before the request took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
