"""`reaper-automix live ...` on the generated demo through the stand-in REAPER gives what the offline path writes.

The stand-in host (tests/live_harness) loads the demo project; the CLI command talks to it with reapy's real
client through the safe server action, exactly as with a running REAPER.
"""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from reaper_automix.cli import main
from reaper_automix.demo import generate_demo
from reaper_automix.rpp.reader import load_session
from tests.live_harness.process import Host, spec_from_session


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live-demo")
    manifest = generate_demo(folder / "session", seed=5, length_s=8.0, n_tracks=24)
    return folder / "session" / manifest.project


def test_live_balance_equals_offline_balance_in_one_undo_block(demo, tmp_path):
    runner = CliRunner()
    offline = tmp_path / "offline.rpp"
    result = runner.invoke(main, ["balance", str(demo), "-o", str(offline), "--workers", "1"])
    assert result.exit_code == 0, result.output
    expected, _ = load_session(offline)

    session, _ = load_session(demo)
    with Host(spec_from_session(session), tmp_path / "host") as host:
        result = runner.invoke(main, ["live", "balance", "--web-port", str(host.web_port)])
        assert result.exit_code == 0, result.output
        dump = host.stop()
    assert [t["guid"] for t in dump["tracks"]] == [t.guid for t in expected.tracks]
    assert [t["volume"] for t in dump["tracks"]] == pytest.approx([t.volume for t in expected.tracks], rel=2e-3)
    live_takes = [v for t in dump["tracks"] for v in t["take_volumes"]]
    file_takes = [i.take.volume if i.take else None for t in expected.tracks for i in t.items]
    assert live_takes == pytest.approx(file_takes, rel=2e-3)
    assert len(dump["undo"]) == 1 and dump["undo"][0].startswith("Automix: balanced")


def test_live_mix_equals_offline_mix(demo, tmp_path):
    """Same faders, buses (names, order, folder structure), pans and FX values as the offline `mix` writes
    (ReaEQ's bands may be spread over two instances live, where the file holds one six-band ReaEQ)."""
    from reaper_automix.live.fxmap import REACOMP, REAEQ
    from reaper_automix.reaper.fxstate import ReaCompState, ReaEqState, decode_fx_state
    from reaper_automix.reaper.mappings import compressor_setting, eq_bands
    from reaper_automix.rpp.edit import track_chunks
    from tests.live_harness.fake_reaper import eq_freq_hz, eq_gain_linear

    reference = demo.parent / "reference.wav"
    runner = CliRunner()
    offline = tmp_path / "offline.rpp"
    # The learned engine: this test is about the two executors, and it is the quickest engine that sets every
    # parameter (the stand-in host's lifetime is bounded).
    engine = ["--engine", "learned"]
    result = runner.invoke(main, ["mix", str(demo), "-r", str(reference), "-o", str(offline), "--workers", "1", *engine])
    assert result.exit_code == 0, result.output
    expected, document = load_session(offline)

    session, _ = load_session(demo)
    with Host(spec_from_session(session), tmp_path / "host", max_s=600.0) as host:
        result = runner.invoke(main, ["live", "mix", "--reference", str(reference), "--web-port", str(host.web_port),
                                      *engine])
        assert result.exit_code == 0, result.output
        dump = host.stop()
    assert [t["name"] for t in dump["tracks"]] == [t.name for t in expected.tracks]
    assert [t["folder_depth"] for t in dump["tracks"]] == [t.folder_depth for t in expected.tracks]
    assert [t["volume"] for t in dump["tracks"]] == pytest.approx([t.volume for t in expected.tracks], rel=2e-3)
    assert [t["pan"] for t in dump["tracks"]] == pytest.approx([t.pan for t in expected.tracks], abs=2e-3)
    assert len(dump["undo"]) == 1 and dump["undo"][0].startswith("Automix: mixed")

    for live_track, chunk in zip(dump["tracks"], track_chunks(document)):
        chain = chunk.find_chunk("FXCHAIN")
        states = [decode_fx_state([ln.content for ln in v.lines()]) for v in chain.chunks("VST")] if chain else []
        file_eq = [b for s in states if isinstance(s, ReaEqState) for b in eq_bands(s)]
        file_comp = [compressor_setting(s)[0] for s in states if isinstance(s, ReaCompState)]
        live_eq = sorted(
            (eq_freq_hz(f["params"][3 * k]), 20 * math.log10(eq_gain_linear(f["params"][3 * k + 1])))
            for f in live_track["fx"] if f["name"] == REAEQ
            for k, enabled in enumerate(f["band_enabled"]) if enabled
        )
        file_bands = sorted((b.freq_hz, b.gain_db) for b in file_eq)
        assert len(live_eq) == len(file_bands)
        assert [v for band in live_eq for v in band] == pytest.approx([v for band in file_bands for v in band],
                                                                      abs=0.02)
        live_comp = [f for f in live_track["fx"] if f["name"] == REACOMP]
        assert len(live_comp) == len(file_comp)
        for f, c in zip(live_comp, file_comp):
            assert 20 * math.log10(f["params"][0]) == pytest.approx(c.threshold_db, abs=0.05)
            assert 1 + 99 * f["params"][1] == pytest.approx(c.ratio, abs=0.01)
