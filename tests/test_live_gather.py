"""A bus for a group of top-level tracks scattered between others, live: the members are moved together with
REAPER's ``ReorderSelectedTracks`` and wrapped in a new folder, in one undo point, exactly as the .rpp path
(``reaper_automix.rpp.apply``) does it in the file. Plus the stand-in's ``ReorderSelectedTracks`` against the
SDK's description."""

from __future__ import annotations

import pytest

from audio_projects import AudioTrack, write_project
from reaper_automix.changes import EXT_BUS, BusChange, ChangeSet
from reaper_automix.errors import AutomixError
from reaper_automix.live.apply import apply_changes
from reaper_automix.live.bridge import connect
from reaper_automix.live.session import read_live_session
from reaper_automix.rpp.apply import apply_changes as apply_to_document
from reaper_automix.rpp.document import write_document
from reaper_automix.rpp.reader import load_session
from tests.live_harness.fake_reaper import FakeReaper, build_module
from tests.live_harness.process import Host, spec_from_session

# (name, I_FOLDERDEPTH); the group is the tracks named in MEMBERS, scattered around a user folder
LAYOUTS = {
    "first_on_top": [("Kick", 0), ("Keys", 1), ("Piano", 0), ("Organ", -1), ("Snare", 0), ("Bass", 0),
                     ("Hat", 0)],
    "run_then_scattered": [("Bass", 0), ("Kick", 0), ("Snare", 0), ("Keys", 1), ("Piano", 0), ("Organ", -1),
                           ("Vox", 0), ("Hat", 0), ("Gtr", 0)],
    "last_at_the_end": [("Vox", 0), ("Kick", 0), ("Keys", 1), ("Piano", -1), ("Snare", 0), ("Hat", 0),
                        ("Bass", 0), ("Tom", 0)],
}
MEMBERS = ("Kick", "Snare", "Hat", "Tom")
SELECTED = ("Piano", "Snare", "Bass")  # the user's selection, which must survive the move


def _project(tmp_path, layout):
    path = write_project(tmp_path, [AudioTrack(name, depth=depth) for name, depth in layout])
    session, document = load_session(path)
    members = tuple(t.guid for t in session.tracks if t.name in MEMBERS)
    return session, document, members


def _structure(session) -> list[tuple[str, int]]:
    return [(t.name, t.folder_depth) for t in session.tracks]


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_scattered_members_gathered_live_as_in_the_file(tmp_path, layout, batched):
    session, document, members = _project(tmp_path, LAYOUTS[layout])
    cs = ChangeSet("Automix: drums bus", buses=(BusChange("Drums", members, volume=0.8, pan=-0.3),))

    apply_to_document(document, session, cs)
    write_document(document, tmp_path / "out.rpp")
    offline, _ = load_session(tmp_path / "out.rpp")
    # the file path's result is itself right: a new top-level folder over the members, in their order
    names = [t.name for t in offline.tracks]
    start = names.index("Drums")
    assert names[start + 1 : start + 1 + len(members)] == [t.name for t in session.tracks if t.guid in members]
    assert [t.name for t in offline.tracks if t.name != "Drums" and t.guid not in members] == [
        t.name for t in session.tracks if t.guid not in members]

    spec = spec_from_session(session)
    for t in spec["tracks"]:
        t["selected"] = t["name"] in SELECTED
    with Host(spec, tmp_path / "host") as host:
        bridge = connect(web_port=host.web_port)
        first = apply_changes(bridge, session, cs, batched=batched)
        after_first = read_live_session(bridge).session
        second = apply_changes(bridge, after_first, cs, batched=batched)
        after_second = read_live_session(bridge).session
        dump = host.stop()

    assert _structure(after_first) == _structure(offline)
    assert [t.guid for t in after_first.tracks if t.name != "Drums"] == [
        t.guid for t in offline.tracks if t.name != "Drums"]
    live_bus = next(t for t in dump["tracks"] if t["ext"].get(EXT_BUS) == "Drums")
    file_bus = next(t for t in offline.tracks if t.ext.get(EXT_BUS) == "Drums")
    assert (live_bus["volume"], live_bus["pan"]) == (file_bus.volume, file_bus.pan) == (0.8, -0.3)
    # one undo point per run, nothing outside it; the second run reuses the bus and moves nothing
    assert dump["undo"] == [cs.description, cs.description]
    assert dump["changes_outside_undo"] == [] and dump["undo_depth"] == 0 and dump["ui_refresh"] == 0
    assert (first.summary["buses_created"], second.summary["buses_created"]) == (1, 0)
    assert second.summary["buses_reused"] == 1
    assert _structure(after_second) == _structure(after_first)
    assert dump["calls"].get("ReorderSelectedTracks") == 1
    assert sorted(t["name"] for t in dump["tracks"] if t["selected"]) == sorted(SELECTED)


