"""``--stems DIR``: stems rendered in REAPER measured in place of our render. Truth: stems made from our own
render with known gains (a stem k dB louder must move only its track's fader, by exactly -k dB), the same
project through our renderer (dry material: same result), and every kind of mismatch named in the error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audio_projects import SR, AudioTrack, band_noise, harmonic_tone, pink_noise, write_project
from reaper_automix.audio.render import render_track
from reaper_automix.audio.stems import load_stems, parse_stem_name, stems_folder
from reaper_automix.cli import main
from reaper_automix.config import BalanceConfig
from reaper_automix.errors import AutomixError
from reaper_automix.report import balance_report
from reaper_automix.rpp.reader import load_session
from reaper_automix.stage1 import BalanceOptions, balance_session

N = 3 * SR
GAIN_FX = ["<FXCHAIN", "  BYPASS 0 0 0", '  <VST "VST3: Gain (Vendor)" Gain.vst3 0 "" 1{00}', "    AAAA", "  >",
           "  FXID {0000F000-0000-4000-8000-000000000001}", ">"]
VERB_FX = ["<FXCHAIN", "  BYPASS 0 0 0", '  <VST "VST: ReaVerbate (Cockos)" reaverbate.dll 0 "" 1<00>', "    AAAA",
           "  >", "  FXID {0000F000-0000-4000-8000-000000000002}", ">"]
SYNTH_FX = ["<FXCHAIN", "  BYPASS 0 0 0", '  <VST "VSTi: ReaSynth (Cockos)" reasynth.dll 0 "" 1<00>', "    AAAA",
            "  >", "  FXID {0000F000-0000-4000-8000-000000000003}", ">"]


def _tracks(rng, gtr_fx=()):
    return [
        AudioTrack("Band", depth=1),
        AudioTrack("Kick", harmonic_tone(N, 55.0, 3), gain_db=-3.0),
        AudioTrack("Gtr", pink_noise(N, rng), gain_db=-18.0, extra=list(gtr_fx)),
        AudioTrack("Hat", band_noise(N, 8000, 12000, rng), gain_db=-12.0, depth=-1),
    ]


def _write_stems(session, folder, gains_db=None, subtype="FLOAT", tracks=None, name="{n:02d} - {name}"):
    folder.mkdir(exist_ok=True)
    gains_db = gains_db or {}
    for t in session.tracks:
        if not t.has_audio or (tracks is not None and t.index not in tracks):
            continue
        audio = render_track(session, t) * np.float32(10 ** (gains_db.get(t.index, 0.0) / 20))
        sf.write(folder / (name.format(n=t.index + 1, name=t.name) + ".wav"), audio.T, session.sample_rate,
                 subtype=subtype)
    return folder


def _balance(session, renderer=None, config=None):
    return balance_session(session, BalanceOptions(workers=1), config, renderer=renderer)


def _faders(result):
    """Track -> the gain the plan gives it (fader, plus take volume beyond the fader's +12 dB)."""
    return {t: c.fader_after_db + c.take_gain_db for t, c in result.plan.changes.items()}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stems")
    path = write_project(folder, _tracks(np.random.default_rng(5), GAIN_FX))
    session, _ = load_session(path)
    return folder, path, session


def test_stem_names():
    assert parse_stem_name("03 - Snare top") == (3, "Snare top")
    assert parse_stem_name("3_Snare") == (3, "Snare")
    assert parse_stem_name("012.Lead Vox") == (12, "Lead Vox")
    assert parse_stem_name("Bass DI") == (None, "Bass DI")


def test_stems_of_dry_material_give_our_renderers_balance(project, tmp_path):
    _, _, session = project
    stems = _write_stems(session, tmp_path / "s", subtype="PCM_24")  # as REAPER writes them: 24-bit
    renderer = load_stems(session, stems, [1, 2, 3])
    ours, theirs = _balance(session), _balance(session, renderer)
    assert set(_faders(ours)) == set(_faders(theirs))
    for t, db in _faders(ours).items():
        assert _faders(theirs)[t] == pytest.approx(db, abs=0.05)
    assert theirs.measured_with_fx and not ours.measured_with_fx


@pytest.mark.parametrize("k_db", [6.0, -9.5])
def test_a_stem_k_db_louder_moves_only_its_fader_by_minus_k(project, tmp_path, k_db):
    _, _, session = project
    plain = _balance(session, load_stems(session, _write_stems(session, tmp_path / "a"), [1, 2, 3]))
    louder = _balance(session, load_stems(session, _write_stems(session, tmp_path / "b", {2: k_db}), [1, 2, 3]))
    before, after = _faders(plain), _faders(louder)
    assert after[2] - before[2] == pytest.approx(-k_db, abs=1e-3)
    for t in before:
        if t != 2:
            assert after[t] == pytest.approx(before[t], abs=1e-3)


def test_fx_that_change_the_level_are_measured_from_stems_and_reported_when_not(project, tmp_path):
    _, _, session = project
    gtr = session.tracks[2]
    assert [f.label for f in gtr.active_fx] == ["Gain (VST3)"]
    # The plug-in adds 6 dB: REAPER's stem is the dry render 6 dB up.
    wet = _balance(session, load_stems(session, _write_stems(session, tmp_path / "w", {2: 6.0}), [1, 2, 3]))
    dry = _balance(session)
    assert _faders(wet)[2] == pytest.approx(_faders(dry)[2] - 6.0, abs=1e-3)
    dry_report, wet_report = balance_report(dry), balance_report(wet)
    assert dry_report["tracks"][2]["fx_notes"] == ["measured without 1 active plug-in: Gain (VST3)"]
    assert "measured dry" in dry_report["warnings"][0] and "--stems" in dry_report["warnings"][0]
    assert wet_report["tracks"][2]["fx_notes"] == [] and wet_report["warnings"] == []
    assert wet_report["tracks"][2]["fx"][0]["format"] == "VST3"


def test_every_mismatch_is_named_at_once(project, tmp_path):
    _, _, session = project
    stems = _write_stems(session, tmp_path / "bad", tracks={1, 2})  # Hat (track 4) has none
    (stems / "03 - Gtr.wav").rename(stems / "03 - Bass.wav")  # wrong name for its number
    sf.write(stems / "09 - Extra.wav", np.zeros((N, 2)), SR)  # beyond the project
    sf.write(stems / "Vocals.wav", np.zeros((N, 2)), SR)  # no such track
    (stems / "notes.txt").write_text("not audio: ignored")
    with pytest.raises(AutomixError) as err:
        load_stems(session, stems, [1, 2, 3])
    text = str(err.value)
    for expected in ["03 - Bass.wav: numbered 3, but track 3 is 'Gtr'", "09 - Extra.wav: track number 9",
                     "Vocals.wav: matches no track", "track 3 'Gtr': no stem", "track 4 'Hat': no stem"]:
        assert expected in text
    assert "notes.txt" not in text


def test_wrong_rate_and_length_are_named(project, tmp_path):
    _, _, session = project
    stems = _write_stems(session, tmp_path / "r")
    audio, _ = sf.read(stems / "03 - Gtr.wav")
    sf.write(stems / "03 - Gtr.wav", audio, 48000)
    sf.write(stems / "04 - Hat.wav", np.zeros((N + SR, 2)), SR)  # a 1 s tail
    with pytest.raises(AutomixError) as err:
        load_stems(session, stems, [1, 2, 3])
    assert "03 - Gtr.wav: 48000 Hz, the project runs at 44100 Hz" in str(err.value)
    assert "04 - Hat.wav: 4.000 s long, the project is 3.000 s" in str(err.value)


def test_return_and_instrument_tracks_are_measured_from_stems(tmp_path):
    rng = np.random.default_rng(9)
    tracks = _tracks(rng) + [
        AudioTrack("Synth", midi=True, extra=SYNTH_FX),
        AudioTrack("Verb", extra=["AUXRECV 2 0 0.5 0 0 0 0 0 0 -1:U 0 -1 ''", *VERB_FX]),
    ]
    session, _ = load_session(write_project(tmp_path, tracks))
    synth, verb = session.tracks[4], session.tracks[5]
    assert synth.is_instrument_track and verb.is_return
    dry = _balance(session)
    assert dry.excluded[4].startswith("instrument track (MIDI played by ReaSynth (VST))")
    assert dry.excluded[5].startswith("return track fed by sends from Gtr through ReaVerbate (VST)")
    stems = _write_stems(session, tmp_path / "s")
    for t, f0 in ((synth, 440.0), (verb, 660.0)):
        sf.write(stems / f"{t.index + 1:02d} - {t.name}.wav", 0.1 * harmonic_tone(N, f0)[:, None].repeat(2, 1), SR)
    wet = _balance(session, load_stems(session, stems, [1, 2, 3, 4, 5]))
    groups = {g.group.name: (g.group.source, [session.tracks[t].name for t in g.relative_db]) for g in wet.groups}
    assert groups["Verb"] == ("return", ["Verb"])  # a return track is its own group
    assert "Synth" in groups["other"][1]
    excluded = _balance(session, load_stems(session, stems, [1, 2, 3, 4]), BalanceConfig(returns="exclude"))
    assert excluded.excluded[5] == "return track (settings file: returns: exclude)"


def test_pre_fader_sends_are_noted(tmp_path):
    tracks = _tracks(np.random.default_rng(2)) + [
        AudioTrack("Verb", extra=["AUXRECV 1 3 1 0 0 0 0 0 0 -1:U 0 -1 ''", *VERB_FX]),
    ]
    session, _ = load_session(write_project(tmp_path, tracks))
    report = balance_report(_balance(session))
    assert report["tracks"][1]["fx_notes"] == ["pre-fader send to Verb: its level does not follow the fader"]
    assert report["tracks"][4]["receives"][0] == {
        "from": "Kick", "mode": "post-FX", "volume": 1.0, "mute": False, "dest_channel": 1, "audio": True
    }


def test_cli_stems_option_and_recorded_folder(project, tmp_path):
    folder, path, session = project
    runner = CliRunner()
    explicit = _write_stems(session, tmp_path / "x", {2: 6.0})
    report = tmp_path / "r.json"
    result = runner.invoke(main, ["analyze", str(path), "--workers", "1", "--stems", str(explicit),
                                  "--report", str(report)])
    assert result.exit_code == 0, result.output
    with_stems = json.loads(report.read_text())
    assert with_stems["measured_with_fx"] and not with_stems["warnings"]

    recorded = _write_stems(session, stems_folder(path), {2: 6.0})
    (recorded / "automix-stems.json").write_text(json.dumps(
        {"tracks": [{"number": t.index + 1, "guid": t.guid, "name": t.name} for t in session.tracks]}))
    try:
        result = runner.invoke(main, ["analyze", str(path), "--workers", "1", "--report", str(report)])
        assert result.exit_code == 0, result.output
        assert "measuring the stems REAPER rendered in" in " ".join(result.output.split())
        assert json.loads(report.read_text())["tracks"][2]["fader_after_db"] == with_stems["tracks"][2]["fader_after_db"]
        result = runner.invoke(main, ["analyze", str(path), "--workers", "1", "--no-stems", "--report", str(report)])
        assert "warning: 1 measured track carries active plug-ins" in " ".join(result.output.split())
        dry = json.loads(report.read_text())
        assert dry["tracks"][2]["fx_notes"] == ["measured without 1 active plug-in: Gain (VST3)"]
        # a manifest that names another track under a number: stale stems
        (recorded / "automix-stems.json").write_text(json.dumps({"tracks": [{"number": 3, "guid": "{X}", "name": "Gtr"}]}))
        result = runner.invoke(main, ["analyze", str(path), "--workers", "1"])
        assert result.exit_code == 2 and "re-render the stems" in " ".join(result.output.split())
    finally:
        import shutil

        shutil.rmtree(recorded)
    result = runner.invoke(main, ["analyze", str(path), "--stems", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such folder of stems" in " ".join(result.output.split())
