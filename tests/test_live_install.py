"""install/uninstall on a temporary REAPER resource folder: what is written, idempotence, and a byte-identical
restore of every file."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from reaper_automix.errors import AutomixError
from reaper_automix import __version__
from reaper_automix.live.install import (INSTALLED_SCRIPTS, KEYMAP, MANIFEST, REAPACK_SCRIPTS, SCRIPTS_DIR,
                                         action_scripts, command_id, ini_get, ini_set, install, script_files,
                                         uninstall)

REAPER_INI = (b"[REAPER]\r\nlastproject=C:\\Music\\song.rpp\r\ncsurf_cnt=1\r\n"
              b"csurf_0=MCU 0 0 1 0 0 0\r\nreascript=0\r\n\r\n[verchk]\r\nlastcheck=123\r\n")
KB_INI = b'KEY 1 65 40001 0\nSCR 4 0 RSabc "Custom: mine.lua" "/home/u/mine.lua"\n'
EXTSTATE_INI = b"[other]\nkey=value with = sign\n"


@pytest.fixture
def resource(tmp_path):
    (tmp_path / "reaper.ini").write_bytes(REAPER_INI)
    (tmp_path / "reaper-kb.ini").write_bytes(KB_INI)
    (tmp_path / "reaper-extstate.ini").write_bytes(EXTSTATE_INI)
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_install_writes_what_reaper_and_reapy_read(resource):
    from reaper_automix.live.bridge import _import_reapy

    report = install(resource, keymap=True, web_port=2399)
    assert report.changed and len(report.backups) == 3
    ini = (resource / "reaper.ini").read_bytes().decode()
    assert ini_get(ini, "reaper", "reascript") == "1" and ini_get(ini, "reaper", "pythonlibdll64")
    assert "\r\nlastproject=C:\\Music\\song.rpp\r\n" in ini and "\n" not in ini.replace("\r\n", "")  # CRLF kept
    _import_reapy()
    from reapy.config.config import web_interface_exists

    assert web_interface_exists(str(resource), 2399)  # reapy's own (ConfigParser) reading agrees
    kb = (resource / "reaper-kb.ini").read_text()
    assert kb.startswith(KB_INI.decode())
    scr = re.findall(r'^SCR 4 0 (RS[0-9a-f]{40}) "Custom: (Automix: [^"]+)" "([^"]+)"$', kb, re.MULTILINE)
    assert {d for _, d, _ in scr} == {d for _, d in action_scripts()} and len(scr) == len(action_scripts()) >= 8
    # every action runs REAPER's own copy, in a folder named after the version: nothing points into the package
    copies = resource / "Scripts" / "reaper-automix" / __version__
    assert all(Path(p).parent == copies and i == command_id(Path(p)) for i, _, p in scr)
    assert sorted(p.name for p in copies.iterdir()) == sorted(p.name for p in script_files())
    assert all((copies / p.name).read_bytes() == p.read_bytes() for p in script_files())
    assert str(SCRIPTS_DIR) not in "".join(p.read_text(errors="replace") for p in resource.rglob("*") if p.is_file()
                                           and p.name != MANIFEST)
    ext = (resource / "reaper-extstate.ini").read_text()
    assert ini_get(ext, "reaper_automix", "python") == sys.executable
    server_id = command_id("automix_server.py")
    assert json.loads(ini_get(ext, "reapy", "activate_reapy_server")) == "_" + server_id  # reapy json-decodes it
    assert json.loads(ini_get(ext, "reaper_automix", "worker"))[1:] == ["-m", "reaper_automix.live.worker"]
    keymap = (resource / KEYMAP).read_text()
    assert re.search(r"^KEY 29 66 _RS[0-9a-f]{40} 0$", keymap, re.MULTILINE)


def test_reinstall_changes_nothing_and_uninstall_restores_bytes(resource):
    before = snapshot(resource)
    install(resource, keymap=True)
    after_first = snapshot(resource)
    assert install(resource, keymap=True).changed == []
    assert snapshot(resource) == after_first
    report = uninstall(resource)
    assert snapshot(resource) == before, report.lines()
    with pytest.raises(AutomixError, match="nothing to uninstall"):
        uninstall(resource)


def test_uninstall_removes_created_files_and_keeps_later_edits(tmp_path):
    (tmp_path / "reaper.ini").write_bytes(REAPER_INI)  # no kb/extstate files yet: install creates them
    install(tmp_path)
    (tmp_path / "reaper.ini").write_bytes((tmp_path / "reaper.ini").read_bytes() + b"[new]\r\nx=1\r\n")  # REAPER exit
    edited = (tmp_path / "reaper.ini").read_bytes()
    report = uninstall(tmp_path)
    assert (tmp_path / "reaper.ini").read_bytes() == REAPER_INI
    assert (tmp_path / "reaper.ini.automix-uninstalled").read_bytes() == edited
    assert not (tmp_path / "reaper-kb.ini").exists() and not (tmp_path / "reaper-extstate.ini").exists()
    assert not (tmp_path / MANIFEST).exists()
    assert any("changed since install" in c for c in report.changed)


@pytest.mark.parametrize("text,expected", [
    ("", "[s]\nk=v\n"),
    ("[s]\nk=old\nj=1\n", "[s]\nk=v\nj=1\n"),
    ("[a]\nx=1\n\n[s]\nj=1\n\n[b]\ny=2", "[a]\nx=1\n\n[s]\nj=1\nk=v\n\n[b]\ny=2"),
    ("[a]\r\nx=1", "[a]\r\nx=1\r\n[s]\r\nk=v\r\n"),
    ("[S]\nK=old\n", "[S]\nk=v\n"),  # REAPER's keys and sections are case-insensitive
])
def test_ini_set_edits_one_line(text, expected):
    assert ini_set(text, "s", "k", "v") == expected


def test_upgrade_replaces_the_older_copy_and_keeps_command_ids(resource, monkeypatch):
    import reaper_automix.live.install as inst

    before = snapshot(resource)
    monkeypatch.setattr(inst, "INSTALLED_SCRIPTS", Path("Scripts") / "reaper-automix" / "0.0.9")
    install(resource)
    old_kb = (resource / "reaper-kb.ini").read_text()
    monkeypatch.setattr(inst, "INSTALLED_SCRIPTS", INSTALLED_SCRIPTS)
    install(resource)
    assert not (resource / "Scripts" / "reaper-automix" / "0.0.9").exists()
    kb = (resource / "reaper-kb.ini").read_text()
    assert kb == old_kb.replace("/0.0.9/", f"/{__version__}/")  # same lines, same ids, same places
    uninstall(resource)
    assert snapshot(resource) == before


def test_scripts_installed_by_reapack_are_used_in_place_and_not_registered_twice(resource):
    reapack = resource / REAPACK_SCRIPTS
    reapack.mkdir(parents=True)
    for p in script_files():
        (reapack / p.name).write_bytes(p.read_bytes())
    before = snapshot(resource)
    install(resource)
    assert (resource / "reaper-kb.ini").read_bytes() == KB_INI  # ReaPack registered the actions already
    assert not (resource / INSTALLED_SCRIPTS).exists()
    ext = (resource / "reaper-extstate.ini").read_text()
    assert ini_get(ext, "reaper_automix", "worker") and ini_get(ext, "reapy", "activate_reapy_server") is None
    uninstall(resource)
    assert snapshot(resource) == before
