# @noindex
"""Shared code of the Automix actions (runs inside REAPER: standard library and REAPER's API only).

An action asks for settings (dialog variants, with GetUserInputs; remembered in ExtState) and checks every
one, explaining a bad value in a message box before anything starts; collects the selected tracks; starts the
worker (``reaper-automix live ...``, a separate process: the analysis never blocks REAPER's UI and heavy
libraries never load inside REAPER) and returns at once. A deferred poll then prints the worker's progress
file in the ReaScript console until its DONE/ERROR line; when the worker fails, its error output follows.
One job runs at a time; "Automix: Cancel running job" stops it.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import reaper_python as rpr

SECTION = "reaper_automix"
POLL_LIMIT_S = 4 * 3600.0
ERROR_LINES = 15  # of the worker's error output shown in the console when it fails
EXIT_GRACE_S = 10.0  # after an ERROR line, how long to wait for the worker to finish its error output and exit
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff", ".m4a", ".wv", ".opus")


def choice(*options):
    def check(value):
        v = value.strip().lower()
        return (v, None) if v in options else (value, "must be one of " + " / ".join(options))
    return check


def fraction(value):
    try:
        v = float(value)
    except ValueError:
        return value, "must be a number from 0 to 1"
    if not 0.0 <= v <= 1.0:
        return value, "must be from 0 to 1"
    return str(v), None


def yes_no(value):
    v = value.strip().lower()
    if v in ("y", "yes"):
        return "y", None
    if v in ("n", "no"):
        return "n", None
    return value, "must be y or n"


def anything(value):
    return value.strip(), None


BALANCE_FIELDS = [  # (ExtState key, caption, default, check)
    ("method", "Method (centroid / f0 / lufs)", "centroid", choice("centroid", "f0", "lufs")),
    ("strength", "Strength (0..1)", "1.0", fraction),
    ("between_groups", "Balance groups too (y/n)", "y", yes_no),
]
MIX_FIELDS = [
    ("reference", "Reference: file or track (empty: browse)", "", anything),
    ("mix_strength", "Strength (0..1)", "1.0", fraction),
]


def _main():
    return sys.modules["__main__"]


def message(text):
    rpr.RPR_ShowMessageBox(text, "Automix", 0)


def console(text):
    rpr.RPR_ShowConsoleMsg(text.rstrip("\n") + "\n")


def remembered(fields):
    return {key: (rpr.RPR_GetExtState(SECTION, key) or default) for key, _, default, _ in fields}


def problems(fields, values):
    """The values checked: (normalised values, one line per bad field)."""
    out, bad = dict(values), []
    for key, caption, _, check in fields:
        out[key], problem = check(values[key])
        if problem:
            bad.append("%s: '%s' %s" % (caption, values[key], problem))
    return out, bad


def ask(title, fields):
    """GetUserInputs with remembered defaults, asked again (with what was typed) until every field is valid;
    None when cancelled. Valid values are remembered (persistently)."""
    values = remembered(fields)
    captions = ",".join(caption for _, caption, _, _ in fields) + ",extrawidth=240"
    while True:
        shown = ",".join(values[k] for k, _, _, _ in fields)
        result = rpr.RPR_GetUserInputs(title, len(fields), captions, shown, 1024)
        if not result[0]:
            return None
        answers = result[4].split(",")
        if len(answers) != len(fields):
            message("Please do not use commas in the values.")
            continue
        values = {key: a.strip() for (key, _, _, _), a in zip(fields, answers)}
        checked, bad = problems(fields, values)
        if bad:
            message("Please correct:\n\n" + "\n".join(bad))
            continue
        for key, _, _, _ in fields:
            rpr.RPR_SetExtState(SECTION, key, checked[key], True)
        return checked


def settings(title, fields, dialog):
    """The dialog's answers, or the remembered settings checked (a bad one is explained, never used)."""
    if dialog:
        return ask(title, fields)
    checked, bad = problems(fields, remembered(fields))
    if bad:
        message("The remembered settings are not valid:\n\n" + "\n".join(bad)
                + "\n\nRun the '...' version of this action to change them.")
        return None
    return checked


