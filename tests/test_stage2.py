"""Stage 2 end to end on small projects: buses, FX values written as reported, re-runs, switches, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audio_projects import SR, AudioTrack, band_noise, harmonic_tone, pink_noise, write_project
from reaper_automix.changes import EXT_BUS
from reaper_automix.cli import main
from reaper_automix.matching import MatchOptions
from reaper_automix.matching.limits import violations
from reaper_automix.preview import effective_gain_db
from reaper_automix.reaper.fxstate import ReaCompState, ReaEqState, decode_fx_state
from reaper_automix.reaper.mappings import compressor_setting, eq_bands
from reaper_automix.rpp.apply import write_project as write_rpp
from reaper_automix.rpp.edit import track_chunks
from reaper_automix.rpp.reader import load_session
from reaper_automix.stage1 import BalanceOptions
from reaper_automix.stage2 import mix_session

N = 6 * SR
FAST = MatchOptions(iterations=40, rounds=1, excerpts=2, excerpt_s=2.0)


def tracks(rng) -> list[AudioTrack]:
    return [
        AudioTrack("Drums", depth=1),
        AudioTrack("Kick", harmonic_tone(N, 55.0, 3), gain_db=-6),
        AudioTrack("Hat", band_noise(N, 7000, 11000, rng), gain_db=-20, depth=-1),
        AudioTrack("Vocals", depth=1),
        AudioTrack("Lead", harmonic_tone(N, 220.0), gain_db=-8),
        AudioTrack("BVs", depth=1),
        AudioTrack("BV1", harmonic_tone(N, 330.0, 5), gain_db=-15),
        AudioTrack("BV2", harmonic_tone(N, 440.0, 5), gain_db=-12, depth=-2),
        AudioTrack("Gtr L", pink_noise(N, rng), gain_db=-10),
        AudioTrack("Bass DI", harmonic_tone(N, 41.0, 6), gain_db=-4),
        AudioTrack("Gtr R", pink_noise(N, rng), gain_db=-14),
    ]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mix")
    rng = np.random.default_rng(21)
    path = write_project(folder, tracks(rng))
    # the reference: a different blend of similar material, wide and bright
    ref = np.stack([pink_noise(N, rng) * 0.3 + band_noise(N, 3000, 9000, rng) * 0.2,
                    pink_noise(N, rng) * 0.3 + harmonic_tone(N, 110.0) * 0.3])
    sf.write(folder / "ref.wav", ref.T, 48000)  # another rate on purpose
    return path, folder / "ref.wav"


@pytest.fixture(scope="module")
def mixed(project):
    path, ref = project
    session, document = load_session(path)
    result = mix_session(session, [ref], balance_options=BalanceOptions(workers=1), match_options=FAST)
    out = write_rpp(document, session, result.changes, path.with_name("mixed.rpp")).path
    return session, result, out


def test_each_group_gets_a_bus_of_its_own(mixed):
    session, result, out = mixed
    by_group = {g.name: new for g, new in zip(result.groups, result.new_bus)}
    # Drums and BVs are folders holding exactly their tracks; Vocals also holds BVs, other/bass have no folder
    assert by_group == {"Drums": False, "Vocals": True, "BVs": False, "other": True, "bass": True}
    after, _ = load_session(out)
    names = [t.name for t in after.tracks]
    parents = after.parents()
    assert parents[names.index("Lead")] == names.index("Vocals bus")
    assert parents[names.index("Vocals bus")] == names.index("Vocals")
    assert parents[names.index("BV1")] == names.index("BVs")
    assert parents[names.index("Gtr L")] == parents[names.index("Gtr R")] == names.index("Other")
    assert parents[names.index("Bass DI")] == names.index("Bass")


def test_bus_fx_decode_to_the_reported_settings(mixed):
    session, result, out = mixed
    document = load_session(out)[1]
    after, _ = load_session(out)
    chunks = track_chunks(document)
    for bus in result.changes.buses:
        index = next(t.index for t in after.tracks if t.ext.get(EXT_BUS) == bus.group)
        states = [decode_fx_state([ln.content for ln in vst.lines()])
                  for vst in chunks[index].find_chunk("FXCHAIN").chunks("VST")]
        eq = next(s for s in states if isinstance(s, ReaEqState))
        comp = next(s for s in states if isinstance(s, ReaCompState))
        for got, want in zip(eq_bands(eq), bus.eq):
            assert got.kind == want.kind
            assert (got.freq_hz, got.gain_db, got.q) == pytest.approx((want.freq_hz, want.gain_db, want.q), rel=1e-9)
        setting, _ = compressor_setting(comp)
        assert setting.threshold_db == pytest.approx(bus.compressor.threshold_db, abs=1e-4)
        assert setting.ratio == pytest.approx(bus.compressor.ratio, rel=1e-5)
        assert after.tracks[index].pan == pytest.approx(bus.pan, abs=1e-12)


def test_bus_input_is_the_stem_the_console_matched(mixed):
    """Members sum into the bus at their stage-1 gains (so the bus compressor sees the level it was matched
    at); the new bus fader carries the matched gain."""
    session, result, _ = mixed
    for g, r, settings, new in zip(result.groups, result.balance.groups, result.match.stems, result.new_bus):
        for t, relative in r.relative_db.items():
            expected = relative + r.gain_db + (0.0 if new else settings.gain_db)
            assert effective_gain_db(session, result.plan, t) == pytest.approx(expected, abs=1e-9)


def test_matching_moves_the_mix_toward_the_reference(mixed):
    _, result, _ = mixed
    assert result.match.distances_after["total"] < result.match.distances_before["total"]


def test_buses_stay_within_the_plausibility_limits(mixed):
    """Issue 8 item 7 on a demo-like project: every bus within the shared limits, its reduction measured."""
    _, result, _ = mixed
    m = result.match
    assert len(m.gain_reduction) == len(m.levels_db) == len(m.stems)
    for strip, level, gr in zip(m.stems, m.levels_db, m.gain_reduction):
        assert violations(strip.eq, strip.compressor, strip.pan, level, gr, pan_max=m.pan_max,
                          mean_gain_reduction_max_db=m.gain_reduction_max_db,
                          heavy=m.gain_reduction_reason is not None) == []
        assert 0.0 <= gr.mean_db <= gr.peak_db + 1e-9


def test_second_run_replaces_instead_of_stacking(mixed, project):
    session, result, out = mixed
    again_session, again_doc = load_session(out)
    again = mix_session(again_session, [project[1]], balance_options=BalanceOptions(workers=1), match_options=FAST)
    assert not any(again.new_bus)  # every group found its bus
    second = write_rpp(again_doc, again_session, again.changes, out.with_name("second.rpp")).path
    first_text, second_text = out.read_text(), second.read_text()
    assert first_text.count("<TRACK") == second_text.count("<TRACK")
    assert first_text.count("<VST") == second_text.count("<VST") == 2 * len(result.changes.buses)
    first_lines, second_lines = first_text.splitlines(), second_text.splitlines()
    assert len(first_lines) == len(second_lines)
    for a, b in zip(first_lines, second_lines):
        if a != b:  # only values change: faders, and the base64 lines of the FX states
            content = a.strip()
            assert content.split()[0] == "VOLPAN" or (" " not in content and content[:1] not in "<>"), a


def test_aspect_switches_leave_aspects_alone(project):
    path, ref = project
    session, _ = load_session(path)
    options = MatchOptions(iterations=20, rounds=1, excerpts=2, excerpt_s=2.0, eq=False, compressor=False, pan=False)
    result = mix_session(session, [ref], balance_options=BalanceOptions(workers=1), match_options=options)
    assert all(b.eq is None and b.compressor is None and b.pan is None for b in result.changes.buses)


def test_cli_mix_writes_project_report_and_level_matched_previews(project, tmp_path):
    path, ref = project
    original = path.read_bytes()
    out = tmp_path / "out.rpp"
    result = CliRunner().invoke(main, ["mix", str(path), "-r", str(ref), "-o", str(out), "--workers", "1",
                                       "--report", str(tmp_path / "r.json"), "--preview", str(tmp_path / "p.wav"),
                                       "--plot", str(tmp_path / "pictures")])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == original and out.exists()
    from tests.test_plots import assert_drawn, read_png

    pictures = sorted(p.name for p in (tmp_path / "pictures").iterdir())
    assert pictures == ["eq.png", "gain_reduction.png", "loudness.png", "spectra.png"]
    for name in pictures:
        assert_drawn(read_png(tmp_path / "pictures" / name), {"eq.png": 3 * 3.4}.get(name, 8.5))
    report = json.loads((tmp_path / "r.json").read_text())
    assert {b["group"] for b in report["stage2"]["buses"]} == {"Drums", "Vocals", "BVs", "other", "bass"}
    assert report["stage2"]["distances_after"]["total"] < report["stage2"]["distances_before"]["total"]
    limits = report["stage2"]["limits"]
    assert limits["pan_max"] >= 0.5 and limits["mean_gain_reduction_max_db"] >= 10
    for bus in report["stage2"]["buses"]:
        gr = bus["gain_reduction_db"]
        assert 0 <= gr["mean"] <= limits["mean_gain_reduction_max_db"] and gr["peak"] >= gr["mean"] - 0.01
        assert abs(bus["pan"]) <= limits["pan_max"] + 1e-3
        assert all(abs(band["gain_db"]) <= 6.0 for band in bus["eq"])
    import pyloudnorm

    after, sr = sf.read(tmp_path / "p.wav")
    before, _ = sf.read(tmp_path / "p-before.wav")
    meter = pyloudnorm.Meter(sr)
    assert meter.integrated_loudness(after) == pytest.approx(meter.integrated_loudness(before), abs=0.1)


def test_missing_reference_is_a_clear_error(project, tmp_path):
    path, _ = project
    bad = tmp_path / "ref.wav"
    bad.write_text("not audio")
    result = CliRunner().invoke(main, ["mix", str(path), "-r", str(bad), "-o", str(tmp_path / "o.rpp")])
    assert result.exit_code == 2 and "ref.wav" in result.output and "Traceback" not in result.output


def test_cli_mix_engines_name_themselves_in_the_report(project, tmp_path):
    """The default engine (learned) and `--engine hybrid` use the shipped checkpoint (named by its hash); the
    report keeps its bus fields."""
    from reaper_automix.controller.checkpoint import SHIPPED, file_sha256

    path, ref = project
    for engine in ("learned", "hybrid"):  # the search's report is covered above
        report_path = tmp_path / f"{engine}.json"
        choice = [] if engine == "learned" else ["--engine", engine]  # learned is the default
        result = CliRunner().invoke(main, ["mix", str(path), "-r", str(ref), "-o", str(tmp_path / f"{engine}.rpp"),
                                           "--workers", "1", *choice, "--report", str(report_path)])
        assert result.exit_code == 0, result.output
        stage2 = json.loads(report_path.read_text())["stage2"]
        assert stage2["engine"] == engine
        assert stage2["checkpoint_sha256"] == file_sha256(SHIPPED)
        for bus in stage2["buses"]:
            assert {"gain_db", "pan", "eq", "compressor"} <= set(bus)
            assert all(abs(b["gain_db"]) <= 6.0 + 1e-6 for b in bus["eq"])
    result = CliRunner().invoke(main, ["mix", str(path), "-r", str(ref), "-o", str(tmp_path / "x.rpp"),
                                       "--engine", "magic"])
    assert result.exit_code != 0 and "magic" in result.output


def test_mix_scratch_stems_go_to_memory_and_leave_nothing(project, mixed, tmp_path, monkeypatch):
    """Without a stem_dir, mix writes its stage-1 stems where balance writes its scratch stems (the RAM folder
    when it has room: 0.16 s instead of 0.55 s per 240 s stem on a disk-backed /tmp), removes them, and gives the
    same mix."""
    from reaper_automix import stage1

    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(name, raising=False)
    ram = tmp_path / "ram"
    ram.mkdir()
    monkeypatch.setattr(stage1, "RAM_FOLDER", ram)
    monkeypatch.setattr(stage1, "_available_memory_bytes", lambda: 1 << 40)
    session, _ = load_session(project[0])
    seen = []
    result = mix_session(session, [project[1]], balance_options=BalanceOptions(workers=1), match_options=FAST,
                         progress=lambda *_: seen.extend(p for f in ram.iterdir() for p in f.iterdir()))
    assert any(p.suffix == ".npy" for p in seen)  # the stems were there while the run went on
    assert list(ram.iterdir()) == []
    assert result.plan == mixed[1].plan and result.match.stems == mixed[1].match.stems
