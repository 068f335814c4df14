# @noindex
"""Shared code of the Automix actions (runs inside REAPER: standard library and REAPER's API only).

An action asks for settings (dialog variants, with GetUserInputs; remembered in ExtState), collects the
selected tracks, starts the worker (``reaper-automix live ...``, a separate process: the analysis never
blocks REAPER's UI and heavy libraries never load inside REAPER) and returns at once. A deferred poll then
prints the worker's progress file in the ReaScript console until its DONE/ERROR line.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import reaper_python as rpr

SECTION = "reaper_automix"
POLL_LIMIT_S = 4 * 3600.0

BALANCE_FIELDS = [  # (ExtState key, caption, default)
    ("method", "Method (centroid / f0 / lufs)", "centroid"),
    ("strength", "Strength (0..1)", "1.0"),
    ("between_groups", "Balance groups too (y/n)", "y"),
]
MIX_FIELDS = [
    ("reference", "Reference (audio file or track name)", ""),
    ("mix_strength", "Strength (0..1)", "1.0"),
]


def _main():
    return sys.modules["__main__"]


def message(text):
    rpr.RPR_ShowMessageBox(text, "Automix", 0)


def console(text):
    rpr.RPR_ShowConsoleMsg(text.rstrip("\n") + "\n")


def remembered(fields):
    return {key: (rpr.RPR_GetExtState(SECTION, key) or default) for key, _, default in fields}


def ask(title, fields):
    """GetUserInputs with remembered defaults; None when cancelled. Values are remembered (persistently)."""
    values = remembered(fields)
    captions = ",".join(caption for _, caption, _ in fields) + ",extrawidth=240"
    result = rpr.RPR_GetUserInputs(title, len(fields), captions, ",".join(values[k] for k, _, _ in fields), 1024)
    if not result[0]:
        return None
    answers = result[4].split(",")
    if len(answers) != len(fields):
        message("Please do not use commas in the values.")
        return None
    for (key, _, _), value in zip(fields, answers):
        values[key] = value.strip()
        rpr.RPR_SetExtState(SECTION, key, values[key], True)
    return values


def selected_tracks():
    return [rpr.RPR_GetTrackGUID(rpr.RPR_GetSelectedTrack(0, i)) for i in range(rpr.RPR_CountSelectedTracks(0))]


def dependencies_ok():
    """Up-front checks: the worker command is set up and REAPER's side of the bridge is running."""
    worker = rpr.RPR_GetExtState(SECTION, "worker")
    if not worker:
        message("reaper-automix is not set up.\n\nIn a terminal run:\n    reaper-automix reaper install\n"
                "then restart REAPER.")
        return None
    if not rpr.RPR_GetExtState("reapy", "server_port"):
        server = rpr.RPR_NamedCommandLookup(rpr.RPR_GetExtState(SECTION, "server_action"))
        if not server:
            message("The action 'Automix: Start safe reapy server' is not registered: run\n"
                    "    reaper-automix reaper install")
            return None
        rpr.RPR_Main_OnCommand(server, 0)
    return json.loads(worker)


def start(arguments, title):
    """Start the worker with ``arguments`` and poll its progress file from REAPER's defer loop."""
    worker = dependencies_ok()
    if worker is None:
        return
    handle, progress = tempfile.mkstemp(prefix="automix_", suffix=".log")
    os.close(handle)
    command = list(worker) + arguments + ["--progress-file", progress]
    kwargs = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "stdin": subprocess.DEVNULL}
    if os.name == "nt":
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    try:
        process = subprocess.Popen(command, **kwargs)
    except OSError as exc:
        message(f"Could not start the worker ({command[0]}): {exc}\nRun `reaper-automix reaper install` again.")
        return
    console(f"{title}: started (worker {process.pid})")
    state = {"process": process, "path": progress, "offset": 0, "start": time.time(), "title": title}
    _main().AUTOMIX_POLL_STATE = state
    _main().automix_poll = poll
    poll()


def poll():
    state = _main().AUTOMIX_POLL_STATE
    finished = False
    with open(state["path"], encoding="utf-8", errors="replace") as f:
        f.seek(state["offset"])
        text = f.read()
        state["offset"] = f.tell()
    for line in text.splitlines():
        console(f"{state['title']}: {line}")
        finished = finished or line.startswith(("DONE:", "ERROR:"))
    exited = state["process"].poll() is not None
    if finished or (exited and not text) or time.time() - state["start"] > POLL_LIMIT_S:
        if not finished:
            console(f"{state['title']}: the worker stopped without a result (exit code {state['process'].poll()})")
        try:
            os.remove(state["path"])
        except OSError:
            pass
        return
    _main().RPR_defer("automix_poll()")


def balance(dialog):
    values = ask("Automix: balance levels within folders", BALANCE_FIELDS) if dialog else remembered(BALANCE_FIELDS)
    if values is None:
        return
    arguments = ["live", "balance", "--method", values["method"], "--strength", values["strength"]]
    if values["between_groups"].lower().startswith("n"):
        arguments.append("--no-between-groups")
    tracks = selected_tracks()
    if tracks:
        arguments += ["--tracks", ",".join(tracks)]
    start(arguments, "Automix balance")


def mix(dialog, selected_folders_only):
    values = ask("Automix: mix to reference", MIX_FIELDS) if dialog else remembered(MIX_FIELDS)
    if values is None:
        return
    reference = values["reference"]
    if not reference:
        message("No reference set: run the '...' version of this action once to choose one.")
        return
    if not os.path.isfile(reference):
        reference = "track:" + reference
    tracks = selected_tracks()
    if selected_folders_only and not tracks:
        message("Select the folders to mix first.")
        return
    arguments = ["live", "mix", "--reference", reference, "--strength", values["mix_strength"]]
    if tracks:
        arguments += ["--tracks", ",".join(tracks)]
    start(arguments, "Automix mix")


def run_action(kind, dialog):
    """Entry point of every Automix action script."""
    if kind == "balance":
        balance(dialog)
    elif kind == "mix":
        mix(dialog, selected_folders_only=False)
    elif kind == "mix_selected":
        mix(dialog, selected_folders_only=True)
