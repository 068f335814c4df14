"""Stage 1 end to end, independent of where the session came from.

session -> groups -> per-track render + analysis (worker processes) -> Rule 1 gains -> group stems (Rule 2
offsets) -> Rule 3 between stems -> mix ceiling -> fader plan -> :class:`~reaper_automix.changes.ChangeSet`.

Audio is never held for the whole session: each worker renders one track, measures it and drops it; stems are
written to a scratch folder as float32 ``.npy`` files and memory-mapped when needed (stage 2 reads them too).
A stem is what the group's bus hears: its tracks at their Rule 1 gains, each panned by its own pan and pan law
(the track analysis is pre-fader and pre-pan), so Rule 2 and 3 measure the panned stem. A track or stem whose two
channels are identical (mono sources, centred: the usual case) is rendered, scaled, summed and measured as one
row; the stems a caller keeps (``stem_dir``) are always written as two rows. With ``preview`` the same pass also
sums the parts of the balanced mix's preview (:mod:`reaper_automix.preview`): the media is read once.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numba
import numpy as np

from .analysis.cfb import TrackAnalysis, analyse_track
from .analysis.loudness import channels_identical, sample_peak
from .analysis.pitch import PitchModel
from .audio.io import StemFile
from .audio.render import TrackRows, render_track_rows, render_tracks
from .balance import (
    TRACK_TARGET_LUFS,
    FaderPlan,
    GroupGains,
    between_group_gains,
    equal_loudness_gains,
    plan_faders,
    rule1_gain_db,
    stem_offset_db,
)
from .changes import ChangeSet, FaderChange, TakeGainChange
from .cleanup import die_with_parent, remove_folder, temp_folder
from .config import BalanceConfig
from .errors import AutomixError
from .methods import METHODS
from .grouping import Group, Grouping, group_tracks
from .preview import (
    PreviewPart,
    audible_tracks,
    current_gain_db,
    mix_from_parts,
    render_mix,
    track_pan_gains,
)
from .session import Session, Track
from .units import db_to_gain, gain_to_db

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
# Pre-fader track audio, float32 (channels, samples), a new writable array per call (stage 1 scales it in
# place once it is measured). A renderer with a true ``renders_fx`` attribute (REAPER's
# stems, --stems) delivers the tracks' plug-ins too, so return and instrument tracks are measured and nothing is
# reported as measured dry.
Renderer = Callable[[Session, Track], np.ndarray]


def renders_fx(renderer: Renderer | None) -> bool:
    """Whether ``renderer``'s audio includes the tracks' plug-ins (the offline renderer's does not)."""
    return bool(getattr(renderer, "renders_fx", False))


@dataclass(frozen=True)
class BalanceOptions:
    method: str = "centroid"
    filter_order: int = 1  # 1: the authors' first-order high-pass + low-pass; 2/4: Butterworth
    group_peak_dbfs: float = -0.1  # Rule 2: each stem peaks here before the between-group gain
    mix_ceiling_dbfs: float = -1.0  # the balanced mix peaks here
    silence_lufs: float = -60.0  # tracks quieter than this are left untouched and reported
    track_target_lufs: float = TRACK_TARGET_LUFS  # band loudness track faders aim at (group gain does the rest)
    between_groups: bool = True  # Rule 3: equal band loudness between stems (off: stems keep the Rule 2 level)
    strength: float = 1.0
    skip_missing: bool = False
    workers: int = 2

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AutomixError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise AutomixError(f"--strength must be within 0..1, got {self.strength}")
        if self.workers < 1:
            raise AutomixError(f"--workers must be at least 1, got {self.workers}")


@dataclass(frozen=True)
class GroupResult:
    group: Group
    relative_db: dict[int, float]  # Rule 1 gains
    stem_peak_dbfs: float  # the stem at the Rule 1 gains, before any group gain
    stem_band_loudness: float  # likewise
    stem_lufs: float
    gain_db: float = 0.0  # Rule 2 + Rule 3 + ceiling + settings offset: the group's final gain
    stem_file: Path | None = None


@dataclass
class BalanceResult:
    session: Session
    options: BalanceOptions
    grouping: Grouping
    analyses: dict[int, TrackAnalysis]
    excluded: dict[int, str]  # track -> reason (settings, muted, MIDI, silent, missing media)
    groups: list[GroupResult]
    plan: FaderPlan
    mix_peak_dbfs: float  # of the balanced groups summed, after the ceiling offset
    locked: frozenset[int] = frozenset()  # tracks that kept their fader (settings file)
    changes: ChangeSet = field(default_factory=lambda: ChangeSet(description=""))
    stem_dir: Path | None = None
    measured_with_fx: bool = False  # the audio included the tracks' plug-ins (see renders_fx)
    preview_mix: np.ndarray | None = None  # with ``preview``: the balanced mix, float32 (2, samples)
    preview_from_media: tuple[int, ...] = ()  # tracks the preview added from their media again (see mix_from_parts)


# --- worker side ----------------------------------------------------------------------------------------------
#
# One pass over the audio: a job renders some members of one group, analyses each, and adds it to a partial
# group stem at its Rule 1 gain. That gain is known as soon as the track is measured, because free tracks aim at
# a fixed target (the group's common level is set afterwards, on the stem, which only scales it). Locked tracks
# are summed into a separate partial stem at their own fader, since their level does not scale with the target.
#
# Everything a job needs travels with it (a _Worker holds one run's session, options and renderer), so several
# runs can share a process (batch --per-worker) or a thread pool without seeing each other's sessions.


@cache
def _pitch_model(sample_rate: int) -> PitchModel:
    """PESTO loaded once per process and rate (a few seconds): a read-only model that runs may share."""
    from .analysis.pitch import load_pitch_model

    return load_pitch_model(sample_rate)


@dataclass(frozen=True)
class _Worker:
    """One balance run as its jobs see it: what to render and how to measure (picklable, sent with each job)."""

    session: Session
    options: BalanceOptions
    render: Renderer | None  # None: the offline renderer (:func:`~reaper_automix.audio.render.render_track_rows`)
    two_row_stems: bool = True  # the group stems are kept for others: written (2, samples) even when one row

    def rows(self, track: Track) -> TrackRows:
        """The track's pre-fader audio as :class:`~reaper_automix.audio.render.TrackRows`: with ``shared``, the
        one row ``(1, samples)`` both channels equal; ``scaled_copies`` only where the offline renderer knows it."""
        if self.render is None:
            return render_track_rows(self.session, track)
        audio = self.render(self.session, track)
        if audio.ndim == 2 and audio.shape[0] == 2 and audio.dtype == np.float32 and channels_identical(audio):
            return TrackRows(audio[:1], True, False)
        return TrackRows(audio, False, False)

    def save_stem(self, path: str, stem: np.ndarray) -> None:
        """Write a group stem (one row stands for two identical channels) as :attr:`two_row_stems` says."""
        if self.two_row_stems and stem.shape[0] == 1:
            _save_row_twice(path, stem)
        else:
            np.save(path, stem)

    def analyse(self, audio: np.ndarray, *, scaled_copies: bool = False) -> TrackAnalysis:
        """Stage-1 analysis of ``audio`` (float32 ``(channels, samples)``) with this run's method;
        ``scaled_copies`` as :func:`~reaper_automix.analysis.cfb.analyse_track` takes it."""
        options = self.options
        model = _pitch_model(self.session.sample_rate) if options.method == "f0" else None
        return analyse_track(
            audio, self.session.sample_rate, options.method, pitch_model=model, filter_order=options.filter_order,
            scaled_copies=scaled_copies,
        )

    def run_job(self, job: _Job) -> _JobResult:
        """Render and measure ``job``'s tracks, summing them into partial stems (or the group's stem) on disk,
        and, with ``job.preview``, its audible tracks into the preview's parts."""
        session, options = self.session, self.options
        n = session_samples(session)
        parts = {False: None, True: None}  # locked? -> accumulator
        analyses: dict[int, TrackAnalysis] = {}
        gains_db: dict[int, float] = {}
        silent = set()
        preview = _PreviewSums(job, n)
        for t in job.tracks:
            audio, shared, scaled_copies = self.rows(session.tracks[t])
            analysis = analyses[t] = self.analyse(_two_channels(audio) if shared else audio,
                                                  scaled_copies=scaled_copies)
            if is_silent(analysis, options.silence_lufs):
                silent.add(t)
                preview.add_unchanged(t, audio)  # still heard, at its own faders
                continue
            locked = t in job.locked
            gain_db = job.gain_offsets_db[t] if locked else rule1_gain_db(
                analysis.band_loudness_lufs, job.gain_offsets_db[t], options.track_target_lufs
            )
            gains_db[t] = gain_db
            if locked:
                preview.add_unchanged(t, audio)
            else:
                preview.add_free(t, audio, gain_db)
            parts[locked] = _add_gain_and_pan(parts[locked], audio[:2], gain_db, job.pan_gains[t], n)
        for t in job.preview.only if job.preview else ():
            preview.add_unchanged(t, self.rows(session.tracks[t])[0])
        has = {locked: parts[locked] is not None for locked in parts}
        if job.stem_path is not None:
            stem = parts[False] if has[False] else np.zeros((1, n), dtype=np.float32)
            self.save_stem(job.stem_path, stem)
            measured = self.measure_stem(stem)
            return _JobResult(job, analyses, gains_db, frozenset(silent), has[False], False, measured,
                              preview.save(job.stem_path))
        for locked, path in ((False, job.free_path), (True, job.locked_path)):
            if has[locked]:
                np.save(path, parts[locked])
        return _JobResult(job, analyses, gains_db, frozenset(silent), has[False], has[True],
                          preview=preview.save(job.free_path))

    def measure_stem(self, stem: np.ndarray) -> tuple[float, TrackAnalysis]:
        """``(peak dBFS, analysis)`` of a group stem (``(2, samples)``, or one row for two identical channels)."""
        peak = sample_peak(stem)
        return gain_to_db(peak), self.analyse(_two_channels(stem) if stem.shape[0] == 1 else stem)

    def combine_stem(
        self, job: tuple[int, list[tuple[str, float]], str, frozenset[str]]
    ) -> tuple[int, float, TrackAnalysis]:
        """Sum a group's partial stems (``(path, scale)``) into its stem file, measure it, remove the parts
        (but those in the job's last element: the preview sums them later)."""
        group, parts, out, keep = job
        rows = max((StemFile(Path(path)).shape[0] for path, _ in parts), default=1)
        stem = np.zeros((rows, session_samples(self.session)), dtype=np.float32)
        for path, scale in parts:
            stem += np.float32(scale) * np.load(path)  # a one-row part adds to both channels
            if path not in keep:
                Path(path).unlink()
        self.save_stem(out, stem)
        return (group, *self.measure_stem(stem))

    def mix_peak(self, job: tuple[list[tuple[str, np.float32]], int, int]) -> float:
        """Largest absolute sample of the stems ``(path, gain)`` summed, over samples ``[start, stop)``."""
        return _peak_of_sum(*job)


def _add_gain_and_pan(acc: np.ndarray | None, rows: np.ndarray, gain_db: float, pan: tuple[float, float],
                      n: int) -> np.ndarray:
    """``acc`` plus ``rows`` (float32 ``(channels, samples)``, one row standing for two equal channels) scaled by
    ``gain_db`` and each channel by its pan gain ``pan`` = ``(left, right)``, in one compiled pass, into a
    float32 ``(channels, n)`` accumulator (``acc``, or zeros where None) that stays one row while every track
    added is one row at equal pan gains, and becomes two when one is not (its row repeated). Each sample is the
    float32 product ``row * np.float32(gain * pan gain)`` added in float32: the same sums, bit for bit, as
    scaling the rows and adding them (tested). ``rows`` is left as it is."""
    gain = db_to_gain(gain_db)
    left, right = pan
    channels = 1 if rows.shape[0] == 1 and left == right else 2
    if acc is None:
        acc = np.zeros((channels, n), dtype=np.float32)
    elif acc.shape[0] == 1 and channels == 2:
        acc = np.repeat(acc, 2, axis=0)
    scales = np.full(acc.shape[0], gain * left, dtype=np.float32) if left == right else np.array(
        [gain * left, gain * right], dtype=np.float32)
    _add_scaled_rows(acc, rows, scales)
    return acc


@numba.njit(cache=True, nogil=True)
def _add_scaled_rows(acc, rows, scales):  # pragma: no cover - compiled; tested through _add_gain_and_pan
    """``acc[c, :m] += rows[min(c, last row), :m] * scales[c]`` in float32 for each channel ``c`` of ``acc``,
    ``m`` the shorter length."""
    for c in range(acc.shape[0]):
        src = rows[min(c, rows.shape[0] - 1)]
        dst = acc[c]
        scale = scales[c]
        for i in range(min(src.shape[0], dst.shape[0])):
            dst[i] += src[i] * scale


class _PreviewSums:
    """A job's contribution to the preview (see :class:`~reaper_automix.preview.PreviewPart`): its audible tracks
    summed per key at gains known in the worker.

    A free track sounds after the plan at ``(1 - s) * now + s * (group gain + anchor shift + its Rule 1 gain)``
    dB (``s`` the strength, ``now`` its current fader path; :func:`~reaper_automix.balance.plan_faders`), so it
    is summed at ``(1 - s) * now + s * rule1`` and its group's part is scaled by ``s * (gain + shift)``; at full
    strength that is the stem's own sum, shared rather than summed twice. A track whose own fader stays (locked,
    silent, outside stage 1) sounds at ``now`` plus whatever the plan does to the nearest folder above it that the
    plan may change, its key."""

    def __init__(self, job: _Job, n: int):
        self.job, self.n = job, n
        self.sums: dict[tuple[str, int | None], np.ndarray] = {}
        self.weights: dict[tuple[str, int | None], dict[int, float]] = {}
        self.shared: dict[int, float] = {}  # free tracks heard through the stem's free part itself
        p = job.preview
        self.share_free = p is not None and p.strength == 1.0 and all(
            t in p.now_db for t in job.tracks if t not in job.locked
        )

    def _add(self, key: tuple[str, int | None], t: int, audio: np.ndarray, weight_db: float) -> None:
        self.weights.setdefault(key, {})[t] = weight_db
        if weight_db != -math.inf:
            self.sums[key] = _add_gain_and_pan(self.sums.get(key), audio[:2], weight_db, self.job.pan_gains[t],
                                               self.n)

    def add_free(self, t: int, audio: np.ndarray, rule1_db: float) -> None:
        p = self.job.preview
        if p is None or t not in p.now_db:
            return
        if self.share_free:
            self.shared[t] = rule1_db
            return
        now, s = p.now_db[t], p.strength
        # a fader at -inf is moved the whole way (plan_faders): summed at nothing, added from the media later
        weight = rule1_db if s == 1.0 else -math.inf if now == -math.inf else (1.0 - s) * now + s * rule1_db
        self._add(("group", self.job.group), t, audio, weight)

    def add_unchanged(self, t: int, audio: np.ndarray) -> None:
        p = self.job.preview
        if p is not None and t in p.now_db:
            self._add(("under", p.under[t]), t, audio, p.now_db[t])

    def save(self, free_path: str) -> tuple[PreviewPart, ...]:
        """Write the sums beside the job's parts; ``free_path``: where the job wrote its free part or stem."""
        parts = []
        if self.shared:
            parts.append(PreviewPart(Path(free_path), ("group", self.job.group), self.shared))
        for k, (key, weights) in enumerate(self.weights.items()):
            path = None  # only tracks summed at nothing: checked (and added from the media) all the same
            if key in self.sums:
                path = Path(f"{self.job.preview.path_prefix}{k}.npy")
                np.save(path, self.sums[key])
            parts.append(PreviewPart(path, key, weights))
        return tuple(parts)


def _save_row_twice(path: str, row: np.ndarray) -> None:
    """The ``.npy`` file ``np.save`` writes for the two identical rows ``row`` ``(1, samples)`` stands for, byte
    for byte, with the row written twice from memory. (``np.save`` of the broadcast view copied it through a
    buffered iterator: 0.46 s per 240 s stem against 0.06 s, profiled on 32 x 240 s: a sixth of stage 1 when a
    mix keeps its one-row stems for stage 2.)"""
    row = np.ascontiguousarray(row)
    header = {"descr": np.lib.format.dtype_to_descr(row.dtype), "fortran_order": False, "shape": (2, row.shape[1])}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        row.tofile(f)
        row.tofile(f)


def _two_channels(row: np.ndarray) -> np.ndarray:
    """A one-row signal ``(1, samples)`` as the two identical channels it stands for (a read-only view)."""
    return np.broadcast_to(row, (2, row.shape[1]))


@dataclass(frozen=True)
class _JobPreview:
    """What a job adds to the preview (:class:`_PreviewSums`)."""

    path_prefix: str  # its sums go to ``{path_prefix}{k}.npy``
    now_db: dict[int, float]  # each audible track of the job -> its fader path now (dB)
    under: dict[int, int | None]  # each audible track -> the nearest folder above it that the plan may change
    strength: float
    only: tuple[int, ...] = ()  # audible tracks outside stage 1, rendered for the preview alone


@dataclass(frozen=True)
class _Job:
    index: int  # in the list of jobs
    group: int  # -1: a job of tracks outside stage 1 (preview only)
    tracks: tuple[int, ...]
    gain_offsets_db: dict[int, float]  # free track -> settings offset; locked track -> its fader
    locked: frozenset[int]
    free_path: str
    locked_path: str
    stem_path: str | None  # set when this job holds the whole group and no locked track: it writes the stem
    pan_gains: dict[int, tuple[float, float]]  # each track -> (left, right) of its pan under its pan law
    preview: _JobPreview | None = None


@dataclass(frozen=True)
class _JobResult:
    job: _Job
    analyses: dict[int, TrackAnalysis]
    gains_db: dict[int, float]  # each summed track's gain: Rule 1 at the fixed target (free), its fader (locked)
    silent: frozenset[int]
    has_free: bool
    has_locked: bool
    stem: tuple[float, TrackAnalysis] | None = None  # (peak dBFS, analysis) when the job wrote the stem
    preview: tuple[PreviewPart, ...] = ()


def is_silent(analysis: TrackAnalysis, silence_lufs: float) -> bool:
    return not math.isfinite(analysis.lufs) or analysis.lufs < silence_lufs or not math.isfinite(
        analysis.band_loudness_lufs
    )


def keep_freed_memory() -> None:
    """Let glibc's allocator keep freed memory for reuse instead of handing it back to the system (best effort).

    Every track allocates a few signal-length arrays (80 MB for 240 s of stereo float32) and frees them; by
    default each is a fresh mapping whose pages fault in one by one on first touch: in a profile of 32 x 240 s
    that was a third of a worker's time (writing the render, scaling into the stem, measuring the stem). With
    mapping and trimming thresholds above any array, the process keeps its peak resident size (the same peak,
    held until it ends) and reuses it. Only in our own worker processes: the caller's process is left as it is.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): their allocators decide
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, (1 << 31) - 1)


def _init_pool_worker(torch_threads: int | None) -> None:
    """Set up a pool process: it dies with its parent; torch (f0) gets ``torch_threads`` threads."""
    die_with_parent()  # a killed run leaves no workers behind
    keep_freed_memory()
    if torch_threads is not None:  # only f0 needs torch (a few seconds to import: not otherwise)
        import torch

        torch.set_num_threads(torch_threads)


@contextmanager
def _pool(workers: int, torch_threads: int | None) -> Iterator[Callable]:
    """An unordered map over worker processes (in-process for one worker)."""
    if workers == 1:
        yield lambda fn, jobs: map(fn, jobs)
        return
    if torch_threads is not None:
        # Imported once here rather than in every worker (~1.2 s of CPU each): forked workers inherit the
        # modules. Only imported: no torch operation runs here, so no thread pool is carried across the fork.
        importlib.import_module("reaper_automix.analysis.pesto_net")
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_pool_worker, initargs=(torch_threads,)) as pool:

        def unordered(fn, jobs):
            futures = [pool.submit(fn, job) for job in jobs]
            return (f.result() for f in as_completed(futures))

        yield unordered


def session_samples(session: Session) -> int:
    return max(1, round(session.length_s * session.sample_rate))


def _split_jobs(
    groups: list[tuple[int, list[int]]], workers: int, tracks_total: int
) -> list[tuple[int, tuple[int, ...]]]:
    """Cut groups into pieces of at most ~1/(4 x workers) of all tracks, largest first, so that one big group
    does not leave the other workers idle."""
    size = max(1, math.ceil(tracks_total / (4 * workers)))
    pieces = [
        (g, tuple(members[i : i + size])) for g, members in groups for i in range(0, len(members), size)
    ]
    return sorted(pieces, key=lambda p: -len(p[1]))


RAM_FOLDER = Path("/dev/shm")  # Linux's memory-backed file system, where there is one


def scratch_stem_folder(session: Session, stems: int) -> Path:
    """A new temporary folder for ``stems`` stem files of ``session`` (float32 ``(2, samples)`` each), in memory
    (:data:`RAM_FOLDER`) when both it and the machine's available memory have room for twice that, else in the
    temporary directory; removed like every :func:`~reaper_automix.cleanup.temp_folder`. A temporary directory
    the user named (``TMPDIR``, ``TEMP`` or ``TMP`` set) is always used.

    A stem is written once and memory-mapped by its readers; on a disk-backed temporary directory the write
    alone took 0.55 s per 240 s stem against 0.16 s in memory (measured on the shared development machine),
    a quarter of a profiled balance run."""
    if any(os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")):
        return temp_folder()
    need = 2 * max(1, stems) * 2 * 4 * session_samples(session)
    try:
        room = os.statvfs(RAM_FOLDER)
        fits = room.f_bavail * room.f_frsize >= need and _available_memory_bytes() >= need
    except OSError:
        fits = False
    return temp_folder(parent=RAM_FOLDER if fits else None)


def _available_memory_bytes() -> int:
    """``MemAvailable`` of ``/proc/meminfo`` (Linux), 0 where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# --- orchestration --------------------------------------------------------------------------------------------


def balance_session(
    session: Session,
    options: BalanceOptions = BalanceOptions(),
    config: BalanceConfig | None = None,
    *,
    stem_dir: Path | None = None,
    progress: Progress | None = None,
    renderer: Renderer | None = None,
    preview: bool = False,
) -> BalanceResult:
    """Run stage 1 on ``session`` and return the decisions (nothing is written).

    ``stem_dir``: where group stems are kept (float32 ``.npy`` ``(2, samples)``, one per group, at the Rule 1
    gains, before the group gain); by default a temporary folder removed before returning.
    ``renderer``: where pre-fader track audio comes from (same contract as
    :func:`~reaper_automix.audio.render.render_track`, picklable for the worker processes), e.g. stems REAPER
    rendered; by default the offline renderer, whose media is checked first.
    ``preview``: also the balanced mix (:attr:`BalanceResult.preview_mix`, see :mod:`reaper_automix.preview`),
    summed from the one render of the media stage 1 makes; with a ``renderer``, rendered from the media after
    the plan (the preview does not sound the plug-ins such a renderer may include).
    """
    config = config or BalanceConfig()
    with_fx = renders_fx(renderer)
    grouping = group_tracks(session, config, renders_fx=with_fx)
    excluded: dict[int, str] = {e.track: e.reason for e in grouping.excluded}

    if renderer is None:  # the offline renderer (render_track_rows in the workers)
        # One MediaError listing every problem up front, or (skip_missing) exclusions.
        candidates = [t for g in grouping.groups for t in g.members if t not in excluded]
        for exclusion in render_tracks(session, candidates, skip_missing=options.skip_missing).excluded:
            excluded[exclusion.index] = exclusion.reason

    note = progress or (lambda *_: None)
    cleanup = stem_dir is None
    with_parts = preview and renderer is None
    # the preview's parts: at most about as many again as the stems
    stem_root = scratch_stem_folder(session, len(grouping.groups) * (2 if with_parts else 1)) if cleanup \
        else Path(stem_dir)
    stem_root.mkdir(parents=True, exist_ok=True)
    try:
        result = _balance(session, options, config, grouping, excluded, stem_root, note,
                          _Worker(session, options, renderer, two_row_stems=not cleanup), preview=with_parts)
    finally:
        if cleanup:
            remove_folder(stem_root)
    if not result.groups:
        reasons = sorted({r.split(" (")[0] for r in excluded.values()})
        raise AutomixError(
            f"{session.path}: nothing to balance: "
            + (f"every track was left out ({'; '.join(reasons)})" if reasons else "the project has no audio tracks")
        )
    result.measured_with_fx = with_fx
    if preview and renderer is not None:
        result.preview_mix = render_mix(session, result.plan, progress=progress)
    if cleanup:
        result.groups = [replace(r, stem_file=None) for r in result.groups]
    else:
        result.stem_dir = stem_root
    return result


def _balance(session, options, config, grouping, excluded, stem_root, note, worker: _Worker, *,
             preview: bool) -> BalanceResult:
    locked_all = frozenset(
        t for g in grouping.groups for t in g.members if config.is_locked(session.tracks[t].name)
    )
    members = [(gi, [t for t in g.members if t not in excluded]) for gi, g in enumerate(grouping.groups)]
    members = [(gi, m) for gi, m in members if m]
    total = sum(len(m) for _, m in members)
    pieces = _split_jobs(members, options.workers, total)
    pieces_per_group = {gi: sum(1 for g, _ in pieces if g == gi) for gi, _ in members}
    rendered = [t for _, tracks in pieces for t in tracks]
    audible = frozenset(audible_tracks(session)) if preview else frozenset()
    # audible tracks stage 1 does not render (excluded before any audio), in pieces of the same size
    only = [t for t in render_tracks(session, sorted(audible - set(rendered)), skip_missing=True).indices]
    size = max(1, math.ceil(total / (4 * options.workers)))
    only_pieces = [tuple(only[i : i + size]) for i in range(0, len(only), size)]
    pan_gains = {t: track_pan_gains(session, session.tracks[t]) for t in rendered + only}
    under = _preview_keys(session, grouping, audible)
    now_db = {t: current_gain_db(session, t) for t in audible}

    def job_preview(j: int, tracks: tuple[int, ...], only: tuple[int, ...] = ()) -> _JobPreview | None:
        if not preview:
            return None
        heard = [t for t in (*tracks, *only) if t in audible]
        return _JobPreview(str(stem_root / f"part{j:04d}-preview"), {t: now_db[t] for t in heard},
                           {t: under[t] for t in heard}, options.strength, only)

    jobs = [
        _Job(
            index=j,
            group=gi,
            tracks=tracks,
            gain_offsets_db={
                t: gain_to_db(session.tracks[t].volume) if t in locked_all
                else config.track_offset_db(session.tracks[t].name)
                for t in tracks
            },
            locked=locked_all & frozenset(tracks),
            free_path=str(stem_root / f"part{j:04d}-free.npy"),
            locked_path=str(stem_root / f"part{j:04d}-locked.npy"),
            stem_path=str(stem_root / f"stem{gi:03d}.npy")
            if pieces_per_group[gi] == 1 and not locked_all & frozenset(tracks) else None,
            pan_gains={t: pan_gains[t] for t in tracks},
            preview=job_preview(j, tracks),
        )
        for j, (gi, tracks) in enumerate(pieces)
    ]
    jobs += [
        _Job(index=j, group=-1, tracks=(), gain_offsets_db={}, locked=frozenset(), free_path="", locked_path="",
             stem_path=None, pan_gains={t: pan_gains[t] for t in piece}, preview=job_preview(j, (), piece))
        for j, piece in enumerate(only_pieces, start=len(pieces))
    ]
    analyses: dict[int, TrackAnalysis] = {}
    job_results: list[_JobResult] = []
    # torch would start one thread per core in every worker process: oversubscription
    torch_threads = 1 if options.method == "f0" and options.workers > 1 else None
    with _pool(options.workers, torch_threads) as run_map:
        done = 0
        for jr in run_map(worker.run_job, jobs):
            job_results.append(jr)
            analyses.update(jr.analyses)
            for t in jr.silent:
                excluded[t] = f"silent (below {options.silence_lufs:g} LUFS)"
            done += len(jr.job.tracks)
            note("analysing tracks", done, total)
        # in job order, not the order the workers finished in: a group's parts are summed in a fixed order, so
        # the stems (and everything after) do not change from run to run in the last float bits
        job_results.sort(key=lambda jr: jr.job.index)

        rule1: dict[int, GroupGains] = {}
        stem_files: dict[int, Path] = {}
        measured: dict[int, tuple[float, TrackAnalysis]] = {}
        combine: list[tuple[int, list[tuple[str, float]], str]] = []
        for gi, _ in members:
            group = grouping.groups[gi]
            band = {t: analyses[t].band_loudness_lufs for t in group.members if t in analyses and t not in excluded}
            if not band:
                continue
            own = [jr for jr in job_results if jr.job.group == gi]
            free_db = {t: g for jr in own for t, g in jr.gains_db.items() if t not in jr.job.locked}
            gains = rule1[gi] = equal_loudness_gains(group, free_db, band, session, config, options.track_target_lufs)
            stem_files[gi] = stem_root / f"stem{gi:03d}.npy"
            if len(own) == 1 and own[0].stem is not None:
                measured[gi] = own[0].stem
                continue
            scale = db_to_gain(gains.anchor_shift_db)  # the free parts were summed aiming at the fixed target
            parts = [(jr.job.free_path, scale) for jr in own if jr.has_free]
            parts += [(jr.job.locked_path, 1.0) for jr in own if jr.has_locked]
            keep = frozenset(str(p.path) for jr in own for p in jr.preview)
            combine.append((gi, parts, str(stem_files[gi]), keep))
        for done, (gi, peak, analysis) in enumerate(run_map(worker.combine_stem, combine), 1):
            measured[gi] = (peak, analysis)
            note("summing group stems", done, len(combine))

        groups: list[GroupResult] = []
        for gi, gains in rule1.items():
            peak, analysis = measured[gi]
            groups.append(
                GroupResult(
                    group=gains.group,
                    relative_db=gains.relative_db,
                    stem_peak_dbfs=peak,
                    stem_band_loudness=analysis.band_loudness_lufs,
                    stem_lufs=analysis.lufs,
                    stem_file=stem_files[gi],
                )
            )

        # Rule 2: each stem to the group peak; Rule 3: equal band loudness between the stems.
        offsets = {r.group.name: stem_offset_db(r.stem_peak_dbfs, options.group_peak_dbfs) for r in groups}
        if options.between_groups:
            between = between_group_gains(
                {r.group.name: r.stem_band_loudness + offsets[r.group.name] for r in groups},
                {r.group.name: config.group_offset_db(r.group.name) for r in groups},
            )
        else:
            between = {r.group.name: config.group_offset_db(r.group.name) for r in groups}
        group_db = {r.group.name: offsets[r.group.name] + between[r.group.name] for r in groups}

        # the mix peak on the workers, each over a stretch of the song
        mix_peak = _mix_peak_dbfs(groups, group_db, run_map, options.workers, worker.mix_peak)
    ceiling = options.mix_ceiling_dbfs - mix_peak if math.isfinite(mix_peak) else 0.0
    groups = [replace(r, gain_db=group_db[r.group.name] + ceiling) for r in groups]

    locked = frozenset(t for gg in rule1.values() for t in gg.locked)
    plan = plan_faders(
        session,
        {t: g for r in groups for t, g in r.relative_db.items()},
        {r.group: r.gain_db for r in groups},
        locked,
        strength=options.strength,
    )
    balanced = sum(len(r.relative_db) for r in groups)
    preview_mix, from_media = None, []
    if preview:
        shift_db = {gi: gains.anchor_shift_db for gi, gains in rule1.items()}
        gain_db = {gi: r.gain_db for gi, r in zip(rule1, groups)}  # groups are in rule1's order
        scaled = [(part, _part_scale_db(session, plan, part.key, options.strength, gain_db, shift_db))
                  for jr in job_results for part in jr.preview]
        preview_mix, from_media = mix_from_parts(session, plan, scaled, progress=note)
    return BalanceResult(
        session=session,
        options=options,
        grouping=grouping,
        analyses=analyses,
        excluded=excluded,
        groups=groups,
        plan=plan,
        mix_peak_dbfs=mix_peak + ceiling if math.isfinite(mix_peak) else mix_peak,
        locked=locked,
        changes=changes_from_plan(session, plan, f"Automix: balanced {balanced} tracks in {len(groups)} groups"),
        preview_mix=preview_mix,
        preview_from_media=tuple(from_media),
    )


def _preview_keys(session: Session, grouping: Grouping, tracks: frozenset[int]) -> dict[int, int | None]:
    """Each of ``tracks`` -> the nearest folder above it whose fader the plan may change (a group's folder or a
    member), or None: with its own fader kept, a track sounds at its current gain plus that folder's change."""
    changeable = {g.folder for g in grouping.groups if g.folder is not None}
    changeable.update(t for g in grouping.groups for t in g.members)
    return {t: next((a for a in session.ancestors(t) if a in changeable), None) for t in tracks}


def _part_scale_db(session: Session, plan: FaderPlan, key: tuple[str, int | None], strength: float,
                   gain_db: dict[int, float], shift_db: dict[int, float]) -> float:
    """The scale (dB) after ``plan`` of a preview part with ``key`` (see :class:`_PreviewSums`)."""
    kind, at = key
    if kind == "group":
        return strength * (gain_db[at] + shift_db[at])
    if at is None:
        return 0.0
    return sum(plan.fader_db(p, session) for p in session.fader_path(at)) - current_gain_db(session, at)


_PEAK_BLOCK = 1 << 20  # samples of the summed stems held at a time


def _mix_peak_dbfs(groups: list[GroupResult], group_db: dict[str, float], run_map, workers: int, peak_of) -> float:
    """Peak of the stems summed at their group gains: the song cut into one stretch per worker (whole blocks),
    each stretch's peak found by ``peak_of`` (:meth:`_Worker.mix_peak`) through ``run_map``."""
    if not groups:
        return -math.inf
    stems = [(str(r.stem_file), np.float32(db_to_gain(group_db[r.group.name]))) for r in groups]
    n = max(StemFile(Path(path)).shape[1] for path, _ in stems)
    blocks = -(-n // _PEAK_BLOCK)
    per = -(-blocks // max(1, min(workers, blocks)))
    stretches = [(stems, b * _PEAK_BLOCK, min(n, (b + per) * _PEAK_BLOCK)) for b in range(0, blocks, per)]
    return gain_to_db(max(run_map(peak_of, stretches), default=0.0))


def _peak_of_sum(stems: list[tuple[str, np.float32]], start: int, stop: int) -> float:
    """Largest absolute sample of the stems ``(path, gain)`` summed over samples ``[start, stop)``, block by block
    (a stem of one row adds to both channels)."""
    files = [(StemFile(Path(path)), gain) for path, gain in stems]
    rows = max(stem.shape[0] for stem, _ in files)
    peak = 0.0
    for first in range(start, stop, _PEAK_BLOCK):
        acc = np.zeros((rows, min(_PEAK_BLOCK, stop - first)), dtype=np.float32)
        for stem, gain in files:
            part = stem[:, first : first + acc.shape[1]]  # a copy (StemFile): scaled in place
            part *= gain
            acc[:, : part.shape[1]] += part
        peak = max(peak, float(np.max(np.abs(acc))))
    return peak


def changes_from_plan(session: Session, plan: FaderPlan, description: str) -> ChangeSet:
    """The fader and take-gain edits ``plan`` makes to ``session`` (with its notes), as a ChangeSet named
    ``description`` (the undo point's name). Stage 2 adds its buses to the ChangeSet of its own plan."""
    faders = []
    takes = []
    for t, change in sorted(plan.changes.items()):
        track = session.tracks[t]
        if change.fader_after_db != change.fader_before_db:
            faders.append(FaderChange(track.guid, track.name, track.volume, db_to_gain(change.fader_after_db)))
        if change.take_gain_db:
            takes.append(TakeGainChange(track.guid, track.name, change.take_gain_db))
    notes = tuple(f"{session.tracks[t].name}: {c.note}" for t, c in sorted(plan.changes.items()) if c.note)
    return ChangeSet(description=description, faders=tuple(faders), take_gains=tuple(takes), notes=notes)