def selected_tracks():
    return [rpr.RPR_GetTrackGUID(rpr.RPR_GetSelectedTrack(0, i)) for i in range(rpr.RPR_CountSelectedTracks(0))]


def track_names():
    return [rpr.RPR_GetTrackName(rpr.RPR_GetTrack(0, i), "", 512)[2] for i in range(rpr.RPR_CountTracks(0))]


def browse_reference():
    """REAPER's file dialog for the reference mix; None when cancelled."""
    result = rpr.RPR_GetUserFileNameForRead("", "Automix: choose the reference mix", "wav")
    return result[1] if result[0] and result[1] else None


def reference_argument(value):
    """``--reference`` for ``value``: an existing audio file, or the one track with that name; else None after
    a message saying what was wrong."""
    if os.path.isfile(value):
        return value
    names = track_names()
    count = names.count(value)
    if count == 1:
        return "track:" + value
    if count > 1:
        message("%d tracks are named '%s': rename all but the reference, or give a file." % (count, value))
        return None
    if os.sep in value or "/" in value or value.lower().endswith(AUDIO_EXTENSIONS):
        message("The reference file '%s' does not exist." % value)
    else:
        listed = ", ".join(n for n in names if n)[:400]
        message("No file and no track is named '%s'.\n\nTracks in this project: %s\n\nLeave the field empty to "
                "choose a file." % (value, listed or "(none)"))
    return None


def dependencies_ok():
    """Up-front checks: the worker command is set up and REAPER's side of the bridge is running."""
    worker = rpr.RPR_GetExtState(SECTION, "worker")
    if not worker:
        message("reaper-automix is not set up.\n\nIn a terminal run:\n    reaper-automix reaper install\n"
                "then restart REAPER.")
        return None
    if not rpr.RPR_GetExtState("reapy", "server_port"):
        server = rpr.RPR_NamedCommandLookup(rpr.RPR_GetExtState(SECTION, "server_action"))
        beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "automix_server.py")
        if not server and os.path.isfile(beside):
            # installed by ReaPack: REAPER gave the server action its own id; registering the same file again
            # returns that id (and registers it if ReaPack had not)
            server = rpr.RPR_AddRemoveReaScript(True, 0, beside, True)
        if not server:
            message("The action 'Automix: Start safe reapy server' is not registered: run\n"
                    "    reaper-automix reaper install")
            return None
        rpr.RPR_Main_OnCommand(server, 0)
    return json.loads(worker)


def job_running():
    """A job is running while its worker id is in (session) ExtState; the poll clears it at the end."""
    pid = rpr.RPR_GetExtState(SECTION, "job_pid")
    if pid:
        message("An Automix job is still running (worker %s).\n\nWait for it to finish, or run "
                "'Automix: Cancel running job'." % pid)
    return bool(pid)


def start(arguments, title):
    """Start the worker with ``arguments`` and poll its progress file from REAPER's defer loop."""
    if job_running():
        return
    worker = dependencies_ok()
    if worker is None:
        return
    handle, progress = tempfile.mkstemp(prefix="automix_", suffix=".log")
    os.close(handle)
    command = list(worker) + arguments + ["--progress-file", progress]
    errors = open(progress + ".err", "w", encoding="utf-8")
    kwargs = {"stdout": subprocess.DEVNULL, "stderr": errors, "stdin": subprocess.DEVNULL}
    if os.name == "nt":
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    try:
        process = subprocess.Popen(command, **kwargs)
    except OSError as exc:
        message("Could not start the worker (%s): %s\nRun `reaper-automix reaper install` again." % (command[0], exc))
        remove_files(progress)
        return
    finally:
        errors.close()
    console("%s: started (worker %d)" % (title, process.pid))
    rpr.RPR_SetExtState(SECTION, "job_pid", str(process.pid), False)
    rpr.RPR_SetExtState(SECTION, "job_progress", progress, False)
    state = {"process": process, "path": progress, "offset": 0, "start": time.time(), "title": title}
    _main().AUTOMIX_POLL_STATE = state
    _main().automix_poll = poll
    poll()


