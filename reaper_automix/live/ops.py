"""The REAPER side of the live bridge: operations that run inside REAPER, one round-trip each.

Every public function here is in the safe server's allow-list (:data:`EXPORTED`). They take and return plain
JSON data, import nothing beyond the standard library, and reach REAPER only through an :class:`Api` object:

- inside REAPER, ``Api()`` binds REAPER's own ``reaper_python`` module (``RPR_*`` functions);
- outside REAPER, :class:`reaper_automix.live.bridge.RemoteApi` sends every call through reapy's client,
  one round-trip per call: the same code then runs "unbatched", which is how the bridge measures batching.

REAPER's Python conventions are followed: functions with out-parameters return a tuple
``(retval, *arguments with outputs filled)``; objects are pointer strings such as ``"(MediaTrack*)0x..."``.
"""

from __future__ import annotations

import math
import os
import re
import time

# The ChangeSet tag keys (reaper_automix.changes.EXT_*), repeated so this module stays importable inside
# REAPER without the rest of the package; tests assert they are equal.
EXT_BUS = "reaper_automix_bus"
EXT_CREATED = "reaper_automix_created"
EXT_FX = "reaper_automix_fx"
EXT_SECTION = "reaper_automix"  # global ExtState section: settings, progress of the last apply

STRING_SIZE = 4096
RENDER_ACTION_NAME = "File: Render project, using the most recent render settings, auto-close render dialog"
RENDER_ACTION_FALLBACK_ID = 42230  # the same action's id in REAPER 5-7 (names are authoritative)


class Api:
    """REAPER's API without the ``RPR_`` prefix: ``api.GetTrack(0, 1)`` calls ``RPR_GetTrack(0, 1)``."""

    def __init__(self, module=None):
        if module is None:
            import reaper_python as module  # only exists inside REAPER (or the test harness)
        self._module = module

    def __getattr__(self, name: str):
        return getattr(self._module, "RPR_" + name)


class TrackGone(Exception):
    """Tracks named in a plan no longer exist in the project."""


# --- small helpers over REAPER's calling conventions ---------------------------------------------------------


def _out(result, index: int):
    """Element ``index`` of an out-parameter tuple (REAPER returns a tuple; through JSON it is a list)."""
    return result[index] if isinstance(result, (tuple, list)) else result


def track_string(api: Api, track: str, key: str) -> str:
    return _out(api.GetSetMediaTrackInfo_String(track, key, "", False), 3)


def set_track_string(api: Api, track: str, key: str, value: str) -> None:
    api.GetSetMediaTrackInfo_String(track, key, value, True)


def track_guid_map(api: Api, proj=0) -> dict[str, str]:
    """GUID -> track pointer for every track of the project (master excluded)."""
    return {api.GetTrackGUID(tr): tr for tr in (api.GetTrack(proj, i) for i in range(api.CountTracks(proj)))}


def parse_display_number(text: str) -> float | None:
    """The number in a formatted parameter value (``"+3.0"``, ``"1.20k"``, ``"-inf"``); None when there is none."""
    text = text.strip()
    if text.lower().startswith("-inf"):
        return -math.inf
    m = re.search(r"[-+]?\d+(?:\.\d+)?", text)
    if not m:
        return None
    value = float(m.group(0))
    if text[m.end() : m.end() + 1].lower() == "k":
        value *= 1000.0
    return value


def display_tolerance(text: str, floor: float) -> float:
    """Half a display step of ``text`` (REAPER rounds what it shows), at least ``floor``."""
    m = re.search(r"\d+(?:\.(\d+))?", text)
    decimals = len(m.group(1) or "") if m else 0
    scale = 1000.0 if re.search(r"\d\s*k", text.lower()) else 1.0
    return max(floor, 0.5 * scale * 10.0 ** -decimals * 1.001)


# --- reading the project -------------------------------------------------------------------------------------


