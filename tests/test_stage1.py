"""Stage 1 end to end on small projects with known signals, checked with independent measurements."""

from __future__ import annotations

import difflib
import tempfile
import warnings
import math
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import signal

from audio_projects import SR, AudioTrack, band_noise, harmonic_tone, pink_noise, write_project
from reaper_automix.cli import main
from reaper_automix.errors import MediaError
from reaper_automix.stage1 import BalanceOptions, balance_session
from reaper_automix.preview import effective_gain_db
from reaper_automix.rpp.apply import write_project as write_rpp
from reaper_automix.rpp.reader import load_session

N = 4 * SR


def drum_and_keys_tracks(rng: np.random.Generator, hat_gain_db: float = -18.0) -> list[AudioTrack]:
    return [
        AudioTrack("Drums", depth=1),
        AudioTrack("Kick", harmonic_tone(N, 55.0, 3), gain_db=-3.0),
        AudioTrack("Snare", pink_noise(N, rng), gain_db=-20.0),
        AudioTrack("Hat", band_noise(N, 8000, 12000, rng), gain_db=hat_gain_db, depth=-1),
        AudioTrack("Keys", depth=1),
        AudioTrack("Piano", harmonic_tone(N, 220.0), gain_db=-6.0),
        AudioTrack("Organ", harmonic_tone(N, 330.0, 4), gain_db=-25.0, depth=-1),
    ]


def independent_band_loudness(path, track, analysis) -> float:
    """Band loudness of a track's media measured with scipy filters and pyloudnorm (not our code)."""
    item = track.items[0]
    x, sr = sf.read(item.take.source.file, dtype="float64")
    x = x * item.take.volume
    if analysis.band_low_hz:
        b, a = signal.butter(1, analysis.band_low_hz, btype="highpass", fs=sr)
        x = signal.lfilter(b, a, x)
        b, a = signal.butter(1, analysis.band_high_hz, btype="lowpass", fs=sr)
        x = signal.lfilter(b, a, x)
    return pyloudnorm.Meter(sr).integrated_loudness(x)


@pytest.fixture(scope="module")
def balanced(tmp_path_factory):
    folder = tmp_path_factory.mktemp("p")
    path = write_project(folder, drum_and_keys_tracks(np.random.default_rng(1)))
    session, document = load_session(path)
    result = balance_session(session, BalanceOptions(workers=1))
    return path, session, document, result


def test_tracks_in_a_group_end_equally_loud_in_their_band(balanced):
    path, session, _, result = balanced
    for group in result.groups:
        levels = [
            independent_band_loudness(path, session.tracks[t], result.analyses[t]) + effective_gain_db(session, result.plan, t)
            for t in group.group.members
        ]
        assert max(levels) - min(levels) < 0.5, (group.group.name, levels)


def test_group_stems_and_mix_hit_their_peaks(balanced, tmp_path):
    _, session, _, result = balanced
    from reaper_automix.preview import render_mix

    mix = render_mix(session, result.plan)
    assert 20 * math.log10(np.max(np.abs(mix))) == pytest.approx(-1.0, abs=0.05)
    assert [g.group.name for g in result.groups] == ["Drums", "Keys"]
    assert all(g.group.folder is not None for g in result.groups)


