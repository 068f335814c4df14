"""The live bridge end to end: reapy's real client -> our safe server action -> a stand-in REAPER host.

Values are compared with what the ChangeSet says (and, for reading, with the .rpp reader on REAPER-written
fixtures). The host is a separate process (tests/live_harness/host.py) on free ports of 127.0.0.1.
"""

from __future__ import annotations

import math
import time
import urllib.request
from pathlib import Path

import pytest

from reaper_automix import changes as changes_module
from reaper_automix.errors import AutomixError
from reaper_automix.live import bridge as bridge_module
from reaper_automix.live import ops
from reaper_automix.live.apply import apply_changes
from reaper_automix.live.bridge import RemoteApi, connect
from reaper_automix.live.session import read_live_session
from reaper_automix.rpp.reader import load_session
from reaper_automix.session import Session
from tests.live_harness.fake_reaper import eq_freq_hz, eq_gain_linear
from tests.live_harness.process import Host, spec_from_session
from tests.live_harness.scenario import make_changes, make_session

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rpp"
N_GROUPS, PER_GROUP, FOLDERED = 4, 3, 2


@pytest.fixture
def scenario():
    session = make_session(N_GROUPS, PER_GROUP, FOLDERED)
    return session, make_changes(session, N_GROUPS, PER_GROUP, FOLDERED)


def parents_of(tracks: list[dict]) -> list[str | None]:
    """Folder parent (by GUID) of each dumped track, by REAPER's I_FOLDERDEPTH rule (as Session.parents)."""
    stack: list[str] = []
    out: list[str | None] = []
    for t in tracks:
        out.append(stack[-1] if stack else None)
        if t["folder_depth"] > 0:
            stack.append(t["guid"])
        elif t["folder_depth"] < 0:
            del stack[max(0, len(stack) + t["folder_depth"]) :]
    return out


def test_tag_keys_match_changes_module():
    assert (ops.EXT_BUS, ops.EXT_CREATED, ops.EXT_FX) == (
        changes_module.EXT_BUS, changes_module.EXT_CREATED, changes_module.EXT_FX)


@pytest.mark.parametrize("batched", [True, False])
def test_apply_matches_changeset_one_undo_point_and_rerun_adds_nothing(tmp_path, scenario, batched):
    session, cs = scenario
    with Host(spec_from_session(session), tmp_path) as host:
        bridge = connect(web_port=host.web_port)
        first = apply_changes(bridge, session, cs, batched=batched)
        second = apply_changes(bridge, read_live_session(bridge).session, cs, batched=batched)
        dump = host.stop()
    assert first.check_problems == [] and second.check_problems == []
    assert (first.round_trips == 1) == batched and (second.round_trips == 1) == batched
    # exactly one named undo point per run, nothing changed outside it, UI refresh balanced
    assert dump["undo"] == [cs.description, cs.description]
    assert dump["changes_outside_undo"] == [] and dump["undo_depth"] == 0 and dump["ui_refresh"] == 0
    tracks = {t["guid"]: t for t in dump["tracks"]}
    for f in cs.faders:
        assert tracks[f.track_guid]["volume"] == f.volume_after
    applied_twice = {t.track_guid: 10 ** (2 * t.gain_db / 20) for t in cs.take_gains}  # the same set, twice
    for t in session.tracks:
        for vol in tracks[t.guid]["take_volumes"]:
            assert vol == pytest.approx(applied_twice.get(t.guid, 1.0), rel=1e-12)
    # buses: user folders reused, the others inserted once as folders over exactly their members
    assert first.summary["buses_created"] == N_GROUPS - FOLDERED and second.summary["buses_created"] == 0
    assert len(dump["tracks"]) == len(session.tracks) + N_GROUPS - FOLDERED
    parents = parents_of(dump["tracks"])
    by_group = {t["ext"].get(ops.EXT_BUS): t for t in dump["tracks"] if ops.EXT_BUS in t["ext"]}
    for bus in cs.buses:
        bus_track = by_group[bus.group]
        assert (bus_track["ext"].get(ops.EXT_CREATED) == "1") == (bus.folder_guid is None)
        members = [t["guid"] for t, p in zip(dump["tracks"], parents) if p == bus_track["guid"]]
        assert members == list(bus.member_guids)
        assert bus_track["volume"] == bus.volume and bus_track["pan"] == bus.pan
        # effects: one ReaEQ + one ReaComp, tagged by FX GUID; the rerun replaced them instead of stacking
        fx = bus_track["fx"]
        assert [f["name"] for f in fx] == ["ReaEQ (Cockos)", "ReaComp (Cockos)"]
        assert bus_track["ext"][ops.EXT_FX].split() == [f["guid"] for f in fx]
        eq, comp = fx
        for k, band in enumerate(bus.eq):  # layout LS, peak, (unused peak), HS -> slots 0, 1, 3
            slot = {"low_shelf": 0, "peak": 1, "high_shelf": 3}[band.kind]
            assert eq["band_enabled"][slot]
            assert eq_freq_hz(eq["params"][3 * slot]) == pytest.approx(band.freq_hz, rel=1e-9)
            assert 20 * math.log10(eq_gain_linear(eq["params"][3 * slot + 1])) == pytest.approx(band.gain_db, abs=1e-9)
            assert 4 * eq["params"][3 * slot + 2] == pytest.approx(band.bandwidth_oct, rel=1e-9)
        assert not eq["band_enabled"][2]
        c = bus.compressor
        assert comp["params"][14] == pytest.approx(c.knee_db / 24, rel=1e-9)  # the table: 24 dB full scale
        assert comp["params"][11] == pytest.approx(10 ** (c.makeup_db / 20), rel=1e-9)  # make-up as Wet
        assert comp["params"][10] == pytest.approx(3.1622776e-08)  # dry off (the table's fixed value)
        assert 20 * math.log10(comp["params"][0]) == pytest.approx(c.threshold_db, abs=1e-9)
        assert 1 + 99 * comp["params"][1] == pytest.approx(c.ratio, rel=1e-9)
        assert 500 * comp["params"][2] == pytest.approx(c.attack_ms, rel=1e-9)
        assert 5000 * comp["params"][3] == pytest.approx(c.release_ms, rel=1e-9)