def _source_info(api: Api, src: str) -> dict:
    kind = _out(api.GetMediaSourceType(src, "", 64), 1)
    info = {"type": kind, "file": "", "section_start_s": 0.0, "section_length_s": None, "reversed": False}
    if kind == "SECTION":
        _, _, offs, length, rev = api.PCM_Source_GetSectionInfo(src, 0.0, 0.0, False)
        parent = api.GetMediaSourceParent(src)
        inner = _source_info(api, parent)
        info.update(file=inner["file"], type=inner["type"], section_start_s=offs, section_length_s=length,
                    reversed=bool(rev))
        info["section"] = True
        return info
    info["file"] = _out(api.GetMediaSourceFileName(src, "", STRING_SIZE), 1)
    return info


CHUNK_SIZE = 1 << 24  # GetTrackStateChunk's buffer (bytes): room for large sampler states


def fx_skeleton(chunk: str) -> str:
    """The parts of a ``<TRACK`` state chunk that say what its FX chain and receives are: the track's ``FX``
    and ``AUXRECV`` lines and its ``<FXCHAIN`` with each plug-in's ``BYPASS`` line, opening line and ``FXID``
    (no plug-in state, no items). Read by :mod:`reaper_automix.rpp.fx`, exactly as in a project file."""
    keep = []
    stack: list[str] = []

    def in_chain(depth: int) -> bool:  # a depth-2 FXCHAIN chunk or a plug-in directly inside it
        return depth == 2 and stack[1] == "FXCHAIN" or depth == 3 and stack[1] == "FXCHAIN"

    for raw in chunk.splitlines():
        line = raw.strip()
        if line.startswith("<"):
            stack.append(line[1:].split(" ", 1)[0])
            if len(stack) == 1 or in_chain(len(stack)):
                keep.append(line)
        elif line == ">":
            if stack and (len(stack) == 1 or in_chain(len(stack))):
                keep.append(line)
            if stack:
                stack.pop()
        else:
            key = line.split(" ", 1)[0]
            if len(stack) == 1 and key in ("FX", "AUXRECV"):
                keep.append(line)
            elif len(stack) == 2 and stack[1] == "FXCHAIN" and key in ("BYPASS", "FXID"):
                keep.append(line)
    return "\n".join(keep)


def read_project(api: Api | None = None) -> dict:
    """Everything the session model needs, in one call: project rate and path, every track with its items.

    Each track's pan law comes as REAPER keeps it: ``pan_law_gain`` (``D_PANLAW``, linear centre gain; < 0 = the
    project's law) and ``pan_law_flags`` (``I_PANLAW_FLAGS``, the taper), as the ``.rpp`` reader reads ``VOLPAN``
    field 3 and ``PANLAWFLAGS``."""
    api = api or Api()
    proj = 0
    project_file = _out(api.EnumProjects(-1, "", STRING_SIZE), 2)
    rate = api.GetSetProjectInfo(proj, "PROJECT_SRATE", 0, False)
    use_rate = api.GetSetProjectInfo(proj, "PROJECT_SRATE_USE", 0, False)
    if not (use_rate and rate):
        rate = float(_out(api.GetAudioDeviceInfo("SRATE", "", 64), 2) or 0) or 44100.0
    tracks = []
    for i in range(api.CountTracks(proj)):
        tr = api.GetTrack(proj, i)
        value = lambda key: api.GetMediaTrackInfo_Value(tr, key)  # noqa: E731 (local shorthand)
        ext = {}
        for key in (EXT_BUS, EXT_CREATED, EXT_FX):
            v = track_string(api, tr, "P_EXT:" + key)
            if v:
                ext[key] = v
        items = []
        for j in range(api.CountTrackMediaItems(tr)):
            it = api.GetTrackMediaItem(tr, j)
            ivalue = lambda key: api.GetMediaItemInfo_Value(it, key)  # noqa: E731
            item = {
                "position_s": ivalue("D_POSITION"), "length_s": ivalue("D_LENGTH"), "volume": ivalue("D_VOL"),
                "mute": bool(ivalue("B_MUTE")), "loop": bool(ivalue("B_LOOPSRC")),
                "fade_in": [ivalue("D_FADEINLEN"), int(ivalue("C_FADEINSHAPE")), ivalue("D_FADEINDIR")],
                "fade_out": [ivalue("D_FADEOUTLEN"), int(ivalue("C_FADEOUTSHAPE")), ivalue("D_FADEOUTDIR")],
                "take": None,
            }
            take = api.GetActiveTake(it)
            if take and not str(take).endswith("0x0000000000000000"):
                tvalue = lambda key: api.GetMediaItemTakeInfo_Value(take, key)  # noqa: E731
                item["take"] = {
                    "name": _out(api.GetSetMediaItemTakeInfo_String(take, "P_NAME", "", False), 3),
                    "volume": tvalue("D_VOL"), "pan": tvalue("D_PAN"), "start_offset_s": tvalue("D_STARTOFFS"),
                    "playrate": tvalue("D_PLAYRATE"), "preserve_pitch": bool(tvalue("B_PPITCH")),
                    "source": _source_info(api, api.GetMediaItemTake_Source(take)),
                }
            items.append(item)
        tracks.append({
            "index": i, "name": track_string(api, tr, "P_NAME"), "guid": api.GetTrackGUID(tr),
            "volume": value("D_VOL"), "pan": value("D_PAN"), "mute": bool(value("B_MUTE")),
            "solo": bool(value("I_SOLO")), "folder_depth": int(value("I_FOLDERDEPTH")),
            "n_channels": int(value("I_NCHAN")), "selected": bool(api.IsTrackSelected(tr)),
            "pan_law_gain": value("D_PANLAW"), "pan_law_flags": int(value("I_PANLAW_FLAGS")),
            "ext": ext, "items": items,
            "fx_chunk": fx_skeleton(_out(api.GetTrackStateChunk(tr, "", CHUNK_SIZE, False), 2)),
        })
    return {"project_file": project_file, "sample_rate": int(round(rate)), "tracks": tracks}


