"""Where batch jobs run: a local process pool (the default, no extra dependency) or a Dask distributed cluster
(``pip install reaper-automix[cluster]``; imported only when asked for).

Both engines have the same small contract, used by :func:`~reaper_automix.batch.runner.run_batch`:
``submit(job, avoid)`` starts a job (avoiding the named workers where the engine can), ``next_done(timeout)``
returns ``(job, outcome)`` for a finished one, where ``outcome`` is the job's
:class:`~reaper_automix.batch.jobs.JobOutcome` or the exception that lost its worker, and ``stop()`` abandons
what is running. ``capacity`` is how many jobs may run at once (the runner never submits more), and
``distributed`` says whether workers may see different files (then a project's input error is worth a retry on
another worker).
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import sys
import uuid
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..cleanup import die_with_parent
from ..errors import AutomixError
from .jobs import JobOutcome, ProjectJob, run_job

Done = tuple[ProjectJob, "JobOutcome | BaseException"]


def _plain_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def _init_pool_worker() -> None:
    # Ctrl-C is the parent's to handle (it stops the workers); a terminated worker unwinds, so the atomic
    # writers remove their temporary files; a killed batch takes its workers along.
    from ..stage1 import keep_freed_memory

    die_with_parent()
    keep_freed_memory()  # one project after another: reuse the freed buffers instead of faulting new pages in
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    warnings.formatwarning = _plain_warning


def _worker_context() -> multiprocessing.context.BaseContext:
    """Where pool workers come from: a fork server (POSIX), not a fork of the caller.

    A worker runs whole projects, with torch's and numba's OpenMP thread pools (GNU OpenMP). Those pools are not
    fork-safe: a process forked from a caller that has already run them hangs the first time it uses them (a
    batch started from a Python session that has mixed before, or the test suite). The fork server is a fresh
    process that imports the job code once and forks each worker from that clean state (about a second, once per
    caller). Windows has no fork: ``spawn`` there, as before.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class PoolEngine:
    """``workers`` local processes, one project each at a time. A lost process breaks Python's pool: the jobs
    it held are reported lost (and retried by the runner) and a fresh pool takes the next submissions."""

    name = "pool"
    distributed = False

    def __init__(self, workers: int):
        self.workers = workers
        self.capacity = workers
        self._pool: ProcessPoolExecutor | None = None
        self._done: queue.Queue[Done] = queue.Queue()
        self._running: dict[Future, ProjectJob] = {}

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_worker_context(),
                                             initializer=_init_pool_worker)
        return self._pool

    def submit(self, job: ProjectJob, avoid: tuple[str, ...] = ()) -> None:
        try:
            future = self._executor().submit(run_job, job)
        except BrokenProcessPool:
            self._discard_pool()
            future = self._executor().submit(run_job, job)
        self._running[future] = job
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        job = self._running.pop(future, None)
        if job is None or future.cancelled():
            return
        error = future.exception()
        if isinstance(error, BrokenProcessPool):
            error = AutomixError(f"worker process lost ({error})")
        self._done.put((job, error if error is not None else future.result()))

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def next_done(self, timeout: float) -> Done | None:
        try:
            job, outcome = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(outcome, BaseException) and self._pool is not None and not self._running:
            self._discard_pool()  # broken: every job it held has been reported, start afresh
        return job, outcome

    def stop(self) -> None:
        """Terminate the workers (each unwinds through its atomic writes) and wait for them."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        self._running.clear()
        # concurrent.futures has no public way to stop running calls before Python 3.14 (terminate_workers)
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise AutomixError(
            "--cluster needs Dask distributed: pip install 'reaper-automix[cluster]'"
        ) from None
    return distributed


class DaskEngine:
    """Jobs on a Dask distributed cluster: ``address`` (``tcp://HOST:PORT``, ``tls://...``; security comes from
    Dask's own configuration), or ``"local"`` for a cluster of ``workers`` processes on this machine, bound to
    127.0.0.1 and reachable only with its temporary TLS certificate (mutual TLS).

    Each worker runs at most ``per_worker`` projects at once: the runner submits no more than
    ``per_worker`` x the workers there are, and the local cluster's workers have that many threads. A job
    whose worker is lost comes back as its exception (``KilledWorker`` once the scheduler gives up on it; the
    local cluster gives up at the first loss so that the runner's ``--retries`` decide).
    """

    name = "cluster"
    distributed = True

    def __init__(self, address: str, *, workers: int = 2, per_worker: int = 1, start_timeout_s: float = 60.0):
        distributed = _import_distributed()
        self._distributed = distributed
        self._done: queue.Queue[Done] = queue.Queue()
        self._running: dict[object, ProjectJob] = {}
        self._cluster = None
        self.per_worker = per_worker
        if address == "local":
            import dask
            from distributed.security import Security

            security = Security.temporary()
            # The scheduler's and workers' HTTP servers (metrics, dashboard) listen even without a dashboard:
            # with no routes they serve nothing.
            quiet = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
            # Per project a worker spent ~50 % more processor time than a pool process (measured, 10 s projects;
            # benchmarks/profile_batch_job.py). Two causes: the nanny starts workers with
            # MALLOC_TRIM_THRESHOLD_ set, which also fixes glibc's mmap threshold, so every audio buffer is a
            # fresh mmap with its page faults (twice the system time); and the workers' periodic callbacks
            # (the statistical profiler every 10 ms, the event-loop tick every 20 ms, system and memory
            # monitors) take the GIL from the job. Without them a worker's project costs what a pool
            # process's does; the thread limits stay (one project per thread).
            lean = {
                "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1,
                                                        "OPENBLAS_NUM_THREADS": 1},
                "distributed.worker.profile.enabled": False,
                "distributed.admin.tick.interval": "1s",
                "distributed.admin.system-monitor.interval": "5s",
                "distributed.worker.memory.monitor-interval": "1s",
            }
            with dask.config.set({"distributed.scheduler.allowed-failures": 0, **quiet, **lean}):
                self._cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=per_worker, processes=True, host="127.0.0.1",
                    protocol="tls", security=security, dashboard_address=None,
                    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                )
            self.client = distributed.Client(self._cluster, security=security, timeout=start_timeout_s)
        else:
            try:
                self.client = distributed.Client(address, timeout=start_timeout_s)
            except (OSError, TimeoutError) as exc:
                raise AutomixError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
            try:
                self.client.wait_for_workers(1, timeout=start_timeout_s)
            except TimeoutError:
                self.client.close()
                raise AutomixError(f"the Dask scheduler at {address} has no workers") from None
        self.address = self.client.scheduler.address
        self._check_workers()

    def _check_workers(self) -> None:
        """Every worker must run this reaper-automix version (it needs the same environment as this machine)."""
        from .. import __version__
        from .jobs import worker_environment

        try:
            versions = self.client.run(worker_environment)
        except Exception as exc:  # the worker could not even load the function: no reaper-automix there
            self.close()
            raise AutomixError(f"cluster workers cannot run reaper-automix ({exc!r}); install the same "
                               f"reaper-automix[cluster] {__version__} on every worker") from None
        wrong = {w: v for w, v in versions.items() if v != __version__}
        if wrong:
            self.close()
            raise AutomixError(f"cluster workers run other reaper-automix versions than {__version__}: "
                               + ", ".join(f"{w}: {v}" for w, v in sorted(wrong.items())))

    def worker_addresses(self) -> list[str]:
        return sorted(self.client.scheduler_info()["workers"])

    @property
    def capacity(self) -> int:
        return max(1, len(self.worker_addresses())) * self.per_worker

    def submit(self, job: ProjectJob, avoid: tuple[str, ...] = ()) -> None:
        others = [w for w in self.worker_addresses() if w not in avoid]
        future = self.client.submit(
            run_job, job, pure=False, key=f"automix-{job.key}-{uuid.uuid4().hex}",
            workers=others or None, allow_other_workers=True, retries=0,
        )
        self._running[future] = job
        future.add_done_callback(lambda f: self._done.put((self._running.pop(f, job), f)))

    def next_done(self, timeout: float) -> Done | None:
        try:
            job, future = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        if future.status == "finished":
            return job, future.result()
        if future.status == "cancelled":
            return job, AutomixError("cancelled by the scheduler")
        return job, future.exception()

    def stop(self) -> None:
        """Cancel what is queued or running (a running project may still finish: it writes atomically)."""
        futures, self._running = list(self._running), {}
        if futures:
            self.client.cancel(futures, force=True)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
