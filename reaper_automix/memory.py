"""Will a session fit in memory? Checked once the project is read, before any audio is rendered.

A session's audio is never held whole: each worker renders one track at a time (``2 x samples`` float32), and the
analysis around it (filtered copies, the partial group stems it adds into) brings a worker's peak to about three
such buffers; the parent holds one stem buffer while it combines them; stage 2 holds every group stem and the
matched mix. The factors below were measured with ``benchmarks/bench_memory.py`` (peak resident memory of fresh
processes over a 2 s and a 300 s session, the difference per sample), with a margin. What the machine can
give is the kernel's ``MemAvailable`` plus free swap, bounded by the process's cgroup (container) limit; where
that cannot be read (not Linux) the check is skipped.

A session that a typo or a damaged file makes absurdly long (``LENGTH 1000000`` is 329 GiB per track buffer)
is refused with the numbers and what to change, instead of a ``MemoryError`` (or the OOM killer) midway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import AutomixError
from .session import Session

GIB = 1024**3
# Per process: the interpreter with numpy, scipy and the pipeline imported (~230 MB measured); stage 2 adds
# torch (~200 MB more).
PROCESS_BASE_BYTES = 300 * 1024**2
TORCH_BASE_BYTES = 250 * 1024**2
# Peak bytes per track buffer (2 channels x samples x 4 B), measured with benchmarks/bench_memory.py (2 s vs
# 200 s and 300 s, load ~18): a stage-1 worker process 2.95-2.97 (in-process with one worker: less); the
# stage-1 parent 0.35; the parent of a mix with 2 groups 2.6-4.4 in all. The factors below are those plus a
# margin; stage 2 is reckoned per group stem (each is held once) plus the stage-1 and matched mixes.
WORKER_BUFFERS = 3.2
PARENT_BUFFERS = 0.5
STAGE2_BUFFERS_PER_GROUP = 1.5
STAGE2_BUFFERS_FIXED = 2.0

_CGROUP_FILES = (  # (limit, usage): cgroup v2, then v1
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak resident memory a run over a session is expected to need, in bytes, with how it was reckoned."""

    total_bytes: int
    buffer_bytes: int  # one track buffer: 2 channels x the session's samples x 4 B
    samples: int
    processes: int


def estimate_memory(session: Session, *, workers: int, stage: Literal["balance", "mix"] = "balance",
                    groups: int = 0) -> MemoryEstimate:
    """Expected peak memory (bytes) of stage 1 (``"balance"``) or stages 1 and 2 (``"mix"``, with ``groups``
    group stems) over ``session`` with ``workers`` worker processes."""
    samples = max(1, round(session.length_s * session.sample_rate))
    buffer = 2 * samples * 4
    processes = 1 if workers <= 1 else workers + 1
    total = processes * PROCESS_BASE_BYTES
    if workers <= 1:
        total += WORKER_BUFFERS * buffer
    else:
        total += workers * WORKER_BUFFERS * buffer + PARENT_BUFFERS * buffer
    if stage == "mix":
        total += TORCH_BASE_BYTES + (STAGE2_BUFFERS_PER_GROUP * groups + STAGE2_BUFFERS_FIXED) * buffer
    return MemoryEstimate(int(total), buffer, samples, processes)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) reads as None


def available_memory_bytes() -> int | None:
    """Bytes this process can still get: ``MemAvailable`` + ``SwapFree`` (Linux), bounded by the cgroup's
    limit less its usage; None where the system does not say."""
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = int(value.split()[0]) * 1024  # kB
        free = fields["MemAvailable"] + fields.get("SwapFree", 0)
    except (OSError, KeyError, ValueError, IndexError):
        return None
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # v1 reports "no limit" as ~2^63
            free = min(free, max(0, limit - usage))
            break
    return free


def check_memory(session: Session, *, workers: int, stage: Literal["balance", "mix"] = "balance", groups: int = 0,
                 available_bytes: int | None = None) -> MemoryEstimate:
    """Refuse a run that would need more memory than the machine has, before anything is allocated.

    ``available_bytes``: what may be used (default: :func:`available_memory_bytes`; when unknown nothing is
    checked). Returns the estimate.

    Raises:
        AutomixError: naming the project, the session length, the estimate and what is available.
    """
    estimate = estimate_memory(session, workers=workers, stage=stage, groups=groups)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if available is not None and estimate.total_bytes > available:
        hint = ""
        if workers > 1:
            one = estimate_memory(session, workers=1, stage=stage, groups=groups).total_bytes
            hint = f"; with --workers 1 it would need {one / GIB:.1f} GiB"
        raise AutomixError(
            f"{session.path}: the session is {session.length_s:,.0f} s long at {session.sample_rate} Hz (its last "
            f"item ends there), so one track's audio is {estimate.buffer_bytes / GIB:.2f} GiB and the run "
            f"would need about {estimate.total_bytes / GIB:.1f} GiB of memory ({stage}, {workers} worker"
            f"{'s' if workers != 1 else ''}), but {available / GIB:.1f} GiB is available{hint}. Check the item "
            "positions and lengths (or shorten the project)."
        )
    return estimate