# --- applying a plan ------------------------------------------------------------------------------------------
# A plan is a ChangeSet resolved into primitive operations (reaper_automix.operations, serialised by
# reaper_automix.live.apply): every decision about the folder hierarchy is made there; here they are only executed.


def _track_number(api: Api, tr: str) -> int:
    """The 0-based index of a track in the project."""
    return int(api.GetMediaTrackInfo_Value(tr, "IP_TRACKNUMBER")) - 1


def _remove_our_fx(api: Api, tr: str) -> int:
    """Delete the effects this tool added earlier (FX GUIDs listed in the track's P_EXT); returns how many."""
    ours = set(track_string(api, tr, "P_EXT:" + EXT_FX).split())
    removed = 0
    for fx in reversed(range(api.TrackFX_GetCount(tr))):
        if api.TrackFX_GetFXGUID(tr, fx) in ours:
            api.TrackFX_Delete(tr, fx)
            removed += 1
    return removed


def _check_params(api: Api, tr: str, fx: int, checks: list) -> list[str]:
    """Compare REAPER's formatted values with what was meant; returns mismatch descriptions."""
    problems = []
    for param, expected, floor, label in checks:
        text = _out(api.TrackFX_GetFormattedParamValue(tr, fx, param, "", 256), 4)
        got = parse_display_number(text)
        if got is None or (math.isinf(expected) and got != expected):
            ok = got == expected
        else:
            ok = abs(got - expected) <= display_tolerance(text, floor)
        if not ok:
            problems.append(f"{label}: wanted {expected:g}, REAPER shows {text!r}")
    return problems


def _add_fx(api: Api, tr: str, spec: dict, position: int) -> tuple[str, list[str]]:
    """Add one effect as ``spec`` describes at chain slot ``position`` (0 = first; SDK: an ``instantiate`` of
    -1000 - n inserts at slot n); returns (FX GUID, check problems)."""
    fx = api.TrackFX_AddByName(tr, spec["name"], False, -1000 - position)
    if fx < 0:
        raise RuntimeError(f"REAPER could not add {spec['name']!r}")
    for band in spec.get("eq_bands", ()):
        bandtype, bandidx, enabled = band["bandtype"], band["bandidx"], band["enabled"]
        api.TrackFX_SetEQBandEnabled(tr, fx, bandtype, bandidx, enabled)
        if enabled:
            api.TrackFX_SetEQParam(tr, fx, bandtype, bandidx, 0, band["freq_hz"], False)
            api.TrackFX_SetEQParam(tr, fx, bandtype, bandidx, 1, band["gain_linear"], False)
            api.TrackFX_SetEQParam(tr, fx, bandtype, bandidx, 2, band["bandwidth_oct"], False)
    for param, normalized in spec.get("params", ()):
        api.TrackFX_SetParamNormalized(tr, fx, param, normalized)
    return api.TrackFX_GetFXGUID(tr, fx), _check_params(api, tr, fx, spec.get("checks", ()))


