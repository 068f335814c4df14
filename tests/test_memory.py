"""A session that would need more memory than the machine has is refused, with the numbers, before any audio is
rendered (a crafted 9,000,000 s item: 3 TiB per track buffer)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from reaper_automix import memory
from reaper_automix.cli import main
from reaper_automix.errors import AutomixError
from reaper_automix.session import Item, Session, Source, SourceKind, Take, Track
from tests.rpp_helpers import TrackSpec, project_lines

GIB = 1024**3


def session_of(seconds: float, rate: int = 44100, path: str = "/songs/long.rpp") -> Session:
    take = Take(source=Source(SourceKind.AUDIO, Path("/songs/a.wav"), "WAVE"))
    return Session(Path(path), rate, (Track(0, "A", "{0}", items=(Item(0.0, seconds, take),)),))


def test_estimate_follows_length_workers_and_stage():
    one = memory.estimate_memory(session_of(10.0), workers=1)
    assert one.samples == 441000 and one.buffer_bytes == 2 * 441000 * 4 and one.processes == 1
    assert one.total_bytes == int(memory.PROCESS_BASE_BYTES + memory.WORKER_BUFFERS * one.buffer_bytes)
    longer = memory.estimate_memory(session_of(20.0), workers=1)
    assert longer.total_bytes - one.total_bytes == pytest.approx(memory.WORKER_BUFFERS * one.buffer_bytes, abs=1)
    two = memory.estimate_memory(session_of(10.0), workers=2)
    assert two.processes == 3 and two.total_bytes > one.total_bytes
    mix = memory.estimate_memory(session_of(10.0), workers=2, stage="mix", groups=4)
    assert mix.total_bytes - two.total_bytes == pytest.approx(
        memory.TORCH_BASE_BYTES + (4 * memory.STAGE2_BUFFERS_PER_GROUP + memory.STAGE2_BUFFERS_FIXED)
        * two.buffer_bytes, abs=1)


def test_a_session_too_big_for_the_machine_names_the_project_and_the_numbers():
    session = session_of(3600.0)  # one hour: 1.18 GiB per track buffer
    with pytest.raises(AutomixError) as err:
        memory.check_memory(session, workers=2, available_bytes=4 * GIB)
    text = str(err.value)
    assert text.startswith("/songs/long.rpp: the session is 3,600 s long at 44100 Hz")
    assert "1.18 GiB" in text and "4.0 GiB is available" in text and "with --workers 1 it would need" in text
    assert memory.check_memory(session, workers=1, available_bytes=8 * GIB).samples == 3600 * 44100


def test_nothing_is_refused_where_the_machine_does_not_say(monkeypatch):
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: None)
    assert memory.check_memory(session_of(1e7), workers=2).buffer_bytes == 2 * 441 * 10**9 * 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_available_memory_is_read_from_the_system():
    available = memory.available_memory_bytes()
    assert available is not None and 0 < available < 1 << 50


def crafted(tmp_path: Path) -> Path:
    """A real 1 s WAV in an item that says it is 9,000,000 s long (the reader accepts up to 1e7 s)."""
    sf.write(tmp_path / "a.wav", np.zeros((44100, 2), dtype=np.float32), 44100, subtype="FLOAT")
    item = ["<ITEM", "  POSITION 0", "  LENGTH 9000000", "  <SOURCE WAVE", '    FILE "a.wav"', "  >", ">"]
    path = tmp_path / "huge.rpp"
    path.write_text("\n".join(project_lines([TrackSpec("A", body=item)])) + "\n")
    return path


@pytest.mark.parametrize("command", ["balance", "analyze", "mix"])
def test_the_commands_refuse_it_before_rendering(tmp_path, monkeypatch, command):
    from reaper_automix.audio import render

    def refuse(*args, **kwargs):
        raise AssertionError("rendering started")

    monkeypatch.setattr(render, "render_track", refuse)
    project = crafted(tmp_path)
    args = [command, str(project), "--workers", "1"]
    if command == "mix":
        args += ["-r", str(tmp_path / "a.wav")]
    result = CliRunner().invoke(main, args)
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert f"{project}: the session is 9,000,000 s long" in said and "GiB of memory" in said
    assert "Traceback" not in said and not (tmp_path / "huge-automix.rpp").exists()


@pytest.mark.parametrize("command", ["balance", "mix"])
def test_the_live_commands_refuse_it_before_rendering(tmp_path, monkeypatch, command):
    """The same check on the open project (stand-in REAPER host): refused with the numbers, nothing changed."""
    from reaper_automix.audio import render
    from reaper_automix.rpp.reader import load_session
    from tests.live_harness.process import Host, spec_from_session

    def refuse(*args, **kwargs):
        raise AssertionError("rendering started")

    monkeypatch.setattr(render, "render_track", refuse)
    session, _ = load_session(crafted(tmp_path))
    with Host(spec_from_session(session), tmp_path / "host") as host:
        args = ["live", command, "--web-port", str(host.web_port), "--workers", "1"]
        if command == "mix":
            args += ["--reference", str(tmp_path / "a.wav")]
        result = CliRunner().invoke(main, args)
        dump = host.stop()
    said = " ".join(result.output.split())
    assert result.exit_code != 0, said
    assert "the session is 9,000,000 s long" in said and "GiB of memory" in said and "Traceback" not in said
    assert dump["undo"] == [] and [t["volume"] for t in dump["tracks"]] == [t.volume for t in session.tracks]
