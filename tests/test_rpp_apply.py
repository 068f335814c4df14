"""Writing a ChangeSet into .rpp files: only the needed lines change, the input is never lost."""

from __future__ import annotations

import difflib
import shutil

import pytest

from reaper_automix.changes import ChangeSet, FaderChange, TakeGainChange
from reaper_automix.errors import AutomixError
from reaper_automix.rpp.apply import write_project
from reaper_automix.rpp.reader import load_session
from rpp_helpers import FIXTURES

EXVERTUS = FIXTURES / "exvertus_test_track.rpp"
PERLENCE = FIXTURES / "perlence-rpp_vst.RPP"


def changed_lines(a: bytes, b: bytes) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(a.decode().splitlines(), b.decode().splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.fixture
def exvertus(tmp_path):
    path = tmp_path / "song.rpp"
    shutil.copy(EXVERTUS, path)
    return path


def test_fader_change_rewrites_one_line(exvertus, tmp_path):
    session, doc = load_session(exvertus)
    track = session.tracks[1]
    changes = ChangeSet("t", faders=(FaderChange(track.guid, track.name, track.volume, 0.5),))
    out = write_project(doc, session, changes, tmp_path / "out.rpp")
    diff = changed_lines(exvertus.read_bytes(), out.path.read_bytes())
    assert len(diff) == 2
    assert diff[0][1:].split()[0] == "VOLPAN"
    assert diff[1][1:].split()[:2] == ["VOLPAN", "0.5"]
    assert diff[0][1:].split()[2:] == diff[1][1:].split()[2:]  # pan and the rest of the line untouched
    again, _ = load_session(out.path)
    assert again.tracks[1].volume == pytest.approx(0.5)
    assert [t.volume for i, t in enumerate(again.tracks) if i != 1] == [
        t.volume for i, t in enumerate(session.tracks) if i != 1
    ]


def test_crlf_file_keeps_its_line_endings(tmp_path):
    path = tmp_path / "crlf.RPP"
    shutil.copy(PERLENCE, path)
    session, doc = load_session(path)
    track = session.tracks[0]
    out = write_project(doc, session, ChangeSet("t", faders=(FaderChange(track.guid, track.name, 1.0, 2.0),)),
                        tmp_path / "o.RPP")
    data = out.path.read_bytes()
    assert data.count(b"\r\n") == PERLENCE.read_bytes().count(b"\r\n")
    assert len(changed_lines(PERLENCE.read_bytes(), data)) == 2


def test_take_gain_scales_audio_takes_and_keeps_polarity(exvertus, tmp_path):
    session, doc = load_session(exvertus)
    track = next(t for t in session.tracks if any(i.is_audio for i in t.items))
    changes = ChangeSet("t", take_gains=(TakeGainChange(track.guid, track.name, 6.0),))
    out = write_project(doc, session, changes, tmp_path / "out.rpp")
    again, _ = load_session(out.path)
    new_track = again.tracks[track.index]
    for before, after in zip(track.items, new_track.items):
        if before.is_audio:
            assert after.take.volume == pytest.approx(before.take.volume * 10 ** (6 / 20))
        else:
            assert after.take == before.take


def test_input_is_only_replaced_in_place_with_a_backup(exvertus):
    original = exvertus.read_bytes()
    session, doc = load_session(exvertus)
    track = session.tracks[0]
    changes = ChangeSet("t", faders=(FaderChange(track.guid, track.name, 1.0, 0.25),))
    with pytest.raises(AutomixError, match="--in-place"):
        write_project(doc, session, changes, exvertus)
    assert exvertus.read_bytes() == original
    session, doc = load_session(exvertus)
    written = write_project(doc, session, changes, exvertus, in_place=True)
    assert written.backup is not None and written.backup.read_bytes() == original
    assert load_session(exvertus)[0].tracks[0].volume == pytest.approx(0.25)


def test_existing_output_needs_force(exvertus, tmp_path):
    target = tmp_path / "taken.rpp"
    target.write_text("precious")
    session, doc = load_session(exvertus)
    with pytest.raises(AutomixError, match="exists"):
        write_project(doc, session, ChangeSet("t"), target)
    assert target.read_text() == "precious"
    write_project(doc, session, ChangeSet("t"), target, force=True)
    assert target.read_bytes() == exvertus.read_bytes()


def test_output_in_another_folder_keeps_media_resolving(exvertus, tmp_path):
    session, doc = load_session(exvertus)
    sub = tmp_path / "renders" / "v2"
    sub.mkdir(parents=True)
    out = write_project(doc, session, ChangeSet("t"), sub / "moved.rpp")
    moved, _ = load_session(out.path)
    files_before = [i.take.source.file for t in session.tracks for i in t.items if i.is_audio]
    files_after = [i.take.source.file for t in moved.tracks for i in t.items if i.is_audio]
    assert files_before and files_after == files_before


def test_vanished_track_is_named(exvertus, tmp_path):
    session, doc = load_session(exvertus)
    changes = ChangeSet("t", faders=(FaderChange("{NOT-THERE}", "Ghost", 1.0, 0.5),))
    with pytest.raises(AutomixError, match="Ghost"):
        write_project(doc, session, changes, tmp_path / "o.rpp")
    assert not (tmp_path / "o.rpp").exists()