def _set_volume(api: Api, run: dict, op: dict) -> None:
    api.SetMediaTrackInfo_Value(run["tracks"][op["track"]], "D_VOL", op["volume"])


def _set_pan(api: Api, run: dict, op: dict) -> None:
    api.SetMediaTrackInfo_Value(run["tracks"][op["track"]], "D_PAN", op["pan"])


def _scale_takes(api: Api, run: dict, op: dict) -> None:
    tr = run["tracks"][op["track"]]
    for j in op["items"]:
        take = api.GetActiveTake(api.GetTrackMediaItem(tr, j))
        api.SetMediaItemTakeInfo_Value(take, "D_VOL", api.GetMediaItemTakeInfo_Value(take, "D_VOL") * op["factor"])
        run["summary"]["take_items"] += 1


def _move_tracks(api: Api, run: dict, op: dict) -> None:
    """REAPER's ``ReorderSelectedTracks`` moves the selected tracks; the user's selection is restored after.
    With ``makePrevFolder=0`` and a top-level, non-folder track above the spot, they stay at the top level."""
    movers = [run["tracks"][ref] for ref in op["tracks"]]
    after = run["tracks"][op["after"]]
    tracks = [api.GetTrack(0, i) for i in range(api.CountTracks(0))]
    selected = [tr for tr in tracks if api.IsTrackSelected(tr)]
    try:
        api.SetOnlyTrackSelected(movers[0])
        for tr in movers[1:]:
            api.SetTrackSelected(tr, True)
        if not api.ReorderSelectedTracks(_track_number(api, after) + 1, 0):
            raise RuntimeError("REAPER moved no tracks (ReorderSelectedTracks found none selected)")
    finally:
        for tr in movers:
            if tr not in selected:
                api.SetTrackSelected(tr, False)
        for tr in selected:
            api.SetTrackSelected(tr, True)
    # never build on tracks REAPER did not move as asked
    first = _track_number(api, after) + 1
    if [_track_number(api, tr) for tr in movers] != list(range(first, first + len(movers))):
        raise RuntimeError("REAPER did not move the tracks as asked (ReorderSelectedTracks)")


def _insert_folder_track(api: Api, run: dict, op: dict) -> None:
    index = _track_number(api, run["tracks"][op["before"]])
    api.InsertTrackInProject(0, index, 0)
    tr = api.GetTrack(0, index)
    set_track_string(api, tr, "P_NAME", op["name"])
    set_track_string(api, tr, "P_EXT:" + EXT_CREATED, "1")
    api.SetMediaTrackInfo_Value(tr, "I_FOLDERDEPTH", 1)
    run["tracks"][op["track"]] = tr


def _set_folder_depth(api: Api, run: dict, op: dict) -> None:
    api.SetMediaTrackInfo_Value(run["tracks"][op["track"]], "I_FOLDERDEPTH", op["depth"])


def _set_ext(api: Api, run: dict, op: dict) -> None:
    set_track_string(api, run["tracks"][op["track"]], "P_EXT:" + op["key"], op["value"])


def _replace_tagged_fx(api: Api, run: dict, op: dict) -> None:
    """Ours first in the chain, before the user's FX (as the .rpp path)."""
    tr, summary = run["tracks"][op["track"]], run["summary"]
    summary["fx_removed"] += _remove_our_fx(api, tr)
    fx_guids = []
    for position, spec in enumerate(op["fx"]):
        guid, problems = _add_fx(api, tr, spec, position)
        fx_guids.append(guid)
        summary["fx_added"] += 1
        summary["check_problems"] += [f"{run['names'].get(op['track'], op['track'])} {spec['name']}: {p}"
                                      for p in problems]
    set_track_string(api, tr, "P_EXT:" + EXT_FX, " ".join(fx_guids))


