"""`reaper-automix live ...` on the generated demo through the stand-in REAPER gives what the offline path writes.

The stand-in host (tests/live_harness) loads the demo project; the CLI command talks to it with reapy's real
client through the safe server action, exactly as with a running REAPER.
"""

from __future__ import annotations

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