def test_written_project_differs_only_in_volpan_lines_and_rerun_is_idempotent(balanced, tmp_path):
    path, session, document, result = balanced
    out = write_rpp(document, session, result.changes, path.with_name("out.rpp")).path
    diff = [
        line for line in difflib.unified_diff(path.read_text().splitlines(), out.read_text().splitlines(), n=0, lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff and all(line[1:].split()[0] == "VOLPAN" for line in diff)
    assert len(diff) == 2 * (len(result.changes.faders) + len(result.changes.take_gains))

    again_session, _ = load_session(out)
    again = balance_session(again_session, BalanceOptions(workers=1))
    for t, change in result.plan.changes.items():
        assert again.plan.changes[t].fader_after_db == pytest.approx(change.fader_after_db, abs=0.01)
    assert not again.changes.take_gains  # the first run put the excess into the takes already
    assert again.changes.faders == () or all(
        abs(f.volume_after - f.volume_before) < 1e-3 * f.volume_before for f in again.changes.faders
    )


@given(st.integers(1, 5), st.floats(-12, 12))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_scaling_one_track_changes_only_its_fader_by_minus_k(tmp_path_factory, index, k_db):
    """Scaling input track ``index`` by k dB (its take volume) moves only its own computed gain, by -k dB.

    The computed gain is the fader plus any take gain (the part of the gain beyond REAPER's +12 dB fader)."""
    folder = tmp_path_factory.mktemp("inv")
    tracks = drum_and_keys_tracks(np.random.default_rng(7))
    members = [i for i, t in enumerate(tracks) if t.audio is not None]
    t_index = members[index - 1]
    base = balance_session(load_session(write_project(folder, tracks, "a.rpp"))[0], BalanceOptions(workers=1))
    tracks[t_index].take_volume = 10 ** (k_db / 20)
    scaled = balance_session(load_session(write_project(folder, tracks, "b.rpp"))[0], BalanceOptions(workers=1))
    for t, change in base.plan.changes.items():
        expected = change.fader_after_db + change.take_gain_db - (k_db if t == t_index else 0.0)
        new = scaled.plan.changes[t]
        assert new.fader_after_db + new.take_gain_db == pytest.approx(expected, abs=0.02), t


def test_silent_midi_and_muted_tracks_are_left_alone_and_reported(tmp_path):
    rng = np.random.default_rng(3)
    tracks = [
        AudioTrack("Band", depth=1),
        AudioTrack("Gtr", pink_noise(N, rng), gain_db=-10),
        AudioTrack("Silent", np.zeros(N, dtype=np.float32)),
        AudioTrack("Synth", midi=True),
        AudioTrack("Bass", pink_noise(N, rng), gain_db=-20, depth=-1),
    ]
    session, _ = load_session(write_project(tmp_path, tracks))
    result = balance_session(session, BalanceOptions(workers=1))
    assert result.excluded[2].startswith("silent")
    assert "MIDI" in result.excluded[3]
    assert 2 not in result.plan.changes and 3 not in result.plan.changes
    assert set(result.plan.changes) == {0, 1, 4}


def test_missing_media_is_listed_or_skipped(tmp_path):
    rng = np.random.default_rng(4)
    tracks = [AudioTrack("Gtr", pink_noise(N, rng)), AudioTrack("Vox", pink_noise(N, rng)),
              AudioTrack("Bass", pink_noise(N, rng))]
    path = write_project(tmp_path, tracks)
    (tmp_path / "media" / "t00.wav").unlink()
    (tmp_path / "media" / "t02.wav").write_bytes(b"not audio at all")
    session, _ = load_session(path)
    with pytest.raises(MediaError) as info:
        balance_session(session, BalanceOptions(workers=1))
    assert "t00.wav" in str(info.value) and "t02.wav" in str(info.value)
    result = balance_session(session, BalanceOptions(workers=1, skip_missing=True))
    assert "t00.wav" in result.excluded[0] and "t02.wav" in result.excluded[2]
    assert set(result.plan.changes) == {1}


def test_cli_balance_writes_report_preview_and_new_project(tmp_path):
    path = write_project(tmp_path, drum_and_keys_tracks(np.random.default_rng(5)))
    original = path.read_bytes()
    runner = CliRunner()
    result = runner.invoke(
        main, ["balance", str(path), "--report", str(tmp_path / "r.json"), "--preview", str(tmp_path / "m.wav"),
               "--workers", "1", "--plot", str(tmp_path / "pictures")],
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "pictures").iterdir()] == ["loudness.png"]
    assert path.read_bytes() == original
    assert (tmp_path / "song-automix.rpp").exists()
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert {t["name"] for t in report["tracks"] if t["fader_after_db"] is not None} >= {"Kick", "Hat", "Drums"}
    mix, sr = sf.read(tmp_path / "m.wav")
    assert sr == SR and mix.shape[1] == 2


def test_cli_errors_are_one_clear_message(tmp_path):
    bad = tmp_path / "cut.rpp"
    bad.write_text('<REAPER_PROJECT 0.1 "7.0" 0\n  <TRACK {A}\n    NAME x\n')
    runner = CliRunner()
    result = runner.invoke(main, ["balance", str(bad)])
    assert result.exit_code == 2
    assert "cut.rpp" in result.output and "line" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["info", str(tmp_path / "nope.rpp")])
    assert result.exit_code == 2 and "nope.rpp" in result.output


