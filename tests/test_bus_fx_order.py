"""Our ReaEQ/ReaComp go first in a bus's FX chain, before the user's plug-ins, in the file and live alike; a
re-run keeps that order and changes nothing; a bus with user FX after ours is reported (the console does not
model them)."""

from __future__ import annotations

import numpy as np

from audio_projects import AudioTrack, pink_noise, write_project
from reaper_automix.changes import BusChange, ChangeSet
from reaper_automix.fx_notes import bus_fx_note
from reaper_automix.live.apply import apply_changes as apply_live
from reaper_automix.live.bridge import connect
from reaper_automix.live.session import read_live_session
from reaper_automix.rpp.apply import apply_changes
from reaper_automix.rpp.document import parse_document
from reaper_automix.rpp.edit import add_fx
from reaper_automix.rpp.reader import load_session, session_from_document
from reaper_automix.rpp.edit import track_chunks
from reaper_automix.strip import Compressor, EqBand
from tests.live_harness.process import Host, spec_from_session

EQ = (EqBand("low_shelf", 120.0, -2.0, 0.7), EqBand("peak", 1000.0, 1.5, 1.2), EqBand("high_shelf", 9000.0, 3.0, 0.7))
COMP = Compressor(threshold_db=-18.0, ratio=3.0, attack_ms=15.0, release_ms=120.0, knee_db=6.0, makeup_db=0.0)
USER_FX = ["BYPASS 0 0 0", '<VST "VST3: Glue (Vendor)" Glue.vst3 0 "" 1{00} ""', "  AAAA", ">",
           "FXID {0000F000-0000-4000-8000-0000000000AA}", "WAK 0 0"]


def _project(tmp_path):
    rng = np.random.default_rng(0)
    path = write_project(tmp_path, [AudioTrack("Keys", depth=1), AudioTrack("Piano", pink_noise(4410, rng)),
                                    AudioTrack("Organ", pink_noise(4410, rng), depth=-1)])
    session, document = load_session(path)
    add_fx(track_chunks(document)[0], "\n".join(USER_FX) + "\n")  # the user's bus compressor
    path.write_bytes(document.to_bytes())
    session, _ = load_session(path)
    bus = BusChange("Keys", (session.tracks[1].guid, session.tracks[2].guid), folder_guid=session.tracks[0].guid,
                    volume=0.7, eq=EQ, compressor=COMP)
    return path, session, ChangeSet("t", buses=(bus,))


def _chain(track):
    return [(f.name, f.ours) for f in track.fx]


def test_ours_first_in_the_file_and_a_rerun_changes_nothing(tmp_path):
    path, session, changes = _project(tmp_path)
    assert bus_fx_note(session.tracks[0]).startswith("bus 'Keys': our EQ and compressor go first")
    texts = []
    for _ in range(2):
        session, document = load_session(path)
        apply_changes(document, session, changes)
        path.write_bytes(document.to_bytes())
        texts.append(path.read_bytes())
        bus = session_from_document(parse_document(texts[-1]), path).tracks[0]
        assert _chain(bus) == [("Automix EQ", True), ("Automix Comp", True), ("Glue (Vendor)", False)]
        assert [f.label for f in bus.active_fx] == ["Glue (VST3)"]  # the user's, as the report names them
    assert texts[0] == texts[1]


def test_ours_first_live_as_in_the_file(tmp_path):
    path, session, changes = _project(tmp_path)
    with Host(spec_from_session(session), tmp_path / "host") as host:
        bridge = connect(web_port=host.web_port)
        for _ in range(2):
            apply_live(bridge, read_live_session(bridge).session, changes)
            bus = read_live_session(bridge).session.tracks[0]
            assert [(f.plugin, f.ours) for f in bus.fx] == [
                ("ReaEQ (Cockos)", True), ("ReaComp (Cockos)", True), ("Glue (Vendor)", False)]
        host.stop()
