"""Runs that end badly: outputs and options checked before any audio work, all outputs or none, non-finite audio
named, references checked, temporary folders and worker processes gone however the run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from reaper_automix import cleanup
from reaper_automix.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_projects import SR, AudioTrack, harmonic_tone, pink_noise, write_project  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def small_project(folder: Path, seconds: float = 1.0, n_tracks: int = 3) -> Path:
    rng = np.random.default_rng(7)
    n = int(seconds * SR)
    tracks = [AudioTrack("Band", depth=1)]
    tracks += [AudioTrack(f"T{i}", pink_noise(n, rng), gain_db=-3 * i) for i in range(n_tracks - 1)]
    tracks.append(AudioTrack("Last", harmonic_tone(n, 110.0), depth=-1))
    return write_project(folder, tracks)


@pytest.fixture
def no_analysis(monkeypatch):
    """Fail loudly if the run gets as far as the analysis."""
    from reaper_automix import stage1

    def refuse(*args, **kwargs):
        raise AssertionError("the analysis started before the options were checked")

    monkeypatch.setattr(stage1, "balance_session", refuse)


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def said(result) -> str:
    """The CLI's output with the terminal's line wrapping undone."""
    return " ".join(result.output.split())


def test_existing_output_is_refused_before_the_analysis_naming_force(tmp_path, no_analysis):
    project = small_project(tmp_path)
    out = tmp_path / "out.rpp"
    out.write_text("mine")
    result = run("balance", str(project), "-o", str(out))
    assert result.exit_code == 2 and "--force" in said(result) and "exists" in said(result)
    assert out.read_text() == "mine"


@pytest.mark.parametrize("args, message", [
    (["--report", "/nonexistent/r.json"], "does not exist"),
    (["--preview", "x.xyz"], "unknown audio extension"),
    (["--preview", "x.mp3"], "does not fit MP3"),
    (["--report", "{folder}"], "is a directory"),  # click refuses it
    (["--report", "{project}"], "overwrite the project being read"),
    (["--report", "{folder}/same.wav", "--preview", "{folder}/same.wav"], "same file"),
    (["-o", "{project}"], "--in-place"),
    (["-o", "{folder}/no/such/out.rpp"], "does not exist"),
])
def test_bad_outputs_are_refused_before_anything_is_computed_or_written(tmp_path, no_analysis, args, message):
    project = small_project(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a.format(folder=tmp_path, project=project) for a in args]
    if args[0] == "--preview" and "/" not in args[1]:
        args[1] = str(tmp_path / args[1])
    result = run("balance", str(project), *args)
    assert result.exit_code == 2, result.output
    assert message in said(result) and "Traceback" not in said(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_analyze_report_into_a_bad_place_is_refused_first(tmp_path, no_analysis):
    project = small_project(tmp_path)
    (tmp_path / "file").write_text("x")
    result = run("analyze", str(project), "--report", str(tmp_path / "file" / "r.json"))
    assert result.exit_code == 2 and "is not a folder" in said(result)


def _obey_permissions() -> None:
    """``preexec_fn`` for root: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so the
    program exec'd next obeys permission bits as any user does (a folder's owner without ``w`` cannot write
    in it)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def run_unprivileged(*args: str) -> subprocess.CompletedProcess:
    """The CLI in a child process that cannot write where permissions forbid it, even when we run as root."""
    preexec = _obey_permissions if os.geteuid() == 0 else None
    try:
        return subprocess.run([sys.executable, "-c", "from reaper_automix.cli import main; main()", *args],
                              env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                              timeout=120, preexec_fn=preexec)
    except subprocess.SubprocessError as exc:
        if "preexec_fn" in str(exc):  # a container without CAP_SETPCAP: root cannot be made to obey
            pytest.skip(f"cannot drop root's permission override here ({exc})")
        raise


@pytest.mark.parametrize("command", ["balance-in-place", "analyze-report"])
def test_a_read_only_folder_is_refused_first_even_as_root(tmp_path, command):
    project = small_project(tmp_path / "ro")
    folder = tmp_path / "ro"
    before = sorted(p.name for p in folder.iterdir())
    folder.chmod(0o555)
    try:
        if command == "balance-in-place":
            result = run_unprivileged("balance", str(project), "--in-place", "--method", "lufs")
        else:
            result = run_unprivileged("analyze", str(project), "--report", str(folder / "r.json"))
    finally:
        folder.chmod(0o755)
    message = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, message
    assert f"cannot write in {folder}" in message and "Permission denied" in message, message
    assert "Traceback" not in message
    assert sorted(p.name for p in folder.iterdir()) == before