# operation name (reaper_automix.live.apply.operation_name) -> executor
OPERATIONS = {
    "set_volume": _set_volume, "set_pan": _set_pan, "scale_takes": _scale_takes, "move_tracks": _move_tracks,
    "insert_folder_track": _insert_folder_track, "set_folder_depth": _set_folder_depth, "set_ext": _set_ext,
    "replace_tagged_fx": _replace_tagged_fx,
}


def _set_progress(api: Api, progress: dict) -> None:
    api.SetExtState(EXT_SECTION, "last_apply", _json_dumps(progress), False)


def _json_dumps(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def apply_plan(plan: dict, api: Api | None = None) -> dict:
    """Execute a plan (see :func:`reaper_automix.live.apply.plan_from_changes`) as ONE undo point.

    Checks first that the project's tracks are still the ones the plan was resolved against, in that order
    (:class:`TrackGone` names the deleted ones; nothing is changed). Then, inside
    ``Undo_BeginBlock2``/``PreventUIRefresh`` (both closed in ``finally``), runs each step's operations in
    order. Progress (the steps done) is mirrored into the ExtState ``reaper_automix/last_apply`` so that an
    interrupted run can be reported. Returns a summary: take items scaled, effects added and removed, the
    values REAPER showed otherwise than meant, the steps done.
    """
    api = api or Api()
    guids = track_guid_map(api)
    names = dict(plan.get("names", {}))
    missing = sorted({names.get(g, g) for g in plan["tracks"] if g not in guids})
    if missing:
        raise TrackGone("tracks no longer in the project (deleted since it was read?): " + ", ".join(missing)
                        + "; nothing was changed")
    if list(guids) != list(plan["tracks"]):
        raise TrackGone("tracks no longer in the project's order as read (added or moved since?); nothing was "
                        "changed")
    done: list[str] = []
    summary = {"take_items": 0, "fx_added": 0, "fx_removed": 0, "check_problems": [], "steps": done}
    run = {"tracks": guids, "names": names, "summary": summary}
    progress = {"description": plan["description"], "status": "running", "steps": done}
    api.Undo_BeginBlock2(0)
    api.PreventUIRefresh(1)
    try:
        _set_progress(api, progress)
        for step in plan["steps"]:
            for op in step["operations"]:
                OPERATIONS[op["op"]](api, run, op)
            done.append(step["label"])
            _set_progress(api, progress)
        progress["status"] = "complete"
        return summary
    except BaseException as exc:  # report how far it got, then let the caller see the error
        progress["status"] = f"interrupted: {type(exc).__name__}: {exc}"
        raise
    finally:
        api.PreventUIRefresh(-1)
        api.Undo_EndBlock2(0, plan["description"], -1)
        _set_progress(api, progress)
        api.TrackList_AdjustWindows(False)
        api.UpdateArrange()


# --- rendering ------------------------------------------------------------------------------------------------


def find_action(api: Api, name: str, fallback: int) -> int:
    """Command id of a Main-section action by its exact name (ids differ between versions; names do not)."""
    enumerate_actions = getattr(api, "kbd_enumerateActions", None)
    if enumerate_actions is not None:
        section = api.SectionFromUniqueID(0)
        i = 0
        while True:
            result = enumerate_actions(section, i, "")
            if not _out(result, 0):
                break
            if _out(result, 3) == name:
                return int(_out(result, 0))
            i += 1
    return fallback


def render_stems(guids: list[str], folder: str, api: Api | None = None) -> dict:
    """Render the pre-fader stems of the tracks ``guids`` into ``folder`` through REAPER's renderer.

    Saves and restores the project's render settings and track selection. Returns {guid: file} for the stems
    REAPER wrote (matched by the track-number wildcard in the file name).
    """
    api = api or Api()
    proj = 0
    keys_num = ("RENDER_SETTINGS", "RENDER_BOUNDSFLAG", "RENDER_SRATE", "RENDER_CHANNELS")
    keys_str = ("RENDER_FILE", "RENDER_PATTERN")
    saved_num = {k: api.GetSetProjectInfo(proj, k, 0, False) for k in keys_num}
    saved_str = {k: _out(api.GetSetProjectInfo_String(proj, k, "", False), 3) for k in keys_str}
    tracks = track_guid_map(api)
    selected = [tr for tr in tracks.values() if api.IsTrackSelected(tr)]
    start = time.time()
    try:
        for tr in tracks.values():
            api.SetTrackSelected(tr, False)
        for g in guids:
            api.SetTrackSelected(tracks[g], True)
        os.makedirs(folder, exist_ok=True)
        api.GetSetProjectInfo(proj, "RENDER_SETTINGS", 2 | 8192, True)  # stems of selected tracks, pre-fader
        api.GetSetProjectInfo(proj, "RENDER_BOUNDSFLAG", 1, True)  # entire project
        api.GetSetProjectInfo(proj, "RENDER_CHANNELS", 2, True)
        api.GetSetProjectInfo_String(proj, "RENDER_FILE", folder, True)
        api.GetSetProjectInfo_String(proj, "RENDER_PATTERN", "stem_$tracknumber", True)
        api.Main_OnCommand(find_action(api, RENDER_ACTION_NAME, RENDER_ACTION_FALLBACK_ID), 0)
    finally:
        for k, v in saved_num.items():
            api.GetSetProjectInfo(proj, k, v, True)
        for k, v in saved_str.items():
            api.GetSetProjectInfo_String(proj, k, v, True)
        for tr in tracks.values():
            api.SetTrackSelected(tr, tr in selected)
    number = {g: int(api.GetMediaTrackInfo_Value(tracks[g], "IP_TRACKNUMBER")) for g in guids}
    written = {}
    for g, n in number.items():
        for ext in (".wav", ".flac", ".aif"):
            path = os.path.join(folder, f"stem_{n}{ext}")
            if os.path.exists(path) and os.path.getmtime(path) >= start - 1:
                written[g] = path
                break
    return written


# --- calibration ----------------------------------------------------------------------------------------------


def bisect_params(fx_name: str, targets: list, iterations: int = 40, api: Api | None = None) -> list:
    """For each ``[param, [value, ...]]``, the normalized x whose display (``TrackFX_FormatParamValueNormalized``)
    equals each value, by bisection (the display must be monotonic in x). Works on a scratch track that is
    removed afterwards, with no undo point. Returns ``[[param, name, [[value, x, shown at x], ...], increasing]]``."""
    api = api or Api()
    api.PreventUIRefresh(1)
    index = api.CountTracks(0)
    api.InsertTrackInProject(0, index, 0)
    tr = api.GetTrack(0, index)
    try:
        fx = api.TrackFX_AddByName(tr, fx_name, False, -1)
        if fx < 0:
            raise RuntimeError(f"REAPER could not add {fx_name!r}")

        def shown(param: int, x: float) -> float:
            text = _out(api.TrackFX_FormatParamValueNormalized(tr, fx, param, x, "", 256), 5)
            value = parse_display_number(text)
            if value is None:
                raise RuntimeError(f"{fx_name} parameter {param}: display {text!r} is not a number")
            return value

        out = []
        for param, values in targets:
            name = _out(api.TrackFX_GetParamName(tr, fx, param, "", 256), 4)
            increasing = shown(param, 1.0) >= shown(param, 0.0)
            points = []
            for value in values:
                lo, hi = 0.0, 1.0
                for _ in range(iterations):
                    mid = 0.5 * (lo + hi)
                    if (shown(param, mid) < value) == increasing:
                        lo = mid
                    else:
                        hi = mid
                # hi: the side where the display has reached the target (the first x showing it, as REAPER
                # rounds what it shows)
                points.append([value, hi, shown(param, hi)])
            out.append([param, name, points, increasing])
        return out
    finally:
        api.DeleteTrack(tr)
        api.PreventUIRefresh(-1)


EXPORTED = ("read_project", "apply_plan", "render_stems", "bisect_params")
