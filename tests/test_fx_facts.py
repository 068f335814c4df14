"""FX chains, instruments and receives in the session model, from REAPER-written fixtures and hand-written
chunks for the flags no fixture holds (offline plug-ins, a bypassed chain, pre-fader and MIDI-only sends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rpp_helpers import FIXTURES, TrackSpec, project_text

from reaper_automix.changes import EXT_FX
from reaper_automix.rpp.document import parse_document
from reaper_automix.rpp.reader import load_session, session_from_document
from reaper_automix.session import FxFormat, SendMode

PROJECT = Path("/music/song/song.rpp")


def _session(tracks):
    return session_from_document(parse_document(project_text(tracks)), PROJECT)


def _fx_block(header: str, bypass: str = "0 0 0", fxid: str = "{11111111-0000-4000-8000-000000000000}") -> list:
    tag = header.split()[0]
    body = ["  776t3g3wrd4AAAAA"] if tag == "<VST" else ["  0 - - -"]
    return [f"BYPASS {bypass}", header, *body, ">", "FLOATPOS 0 0 0 0", f"FXID {fxid}", "WAK 0 0"]


def _chain(*blocks: list) -> list[str]:
    lines = ["<FXCHAIN", "  SHOW 0", "  LASTSEL 0", "  DOCKED 0"]
    for block in blocks:
        lines += ["  " + line for line in block]
    return lines + [">"]


def _labels(track):
    return [f.label for f in track.fx]


# --- REAPER-written fixtures ---------------------------------------------------------------------------------
def test_perlence_fx_instrument_and_receives():
    session, _ = load_session(FIXTURES / "perlence-rpp_vst.RPP")
    tracks = session.tracks
    assert _labels(tracks[0]) == ["ReaComp (VST)"]
    assert tracks[0].fx[0].fxid == "{83AB7B17-3578-47D1-BA2C-ED8C11C62AFA}"
    synth = tracks[1]
    assert synth.name == "Synth"
    assert [(f.plugin, f.format, f.instrument) for f in synth.fx] == [("ReaSynth (Cockos)", FxFormat.VST, True)]
    assert synth.instrument is synth.fx[0]
    assert [(r.source, r.mode, r.volume, r.dest_channel) for r in synth.receives] == [
        (4, SendMode.POST_FADER, 1.0, 0)
    ]
    boop = tracks[3]
    assert [(f.name, f.format, f.instrument) for f in boop.fx] == [("loser/3BandEQ", FxFormat.JS, False)]
    assert [r.source for r in tracks[4].receives] == [0]
    assert tracks[4].is_return  # no items: its sound is the receive from track 1 ("5.50")
    assert all(not t.fx for t in tracks[5:])
    # track 0 has MIDI items and an effect only: not an instrument track
    assert not tracks[0].is_instrument_track and tracks[0].instrument is None


def test_exvertus_sampler_renamed_comp_and_sidechain_receive():
    session, _ = load_session(FIXTURES / "exvertus_test_track.rpp")
    loop, kick, bus, scratch = session.tracks
    assert _labels(loop) == [
        "iZotope Trash 2 (VST)",
        "loser/masterLimiter (JS)",
        "FabFilter Pro-Q 3 (VST)",
        "ValhallaRoom (VST)",
    ]
    assert kick.instrument is not None and kick.instrument.plugin == "ReaSamplOmatic5000 (Cockos)"
    assert kick.is_instrument_track  # MIDI items played by a sampler
    assert [(f.name, f.plugin) for f in bus.fx] == [("Kick Duck", "ReaComp (Cockos)")]
    assert bus.fx[0].label == "Kick Duck (VST)"  # a custom name is shown whole
    main, key = bus.receives
    assert (main.source, main.dest_channel, main.feeds_main_pair) == (0, 0, True)
    assert (key.source, key.dest_channel, key.feeds_main_pair) == (1, 2, False)  # ReaComp's side input
    assert bus.audible_receives == (main,)
    assert bus.is_return
    assert not scratch.fx and not scratch.receives


def test_vst_chunk_inspector_bypassed_vst3_and_instruments():
    session, _ = load_session(FIXTURES / "vst-chunk-inspector_simple.RPP")
    (track,) = session.tracks
    assert len(track.fx) == 13
    bypassed = [f.name for f in track.fx if f.bypassed]
    assert bypassed == ["CharlesInstanze"]  # BYPASS 1 0 0, renamed ReaComp
    assert track.fx[2].plugin == "ReaComp (Cockos)"
    assert [f.plugin for f in track.fx if f.instrument] == ["Podolski (u-he)", "Zebralette (u-he)", "Zebralette (u-he)"]
    assert {f.format for f in track.fx} == {FxFormat.VST, FxFormat.VST3}
    assert len(track.active_fx) == 12
    assert not track.is_instrument_track  # instruments but no MIDI items


@pytest.mark.parametrize(
    "name, expected",
    [
        ("tenthpres_livestream-only-mixing.RPP", {"White": ["Gain", "ReaEQ (Cockos)"], "Pew": ["ReaEQ (Cockos)", "ReaVerb (Cockos)"]}),
        ("ultraschall_soundboard_linux.RPP", {"Speaker 1": [], "Soundboard": ["Soundboard (Ultraschall)", "ReaComp (Cockos)"]}),
    ],
)
def test_newer_fixtures_active_fx(name, expected):
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{name} not copied into tests/fixtures yet")
    session, _ = load_session(path)
    by_name = {t.name: t for t in session.tracks}
    for track, names in expected.items():
        assert [f.name for f in by_name[track].active_fx] == names


# --- flags no fixture holds (per the community chunk definitions, data/reaper_fx.yaml) -------------------------
def test_offline_bypassed_chain_off_and_ours():
    ours = "{22222222-0000-4000-8000-000000000000}"
    session = _session([
        TrackSpec("Gtr", body=_chain(
            _fx_block('<VST "VST3: Amp (Vendor)" Amp.vst3 0 "" 1{00}', "0 1 0"),  # offline
            _fx_block('<JS saturation ""', "0 0 0"),
            _fx_block('<VST "VST: ReaEQ (Cockos)" reaeq.dll 0 "Automix EQ" 1<00>', "0 0 0", ours),
        ) + ["<EXT", f"  {EXT_FX} {ours}", ">"]),
        TrackSpec("Chain off", body=["FX 0", *_chain(_fx_block('<CLAP "CLAPi: Surge (Surge)" surge.clap 0 ""'))]),
        TrackSpec("AU", body=_chain(_fx_block('<AU "AUi: Alchemy (Apple)" "" 0 ""'))),
    ])
    gtr, off, au = session.tracks
    assert [(f.name, f.offline, f.ours) for f in gtr.fx] == [
        ("Amp (Vendor)", True, False), ("saturation", False, False), ("Automix EQ", False, True)
    ]
    assert [f.label for f in gtr.active_fx] == ["saturation (JS)"]
    assert gtr.fx[0].label == "Amp (VST3)"
    assert not off.fx_enabled and off.fx[0].format is FxFormat.CLAP and off.active_fx == ()
    assert (au.fx[0].format, au.fx[0].instrument, au.fx[0].plugin) == (FxFormat.AU, True, "Alchemy (Apple)")


def test_receive_modes_mute_and_midi_only():
    session = _session([
        TrackSpec("Vox"),
        TrackSpec("Verb", body=[
            "AUXRECV 0 3 0.5 0 0 0 0 0 0 -1:U 0 -1 ''",  # post-FX = pre-fader
            "AUXRECV 0 1 1 0 1 0 0 0 0 -1:U 0 -1 ''",  # pre-FX, muted
            "AUXRECV 0 0 1 0 0 0 0 -1 0 -1:U 0 -1 ''",  # MIDI only
        ]),
    ])
    verb = session.tracks[1]
    pre, muted, midi = verb.receives
    assert (pre.mode, pre.mode.pre_fader, pre.volume) == (SendMode.POST_FX, True, 0.5)
    assert (muted.mode, muted.mute) == (SendMode.PRE_FX, True)
    assert not midi.audio and not midi.feeds_main_pair
    assert verb.audible_receives == (pre,)
    assert verb.is_return and not session.tracks[0].is_return


# --- info ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, words",
    [
        ("exvertus_test_track.rpp", ["iZotope", "Trash", "ValhallaRoom", "instrument:", "ReaSamplOmatic5000",
                                     "instrument", "return", "side-chain", "3/4)", "Kick", "Duck", "measured",
                                     "without", "4", "active", "plug-ins", "warning:", "--stems"]),
        ("perlence-rpp_vst.RPP", ["ReaComp", "(VST)", "ReaSynth", "loser/3BandEQ", "(JS)", "(post-fader", "return"]),
        ("vst-chunk-inspector_simple.RPP", ["Podolski", "(VST3)", "Zebralette", "1", "bypassed/offline"]),
    ],
)
def test_info_lists_fx_instruments_and_receives(name, words, monkeypatch):
    from click.testing import CliRunner

    from reaper_automix import cli
    from reaper_automix.cli import main

    monkeypatch.setattr(cli.out, "width", 400)  # a wide terminal: no cell is cut short
    result = CliRunner().invoke(main, ["info", str(FIXTURES / name)])
    assert result.exit_code == 0, result.output
    shown = set(result.output.replace("│", " ").replace(",", " ").split())
    assert set(words) <= shown, set(words) - shown
