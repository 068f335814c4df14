"""Hostile and damaged ``.rpp`` input: every number checked where it is read (line named), bounded sizes,
iterative depth-limited parsing and writing, regular files only, duplicate GUIDs refused."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from reaper_automix.errors import AutomixError, ProjectParseError
from reaper_automix.rpp.document import MAX_DEPTH, parse_document, read_document
from reaper_automix.rpp.reader import load_session
from tests.rpp_helpers import TrackSpec, project_lines

ITEM = ["<ITEM", "  POSITION 0", "  LENGTH 2", "  FADEIN 1 0.01 0 1 0 0 0", "  FADEOUT 1 0.01 0 1 0 0 0",
        "  SOFFS 0", "  <SOURCE WAVE", '    FILE "a.wav"', "  >", ">"]


def write(tmp_path: Path, tracks: list[TrackSpec], header: list[str] | None = None) -> Path:
    path = tmp_path / "p.rpp"
    path.write_text("\n".join(project_lines(tracks, header)) + "\n", encoding="utf-8")
    return path


def with_line(tmp_path: Path, old: str, new: str, body=ITEM) -> tuple[Path, int]:
    """A one-track project with ``old`` replaced by ``new``; returns the path and the changed line's number."""
    path = write(tmp_path, [TrackSpec("A", body=list(body))])
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(old))
    lines[index] = lines[index].replace(old, new, 1)
    path.write_text("\n".join(lines) + "\n")
    return path, index + 1


@pytest.mark.parametrize("old, new", [
    ("SAMPLERATE 48000", "SAMPLERATE nan"),
    ("SAMPLERATE 48000", "SAMPLERATE inf"),
    ("SAMPLERATE 48000", "SAMPLERATE 0.3"),
    ("SAMPLERATE 48000", "SAMPLERATE 8"),
    ("SAMPLERATE 48000", "SAMPLERATE 1e308"),
    ("ISBUS 0 0", "ISBUS 1 inf"),
    ("ISBUS 0 0", "ISBUS 1 0.5"),
    ("NCHAN 2", "NCHAN nan"),
    ("NCHAN 2", "NCHAN 100000"),
    ("FADEIN 1 0.01", "FADEIN 1 nan"),
    ("FADEOUT 1 0.01 0 1 0 0", "FADEOUT 1 0.01 0 1 0 inf"),
    ("FADEOUT 1", "FADEOUT inf"),
    ("POSITION 0", "POSITION inf"),
    ("LENGTH 2", "LENGTH nan"),
    ("LENGTH 2", "LENGTH 1e308"),
    ("LENGTH 2", "LENGTH -3"),
    ("SOFFS 0", "SOFFS nan"),
    ("VOLPAN 1 0", "VOLPAN nan 0"),
    ("VOLPAN 1 0", "VOLPAN 1 7"),
    ("VOLPAN 1 0 -1", "VOLPAN 1 0 0"),
])
def test_absurd_numbers_name_their_line(tmp_path, old, new):
    path, line = with_line(tmp_path, old, new)
    with pytest.raises(ProjectParseError) as err:
        load_session(path)
    assert err.value.line == line, str(err.value)
    assert new.split()[0] in str(err.value)


def test_sensible_numbers_still_read(tmp_path):
    path, _ = with_line(tmp_path, "LENGTH 2", "LENGTH 1000000")  # 11.6 days: read; the renderer judges memory
    assert load_session(path)[0].tracks[0].items[0].length_s == 1e6


def test_duplicate_guids_are_refused_with_both_lines(tmp_path):
    guid = "{11111111-2222-3333-4444-555555555555}"
    path = write(tmp_path, [TrackSpec("A", guid=guid), TrackSpec("B"), TrackSpec("C", guid=guid.lower())])
    lines = path.read_text().splitlines()
    first, second = [i + 1 for i, line in enumerate(lines) if line.strip().upper() == f"<TRACK {guid}"]
    with pytest.raises(ProjectParseError, match=rf"lines {first} and {second}") as err:
        load_session(path)
    assert err.value.line == second and "'C'" in str(err.value)


def nested(depth: int) -> str:
    lines = ['<REAPER_PROJECT 0.1 "7.0" 1']
    lines += ["  " * (i + 1) + f"<X{i}" for i in range(depth)]
    lines += ["  " * i + ">" for i in range(depth, 0, -1)]
    lines.append(">")
    return "\n".join(lines) + "\n"


def test_deep_nesting_is_parsed_and_written_without_recursion():
    text = nested(MAX_DEPTH - 1)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(150)  # far below the depth: any recursion would fail
    try:
        document = parse_document(text)
        assert document.to_text() == text
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 3000, 5000])
def test_too_deep_nesting_is_a_clean_error(depth):
    with pytest.raises(ProjectParseError, match=f"nested more than {MAX_DEPTH}") as err:
        parse_document(nested(depth))
    assert err.value.line == MAX_DEPTH + 1


def test_only_regular_files_are_read(tmp_path):
    with pytest.raises(AutomixError, match="not a regular file"):
        read_document(tmp_path)
    with pytest.raises(AutomixError, match="not a regular file"):
        read_document("/dev/zero")
    fifo = tmp_path / "p.rpp"
    os.mkfifo(fifo)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(pytest.raises(AutomixError, read_document, fifo)))
    worker.daemon = True
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert "not a regular file" in str(result[0].value)


def test_oversized_project_is_refused_before_reading(tmp_path, monkeypatch):
    from reaper_automix.rpp import document

    path = write(tmp_path, [TrackSpec("A")])
    monkeypatch.setattr(document, "MAX_PROJECT_BYTES", 100)
    with pytest.raises(AutomixError, match="more than a REAPER project holds"):
        read_document(path)


def test_a_media_name_too_long_for_the_file_system_is_a_named_media_problem(tmp_path):
    """``FILE "<300 chars>.wav"``: ENAMETOOLONG from the file system is reported like missing media (track and
    file named, exit 2, no traceback), and ``--skip-missing`` leaves that track out and balances the rest."""
    import numpy as np
    import soundfile as sf
    from click.testing import CliRunner

    from reaper_automix.cli import main

    rng = np.random.default_rng(0)
    for name in ("b.wav", "c.wav"):
        sf.write(tmp_path / name, 0.1 * rng.standard_normal((44100, 2)), 44100, subtype="FLOAT")
    long_name = "x" * 300 + ".wav"
    body = [line.replace('"a.wav"', f'"{long_name}"') for line in ITEM]
    others = [TrackSpec(name.upper(), body=[line.replace("a.wav", f"{name}.wav") for line in ITEM]) for name in "bc"]
    path = write(tmp_path, [TrackSpec("Long", body=body), *others])
    before = path.read_bytes()
    for args, exit_code in ((["info"], 0), (["analyze", "--workers", "1"], 2), (["balance", "--workers", "1"], 2)):
        result = CliRunner().invoke(main, [args[0], str(path), *args[1:]])
        said = " ".join(result.output.split())
        assert "File name too long" in said and "Long" in said and "Traceback" not in said, said
        assert result.exit_code == exit_code, said  # info lists the problems; it does not fail
    result = CliRunner().invoke(main, ["balance", str(path), "--workers", "1", "--skip-missing", "--method", "lufs"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p-automix.rpp").is_file() and path.read_bytes() == before