def test_outputs_are_written_together_or_not_at_all(tmp_path, monkeypatch):
    from reaper_automix.errors import AutomixError
    from reaper_automix.rpp import apply

    project = small_project(tmp_path)

    def full_disk(*args, **kwargs):
        raise AutomixError("disk full (simulated)")

    monkeypatch.setattr(apply, "write_project", full_disk)
    result = run("balance", str(project), "-o", str(tmp_path / "o.rpp"), "--report", str(tmp_path / "r.json"),
                 "--preview", str(tmp_path / "p.wav"), "--workers", "1")
    assert result.exit_code == 2 and "disk full" in said(result)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["media", "song.rpp"], names  # no report, no preview, no temporary files
    monkeypatch.undo()
    result = run("balance", str(project), "-o", str(tmp_path / "o.rpp"), "--report", str(tmp_path / "r.json"),
                 "--preview", str(tmp_path / "p.wav"), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media", "o.rpp", "p.wav", "r.json", "song.rpp"]


def test_non_finite_media_is_named(tmp_path):
    project = small_project(tmp_path)
    media = tmp_path / "media" / "t01.wav"
    audio, rate = sf.read(media, dtype="float32")
    audio[1000] = np.nan
    sf.write(media, audio, rate, subtype="FLOAT")
    result = run("balance", str(project), "--workers", "1")
    assert result.exit_code == 2
    assert "non-finite" in said(result) and "t01.wav" in said(result) and "frame 1000" in said(result)


@pytest.mark.parametrize("kind, message", [
    ("nan", "non-finite"),
    ("8k", "8000 Hz"),
    ("short", "too short"),
])
def test_unusable_references_are_refused_with_the_reason(tmp_path, kind, message):
    from reaper_automix.matching.features import check_reference, load_reference

    rng = np.random.default_rng(2)
    rate = 8000 if kind == "8k" else 48000
    seconds = 2 if kind == "short" else 8
    x = (0.1 * rng.standard_normal((rate * seconds, 2))).astype(np.float32)
    if kind == "nan":
        x[500, 1] = np.inf
    path = tmp_path / "ref.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    from reaper_automix.errors import AutomixError

    with pytest.raises(AutomixError, match=message):
        check_reference(path)
        load_reference(path, 48000)


def test_mono_reference_is_accepted_with_a_warning_that_says_why(tmp_path):
    from reaper_automix.matching.features import check_reference

    path = tmp_path / "mono.wav"
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(48000 * 6)).astype(np.float32), 48000)
    (warning,) = check_reference(path)
    assert "mono" in warning and "width" in warning


# --- ending by signal -----------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has ended
        return f.read().split(")")[-1].split()[0] != "Z"


def _start_balance(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    project = small_project(tmp_path / "p", seconds=20.0, n_tracks=8)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", "from reaper_automix.cli import main; main()", "balance", str(project), "--workers", "2",
                             "--method", "lufs", "-o", str(tmp_path / "out.rpp")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if list(tmp.glob("automix-stems-*")) and len(_children(proc.pid)) >= 2:
            return proc, tmp
        if proc.poll() is not None:
            pytest.fail(f"balance ended before it could be interrupted: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("balance never started its workers")


def test_sigterm_removes_the_temp_folder_and_the_workers(tmp_path):
    proc, tmp = _start_balance(tmp_path)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers)
    assert list(tmp.iterdir()) == []
    assert not (tmp_path / "out.rpp").exists()


def test_sigkill_takes_the_workers_along_and_the_next_run_sweeps_the_folder(tmp_path):
    proc, tmp = _start_balance(tmp_path)
    workers = _children(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "workers outlived a SIGKILLed parent"
    left = list(tmp.glob("automix-stems-*"))
    assert left  # SIGKILL cannot be handled: the folder stays until the next run
    assert cleanup.sweep_stale(tmp, min_age_s=0) == left and list(tmp.iterdir()) == []


def test_sweep_keeps_folders_of_running_processes(tmp_path):
    mine = tmp_path / f"automix-stems-{os.getpid()}-abc"
    mine.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"automix-stems-{dead.pid}-xyz"
    stale.mkdir()
    other = tmp_path / "automix-stems-notapid"
    other.mkdir()
    assert cleanup.sweep_stale(tmp_path, min_age_s=0) == [stale]
    assert mine.exists() and other.exists()


# --- re-runs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["balance", "mix", "mix --engine search"])
def test_a_rerun_on_its_own_output_is_byte_identical(tmp_path, command):
    """'Quiet' needs more than the fader's +12 dB: the first run puts the rest into its take volume, so the
    second run renders different (float32) stems, and the stage-2 search lands a few 1e-5 away from its first
    answer: within the search's settling tolerance, the file keeps its FX and pans."""
    rng = np.random.default_rng(4)
    n = 3 * SR
    project = write_project(tmp_path, [
        AudioTrack("Band", depth=1), AudioTrack("Loud", pink_noise(n, rng)),
        AudioTrack("Quiet", pink_noise(n, rng), gain_db=-30),  # its fader ends at the +12 dB cap
        AudioTrack("Tone", harmonic_tone(n, 220.0), depth=-1, gain_db=-12),
        AudioTrack("Solo", pink_noise(n, rng), gain_db=-6),
    ])
    extra = []
    command, *engine = command.split()
    if command == "mix":  # the default engine, and the search (which the re-run tolerance is about)
        reference = tmp_path / "ref.wav"
        sf.write(reference, (0.1 * rng.standard_normal((48000 * 8, 2))).astype(np.float32), 48000)
        extra = ["-r", str(reference), *engine]
    first, second = tmp_path / "first.rpp", tmp_path / "second.rpp"
    assert run(command, str(project), *extra, "-o", str(first), "--workers", "1").exit_code == 0
    assert first.read_bytes() != project.read_bytes()
    assert run(command, str(first), *extra, "-o", str(second), "--workers", "1").exit_code == 0
    assert second.read_bytes() == first.read_bytes()


def test_recomputation_noise_leaves_a_line_alone():
    from reaper_automix.rpp.document import Line
    from reaper_automix.rpp.edit import _set_fields

    line = Line("    VOLPAN 0.99820133727 0.99066390650443 -1 -1 1")
    _set_fields(line, {1: 0.99820133727 * (1 + 3e-9), 2: 0.99066390646097})
    assert line.raw == "    VOLPAN 0.99820133727 0.99066390650443 -1 -1 1"
    _set_fields(line, {2: 0.5})
    assert line.tokens[1:3] == ["0.99820133727", "0.5"]
