# @noindex
# @description Automix: Render stems for offline analysis...
# @about
#   Renders pre-fader stems (plug-ins included) of the selected tracks, or of every unmuted track with sound, into PROJECT-stems/ beside the project, named by track number and name, and records which track each stem came from, so that `reaper-automix balance` / `mix` on the saved project measure what you hear.
"""REAPER action: Automix: Render stems for offline analysis..."""

import json
import os
import sys
import time

import reaper_python as rpr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

# Kept equal to reaper_automix/data/reaper_fx.yaml (stems:) by a test: this script cannot read the package.
RENDER_SETTINGS = 8194  # SDK: &2 stems only, &8192 pre-fader stems
BOUNDS_FLAG = 1  # SDK: entire project
PATTERN = "$tracknumber - $track"
FOLDER_SUFFIX = "-stems"
MANIFEST = "automix-stems.json"
RENDER_ACTION = "File: Render project, using the most recent render settings, auto-close render dialog"
RENDER_ACTION_FALLBACK_ID = 42230
FIELDS = [("stems_tracks", "Tracks (selected / all)", "all", automix_action.choice("selected", "all"))]


def render_action():
    section = rpr.RPR_SectionFromUniqueID(0)
    i = 0
    while True:
        result = rpr.RPR_kbd_enumerateActions(section, i, "")
        if not result[0]:
            return RENDER_ACTION_FALLBACK_ID
        if result[3] == RENDER_ACTION:
            return int(result[0])
        i += 1


def sounding(track):
    """Unmuted, with items or receives: a track whose stem has something in it."""
    if rpr.RPR_GetMediaTrackInfo_Value(track, "B_MUTE"):
        return False
    return rpr.RPR_CountTrackMediaItems(track) > 0 or rpr.RPR_GetTrackNumSends(track, -1) > 0


def main(dialog):
    project = rpr.RPR_EnumProjects(-1, "", 4096)[2]
    if not project:
        automix_action.message("Save the project first: the stems go into a folder beside it.")
        return
    tracks = [rpr.RPR_GetTrack(0, i) for i in range(rpr.RPR_CountTracks(0))]
    selected = [tr for tr in tracks if rpr.RPR_IsTrackSelected(tr)]
    answers = automix_action.settings("Automix: Render stems for offline analysis", FIELDS, dialog)
    if answers is None:
        return
    which = answers["stems_tracks"]
    chosen = selected if which == "selected" else [tr for tr in tracks if sounding(tr)]
    if not chosen:
        automix_action.message("No tracks to render: select some, or answer 'all'.")
        return
    folder = os.path.join(os.path.dirname(project), os.path.splitext(os.path.basename(project))[0] + FOLDER_SUFFIX)
    os.makedirs(folder, exist_ok=True)
    try:
        for tr in tracks:
            rpr.RPR_SetTrackSelected(tr, tr in chosen)
        rpr.RPR_GetSetProjectInfo(0, "RENDER_SETTINGS", RENDER_SETTINGS, True)
        rpr.RPR_GetSetProjectInfo(0, "RENDER_BOUNDSFLAG", BOUNDS_FLAG, True)
        rpr.RPR_GetSetProjectInfo_String(0, "RENDER_FILE", folder, True)
        rpr.RPR_GetSetProjectInfo_String(0, "RENDER_PATTERN", PATTERN, True)
        rpr.RPR_Main_OnCommand(render_action(), 0)
    finally:
        for tr in tracks:
            rpr.RPR_SetTrackSelected(tr, tr in selected)
    manifest = {
        "project": project,
        "rendered_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "render_settings": RENDER_SETTINGS,
        "pattern": PATTERN,
        "tracks": [
            {"number": tracks.index(tr) + 1, "guid": rpr.RPR_GetTrackGUID(tr),
             "name": rpr.RPR_GetSetMediaTrackInfo_String(tr, "P_NAME", "", False)[3]}
            for tr in chosen
        ],
    }
    with open(os.path.join(folder, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    automix_action.console(
        f"Automix: rendered {len(chosen)} pre-fader stems into {folder}\n"
        f"Offline, `reaper-automix balance \"{project}\"` (or mix) now measures them."
    )


if __name__ == "__main__":
    main(dialog=True)
