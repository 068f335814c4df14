"""The REAPER action "Automix: Render stems for offline analysis..." in the stand-in host: it sets the render to
pre-fader stems of the chosen tracks into PROJECT-stems/, renders, restores the selection and records the
tracks; the offline commands then find and use those stems."""

from __future__ import annotations

import json
import re

import numpy as np
from click.testing import CliRunner

from audio_projects import AudioTrack, pink_noise, write_project
from reaper_automix.audio.stems import load_stems, stems_folder
from reaper_automix.cli import main
from reaper_automix.live.reapack import SCRIPTS_DIR
from reaper_automix.rpp.fx import fx_facts
from reaper_automix.rpp.reader import load_session
from tests.live_harness.process import Host, spec_from_session

SCRIPT = SCRIPTS_DIR / "automix_render_stems_dialog.py"


def _project(tmp_path):
    rng = np.random.default_rng(4)
    path = write_project(tmp_path, [
        AudioTrack("Drums", depth=1), AudioTrack("Kick", pink_noise(8820, rng)),
        AudioTrack("Snare", pink_noise(8820, rng), gain_db=-6, depth=-1), AudioTrack("Bass", pink_noise(8820, rng)),
    ])
    session, _ = load_session(path)
    return path, session


def _run(tmp_path, session, answer, selected=()):
    spec = spec_from_session(session, user_inputs=[answer])
    for t in spec["tracks"]:
        t["selected"] = t["name"] in selected
    with Host(spec, tmp_path / "host", scripts=(SCRIPT,)) as host:
        dump = host.stop()
    return dump


def test_all_sounding_tracks_rendered_recorded_and_used_offline(tmp_path):
    path, session = _project(tmp_path)
    dump = _run(tmp_path, session, "all", selected=("Snare",))
    folder = stems_folder(path)
    assert sorted(dump["rendered"]) == ["2 - Kick.wav", "3 - Snare.wav", "4 - Bass.wav"]  # not the empty folder
    assert [t["name"] for t in dump["tracks"] if t["selected"]] == ["Snare"]  # the user's selection is back
    manifest = json.loads((folder / "automix-stems.json").read_text())
    assert [(t["number"], t["name"], t["guid"]) for t in manifest["tracks"]] == [
        (t.index + 1, t.name, t.guid) for t in session.tracks[1:]]
    renderer = load_stems(session, folder, [1, 2, 3])
    assert set(renderer.files) == {t.guid for t in session.tracks[1:]}
    result = CliRunner().invoke(main, ["analyze", str(path), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "measuring the stems REAPER rendered in" in " ".join(result.output.split())


def test_selected_tracks_only(tmp_path):
    path, session = _project(tmp_path)
    dump = _run(tmp_path, session, "selected", selected=("Kick",))
    assert dump["rendered"] == ["2 - Kick.wav"]
    manifest = json.loads((stems_folder(path) / "automix-stems.json").read_text())
    assert [t["name"] for t in manifest["tracks"]] == ["Kick"]


def test_headless_twin_uses_the_remembered_choice(tmp_path):
    path, session = _project(tmp_path)
    spec = spec_from_session(session, ext_state={"reaper_automix/stems_tracks": "selected"})
    spec["tracks"][2]["selected"] = True
    with Host(spec, tmp_path / "host", scripts=(SCRIPTS_DIR / "automix_render_stems.py",)) as host:
        dump = host.stop()
    assert dump["rendered"] == ["3 - Snare.wav"]


def test_cancelled_dialog_renders_nothing(tmp_path):
    path, session = _project(tmp_path)
    spec = spec_from_session(session)  # no answer: the dialog is cancelled
    with Host(spec, tmp_path / "host", scripts=(SCRIPT,)) as host:
        dump = host.stop()
    assert dump["rendered"] == [] and not stems_folder(path).exists()


def test_the_scripts_render_settings_are_the_data_tables():
    text = SCRIPT.read_text(encoding="utf-8")
    facts = fx_facts()["stems"]
    assert re.search(rf"^RENDER_SETTINGS = {facts['render_settings']}\b", text, re.M)
    assert re.search(rf"^BOUNDS_FLAG = {facts['bounds_flag']}\b", text, re.M)
    assert f'PATTERN = "{facts["pattern"]}"' in text
    assert f'FOLDER_SUFFIX = "{facts["folder_suffix"]}"' in text
    assert f'MANIFEST = "{facts["manifest"]}"' in text
