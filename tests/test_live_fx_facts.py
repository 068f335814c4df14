"""The live bridge reports the same FX chain, instrument and receive facts as the .rpp reader: REAPER's track
state chunk (``GetTrackStateChunk``, the project-file format) is cut to its FX skeleton inside REAPER and read
by the same code as a project file. The stand-in host serves each track's state as REAPER writes it."""

from __future__ import annotations

import pytest
from rpp_helpers import FIXTURES

from reaper_automix.live.bridge import connect
from reaper_automix.live.ops import fx_skeleton
from reaper_automix.live.session import read_live_session
from reaper_automix.rpp.reader import load_session
from reaper_automix.session import FxFormat, SendMode
from tests.live_harness.process import Host, spec_from_session


def _live(spec, folder):
    with Host(spec, folder) as host:
        session = read_live_session(connect(web_port=host.web_port)).session
        host.stop()
    return session


def _facts(session):
    return [(t.name, t.fx, t.fx_enabled, t.receives) for t in session.tracks]


@pytest.mark.parametrize("name", ["perlence-rpp_vst.RPP", "exvertus_test_track.rpp", "vst-chunk-inspector_simple.RPP"])
def test_live_facts_equal_the_rpp_readers(tmp_path, name):
    offline, _ = load_session(FIXTURES / name)
    assert any(t.fx for t in offline.tracks)
    assert _facts(_live(spec_from_session(offline), tmp_path)) == _facts(offline)


def test_live_facts_from_a_hand_written_host(tmp_path):
    spec = {"tracks": [
        {"name": "Gtr", "fx": [{"name": "VST3: Amp (Vendor)", "offline": True}, {"name": "JS: saturation"},
                               {"name": "VST: ReaComp (Cockos)", "custom": "Glue", "bypassed": True}]},
        {"name": "Keys", "fx_enabled": False, "fx": [{"name": "CLAPi: Surge XT (Surge)"}]},
        {"name": "Verb", "receives": [{"source": 0, "mode": 3, "volume": 0.5},
                                      {"source": 1, "mode": 0, "dest_channel": 2}],
         "fx": [{"name": "VST: ReaVerbate (Cockos)"}]},
    ]}
    gtr, keys, verb = _live(spec, tmp_path).tracks
    assert [(f.name, f.format, f.offline, f.bypassed) for f in gtr.fx] == [
        ("Amp (Vendor)", FxFormat.VST3, True, False), ("saturation", FxFormat.JS, False, False),
        ("Glue", FxFormat.VST, False, True)]
    assert [f.label for f in gtr.active_fx] == ["saturation (JS)"]
    assert not keys.fx_enabled and keys.fx[0].instrument and keys.fx[0].format is FxFormat.CLAP
    assert [(r.source, r.mode, r.volume, r.feeds_main_pair) for r in verb.receives] == [
        (0, SendMode.POST_FX, 0.5, True), (1, SendMode.POST_FADER, 1.0, False)]
    assert verb.is_return


def test_skeleton_keeps_only_the_chain_and_receives():
    chunk = "\n".join([
        "<TRACK {A}", "  NAME x", "  FX 1", "  AUXRECV 0 0 1 0 0 0 0 0 0 -1:U 0 -1 ''", "  <FXCHAIN", "    SHOW 0",
        "    BYPASS 0 0 0", '    <VST "VST: A (B)" a.dll 0 "" 1<00> ""', "      QUJD", "    >", "    FXID {F}",
        "  >", "  <FXCHAIN_REC", "    BYPASS 0 0 0", "    <JS rec \"\"", "    >", "    FXID {R}", "  >",
        "  <ITEM", "    <SOURCE MIDI", "      E 0 90 3c 60", "    >", "  >", ">"])
    assert fx_skeleton(chunk).split("\n") == [
        "<TRACK {A}", "FX 1", "AUXRECV 0 0 1 0 0 0 0 0 0 -1:U 0 -1 ''", "<FXCHAIN", "BYPASS 0 0 0",
        '<VST "VST: A (B)" a.dll 0 "" 1<00> ""', ">", "FXID {F}", ">", ">"]