def test_locked_track_keeps_its_fader_and_the_others_match_it(tmp_path):
    from reaper_automix.config import BalanceConfig
    from reaper_automix.preview import render_mix

    tracks = drum_and_keys_tracks(np.random.default_rng(8))
    tracks[2].volume = 10 ** (-4 / 20)  # Snare fader at -4 dB, locked
    tracks[2].gain_db = 0.0  # loud enough that the Drums folder fader stays below +12 dB
    path = write_project(tmp_path, tracks)
    session, _ = load_session(path)
    result = balance_session(session, BalanceOptions(workers=2), BalanceConfig(lock=("snare",)))
    assert 2 not in result.plan.changes
    assert result.plan.changes[0].fader_after_db < 12.0
    levels = [
        independent_band_loudness(path, session.tracks[t], result.analyses[t]) + effective_gain_db(session, result.plan, t)
        for t in (1, 2, 3)
    ]
    assert max(levels) - min(levels) < 0.5
    mix = render_mix(session, result.plan)  # the stems were combined with the right scale: ceiling holds
    assert 20 * math.log10(np.max(np.abs(mix))) == pytest.approx(-1.0, abs=0.05)


def test_projects_with_nothing_to_balance_say_why(tmp_path):
    empty = tmp_path / "empty.rpp"
    empty.write_text('<REAPER_PROJECT 0.1 "7.0/linux-x86_64" 0\n  SAMPLERATE 44100 0 0\n>\n')
    result = CliRunner().invoke(main, ["balance", str(empty)])
    assert result.exit_code == 2 and "no audio tracks" in result.output

    silent = write_project(tmp_path, [AudioTrack("Gtr", np.zeros(N, dtype=np.float32)), AudioTrack("Synth", midi=True)],
                           "silent.rpp")
    result = CliRunner().invoke(main, ["balance", str(silent), "--workers", "1"])
    assert result.exit_code == 2
    assert "silent" in result.output and "MIDI" in result.output
    assert not (tmp_path / "silent-automix.rpp").exists()


def test_error_types_survive_pickling_between_processes():
    import pickle

    from reaper_automix.errors import ProjectParseError

    for error in (ProjectParseError("/p/x.rpp", 7, "stray '>'"), MediaError([("Gtr", Path("/m/a.wav"), "missing")])):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


