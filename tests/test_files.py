"""Output files get the permissions the user's umask gives new files (not tempfile's 0600), and a failed
atomic write leaves nothing behind."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import reaper_automix.files as files
from reaper_automix.audio.io import write_audio
from reaper_automix.batch.manifest import MANIFEST_NAME, Entry, Manifest
from reaper_automix.report import write_json
from reaper_automix.rpp.document import parse_document, write_document

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    files._umask = None
    yield request.param
    os.umask(old)
    files._umask = None


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_outputs_follow_the_umask(tmp_path, umask):
    expected = 0o666 & ~umask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what any other program would create
    assert mode(plain) == expected == files.user_file_mode()
    write_json({"a": 1}, tmp_path / "report.json")
    write_audio(tmp_path / "preview.wav", np.zeros((2, 100), dtype=np.float32), 44100)
    write_document(parse_document(b"<REAPER_PROJECT 0.1\n>\n"), tmp_path / "song-automix.rpp")
    Manifest(tmp_path).save()
    for name in ("report.json", "preview.wav", "song-automix.rpp", MANIFEST_NAME):
        assert mode(tmp_path / name) == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["plain.txt", "preview.wav", "report.json",
                                                                 "song-automix.rpp", MANIFEST_NAME])


def test_manifest_keeps_the_permissions_the_user_gave_it(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.save()
    os.chmod(manifest.path, 0o600)
    manifest.entries["a.rpp"] = Entry("i", "o", "done", "a-automix.rpp", "")
    manifest.save()
    assert mode(manifest.path) == 0o600 and Manifest.load(tmp_path).entries["a.rpp"].state == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_NAME]


def test_failed_write_leaves_target_and_folder_untouched(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")

    def fail(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
