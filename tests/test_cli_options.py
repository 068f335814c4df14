"""The command line as a user meets it: every option explained in --help, --version from the one version
source, errors on one unwrapped line when output is not a terminal, `live` commands with their offline
twins' options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from reaper_automix import __version__
from reaper_automix.cli import main

REPO = Path(__file__).resolve().parents[1]


def commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix}{name} ")


def test_every_option_has_help_text():
    missing = [f"{name} {opt.opts[-1]}" for name, command in commands(main) for opt in command.params
               if isinstance(opt, click.Option) and not opt.help and opt.name not in ("help", "version")]
    assert not missing, missing


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="60")
    return subprocess.run([sys.executable, "-m", "reaper_automix.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_version_and_an_unwrapped_error_off_a_terminal(tmp_path):
    done = run_cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.split()[-1] == __version__
    project = tmp_path / ("a-rather-long-folder-name-" * 4) / "my-song-with-a-long-name.rpp"
    done = run_cli("info", str(project), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(project) in lines[0], done.stderr
    assert "\x1b[" not in done.stderr  # no colour codes in a file or pipe


def test_live_commands_take_their_offline_twins_options():
    # --stems/--no-stems: live mode renders through REAPER, plug-ins included, so it needs no stems;
    # --reference-track NAME is spelt --reference track:NAME live
    offline_only = {"output", "in_place", "force", "preview", "project", "references", "reference_track",
                    "stems_dir", "no_stems"}
    live = main.commands["live"]
    for name in ("balance", "mix"):
        offline = {p.name for p in main.commands[name].params} - offline_only
        missing = offline - {p.name for p in live.commands[name].params}
        assert not missing, (name, missing)


def test_a_live_error_is_printed_once_and_ends_the_progress_file(tmp_path):
    progress = tmp_path / "progress.log"
    done = run_cli("live", "balance", "--web-port", "1", "--progress-file", str(progress), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("REAPER is not reachable") == 1, done.stderr
    assert progress.read_text().splitlines()[-1].startswith("ERROR: REAPER is not reachable")
