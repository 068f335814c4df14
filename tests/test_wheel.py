"""The package as a user gets it: build the wheel from the source files only, install it into a fresh virtual
environment (the already-installed dependencies are reused through a path file; no network, no index), and
set a fake REAPER resource folder up with the installed command; then delete the source and check that
nothing REAPER would run pointed into it."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

from reaper_automix import __version__
from reaper_automix.live.install import action_scripts, ini_get

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "reaper_automix")
REAPER_INI = b"[REAPER]\r\nlastproject=C:\\Music\\song.rpp\r\n"


def run(args, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=300, **kwargs)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def test_wheel_installs_cli_scripts_and_data_and_sets_reaper_up(tmp_path):
    source = tmp_path / "clone"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", tmp_path / "dist", "./clone"], cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("reaper_automix-*.whl")
    assert wheel.name == f"reaper_automix-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("reaper_automix/reascripts/automix_action.py", "reaper_automix/reascripts/automix_server.py",
                   "reaper_automix/data/reaper_rpp.yaml", "reaper_automix/models/controller.safetensors",
                   "reaper_automix/models/README.md", f"reaper_automix-{__version__}.dist-info/licenses/LICENSE"):
        assert needed in names

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # the dependencies already installed here, appended after the new environment's own site-packages
    (purelib / "installed-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], cwd=tmp_path)
    shutil.rmtree(source)  # the "clone" is gone: everything must come from the installed wheel

    where = run([python, "-c", "import reaper_automix; print(reaper_automix.__file__)"], cwd=tmp_path).stdout
    assert Path(where.strip()).is_relative_to(purelib)
    cli = bin_dir / "reaper-automix"
    assert run([cli, "--version"], cwd=tmp_path).stdout.split()[-1] == __version__
    shipped = run([python, "-c", "from reaper_automix.controller.checkpoint import SHIPPED, load_checkpoint; "
                   "print(load_checkpoint().config_hash, SHIPPED)"], cwd=tmp_path).stdout.split()
    assert Path(shipped[1]).is_relative_to(purelib)  # the learned engine's weights come with the wheel

    resource = tmp_path / "REAPER"
    resource.mkdir()
    (resource / "reaper.ini").write_bytes(REAPER_INI)
    out = run([cli, "reaper", "install", "--resource-path", resource], cwd=tmp_path).stdout
    assert "Restart REAPER" in out
    kb = (resource / "reaper-kb.ini").read_text()
    actions = [line for line in kb.splitlines() if line.startswith("SCR 4 0 RS")]
    assert len(actions) == len(action_scripts()) >= 8  # every action, once
    scripts = resource / "Scripts" / "reaper-automix" / __version__
    for line in actions:
        path = Path(line.rsplit('"', 2)[-2])
        assert path.parent == scripts and path.is_file()
    ext = (resource / "reaper-extstate.ini").read_text()
    worker = json.loads(ini_get(ext, "reaper_automix", "worker"))
    assert Path(worker[0]).parent == bin_dir and ini_get(ext, "reaper_automix", "python") == worker[0]
    assert Path(ini_get(ext, "reaper_automix", "package_path")) == purelib
    everything = "".join(p.read_text(errors="replace") for p in resource.rglob("*") if p.is_file())
    assert str(source) not in everything and str(REPO) not in everything
    # the worker command REAPER's actions start works from the installed package
    assert "balance" in run(worker + ["live", "--help"], cwd=tmp_path).stdout

    assert "nothing changed" in run([cli, "reaper", "install", "--resource-path", resource], cwd=tmp_path).stdout
    run([cli, "reaper", "uninstall", "--resource-path", resource], cwd=tmp_path)
    assert sorted(p.name for p in resource.rglob("*")) == ["Scripts", "reaper.ini"]
    assert (resource / "reaper.ini").read_bytes() == REAPER_INI
