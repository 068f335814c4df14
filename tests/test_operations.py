"""The resolved operations (reaper_automix.operations): one list, two executors that agree.

For random small projects (folder structures with clamped closings, audio and MIDI items, earlier runs' buses)
and random change sets, the operation list is executed by the file executor (rpp.apply.execute, on the parsed
.rpp) and by the live executor (live.ops.apply_plan, in-process on the stand-in REAPER); both must give the same
project. Independently of both, each bus must carry exactly its members and every other track must keep its
folder; a second run on each executor's result changes nothing. Layouts no bus can be built for are refused by
the resolver with the one known message, before anything is changed.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rpp_helpers import TrackSpec, project_text

from reaper_automix import operations
from reaper_automix.changes import EXT_BUS, EXT_CREATED, BusChange, ChangeSet, FaderChange, TakeGainChange
from reaper_automix.errors import AutomixError
from reaper_automix.live import ops
from reaper_automix.live.apply import operation_name, plan_from_changes
from reaper_automix.live.session import session_from_data
from reaper_automix.rpp.apply import apply_changes
from reaper_automix.rpp.document import parse_document
from reaper_automix.rpp.reader import session_from_document
from reaper_automix.strip import Compressor, EqBand
from tests.live_harness.fake_reaper import FakeReaper, build_module
from tests.live_harness.process import spec_from_session

SPREAD = "its tracks are spread over several folders"
EQ = (EqBand("low_shelf", 120.0, -2.0, 0.7), EqBand("high_shelf", 9000.0, 3.0, 0.7))
COMP = Compressor(threshold_db=-18.0, ratio=3.0, attack_ms=15.0, release_ms=120.0, knee_db=6.0, makeup_db=0.0)


def _item(kind: str) -> list[str]:
    source = ['<SOURCE WAVE', '  FILE "a.wav"', ">"] if kind == "audio" else [
        "<SOURCE MIDI", "  HASDATA 1 960 QN", "  E 960 b0 7b 00", ">"]
    return ["<ITEM", "  POSITION 0", "  LENGTH 1", "  VOLPAN 1 0 0.5 -1", *["  " + s for s in source], ">"]


@st.composite
def projects(draw) -> bytes:
    n = draw(st.integers(2, 9))
    specs = []
    for i in range(n):
        items = draw(st.lists(st.sampled_from(["audio", "audio", "midi"]), max_size=2))
        body = [line for kind in items for line in _item(kind)]
        specs.append(TrackSpec(f"t{i}", draw(st.sampled_from([0, 0, 0, 0, 1, 1, -1, -2])), body=body))
    return project_text(specs).encode()


@st.composite
def change_sets(draw, session) -> ChangeSet:
    tracks = session.tracks
    some = st.lists(st.integers(0, len(tracks) - 1), unique=True, max_size=4)
    faders = tuple(FaderChange(tracks[i].guid, tracks[i].name, 1.0, draw(st.sampled_from([0.25, 0.5, 2.0])))
                   for i in draw(some))
    takes = tuple(TakeGainChange(tracks[i].guid, tracks[i].name, draw(st.sampled_from([-6.0, 3.5])))
                  for i in draw(some))
    buses, used = [], set()
    for k in range(draw(st.integers(0, 2))):
        folders = [t.index for t in tracks if t.is_folder]
        parent = draw(st.sampled_from(folders)) if folders and draw(st.booleans()) else None
        children = [t.index for t in session.children(parent) if t.index not in used]
        if parent is None and draw(st.booleans()):  # top-level tracks, scattered: gathered by a move
            children = [i for i in children if tracks[i].folder_depth == 0]
        if not children:
            continue
        members = sorted(draw(st.lists(st.sampled_from(children), unique=True, min_size=1)))
        used.update(members)
        folder = None
        if parent is not None and members == [t.index for t in session.children(parent)] and draw(st.booleans()):
            folder = tracks[parent].guid
        fx = draw(st.booleans())
        buses.append(BusChange(f"Bus {k}", tuple(tracks[m].guid for m in members),
                               folder_guid=folder, volume=draw(st.sampled_from([None, 0.8])),
                               pan=draw(st.sampled_from([None, -0.3])), eq=EQ if fx else None,
                               compressor=COMP if fx else None))
    return ChangeSet("Automix: test", faders, takes, tuple(buses))


def _file_run(data: bytes, changes: ChangeSet) -> bytes:
    document = parse_document(data)
    apply_changes(document, session_from_document(document, "/p/x.rpp"), changes)
    return document.to_bytes()


def _live_run(reaper: FakeReaper, changes: ChangeSet) -> None:
    api = ops.Api(build_module(reaper))
    plan, _ = plan_from_changes(session_from_data(ops.read_project(api)), changes)
    ops.apply_plan(plan, api=api)


def _round(x: float) -> float:
    return float(f"{x:.12g}")  # the file stores 14 significant digits


def _project(session, new: set[str]) -> list[tuple]:
    """What both executors must agree on, per track in order; tracks this run inserted by name, not GUID."""
    return [(t.name, None if t.guid in new else t.guid, t.folder_depth, _round(t.volume), _round(t.pan),
             [_round(i.take.volume) if i.take else None for i in t.items],
             t.ext.get(EXT_BUS), t.ext.get(EXT_CREATED), [f.plugin for f in t.fx])
            for t in session.tracks]


def _fake_session(reaper: FakeReaper):
    return session_from_data(ops.read_project(ops.Api(build_module(reaper))))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_file_and_live_executors_give_the_same_project(data):
    text = data.draw(projects())
    session = session_from_document(parse_document(text), "/p/x.rpp")
    changes = data.draw(change_sets(session))
    try:
        operations.resolve(session, changes)
    except AutomixError as exc:  # the one refusal a layout can meet; both executors refuse it unchanged
        assert SPREAD in str(exc)
        document = parse_document(text)
        with pytest.raises(AutomixError, match=SPREAD):
            apply_changes(document, session, changes)
        assert document.to_bytes() == text
        return
    written = _file_run(text, changes)
    in_file = session_from_document(parse_document(written), "/p/x.rpp")
    reaper = FakeReaper(spec_from_session(session))
    _live_run(reaper, changes)
    live = _fake_session(reaper)
    old = {t.guid for t in session.tracks}
    assert _project(live, {t.guid for t in live.tracks} - old) == _project(
        in_file, {t.guid for t in in_file.tracks} - old)

    # independent of both: each bus carries exactly its members, and every other track keeps its parent
    by_guid = {t.guid: t.index for t in in_file.tracks}
    bus_of = {t.ext[EXT_BUS]: t.index for t in in_file.tracks if EXT_BUS in t.ext}
    carried = set()
    for bus in changes.buses:
        children = {in_file.tracks[c.index].guid for c in in_file.children(bus_of[bus.group])}
        assert set(bus.member_guids) <= children
        if bus.folder_guid is None:
            assert children == set(bus.member_guids)
            carried |= children
    for t in session.tracks:
        if t.guid not in carried:
            before = session.parent(t.index)
            after = in_file.parent(by_guid[t.guid])
            assert (None if before is None else session.tracks[before].guid) == (
                None if after is None else in_file.tracks[after].guid)

    # a second run on each executor's own result changes nothing (take gains are relative: a re-run's are 0)
    rerun = replace(changes, take_gains=())
    assert _file_run(written, rerun) == written
    first = _project(live, set())
    _live_run(reaper, rerun)
    again = _fake_session(reaper)
    assert [row[:8] for row in _project(again, set())] == [row[:8] for row in first]


def test_every_operation_has_a_live_executor():
    kinds = [operations.SetVolume("a", 1.0), operations.SetPan("a", 0.0), operations.ScaleTakes("a", (), 1.0),
             operations.MoveTracks(("a",), "b"), operations.InsertFolderTrack("new:0", "a", "x"),
             operations.SetFolderDepth("a", 0), operations.SetExt("a", "k", "v"),
             operations.ReplaceTaggedFx("a", None, None)]
    assert set(operations.Operation.__args__) == {type(op) for op in kinds}
    assert {operation_name(op) for op in kinds} == set(ops.OPERATIONS)


def test_scattered_top_level_members_resolve_to_one_move_then_a_folder():
    text = project_text([TrackSpec("Kick"), TrackSpec("Keys", 1), TrackSpec("Piano", -1), TrackSpec("Snare"),
                         TrackSpec("Bass"), TrackSpec("Hat")]).encode()
    session = session_from_document(parse_document(text), "/p/x.rpp")
    g = [t.guid for t in session.tracks]
    changes = ChangeSet("t", buses=(BusChange("Drums", (g[0], g[3], g[5]), volume=0.5),))
    (faders, takes, bus) = operations.resolve(session, changes)
    assert faders.operations == () and takes.operations == () and bus.label == "bus 'Drums'"
    assert bus.operations == (
        operations.MoveTracks((g[3], g[5]), after=g[0]),
        operations.InsertFolderTrack("new:0", before=g[0], name="Drums"),
        operations.SetFolderDepth(g[5], -1),
        operations.SetExt("new:0", EXT_BUS, "Drums"),
        operations.SetVolume("new:0", 0.5),
    )


def test_resolver_names_missing_tracks_and_refuses_spread_groups():
    text = project_text([TrackSpec("Kick"), TrackSpec("Keys", 1), TrackSpec("Snare", -1), TrackSpec("Hat")]).encode()
    session = session_from_document(parse_document(text), "/p/x.rpp")
    g = [t.guid for t in session.tracks]
    with pytest.raises(AutomixError, match=r"'Drums': its tracks are spread over several folders; put them"):
        operations.resolve(session, ChangeSet("t", buses=(BusChange("Drums", (g[0], g[2])),)))
    gone = "{DEADBEEF-0000-4000-8000-000000000000}"
    with pytest.raises(AutomixError, match=r"track 'Tom' \(\{DEADBEEF.*\}\) is no longer in the project"):
        operations.resolve(session, ChangeSet("t", faders=(FaderChange(gone, "Tom", 1.0, 0.5),)))