def _strip(session: Session) -> list:
    """What the stand-in carries per track, for comparing the live reader with the .rpp reader."""
    return [(t.name, t.guid, t.volume, t.pan, t.mute, t.folder_depth,
             [(i.position_s, i.length_s, i.volume, i.mute, i.take and i.take.volume,
               i.take and i.take.source.kind, i.take and i.take.source.file) for i in t.items])
            for t in session.tracks]


@pytest.mark.parametrize("name", ["perlence-rpp_vst.RPP", "exvertus_test_track.rpp"])
def test_live_read_agrees_with_rpp_reader(tmp_path, name):
    session, _ = load_session(FIXTURES / name)
    with Host(spec_from_session(session), tmp_path) as host:
        bridge = connect(web_port=host.web_port)
        live = read_live_session(bridge)
    assert live.round_trips == 1
    assert live.session.sample_rate == session.sample_rate
    assert _strip(live.session) == _strip(session)
    assert live.session.parents() == session.parents()


def test_track_deleted_between_read_and_write_changes_nothing(tmp_path, scenario):
    session, cs = scenario
    victim = session.tracks[2]
    script = tmp_path / "delete_track.py"  # the user deletes a track meanwhile (in REAPER, not through the server)
    script.write_text(f"RPR_DeleteTrack(RPR_GetTrack(0, {victim.index}))\n")
    with Host(spec_from_session(session), tmp_path, actions={"delete": script}) as host:
        bridge = connect(web_port=host.web_port)
        read_live_session(bridge)
        api = RemoteApi(bridge)
        count = api.CountTracks(0)
        urllib.request.urlopen(f"http://127.0.0.1:{host.web_port}/_/delete").read()
        deadline = time.monotonic() + 10
        while api.CountTracks(0) == count and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(AutomixError) as err:
            apply_changes(bridge, session, cs)
        assert str(err.value) == (f"cannot apply {cs.description!r}: tracks no longer in the project (deleted "
                                  f"since it was read?): {victim.name}; nothing was changed")
        dump = host.stop()
    assert dump["undo"] == [] and dump["changes_outside_undo"] == [f"delete {victim.name}"]
    assert all(t["volume"] == 1.0 and not t["fx"] for t in dump["tracks"])


def test_failure_midway_closes_the_undo_block_and_reports(tmp_path, scenario):
    session, cs = scenario
    spec = spec_from_session(session, faults={"TrackFX_AddByName": (3, "raise")})
    with Host(spec, tmp_path) as host:
        bridge = connect(web_port=host.web_port)
        with pytest.raises(AutomixError, match="injected fault.*\n.*one undo step"):
            apply_changes(bridge, session, cs)
        dump = host.stop()
    assert dump["undo"] == [cs.description] and dump["undo_depth"] == 0 and dump["ui_refresh"] == 0
    progress = dump["ext_state"]["reaper_automix/last_apply"]
    assert "interrupted: RuntimeError" in progress and "bus 'Group 0'" in progress and "Group 1" not in progress


