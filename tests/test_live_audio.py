"""Audio and calibration through the stand-in: stems rendered "by REAPER" (render action looked up by name,
settings restored), the offline fallback, the live balance command end to end, and calibration by bisection."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from reaper_automix.live import fxmap
from reaper_automix.live.bridge import RemoteApi, connect
from reaper_automix.live.calibrate import calibrate
from reaper_automix.live.session import read_live_session, track_audio
from reaper_automix.reaper.mappings import from_stored, load_fx_mappings
from reaper_automix.session import Item, Session, Source, SourceKind, Take, Track
from tests.live_harness.fake_reaper import eq_freq_hz
from tests.live_harness.process import Host, spec_from_session

SR = 44100


def sine_session(folder: Path, layout: list[tuple[str, int, float, float]]) -> Session:
    """Tracks (name, folder depth, frequency Hz, amplitude), each one 2 s sine item at 0.5 s."""
    tracks = []
    for i, (name, depth, hz, amp) in enumerate(layout):
        items = ()
        if hz:
            path = folder / f"{i}.wav"
            t = np.arange(2 * SR) / SR
            sf.write(path, (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR, subtype="FLOAT")
            items = (Item(0.5, 2.0, Take(volume=1.0, source=Source(SourceKind.AUDIO, path, "WAVE"))),)
        tracks.append(Track(i, name, "{%08d-0000-0000-0000-000000000000}" % i, folder_depth=depth, items=items))
    return Session(folder / "p.rpp", SR, tuple(tracks))


def test_stems_through_reaper_render_and_settings_restored(tmp_path):
    session = sine_session(tmp_path, [("A", 0, 220.0, 0.5), ("B", 0, 440.0, 0.25)])
    spec = spec_from_session(session)
    spec["tracks"][1]["selected"] = True
    with Host(spec, tmp_path / "host") as host:
        bridge = connect(web_port=host.web_port)
        live = read_live_session(bridge)
        api = RemoteApi(bridge)
        api.GetSetProjectInfo_String(0, "RENDER_FILE", "/my/renders", True)
        audio = track_audio(bridge, live.session, [t.guid for t in live.session.tracks], tmp_path / "stems")
        assert api.GetSetProjectInfo_String(0, "RENDER_FILE", "", False)[3] == "/my/renders"
        assert api.GetSetProjectInfo(0, "RENDER_SETTINGS", 0, False) == 0
        dump = host.stop()
    assert audio.method == "reaper" and sorted(dump["rendered"]) == ["stem_1.wav", "stem_2.wav"]
    assert [t["selected"] for t in dump["tracks"]] == [False, True]  # selection restored
    for track, (hz, amp) in zip(live.session.tracks, [(220.0, 0.5), (440.0, 0.25)]):
        x = audio.render_track(live.session, track)
        assert x.shape == (2, int(2.5 * SR))
        expected = amp * np.sin(2 * np.pi * hz * np.arange(2 * SR) / SR)
        np.testing.assert_allclose(x[0, int(0.5 * SR):], expected, atol=1e-6)
        assert np.all(x[:, : int(0.5 * SR)] == 0)


def test_render_failure_falls_back_to_offline(tmp_path):
    session = sine_session(tmp_path, [("A", 0, 220.0, 0.5)])
    spec = spec_from_session(session, faults={"Main_OnCommand": (1, "raise")})
    with Host(spec, tmp_path / "host") as host:
        bridge = connect(web_port=host.web_port)
        live = read_live_session(bridge)
        audio = track_audio(bridge, live.session, [live.session.tracks[0].guid])
    assert audio.method == "offline" and "injected fault" in audio.reason
    x = audio.render_track(live.session, live.session.tracks[0])
    np.testing.assert_allclose(x[0, int(0.5 * SR):], 0.5 * np.sin(2 * np.pi * 220 * np.arange(2 * SR) / SR),
                               atol=1e-6)


def test_calibration_by_bisection_recovers_the_stand_ins_curves(tmp_path):
    with Host({"tracks": []}, tmp_path / "host") as host:
        bridge = connect(web_port=host.web_port)
        result = calibrate(bridge, tmp_path / "cal.json")
        dump = host.stop()
    assert result["round_trips"] == 2 and dump["tracks"] == []  # scratch track removed
    assert dump["undo"] == [] and dump["ui_refresh"] == 0
    comp = result["fx"][fxmap.REACOMP]
    # the stand-in displays 2 decimals: bisection lands within half a display step of each target
    table = load_fx_mappings().reacomp_by_index()
    for param in (0, 1, 2, 3, 11, 14):  # threshold, ratio, attack, release, wet (make-up), knee
        for value, x in comp[str(param)]["points"]:
            assert from_stored(table[param][1], x) == pytest.approx(value, abs=0.006)
    assert comp["0"]["name"] == "Thresh" and len(comp["0"]["points"]) == 61
    assert [v for v, _ in comp["1"]["points"]] == [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0,
                                                   20.0, 30.0, 50.0, 100.0]
    assert [v for v, _ in comp["11"]["points"]] == list(range(-24, 1))  # Wet above 0 dB: beyond x = 1
    assert any("Wet 1:" in d for d in result["dropped"]) and len(comp["14"]["points"]) == 25
    for value, x in result["fx"][fxmap.REAEQ]["3"]["points"]:
        assert eq_freq_hz(x) == pytest.approx(value, abs=0.06)
    tables = fxmap.load_calibration(tmp_path / "cal.json")
    from reaper_automix.strip import Compressor

    params, _, _ = fxmap.reacomp_params(Compressor(-12.0, 4.0, 10.0, 100.0, 0.0, 0.0), tables)
    x = dict(params)
    assert 20 * math.log10(x[0]) == pytest.approx(-12.0, abs=0.01) and 1 + 99 * x[1] == pytest.approx(4.0, abs=0.01)


def test_live_balance_command_end_to_end(tmp_path):
    """The CLI command against the stand-in: the applied faders are the pipeline's ChangeSet for the same
    session computed offline (the .rpp path's decisions), in one undo point."""
    from reaper_automix import stage1
    from reaper_automix.live.commands import live

    layout = [("Drums", 1, 0, 0), ("Kick", 0, 60.0, 0.8), ("Snare", -1, 200.0, 0.05),
              ("Keys", 1, 0, 0), ("Piano", 0, 440.0, 0.5), ("Organ", -1, 880.0, 0.02)]
    session = sine_session(tmp_path, layout)
    expected = stage1.balance_session(session, stage1.BalanceOptions(workers=1)).changes
    progress = tmp_path / "progress.log"
    with Host(spec_from_session(session), tmp_path / "host") as host:
        result = CliRunner().invoke(live, ["balance", "--web-port", str(host.web_port), "--progress-file",
                                           str(progress)])
        dump = host.stop()
    assert result.exit_code == 0, result.output
    assert dump["undo"] == [expected.description]
    volumes = {t["guid"]: t["volume"] for t in dump["tracks"]}
    assert expected.faders
    for f in expected.faders:
        assert volumes[f.track_guid] == pytest.approx(f.volume_after, rel=1e-9)
    last = progress.read_text().splitlines()[-1]
    assert last.startswith("DONE: " + expected.description)


@pytest.mark.parametrize("answer,policy,applied", [(7, "ask", False), (6, "ask", True), (None, "stop", False),
                                                   (None, "apply", True)])
def test_faders_moved_during_the_analysis_are_named_and_asked_about(tmp_path, monkeypatch, answer, policy, applied):
    """The user moves Kick's fader while the job analyses: the job names it in a Yes/No box in REAPER and
    applies only on Yes (or with --faders-changed apply); otherwise nothing changes and the error says why."""
    import reaper_automix.live.session as live_session
    from reaper_automix.live.commands import live

    layout = [("Drums", 1, 0, 0), ("Kick", 0, 60.0, 0.8), ("Snare", -1, 200.0, 0.05)]
    session = sine_session(tmp_path, layout)
    real_track_audio = live_session.track_audio

    def user_moves_kick(bridge, sess, guids):
        audio = real_track_audio(bridge, sess, guids)
        api = RemoteApi(bridge)
        api.SetMediaTrackInfo_Value(api.GetTrack(0, 1), "D_VOL", 0.5)
        return audio

    monkeypatch.setattr(live_session, "track_audio", user_moves_kick)
    spec = spec_from_session(session, message_box_answers=[answer] if answer else [])
    with Host(spec, tmp_path / "host") as host:
        result = CliRunner().invoke(live, ["balance", "--web-port", str(host.web_port), "--faders-changed", policy])
        dump = host.stop()
    boxes = [c for c in dump["console"] if c.startswith("[message box]")]
    assert len(boxes) == (policy == "ask")
    if boxes:
        assert "Kick: fader +0.00 -> -6.02 dB" in boxes[0]
    assert (result.exit_code == 0) == applied, result.output
    assert bool(dump["undo"]) == applied
    if not applied:
        assert "nothing was applied: Kick: fader +0.00 -> -6.02 dB" in str(result.exception or result.output)
        assert dump["tracks"][1]["volume"] == 0.5  # the user's move stands
