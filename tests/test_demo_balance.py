"""Stage 1 on the generated 100+ track demo session (issue acceptance), checked with independent measurements."""

from __future__ import annotations

import difflib

import numpy as np
import pyloudnorm
import pytest
from click.testing import CliRunner
from scipy import signal

from reaper_automix.audio.render import render_track
from reaper_automix.cli import main
from reaper_automix.demo import generate_demo
from reaper_automix.stage1 import BalanceOptions, balance_session
from reaper_automix.preview import effective_gain_db
from reaper_automix.rpp.apply import write_project
from reaper_automix.rpp.reader import load_session


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    manifest = generate_demo(folder / "session", seed=3, length_s=10.0, n_tracks=104)
    path = folder / "session" / manifest.project
    session, document = load_session(path)
    result = balance_session(session, BalanceOptions(workers=2))
    return path, session, document, result


def test_info_reads_the_demo_back_with_no_missing_media(demo):
    path, session, _, _ = demo
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "all media found" in result.output
    assert len(session.tracks) >= 104


def test_every_group_ends_within_half_an_lu_in_band_loudness(demo):
    """Band loudness after the new faders, measured with scipy first-order filters and pyloudnorm on the
    rendered tracks (not with the package's own loudness code)."""
    _, session, _, result = demo
    assert len(result.groups) >= 8
    for group in result.groups:
        levels = []
        for t in group.relative_db:
            a = result.analyses[t]
            x = render_track(session, session.tracks[t]).astype(np.float64)
            b, a_hp = signal.butter(1, a.band_low_hz, btype="highpass", fs=session.sample_rate)
            x = signal.lfilter(b, a_hp, x, axis=-1)
            b, a_lp = signal.butter(1, a.band_high_hz, btype="lowpass", fs=session.sample_rate)
            x = signal.lfilter(b, a_lp, x, axis=-1)
            loudness = pyloudnorm.Meter(session.sample_rate).integrated_loudness(x.T)
            levels.append(loudness + effective_gain_db(session, result.plan, t))
        assert max(levels) - min(levels) < 0.5, (group.group.name, levels)


def test_written_demo_differs_only_in_volpan_lines(demo, tmp_path):
    path, session, document, result = demo
    out = write_project(document, session, result.changes, path.with_name("balanced.rpp")).path
    before, after = path.read_text().splitlines(), out.read_text().splitlines()
    assert len(before) == len(after)
    changed = [line for line in difflib.unified_diff(before, after, n=0, lineterm="")
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed and all(line[1:].split()[0] == "VOLPAN" for line in changed)
    # item VOLPAN lines change only on tracks whose report says the gain went into take volume
    take_lines = sum(
        sum(1 for i in session.tracks[t].items if i.is_audio)
        for t, c in result.plan.changes.items() if c.take_gain_db
    )
    assert len(changed) == 2 * (len(result.changes.faders) + take_lines)
