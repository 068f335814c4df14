"""Fuzzing: mutated REAPER-written fixtures (bytes, lines, numbers) and mutated small projects with media.

Each mutant must give either a session (and then a byte-identical round trip) or a clean error
(:class:`~reaper_automix.errors.AutomixError`; exit code 2 from the CLI, no traceback), within a time box, and
the input file must be left unchanged. ``FUZZ_EXAMPLES`` scales the run (the closing note reports a long run).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reaper_automix.cli import main
from reaper_automix.errors import AutomixError
from reaper_automix.rpp.document import parse_document
from reaper_automix.rpp.reader import load_session
from tests.rpp_helpers import fixture_paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_projects import AudioTrack, harmonic_tone, pink_noise, write_project  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CLI_EXAMPLES = int(os.environ.get("FUZZ_CLI_EXAMPLES", "12"))
FIXTURE_BYTES = {p.name: p.read_bytes() for p in fixture_paths()}
HOSTILE_NUMBERS = ["nan", "inf", "-inf", "1e308", "-1e308", "0", "-1", "1e-320", "99999999999999999999", "0.3",
                   "8", "-0", "1e6", "4294967296", "x"]
_NUMBER = re.compile(rb"(?<![\w.{-])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.}-])")


@st.composite
def mutants(draw, originals: dict[str, bytes]) -> bytes:
    data = bytearray(originals[draw(st.sampled_from(sorted(originals)))])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["byte", "insert", "delete", "line_delete", "line_dup", "line_swap", "number"]))
        if kind in ("byte", "insert", "delete"):
            at = draw(st.integers(0, max(0, len(data) - 1)))
            if kind == "byte" and data:
                data[at] = draw(st.integers(0, 255))
            elif kind == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            else:
                del data[at : at + draw(st.integers(1, 64))]
            continue
        lines = bytes(data).split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if kind == "line_delete":
            del lines[i]
        elif kind == "line_dup":
            lines.insert(i, lines[i])
        elif kind == "line_swap":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            numbers = list(_NUMBER.finditer(lines[i]))
            if numbers:
                m = numbers[draw(st.integers(0, len(numbers) - 1))]
                value = draw(st.sampled_from(HOSTILE_NUMBERS)).encode()
                lines[i] = lines[i][: m.start()] + value + lines[i][m.end() :]
        data = bytearray(b"\n".join(lines))
    return bytes(data)


TRIED = {"parse": 0, "parsed": 0, "refused": 0, "balance": 0, "balance_exit_0": 0, "balance_exit_2": 0}


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    """Say how many mutants were tried and how they ended (``pytest -s`` shows it; closing notes quote it)."""
    yield
    print(f"\nfuzz: {TRIED['parse']} mutants read ({TRIED['parsed']} parsed and round-tripped, {TRIED['refused']} "
          f"refused with a message); {TRIED['balance']} through balance ({TRIED['balance_exit_0']} exit 0, "
          f"{TRIED['balance_exit_2']} exit 2 with a message)", file=sys.stderr)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutant=mutants(FIXTURE_BYTES))
def test_mutated_fixtures_read_or_fail_cleanly(tmp_path_factory, mutant):
    path = tmp_path_factory.mktemp("fuzz") / "mutant.rpp"
    path.write_bytes(mutant)
    digest = hashlib.sha256(mutant).digest()
    start = time.monotonic()
    TRIED["parse"] += 1
    try:
        session, document = load_session(path)
    except AutomixError as exc:
        TRIED["refused"] += 1
        assert str(exc).strip()
    else:
        TRIED["parsed"] += 1
        assert document.to_bytes() == mutant  # an unedited tree is the input, byte for byte
        assert parse_document(mutant, path).to_bytes() == mutant
        assert all(np.isfinite([t.volume, t.pan]).all() for t in session.tracks)
    assert time.monotonic() - start < 20, "a mutant took more than 20 s"
    assert hashlib.sha256(path.read_bytes()).digest() == digest


@pytest.fixture(scope="module")
def small_project(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("fuzz_project")
    rng = np.random.default_rng(3)
    n = 44100  # one second
    path = write_project(folder, [
        AudioTrack("Drums", depth=1),
        AudioTrack("Kick", pink_noise(n, rng)),
        AudioTrack("Snare", pink_noise(n, rng), depth=-1, gain_db=-6),
        AudioTrack("Bass", harmonic_tone(n, 55.0)),
    ])
    return path


@settings(max_examples=CLI_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_mutated_projects_through_balance_exit_cleanly(small_project, data):
    """``balance --skip-missing`` on a mutant: exit 0 or 2 with a message, never a traceback, input unchanged."""
    original = small_project.read_bytes()
    mutant = data.draw(mutants({"p": original}))
    path = small_project.parent / "mutant.rpp"
    out = small_project.parent / "mutant-out.rpp"
    path.write_bytes(mutant)
    out.unlink(missing_ok=True)
    start = time.monotonic()
    result = CliRunner().invoke(main, ["balance", str(path), "-o", str(out), "--skip-missing", "--workers", "1"])
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exit_code == 0 or "error:" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert time.monotonic() - start < 60
    assert path.read_bytes() == mutant and small_project.read_bytes() == original
    TRIED["balance"] += 1
    TRIED[f"balance_exit_{result.exit_code}"] += 1
