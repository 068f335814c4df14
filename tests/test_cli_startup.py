"""CLI start-up: `info` and `--help` must not import the heavy libraries that only the audio commands need.

Checked by the modules a fresh interpreter has loaded after running the command (not by timing: the machines
are noisy). Importing scipy.signal alone takes about a second, numba and torch several.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_projects import AudioTrack, harmonic_tone, write_project

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "numba", "torch", "pesto", "matplotlib", "rich.progress", "concurrent.futures.process")

_PROBE = """
import json, sys
from reaper_automix.cli import main
try:
    main(sys.argv[1:], prog_name="reaper-automix")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def loaded_modules(*arguments: str) -> tuple[str, set[str]]:
    """Run the CLI with ``arguments`` in a fresh interpreter: (its stdout, the modules it had loaded)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", _PROBE, *arguments], capture_output=True, text=True, env=env,
                          timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return done.stdout, set(report["modules"])


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    tone = harmonic_tone(44100, 220.0)
    tracks = [
        AudioTrack("Drums", depth=1),
        AudioTrack("Kick", tone),
        AudioTrack("Snare", 0.5 * tone, depth=-1),
        AudioTrack("Bass", np.zeros(44100, dtype=np.float32)),
    ]
    return write_project(tmp_path_factory.mktemp("startup"), tracks)


def test_info_loads_no_heavy_library(project):
    stdout, modules = loaded_modules("info", str(project))
    assert "Snare" in stdout and "all media found" in stdout  # the command really ran
    assert heavy(modules) == []


def test_help_loads_no_heavy_library():
    stdout, modules = loaded_modules("--help")
    assert "balance" in stdout
    assert heavy(modules) == []


def test_probe_sees_heavy_imports(project):
    """The check can fail: `analyze` needs the analysis kernels, which load numba and scipy."""
    _, modules = loaded_modules("analyze", str(project))
    assert "numba" in heavy(modules)


def test_balance_loads_no_scipy_signal(tmp_path):
    """The default balance of sounding tracks (centroid band, first-order filters; on one worker, so the analysis
    runs in this process) never imports scipy.signal, about a second of every run's start-up. (A silent track
    is measured by the plain BS.1770 path, which does.)"""
    tone = harmonic_tone(44100, 220.0)
    project = write_project(tmp_path, [AudioTrack("Keys", depth=1), AudioTrack("A", tone),
                                       AudioTrack("B", 0.3 * harmonic_tone(44100, 330.0), depth=-1)])
    _, modules = loaded_modules("balance", str(project), "--workers", "1")
    assert "numba" in heavy(modules)  # it really analysed
    assert not any(m == "scipy.signal" or m.startswith("scipy.signal.") for m in modules)