@pytest.mark.parametrize("batched", [True, False])
def test_server_dying_midrun_leaves_undo_closed(tmp_path, scenario, batched):
    session, cs = scenario
    spec = spec_from_session(session, faults={"TrackFX_AddByName": (3, "die")})
    with Host(spec, tmp_path) as host:
        bridge = connect(web_port=host.web_port)
        with pytest.raises(AutomixError, match="lost the connection to REAPER"):
            apply_changes(bridge, session, cs, batched=batched)
        dump = host.stop()
    assert dump["undo_depth"] == 0 and dump["ui_refresh"] == 0
    if batched:  # closed by apply_plan's finally inside REAPER, progress recorded
        assert dump["undo"] == [cs.description]
        assert "interrupted: SystemExit" in dump["ext_state"]["reaper_automix/last_apply"]
    else:  # closed by the server when the script host stopped with the client's block open
        from reaper_automix.live.server import INTERRUPTED_UNDO

        assert dump["undo"] == [INTERRUPTED_UNDO]


def test_unreachable_reaper_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AutomixError, match="REAPER is not reachable on 127.0.0.1:%d" % port):
        connect(web_port=port)
    with Host({"tracks": []}, tmp_path, scripts=()) as host:  # REAPER up, server action not running
        with pytest.raises(AutomixError, match="REAPER is not reachable.*no web interface answered"):
            connect(web_port=host.web_port)


def test_current_project_translates_reapys_attribute_error(monkeypatch):
    import reapy

    def broken(*a, **k):
        raise AttributeError("module 'reapy.reascript_api' has no attribute 'EnumProjects'")

    monkeypatch.setattr(reapy, "Project", broken)
    fake = bridge_module.Bridge.__new__(bridge_module.Bridge)
    fake.host, fake.web_port = "127.0.0.1", 1
    with pytest.raises(AutomixError, match="REAPER is not reachable"):
        bridge_module.current_project(fake)


@pytest.mark.parametrize("name", ["perlence-rpp_vst.RPP", "exvertus_test_track.rpp"])
def test_live_and_rpp_paths_give_the_same_faders_and_take_volumes(tmp_path, name):
    """The same ChangeSet through reaper_automix.rpp.apply (file) and through the bridge (stand-in REAPER)."""
    from reaper_automix.changes import ChangeSet, FaderChange, TakeGainChange
    from reaper_automix.rpp.apply import apply_changes as apply_to_document
    from reaper_automix.rpp.document import write_document

    session, document = load_session(FIXTURES / name)
    faders = tuple(FaderChange(t.guid, t.name, t.volume, 0.1 + 0.07 * i) for i, t in enumerate(session.tracks))
    takes = tuple(TakeGainChange(t.guid, t.name, -7.5 + 3 * i) for i, t in enumerate(session.tracks) if t.items)
    # both fixtures have MIDI items, which take gains must skip (the exvertus one beside 57 FLAC items)
    assert takes and any(i.take and not i.is_audio for t in session.tracks for i in t.items)
    cs = ChangeSet("Automix: cross-check", faders, takes)
    apply_to_document(document, session, cs)
    write_document(document, tmp_path / "out.rpp")
    offline, _ = load_session(tmp_path / "out.rpp")
    with Host(spec_from_session(session), tmp_path / "host") as host:
        apply_changes(connect(web_port=host.web_port), session, cs)
        dump = host.stop()
    assert [t["volume"] for t in dump["tracks"]] == pytest.approx([t.volume for t in offline.tracks], rel=1e-12)
    live_takes = [v for t in dump["tracks"] for v in t["take_volumes"]]
    file_takes = [i.take.volume if i.take else None for t in offline.tracks for i in t.items]
    assert [v is None for v in live_takes] == [v is None for v in file_takes]
    assert [v for v in live_takes if v is not None] == pytest.approx([v for v in file_takes if v is not None],
                                                                     rel=1e-12)
    before = [i.take.volume if i.take else None for t in session.tracks for i in t.items]
    assert (live_takes != before) == any(i.is_audio for t in session.tracks for i in t.items)
