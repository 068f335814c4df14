"""``batch`` on small generated projects, through the local pool and real local Dask clusters on 127.0.0.1:
good projects give the same result as ``balance``/``mix`` on each, bad ones are reported, lost workers are
retried, re-runs skip what is unchanged, Ctrl-C leaves the manifest consistent."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed  # the [cluster] extra is part of the test requirements
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audio_projects import SR, AudioTrack, band_noise, harmonic_tone, pink_noise, write_project
from reaper_automix.cli import main
from reaper_automix.errors import AutomixError


N = SR  # one second of audio per track: enough for every measure, quick to analyse
GOOD = ("alpha", "beta", "gamma")
REPO = Path(__file__).resolve().parent.parent


def small_tracks(rng: np.random.Generator) -> list[AudioTrack]:
    return [
        AudioTrack("Drums", depth=1),
        AudioTrack("Kick", harmonic_tone(N, 55.0, 3), gain_db=float(rng.uniform(-12, 0))),
        AudioTrack("Hat", band_noise(N, 6000, 12000, rng), gain_db=float(rng.uniform(-30, -10)), depth=-1),
        AudioTrack("Keys", depth=1),
        AudioTrack("Piano", harmonic_tone(N, 220.0), gain_db=float(rng.uniform(-20, 0))),
        AudioTrack("Pad", pink_noise(N, rng), gain_db=float(rng.uniform(-30, -6)), depth=-1),
    ]


def make_batch(root: Path, *, broken: bool = True, names=GOOD) -> Path:
    """``root`` with one sub-folder per project (own media), plus a malformed .rpp and a project whose media
    file is gone."""
    rng = np.random.default_rng(7)
    for name in names:
        write_project(root / name, small_tracks(rng), f"{name}.rpp")
    if broken:
        (root / "broken").mkdir()
        (root / "broken" / "broken.rpp").write_text('<REAPER_PROJECT 0.1 "7.0" 0\n  <TRACK\n')
        write_project(root / "nomedia", small_tracks(rng), "nomedia.rpp")
        (root / "nomedia" / "media" / "t02.wav").unlink()
    return root


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def summary_of(result) -> dict:
    return json.loads(result.stdout)


def states(summary: dict) -> dict[str, str]:
    return {p["key"]: p["state"] for p in summary["projects"]}


def no_temporary_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def reference_balance(project: Path, tmp: Path) -> bytes:
    """What ``balance`` writes for ``project`` (one analysis process, as batch uses), for comparison."""
    target = project.with_name(f"{project.stem}-reference.rpp")
    result = CliRunner().invoke(main, ["balance", str(project), "-o", str(target), "--workers", "1"])
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    target.unlink()
    return data


@pytest.fixture(scope="module")
def cluster():
    """A Dask cluster on 127.0.0.1 with two worker processes; the scheduler gives a task up at its first lost
    worker, so that the batch's own retries are what is tested."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                         dashboard_address=None)
    try:
        yield local
    finally:
        local.close()


def test_pool_batch_balances_reports_bad_projects_and_resumes(tmp_path):
    root = make_batch(tmp_path)
    inputs = tree_digest(root)
    first = CliRunner().invoke(main, ["batch", str(root), "--recursive", "-j", "2", "--json"])
    assert first.exit_code == 1, first.output
    summary = summary_of(first)
    assert states(summary) == {"alpha/alpha.rpp": "done", "beta/beta.rpp": "done", "gamma/gamma.rpp": "done",
                               "broken/broken.rpp": "failed", "nomedia/nomedia.rpp": "failed"}
    errors = {p["key"]: p["error"] for p in summary["projects"]}
    assert "broken.rpp: line" in errors["broken/broken.rpp"]
    assert "t02.wav" in errors["nomedia/nomedia.rpp"] and "missing" in errors["nomedia/nomedia.rpp"]
    # on one machine an input error is final: every worker sees the same files
    assert [p["attempts"] for p in summary["projects"] if p["state"] == "failed"] == [1, 1]
    # the inputs are untouched, nothing half-written is left, the failed projects wrote nothing
    after = tree_digest(root)
    assert {k: after[k] for k in inputs} == inputs
    assert no_temporary_files(root)
    assert not (root / "broken" / "broken-automix.rpp").exists() and not (root / "nomedia" / "nomedia-automix.rpp").exists()
    for name in GOOD:
        assert (root / name / f"{name}-automix.rpp").read_bytes() == reference_balance(root / name / f"{name}.rpp", tmp_path)
        report = json.loads((root / name / f"{name}-automix-report.json").read_text())
        assert report["groups"]
    manifest = json.loads((root / "automix-batch.json").read_text())
    assert {k: v["state"] for k, v in manifest["projects"].items()} == states(summary)

    # a second run skips every finished project (and tries the failed ones again)
    second = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--json"])
    assert second.exit_code == 1
    assert states(summary_of(second)) == {**states(summary), **{f"{n}/{n}.rpp": "skipped" for n in GOOD}}

    # a media file changes (its time stamp is enough): only that project is redone
    media = root / "beta" / "media" / "t01.wav"
    stamp = media.stat().st_mtime_ns + 10**9
    os.utime(media, ns=(stamp, stamp))
    third = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--json"])
    assert states(summary_of(third))["beta/beta.rpp"] == "done"
    assert [k for k, s in states(summary_of(third)).items() if s == "done"] == ["beta/beta.rpp"]

    # other options make every project current no more
    louder = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--json", "--ceiling", "-3"])
    assert [k for k, s in states(summary_of(louder)).items() if s == "done"] == [f"{n}/{n}.rpp" for n in GOOD]