@pytest.mark.parametrize("project_rate", [48000, 96000])
def test_media_at_other_rates_and_channel_counts_are_balanced(tmp_path, project_rate):
    """A 48/96 kHz project whose media are 44.1 kHz mono, 22.05 kHz stereo and 48 kHz 4-channel files: every
    track is resampled to the project rate (the 4-channel one plays its first two channels, with a warning),
    and the group still ends equally loud in its bands."""
    rng = np.random.default_rng(13)
    seconds = 4
    stereo = np.stack([pink_noise(seconds * 22050, rng), pink_noise(seconds * 22050, rng)], axis=1)
    quad = np.stack([band_noise(seconds * 48000, 500, 4000, rng) for _ in range(4)], axis=1)
    tracks = [
        AudioTrack("Band", depth=1),
        AudioTrack("Mono 44k", harmonic_tone(seconds * SR, 220.0), gain_db=-6),
        AudioTrack("Stereo 22k", stereo, gain_db=-18, rate=22050),
        AudioTrack("Quad 48k", quad, gain_db=-12, rate=48000, depth=-1),
    ]
    path = write_project(tmp_path, tracks, project_rate=project_rate)
    session, _ = load_session(path)
    assert session.sample_rate == project_rate
    with pytest.warns(UserWarning, match="channel"):
        result = balance_session(session, BalanceOptions(workers=1))
    (group,) = result.groups
    from reaper_automix.audio.render import render_track

    levels = []
    for t in group.relative_db:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the 4-channel note again, already checked above
            x = render_track(session, session.tracks[t]).astype(np.float64)
        a = result.analyses[t]
        b, a_hp = signal.butter(1, a.band_low_hz, btype="highpass", fs=project_rate)
        b2, a_lp = signal.butter(1, a.band_high_hz, btype="lowpass", fs=project_rate)
        x = signal.lfilter(b2, a_lp, signal.lfilter(b, a_hp, x, axis=-1), axis=-1)
        levels.append(pyloudnorm.Meter(project_rate).integrated_loudness(x.T)
                      + effective_gain_db(session, result.plan, t))
    assert max(levels) - min(levels) < 0.5, levels


