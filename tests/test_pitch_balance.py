"""``balance --method f0`` on worker processes (the f0 pool path: torch imported once by the parent, inherited by
the forked workers, one torch thread each) gives the same pitches and faders as in one process, and the right
pitches."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("pesto") is None:
    pytest.skip("the f0 method needs pesto-pitch's weights", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_projects import SR, AudioTrack, harmonic_tone, write_project  # noqa: E402

from reaper_automix.rpp.reader import load_session  # noqa: E402
from reaper_automix.stage1 import BalanceOptions, balance_session  # noqa: E402

N = 4 * SR
PITCHES_HZ = {"Bass": 55.0, "Cello": 130.8, "Flute": 880.0, "Voice": 440.0}


def test_f0_balance_on_workers_equals_in_process(tmp_path):
    tracks = [
        AudioTrack("Low", depth=1),
        AudioTrack("Bass", harmonic_tone(N, PITCHES_HZ["Bass"], 6), gain_db=-6.0),
        AudioTrack("Cello", harmonic_tone(N, PITCHES_HZ["Cello"], 8), gain_db=-14.0, depth=-1),
        AudioTrack("High", depth=1),
        AudioTrack("Flute", harmonic_tone(N, PITCHES_HZ["Flute"], 3), gain_db=-20.0),
        AudioTrack("Voice", harmonic_tone(N, PITCHES_HZ["Voice"], 10), gain_db=-3.0, depth=-1),
    ]
    session, _ = load_session(write_project(tmp_path, tracks))
    one = balance_session(session, BalanceOptions(method="f0", workers=1))
    two = balance_session(session, BalanceOptions(method="f0", workers=2))
    names = {t: session.tracks[t].name for t in one.analyses}
    assert sorted(names.values()) == sorted(PITCHES_HZ)
    for t, a in one.analyses.items():
        b = two.analyses[t]
        assert a.method_used == b.method_used == "f0", names[t]
        assert abs(1200 * math.log2(a.f0_hz / PITCHES_HZ[names[t]])) < 30, (names[t], a.f0_hz)
        assert b.f0_hz == pytest.approx(a.f0_hz, rel=1e-7), names[t]
        assert b.band_loudness_lufs == pytest.approx(a.band_loudness_lufs, abs=1e-5), names[t]
    faders = {t: (c.fader_after_db, two.plan.changes[t].fader_after_db) for t, c in one.plan.changes.items()}
    assert faders and all(a == pytest.approx(b, abs=1e-5) for a, b in faders.values()), faders