def test_existing_outputs_the_batch_did_not_write_are_kept_unless_force(tmp_path):
    root = make_batch(tmp_path, broken=False, names=("alpha",))
    theirs = root / "alpha" / "alpha-automix.rpp"
    theirs.write_text("someone's own file\n")
    refused = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--json"])
    assert refused.exit_code == 1 and "exists and is not this batch's output" in refused.stdout
    assert theirs.read_text() == "someone's own file\n"
    forced = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--force", "--json"])
    assert forced.exit_code == 0 and theirs.read_text().startswith("<REAPER_PROJECT")


def without_guids(text: str) -> str:
    """Project text with the GUIDs of created tracks and FX (random by design) masked."""
    return re.sub(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", "{GUID}", text)


def run_openmp_pools() -> None:
    """Start torch's and numba's OpenMP thread pools in this process, as an earlier mix in the same Python
    session does (and earlier tests in this pytest process may, depending on the order). A worker *forked*
    from such a process hangs the first time it uses those pools (GNU OpenMP is not fork-safe)."""
    import numba
    import torch

    @numba.njit(parallel=True)
    def total(x):
        s = 0.0
        for i in numba.prange(x.shape[0]):
            s += x[i]
        return s

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a = torch.ones(512, 512)
        assert float((a @ a).sum()) == 512.0**3
    finally:
        torch.set_num_threads(threads)
    assert total(np.ones(100_000)) == 100_000.0


def batch_within(seconds: float, engine, *args):
    """``run_batch(*args, engine)`` on a thread; a run still going after ``seconds`` is stopped (its workers
    terminated) and the test fails instead of hanging."""
    import threading

    from reaper_automix.batch.runner import run_batch

    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", run_batch(*args, engine)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        engine.stop()
        pytest.fail(f"the pool batch did not finish within {seconds:.0f} s (a hung worker)")
    return result["summary"]


def test_out_folder_mirrors_the_tree_and_mix_matches_the_mix_entry_point(tmp_path):
    """... and its pool workers run even when this process has used OpenMP thread pools before (they are not
    forked from it)."""
    from reaper_automix.batch.engines import PoolEngine
    from reaper_automix.batch.jobs import StageSpec, find_projects
    from reaper_automix.config import BalanceConfig
    from reaper_automix.matching import MatchOptions
    from reaper_automix.projects import Outputs, mix_project
    from reaper_automix.stage1 import BalanceOptions

    root = make_batch(tmp_path / "in", broken=False, names=("alpha",))
    reference = tmp_path / "reference.wav"
    rng = np.random.default_rng(3)
    sf.write(reference, np.stack([pink_noise(6 * SR, rng), pink_noise(6 * SR, rng)], axis=1) * 0.3, SR)
    out = tmp_path / "out"
    out.mkdir()
    fast = MatchOptions(iterations=5, rounds=1, excerpts=1, excerpt_s=1.0)
    spec = StageSpec(BalanceOptions(workers=1), BalanceConfig(), matching=fast, references=(reference,))
    run_openmp_pools()
    engine = PoolEngine(1)
    try:
        summary = batch_within(300, engine, find_projects(root, recursive=True), root, out, spec)
    finally:
        engine.close()
    assert [p.state for p in summary.projects] == ["done"] and (out / "automix-batch.json").exists()
    written = out / "alpha" / "alpha-automix.rpp"
    assert not (root / "alpha" / "alpha-automix.rpp").exists()
    # what `mix` writes to the same place (media paths rewritten relative to the output folder)
    expected = out / "alpha" / "expected.rpp"
    mix_project(root / "alpha" / "alpha.rpp", Outputs(expected), [reference], balance_options=BalanceOptions(workers=1),
                match_options=fast)
    assert without_guids(written.read_text()) == without_guids(expected.read_text())
    assert "ReaEQ" in written.read_text() and "../../in/alpha/media/t01.wav" in written.read_text()
    assert json.loads((out / "alpha" / "alpha-automix-report.json").read_text())["groups"]

    # --reference-track: the project's own track is the reference, and stays out of the mix
    n = 6 * SR  # a reference needs at least 5 s
    song = write_project(tmp_path / "own", [
        AudioTrack("Keys", depth=1),
        AudioTrack("Piano", harmonic_tone(n, 220.0), gain_db=-6),
        AudioTrack("Organ", harmonic_tone(n, 330.0, 4), gain_db=-20, depth=-1),
        AudioTrack("Reference mix", pink_noise(n, rng), gain_db=-10),
    ], "own.rpp")
    own = mix_project(song, Outputs(tmp_path / "own" / "own-automix.rpp"), reference_track="Reference mix",
                      balance_options=BalanceOptions(workers=1), match_options=fast)
    balance = own.result.balance
    ref = next(t.index for t in balance.session.tracks if t.name == "Reference mix")
    assert ref in balance.excluded and all(ref not in r.relative_db for r in balance.groups)
    assert {t for r in balance.groups for t in r.relative_db} == {1, 2}
    with pytest.raises(AutomixError, match="reference track 'Bass': 0 tracks"):
        mix_project(song, Outputs(tmp_path / "own" / "none.rpp"), reference_track="Bass", match_options=fast)


def test_bad_option_combinations_are_refused_before_any_work(tmp_path):
    root = make_batch(tmp_path, broken=False, names=("alpha",))
    for args, message in [
        (["--mix"], "needs either -r/--reference"),
        (["--reference-track", "Piano"], "need --mix"),
        (["--workers", "3"], "use -j/--jobs"),
        (["--per-worker", "2"], "--per-worker is for --cluster"),
    ]:
        result = CliRunner().invoke(main, ["batch", str(root), "--recursive", *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert not (root / "automix-batch.json").exists()


def test_cluster_batch_retries_bad_projects_on_another_worker(tmp_path, cluster):
    root = make_batch(tmp_path)
    result = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--cluster", cluster.scheduler_address,
                                       "--json"])
    assert result.exit_code == 1, result.output
    summary = summary_of(result)
    assert summary["engine"] == "cluster"
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": 2, "interrupted": 0}
    by_key = {p["key"]: p for p in summary["projects"]}
    missing = by_key["nomedia/nomedia.rpp"]
    assert missing["attempts"] == 2 and len(set(missing["workers"])) == 2  # retried on the other worker
    assert "on worker tcp://127.0.0.1:" in missing["error"] and "t02.wav" in missing["error"]
    for name in GOOD:
        assert (root / name / f"{name}-automix.rpp").read_bytes() == reference_balance(root / name / f"{name}.rpp", tmp_path)
    assert no_temporary_files(root)


def test_worker_killed_mid_batch_is_retried_with_a_correct_result(tmp_path, cluster):
    from reaper_automix.batch.engines import DaskEngine
    from reaper_automix.batch.jobs import StageSpec, find_projects
    from reaper_automix.batch.runner import run_batch
    from reaper_automix.config import BalanceConfig
    from reaper_automix.stage1 import BalanceOptions

    root = make_batch(tmp_path, broken=False)
    engine = DaskEngine(cluster.scheduler_address)
    pids = engine.client.run(os.getpid)
    killed: list[str] = []

    def kill_a_busy_worker(counts) -> None:
        if killed or not counts.running:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            busy = [w for w, keys in engine.client.processing().items() if keys and w in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGTERM)
                killed.append(busy[0])
                return
            time.sleep(0.02)

    try:
        summary = run_batch(find_projects(root, recursive=True), root, root,
                            StageSpec(BalanceOptions(workers=1), BalanceConfig()), engine, retries=1,
                            progress=kill_a_busy_worker)
    finally:
        engine.close()
    assert killed
    assert [p.state for p in summary.projects] == ["done"] * 3
    retried = [p for p in summary.projects if p.attempts == 2]
    assert len(retried) == 1 and retried[0].workers[0] == "lost"
    for name in GOOD:
        assert (root / name / f"{name}-automix.rpp").read_bytes() == reference_balance(root / name / f"{name}.rpp", tmp_path)
    assert no_temporary_files(root)
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the next test


def test_per_worker_runs_that_many_projects_at_once_on_one_worker(tmp_path):
    """``--per-worker 2`` on a one-worker local cluster: two projects run at the same time in that worker's
    process (their run times overlap), and each result is what ``balance`` writes for that project alone."""
    from reaper_automix.batch.engines import DaskEngine
    from reaper_automix.batch.jobs import ProjectJob, StageSpec, find_projects, output_paths
    from reaper_automix.config import BalanceConfig
    from reaper_automix.stage1 import BalanceOptions

    root = make_batch(tmp_path / "in", broken=False, names=("p0", "p1", "p2", "p3"))
    spec = StageSpec(BalanceOptions(workers=1), BalanceConfig())
    jobs = [ProjectJob(p.parent.name, p, *output_paths(p, root, root), spec)
            for p in find_projects(root, recursive=True)]
    engine = DaskEngine("local", workers=1, per_worker=2)
    try:
        assert engine.capacity == 2
        for job in jobs:
            engine.submit(job)
        outcomes = []
        while len(outcomes) < len(jobs):
            done = engine.next_done(timeout=120)
            assert done is not None, "a job never finished"
            outcomes.append(done[1])
    finally:
        engine.close()
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert len({o.worker for o in outcomes}) == 1
    spans = sorted((o.started_at, o.started_at + o.seconds) for o in outcomes)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans  # two at once
    for job in jobs:
        assert job.output.read_bytes() == reference_balance(job.project, tmp_path), job.key


def test_local_cluster_listens_on_loopback_and_only_to_its_own_certificate(tmp_path):
    from reaper_automix.batch.engines import DaskEngine
    from reaper_automix.batch.jobs import StageSpec, find_projects
    from reaper_automix.batch.runner import run_batch
    from reaper_automix.config import BalanceConfig
    from reaper_automix.stage1 import BalanceOptions

    root = make_batch(tmp_path, broken=False, names=("alpha",))
    engine = DaskEngine("local", workers=1)
    try:
        assert engine.address.startswith("tls://127.0.0.1:")
        port = int(engine.address.rsplit(":", 1)[1])
        for address in (engine.address, f"tcp://127.0.0.1:{port}"):  # no certificate, or no TLS at all
            with pytest.raises(Exception):  # refused in the TLS handshake, or by the client's own checks
                distributed.Client(address, timeout=3)
        summary = run_batch(find_projects(root, recursive=True), root, root,
                            StageSpec(BalanceOptions(workers=1), BalanceConfig()), engine)
    finally:
        engine.close()
    assert [p.state for p in summary.projects] == ["done"]
    assert summary.projects[0].workers[0].startswith("tls://127.0.0.1:")


def interrupt_batch(root: Path, args: list[str], *, whole_group: bool = False, start_s: float = 60.0,
                    env: dict | None = None) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``batch ROOT --recursive --json ARGS`` in a child process and send it SIGINT once the first project is
    done (to the child alone, or with ``whole_group`` to its whole process group, as a terminal's Ctrl-C does).
    Returns the finished process and its process group id."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # Ctrl-C as in a terminal's foreground job: a test run started in the background (`cmd &` in a script)
    # inherits SIGINT ignored, and Python keeps an ignored SIGINT ignored, so the child restores the default.
    command = [sys.executable, "-c", "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from reaper_automix.cli import main; main()", "batch", str(root), "--recursive", "--json", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=whole_group)
    manifest_path = root / "automix-batch.json"
    deadline = time.monotonic() + start_s
    try:
        while time.monotonic() < deadline and process.poll() is None:  # interrupt once the first project is done
            if manifest_path.exists() and '"done"' in manifest_path.read_text():
                break
            time.sleep(0.05)
        if whole_group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            (os.killpg if whole_group else os.kill)(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), process.pid


def check_interrupted_then_resume(root: Path, n: int, result: subprocess.CompletedProcess) -> None:
    """Exit 130; every finished project recorded with its files, the rest ``interrupted``; no temporary files;
    a re-run (pool) skips the finished ones and does the rest."""
    assert result.returncode == 130, result.stderr[-3000:]
    assert "run the same command again to resume" in result.stderr
    manifest = json.loads((root / "automix-batch.json").read_text())["projects"]
    assert set(manifest) == {f"p{i}/p{i}.rpp" for i in range(n)}
    done = {k for k, v in manifest.items() if v["state"] == "done"}
    assert done and done != set(manifest)
    assert {v["state"] for k, v in manifest.items() if k not in done} == {"interrupted"}
    for key in done:
        assert (root / manifest[key]["output"]).is_file() and (root / manifest[key]["report"]).is_file()
    assert no_temporary_files(root)
    assert {p["key"] for p in json.loads(result.stdout)["projects"] if p["state"] == "done"} == done

    rerun = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--json"])
    assert rerun.exit_code == 0, rerun.output
    again = states(summary_of(rerun))
    assert {k for k, s in again.items() if s == "skipped"} == done
    assert {k for k, s in again.items() if s == "done"} == set(manifest) - done


def test_ctrl_c_leaves_the_manifest_consistent_and_a_rerun_finishes(tmp_path):
    # Enough projects that the batch outlasts the manifest's first save (at most one a second) on a quiet machine,
    # where a project takes ~0.02 s: the interrupt is sent when the manifest first records a finished project.
    n = 120
    root = make_batch(tmp_path, broken=False, names=tuple(f"p{i}" for i in range(n)))
    result, _ = interrupt_batch(root, ["-j", "1"])
    check_interrupted_then_resume(root, n, result)


def _alive_in_group(pgid: int) -> list[int]:
    """Processes still running (not zombies) in process group ``pgid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_on_a_local_cluster_stops_cleanly_with_the_manifest_consistent(tmp_path):
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group: the batch and the cluster's scheduler,
    nannies and workers) during ``batch --cluster local``: exit 130, the manifest consistent, no temporary files
    or folders, no process left; a re-run finishes the rest."""
    n = 120
    root = make_batch(tmp_path / "in", broken=False, names=tuple(f"p{i}" for i in range(n)))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # the cluster's start-up is slow on a loaded machine
    result, group = interrupt_batch(root, ["--cluster", "local", "-j", "2"], whole_group=True, start_s=180.0,
                                    env={"TMPDIR": str(scratch)})
    deadline = time.monotonic() + 30
    while _alive_in_group(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive_in_group(group), "cluster processes outlived the batch"
    assert not list(scratch.glob("automix*")), list(scratch.iterdir())
    check_interrupted_then_resume(root, n, result)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_pool_batch_takes_its_workers_along(tmp_path):
    """SIGKILL cannot be handled: the pool's workers end with the batch anyway (parent-death signal), and the
    next run redoes what was running."""
    n = 120
    root = make_batch(tmp_path, broken=False, names=tuple(f"p{i}" for i in range(n)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", "from reaper_automix.cli import main; main()", "batch",
                                str(root), "--recursive", "-j", "2", "--json"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    manifest_path = root / "automix-batch.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if manifest_path.exists() and '"done"' in manifest_path.read_text() and len(_alive_in_group(process.pid)) >= 3:
            break
        time.sleep(0.05)
    try:
        assert [pid for pid in _alive_in_group(process.pid) if pid != process.pid], "the pool never started"
        process.kill()
        process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _alive_in_group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive_in_group(process.pid), "pool workers outlived a SIGKILLed batch"
    finally:
        for pid in _alive_in_group(process.pid):  # whatever a failure left behind
            os.kill(pid, signal.SIGKILL)
    rerun = CliRunner().invoke(main, ["batch", str(root), "--recursive", "--json"])
    assert rerun.exit_code == 0, rerun.output
    assert set(states(summary_of(rerun)).values()) <= {"done", "skipped"}