def test_temporary_stems_go_to_memory_when_it_has_room_and_leave_nothing(balanced, tmp_path, monkeypatch):
    """The scratch stems go to the RAM folder when it (and available memory) holds twice them, else to the
    temporary directory; either way balance_session removes them and gives the same result."""
    from reaper_automix import stage1

    _, session, _, result = balanced
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(name, raising=False)
    ram = tmp_path / "ram"
    ram.mkdir()
    monkeypatch.setattr(stage1, "RAM_FOLDER", ram)
    made = stage1.scratch_stem_folder(session, 4)
    assert made.parent == ram
    stage1.remove_folder(made)
    monkeypatch.setattr(stage1, "_available_memory_bytes", lambda: 2 * 4 * 2 * 4 * stage1.session_samples(session) - 1)
    short = stage1.scratch_stem_folder(session, 4)
    assert short.parent != ram  # not enough memory: the temporary directory
    stage1.remove_folder(short)
    monkeypatch.setattr(stage1, "RAM_FOLDER", tmp_path / "absent")
    fallback = stage1.scratch_stem_folder(session, 4)
    assert fallback.parent != ram and fallback.is_dir()
    stage1.remove_folder(fallback)
    monkeypatch.setattr(stage1, "RAM_FOLDER", ram)
    monkeypatch.setattr(stage1, "_available_memory_bytes", lambda: 1 << 40)
    seen: list[Path] = []
    again = balance_session(session, BalanceOptions(workers=1),
                            progress=lambda *_: seen.extend(p for f in ram.iterdir() for p in f.iterdir()))
    assert any(p.suffix == ".npy" for p in seen)  # the stems were written there while the run went on
    assert list(ram.iterdir()) == []
    assert again.plan == result.plan
    monkeypatch.setenv("TMPDIR", str(tmp_path / "chosen"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile reads TMPDIR once and caches the answer
    (tmp_path / "chosen").mkdir()
    chosen = stage1.scratch_stem_folder(session, 4)  # the user's choice wins
    assert chosen.parent == tmp_path / "chosen"
    stage1.remove_folder(chosen)


def test_kept_stems_are_two_channel_sums_of_the_renders_at_the_rule1_gains(tmp_path):
    """The stems a caller keeps (``stem_dir``) are float32 ``(2, samples)`` files holding each group's tracks
    summed at their Rule 1 gains, checked against the offline renders summed here in float64: a group of mono
    tracks summed across workers in parts (both channels equal), and a group mixing mono and stereo sources."""
    from reaper_automix.audio.render import render_track

    rng = np.random.default_rng(7)
    n = 2 * SR
    mono = [AudioTrack(f"m{k}", band_noise(n, 200 * (k + 1), 800 * (k + 1), rng), gain_db=-3.0 * k,
                       depth=-1 if k == 5 else 0) for k in range(6)]
    stereo = np.stack([pink_noise(n, rng), 0.5 * pink_noise(n, rng)], axis=1)
    tracks = [AudioTrack("Mono", depth=1), *mono, AudioTrack("Mixed", depth=1),
              AudioTrack("tone", harmonic_tone(n, 110.0), gain_db=-12.0),
              AudioTrack("wide", stereo, gain_db=-6.0, depth=-1)]
    session, _ = load_session(write_project(tmp_path, tracks))
    result = balance_session(session, BalanceOptions(workers=2), stem_dir=tmp_path / "stems")
    assert [g.group.name for g in result.groups] == ["Mono", "Mixed"]
    for g in result.groups:
        stem = np.load(g.stem_file)
        assert stem.dtype == np.float32 and stem.shape == (2, n)
        expected = sum(render_track(session, session.tracks[t]).astype(np.float64) * 10 ** (db / 20)
                       for t, db in g.relative_db.items())
        np.testing.assert_allclose(stem, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
        assert g.stem_peak_dbfs == pytest.approx(20 * math.log10(np.abs(stem).max()), abs=1e-9)
        assert np.array_equal(stem[0], stem[1]) == (g.group.name == "Mono")


@pytest.mark.parametrize("n", [0, 1, 7, 3 * SR])
def test_a_kept_one_row_stem_is_the_file_np_save_writes_for_its_two_rows(tmp_path, n):
    from reaper_automix.stage1 import _save_row_twice

    row = np.random.default_rng(n).standard_normal((1, n)).astype(np.float32)
    _save_row_twice(str(tmp_path / "a.npy"), row)
    np.save(tmp_path / "b.npy", np.concatenate([row, row]))
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()


def test_adding_at_gain_and_pan_equals_scaling_then_adding_bit_for_bit():
    """The compiled add (stem and preview sums) against the numpy steps it replaced, kept here: scale the rows
    by ``np.float32(gain * pan gain)`` (one row stays one row at equal pan gains, a panned row becomes two), then
    add them into an accumulator that starts as zeros and grows from one row to two by repeating it."""
    from reaper_automix.stage1 import _add_gain_and_pan
    from reaper_automix.units import db_to_gain

    def old(acc, rows, gain_db, pan, n):
        gain, (left, right) = db_to_gain(gain_db), pan
        if left == right:
            scaled = rows * np.float32(gain * left)
        else:
            scaled = np.stack([rows[0] * np.float32(gain * left), rows[-1] * np.float32(gain * right)])
        if acc is None:
            acc = np.zeros((1 if scaled.shape[0] == 1 else 2, n), dtype=np.float32)
        elif acc.shape[0] == 1 and scaled.shape[0] > 1:
            acc = np.repeat(acc, 2, axis=0)
        acc[:, : scaled.shape[1]] += scaled
        return acc

    rng = np.random.default_rng(4)
    n = 50_000
    tracks = [(rng.standard_normal((1, n)), -3.7, (1.0, 1.0)), (rng.standard_normal((1, n - 10)), 5.1, (1.0, 1.0)),
              (rng.standard_normal((1, n)), 0.0, (0.6, 1.0)), (rng.standard_normal((2, n)), -12.0, (0.5, 0.5)),
              (rng.standard_normal((2, n)), 2.2, (1.0, 0.25))]
    new_acc = old_acc = None
    for k, (rows, gain_db, pan) in enumerate(tracks):
        rows = rows.astype(np.float32)
        kept = rows.copy()
        new_acc = _add_gain_and_pan(new_acc, rows, gain_db, pan, n)
        old_acc = old(old_acc, rows, gain_db, pan, n)
        assert new_acc.shape == old_acc.shape == ((1 if k < 2 else 2), n)
        np.testing.assert_array_equal(new_acc, old_acc)
        np.testing.assert_array_equal(rows, kept)  # the track is left as it is