def test_members_in_different_folders_are_refused_live_and_in_the_file(tmp_path):
    layout = [("Kick", 0), ("Keys", 1), ("Snare", -1), ("Bass", 0), ("Hat", 0)]
    session, document, members = _project(tmp_path, layout)
    cs = ChangeSet("Automix: drums bus", buses=(BusChange("Drums", members, volume=0.8),))
    with pytest.raises(AutomixError, match="'Drums': its tracks are spread over several folders"):
        apply_to_document(document, session, cs)
    with Host(spec_from_session(session), tmp_path / "host") as host:
        bridge = connect(web_port=host.web_port)
        with pytest.raises(AutomixError, match="'Drums': its tracks are spread over several folders"):
            apply_changes(bridge, session, cs)
        dump = host.stop()
    assert [(t["name"], t["folder_depth"]) for t in dump["tracks"]] == layout
    assert dump["calls"].get("ReorderSelectedTracks") is None and dump["calls"].get("InsertTrackInProject") is None


def _reorder(layout, selected, before_idx, make_prev_folder):
    r = FakeReaper({"tracks": [{"name": n, "folder_depth": d, "selected": n in selected} for n, d in layout]})
    m = build_module(r)
    moved = m.RPR_ReorderSelectedTracks(before_idx, make_prev_folder)
    return moved, [(t.name, t.depth) for t in r.tracks]


# Expected results worked out by hand from the SDK text (see ReorderSelectedTracks in fake_reaper.py)
@pytest.mark.parametrize("layout, selected, before_idx, mode, expected", [
    # normal: above the track at the index, keeping their order, others' order kept
    ([("A", 0), ("B", 0), ("C", 0), ("D", 0), ("E", 0)], "DB", 1, 0,
     [("A", 0), ("B", 0), ("D", 0), ("C", 0), ("E", 0)]),
    ([("A", 0), ("B", 0), ("C", 0)], "A", 3, 0, [("B", 0), ("C", 0), ("A", 0)]),
    # normal after a folder's last track: outside that folder
    ([("F", 1), ("x", -1), ("A", 0), ("B", 0)], "B", 2, 0, [("F", 1), ("x", -1), ("B", 0), ("A", 0)]),
    # 2: the previous track is the last in its folder: the folder is extended over the moved tracks
    ([("F", 1), ("x", -1), ("A", 0), ("B", 0)], "AB", 2, 2, [("F", 1), ("x", 0), ("A", 0), ("B", -1)]),
    ([("F", 1), ("x", 0), ("y", -1), ("A", 0)], "A", 2, 2,  # x is not the last: as normal
     [("F", 1), ("x", 0), ("A", 0), ("y", -1)]),
    # 1: as children of the previous track, which becomes a folder
    ([("P", 0), ("A", 0), ("B", 0), ("C", 0)], "BC", 1, 1, [("P", 1), ("B", 0), ("C", -1), ("A", 0)]),
    ([("F", 1), ("x", -1), ("A", 0)], "A", 2, 1, [("F", 1), ("x", 1), ("A", -2)]),
    # moving a folder's last track out: the track above it closes the folder instead
    ([("F", 1), ("x", 0), ("y", -1), ("A", 0)], "y", 4, 0, [("F", 1), ("x", -1), ("A", 0), ("y", 0)]),
    ([("F", 1), ("y", -1), ("A", 0)], "y", 3, 0, [("F", 0), ("A", 0), ("y", 0)]),
])
def test_stand_in_reorder_follows_the_sdk_description(layout, selected, before_idx, mode, expected):
    assert _reorder(layout, selected, before_idx, mode) == (True, expected)


def test_stand_in_reorder_without_selection_does_nothing():
    layout = [("A", 0), ("B", 0)]
    assert _reorder(layout, "", 0, 0) == (False, layout)
