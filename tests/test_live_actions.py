"""REAPER actions in the stand-in host: settings dialogs remembered in ExtState, selection passed on, the worker
started as a separate process (the action returns at once) and its progress printed by a deferred poll."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path


from reaper_automix.live.reapack import SCRIPTS_DIR, headers
from tests.live_harness.process import SERVER_SCRIPT, Host

STUB = Path(__file__).parent / "live_harness" / "stub_worker.py"
ACTIONS = {
    "automix_balance.py": "Automix: Balance levels within folders",
    "automix_balance_dialog.py": "Automix: Balance levels within folders...",
    "automix_mix_reference.py": "Automix: Mix to reference track",
    "automix_mix_reference_dialog.py": "Automix: Mix to reference track...",
    "automix_mix_selected.py": "Automix: Mix selected folders to reference",
    "automix_mix_selected_dialog.py": "Automix: Mix selected folders to reference...",
    "automix_cancel.py": "Automix: Cancel running job",
    "automix_render_stems_dialog.py": "Automix: Render stems for offline analysis...",
    "automix_render_stems.py": "Automix: Render stems for offline analysis",
}


def run_action(tmp_path, monkeypatch, script, *, user_inputs=(), ext_state=None, selected=(), starts=True,
               names=("Drums", "Kick", "Ref"), file_picks=(), mode="", then=None, server=True):
    """Run ``script`` in the stand-in host with the stub worker; ``then(host)`` runs once the worker started."""
    argv_file = tmp_path / "argv.json"
    argv_file.unlink(missing_ok=True)
    monkeypatch.setenv("AUTOMIX_STUB_ARGV", str(argv_file))
    monkeypatch.setenv("AUTOMIX_STUB_MODE", mode)
    tracks = [{"name": n, "guid": "{%d}" % i, "selected": n in selected} for i, n in enumerate(names)]
    tracks[0]["folder_depth"], tracks[1]["folder_depth"] = 1, -1
    state = {"reaper_automix/worker": json.dumps([sys.executable, str(STUB)]), **(ext_state or {})}
    spec = {"tracks": tracks, "user_inputs": list(user_inputs), "ext_state": state, "file_picks": list(file_picks)}
    actions = {"cancel": SCRIPTS_DIR / "automix_cancel.py", "again": SCRIPTS_DIR / script}
    scripts = (SERVER_SCRIPT, SCRIPTS_DIR / script) if server else (SCRIPTS_DIR / script,)
    with Host(spec, tmp_path, scripts=scripts, actions=actions) as host:
        done = Path(str(argv_file) + ".done")
        deadline = time.monotonic() + (15 if starts else 0.5)
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if then is not None:
            then(host)
        time.sleep(0.3)  # the poll's last ticks
        dump = host.stop()
    done.unlink(missing_ok=True)
    argv = json.loads(argv_file.read_text()) if argv_file.exists() else None
    return argv, dump


def test_dialog_action_remembers_settings_and_passes_selection(tmp_path, monkeypatch):
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance_dialog.py", user_inputs=["lufs,0.5,n"],
                            selected=("Drums",))
    assert argv[:6] == ["live", "balance", "--method", "lufs", "--strength", "0.5"]
    assert "--no-between-groups" in argv and argv[argv.index("--tracks") + 1] == "{0}"
    ext = dump["ext_state"]
    assert (ext["reaper_automix/method"], ext["reaper_automix/strength"], ext["reaper_automix/between_groups"]) == (
        "lufs", "0.5", "n")
    lines = [c.strip() for c in dump["console"] if c.startswith("Automix balance")]
    assert re.match(r"Automix balance: started \(worker \d+\)", lines[0])
    assert lines[1:] == ["Automix balance: analysing tracks: 1/2", "Automix balance: analysing tracks: 2/2",
                         "Automix balance: DONE: stub finished"]


def test_headless_twin_uses_remembered_settings_without_asking(tmp_path, monkeypatch):
    remembered = {"reaper_automix/method": "f0", "reaper_automix/strength": "0.8"}
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance.py", ext_state=remembered)
    assert argv[:6] == ["live", "balance", "--method", "f0", "--strength", "0.8"]
    assert "--tracks" not in argv and "--no-between-groups" not in argv  # no selection: whole project
    assert dump["calls"].get("GetUserInputs", 0) == 0


def test_mix_reference_track_and_file(tmp_path, monkeypatch):
    argv, _ = run_action(tmp_path, monkeypatch, "automix_mix_reference_dialog.py", user_inputs=["Ref,0.7"])
    assert argv[:6] == ["live", "mix", "--reference", "track:Ref", "--strength", "0.7"]
    ref = tmp_path / "ref.wav"
    ref.write_bytes(b"")
    argv, _ = run_action(tmp_path, monkeypatch, "automix_mix_reference.py",
                         ext_state={"reaper_automix/reference": str(ref)})
    assert argv[argv.index("--reference") + 1] == str(ref)


def test_mix_selected_folders_needs_a_selection(tmp_path, monkeypatch):
    argv, dump = run_action(tmp_path, monkeypatch, "automix_mix_selected.py",
                            ext_state={"reaper_automix/reference": "Ref"}, starts=False)
    assert argv is None and any("Select the folders" in c for c in dump["console"])


def test_missing_setup_is_reported_up_front(tmp_path, monkeypatch):
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance.py", ext_state={"reaper_automix/worker": ""},
                            starts=False)
    assert argv is None and any("reaper-automix reaper install" in c for c in dump["console"])


def test_action_headers():
    for script, description in ACTIONS.items():
        h = headers(SCRIPTS_DIR / script)
        assert h["description"] == description and "noindex" in h  # ReaPack gets them through the metapackage


def test_action_scripts_import_only_the_standard_library():
    import ast

    allowed = set(sys.stdlib_module_names) | {"reaper_python", "automix_action", "automix_render_stems_dialog"}
    for path in SCRIPTS_DIR.glob("automix_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed | {"reaper_automix"}, (path.name, name)
                if path.name != "automix_server.py":
                    assert name.split(".")[0] != "reaper_automix", path.name


def boxes(dump) -> list[str]:
    return [c for c in dump["console"] if c.startswith("[message box]")]


def test_dialog_explains_every_bad_field_and_asks_again(tmp_path, monkeypatch):
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance_dialog.py",
                            user_inputs=["xyz,1.5,maybe", "LUFS,0.25,no"])
    (box,) = boxes(dump)
    assert "Method (centroid / f0 / lufs): 'xyz' must be one of centroid / f0 / lufs" in box
    assert "Strength (0..1): '1.5' must be from 0 to 1" in box and "'maybe' must be y or n" in box
    assert argv[:6] == ["live", "balance", "--method", "lufs", "--strength", "0.25"] and "--no-between-groups" in argv
    assert dump["calls"]["GetUserInputs"] == 2 and dump["ext_state"]["reaper_automix/method"] == "lufs"


def test_bad_remembered_settings_are_explained_not_used(tmp_path, monkeypatch):
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance.py",
                            ext_state={"reaper_automix/strength": "2"}, starts=False)
    assert argv is None
    (box,) = boxes(dump)
    assert "'2' must be from 0 to 1" in box and "'...' version" in box


def test_reference_file_picker_and_unknown_reference(tmp_path, monkeypatch):
    ref = tmp_path / "ref mix.wav"
    ref.write_bytes(b"")
    argv, dump = run_action(tmp_path, monkeypatch, "automix_mix_reference_dialog.py", user_inputs=[",0.7"],
                            file_picks=[str(ref)])
    assert argv[argv.index("--reference") + 1] == str(ref) and dump["calls"]["GetUserFileNameForRead"] == 1
    assert dump["ext_state"]["reaper_automix/reference"] == str(ref)  # remembered for the headless twin
    argv, dump = run_action(tmp_path, monkeypatch, "automix_mix_reference_dialog.py", user_inputs=[",0.7"],
                            starts=False)  # picker cancelled
    assert argv is None and not boxes(dump)
    argv, dump = run_action(tmp_path, monkeypatch, "automix_mix_reference_dialog.py", user_inputs=["Reff,0.7"],
                            starts=False)
    assert argv is None and "No file and no track is named 'Reff'" in boxes(dump)[0]
    assert "Drums, Kick, Ref" in boxes(dump)[0]
    argv, dump = run_action(tmp_path, monkeypatch, "automix_mix_reference.py", starts=False,
                            ext_state={"reaper_automix/reference": str(tmp_path / "gone.wav")})
    assert argv is None and "gone.wav' does not exist" in boxes(dump)[0]
    argv, dump = run_action(tmp_path, monkeypatch, "automix_mix_reference.py", starts=False,
                            names=("Drums", "Ref", "Ref"), ext_state={"reaper_automix/reference": "Ref"})
    assert argv is None and "2 tracks are named 'Ref'" in boxes(dump)[0]


def test_worker_error_and_its_error_output_reach_the_console(tmp_path, monkeypatch):
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance.py", mode="fail")
    lines = [c.strip() for c in dump["console"]]
    assert "Automix balance: ERROR: Kick.wav: not a sound file" in lines
    # The action waits for the worker's exit after its ERROR line, so its error output is always complete.
    assert any("the worker's error output" in c for c in lines)
    assert "SoundFileError: Kick.wav" in lines
    assert "reaper_automix/job_pid" not in dump["ext_state"]


def test_cancel_stops_the_worker_and_one_job_runs_at_a_time(tmp_path, monkeypatch):
    import urllib.request

    def second_then_cancel(host):
        urllib.request.urlopen(f"http://127.0.0.1:{host.web_port}/_/again").read()
        time.sleep(0.5)
        urllib.request.urlopen(f"http://127.0.0.1:{host.web_port}/_/cancel").read()
        time.sleep(1.5)

    started = time.monotonic()
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance.py", mode="slow", then=second_then_cancel)
    assert time.monotonic() - started < 20  # the 60 s worker did not run to its end
    lines = [c.strip() for c in dump["console"]]
    assert any("An Automix job is still running" in c for c in boxes(dump))
    assert any(c.startswith("Automix balance: CANCELLED:") for c in lines)
    assert any("cancelling the running job" in c for c in lines)
    assert "reaper_automix/job_pid" not in dump["ext_state"]


def test_scripts_installed_by_reapack_find_their_server_action(tmp_path, monkeypatch):
    """No server_action recorded (ReaPack registered the scripts, with REAPER's own ids) and no server running:
    the action registers/looks up the server script beside it and starts it, then the job."""
    argv, dump = run_action(tmp_path, monkeypatch, "automix_balance.py", server=False)
    assert argv is not None and argv[:2] == ["live", "balance"]
    assert dump["calls"]["AddRemoveReaScript"] == 1 and dump["calls"]["Main_OnCommand"] == 1