def error_output(path, lines=ERROR_LINES):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = [ln.rstrip() for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return []
    return text[-lines:]


def poll():
    state = _main().AUTOMIX_POLL_STATE
    outcome = None
    exited = state["process"].poll() is not None  # before reading: a line written just before exit is read
    with open(state["path"], encoding="utf-8", errors="replace") as f:
        f.seek(state["offset"])
        text = f.read()
        state["offset"] = f.tell()
    for line in text.splitlines():
        console("%s: %s" % (state["title"], line))
        for word in ("DONE", "ERROR", "CANCELLED"):
            if line.startswith(word + ":"):
                outcome = outcome or word
    outcome = state["outcome"] = state.get("outcome") or outcome  # an ERROR seen in an earlier poll
    now = time.time()
    timed_out = now - state["start"] > POLL_LIMIT_S
    if outcome == "ERROR" and not exited:
        # The worker writes its ERROR line before its error output and its exit: wait (without blocking REAPER)
        # until it has exited, so the error output shown below is complete.
        state.setdefault("error_seen", now)
        timed_out = timed_out or now - state["error_seen"] > EXIT_GRACE_S
    if (outcome is None or outcome == "ERROR") and not exited and not timed_out:
        _main().RPR_defer("automix_poll()")
        return
    code = state["process"].poll()
    if outcome is None:
        console("%s: the worker stopped without a result (exit code %s)" % (state["title"], code))
    if outcome in (None, "ERROR") or (code not in (None, 0) and outcome != "CANCELLED"):
        lines = error_output(state["path"] + ".err")
        if lines:
            console("%s: the worker's error output (last %d lines):" % (state["title"], len(lines)))
            for line in lines:
                console("    " + line)
    rpr.RPR_DeleteExtState(SECTION, "job_pid", False)
    rpr.RPR_DeleteExtState(SECTION, "job_progress", False)
    remove_files(state["path"])


def remove_files(progress):
    for path in (progress, progress + ".err"):
        try:
            os.remove(path)
        except OSError:
            pass


def cancel():
    pid = rpr.RPR_GetExtState(SECTION, "job_pid")
    if not pid:
        console("Automix: no job is running")
        return
    progress = rpr.RPR_GetExtState(SECTION, "job_progress")
    try:
        with open(progress, "a", encoding="utf-8") as f:
            f.write("CANCELLED: stopped by 'Automix: Cancel running job'. A job changes the project only at its "
                    "end, as one undo point: if that had begun, Edit > Undo takes it back.\n")
    except OSError:
        pass
    state = getattr(_main(), "AUTOMIX_POLL_STATE", None)
    try:
        if state is not None and str(state["process"].pid) == pid:
            state["process"].terminate()
        else:
            os.kill(int(pid), signal.SIGTERM)
    except (OSError, ValueError):
        pass  # it had just finished
    console("Automix: cancelling the running job (worker %s)" % pid)


def balance(dialog):
    values = settings("Automix: balance levels within folders", BALANCE_FIELDS, dialog)
    if values is None:
        return
    arguments = ["live", "balance", "--method", values["method"], "--strength", values["strength"]]
    if values["between_groups"] == "n":
        arguments.append("--no-between-groups")
    tracks = selected_tracks()
    if tracks:
        arguments += ["--tracks", ",".join(tracks)]
    start(arguments, "Automix balance")


def mix(dialog, selected_folders_only):
    values = settings("Automix: mix to reference", MIX_FIELDS, dialog)
    if values is None:
        return
    if not values["reference"]:
        if not dialog:
            message("No reference set: run the '...' version of this action once to choose one.")
            return
        picked = browse_reference()
        if picked is None:
            return
        values["reference"] = picked
        rpr.RPR_SetExtState(SECTION, "reference", picked, True)
    reference = reference_argument(values["reference"])
    if reference is None:
        return
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
    elif kind == "cancel":
        cancel()
