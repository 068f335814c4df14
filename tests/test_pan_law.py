"""Pan laws as REAPER stores them (project PANLAW, track VOLPAN field 3, PANLAWFLAGS), read from .rpp text and
followed by the console bus by bus."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reaper_automix.console.pan import PanLaw, pan_gains
from reaper_automix.errors import ProjectParseError
from reaper_automix.grouping import Group
from reaper_automix.layout import plan_layout
from reaper_automix.rpp.reader import load_session
from reaper_automix.stage2 import bus_pan_law
from tests.rpp_helpers import TrackSpec, project_lines


def write(tmp_path: Path, tracks: list[TrackSpec], header: list[str] | None = None) -> Path:
    path = tmp_path / "p.rpp"
    path.write_text("\n".join(project_lines(tracks, header)) + "\n", encoding="utf-8")
    return path


def test_reaper_values_map_to_laws():
    assert PanLaw.from_reaper(1.0, 0) == PanLaw() == PanLaw.reaper_default()
    minus3 = PanLaw.from_reaper(10 ** (-3 / 20), 0)
    assert minus3.centre_db == pytest.approx(-3.0) and not minus3.gain_compensated
    compensated = PanLaw.from_reaper(10 ** (3 / 20), 2)
    assert compensated.centre_db == pytest.approx(-3.0) and compensated.gain_compensated
    assert compensated.taper == "linear"
    assert PanLaw.from_reaper(1.0, 3).taper == "hybrid"
    with pytest.raises(ValueError, match="taper"):
        PanLaw.from_reaper(1.0, 7)
    with pytest.raises(ValueError, match="positive"):
        PanLaw.from_reaper(float("nan"))


def test_hybrid_taper_lies_between_sine_and_linear():
    pan = torch.linspace(-1, 1, 41, dtype=torch.float64)
    for centre_db in (0.0, -3.0, -6.0):
        sine, linear, hybrid = (PanLaw(centre_db, t).gains(pan) for t in ("sine", "linear", "hybrid"))
        lo, hi = torch.minimum(sine[0], linear[0]), torch.maximum(sine[0], linear[0])
        assert torch.all(hybrid[0] >= lo - 1e-12) and torch.all(hybrid[0] <= hi + 1e-12)
        # centre and the hard-pan ends are those of the law, whatever the taper
        assert float(hybrid[0][20]) == pytest.approx(10 ** (centre_db / 20))
        assert float(hybrid[0][-1]) == pytest.approx(0.0, abs=1e-5) and float(hybrid[1][-1]) == pytest.approx(1.0)


def test_pan_gains_follow_each_law():
    laws = [PanLaw(), PanLaw(-3.0, "sine"), PanLaw(0.0, "hybrid")]
    pan = torch.tensor([0.5, 0.5, -0.25], dtype=torch.float64)
    left, right = pan_gains(laws, pan)
    for i, law in enumerate(laws):
        one = law.gains(pan[i : i + 1])
        assert float(left[i]) == pytest.approx(float(one[0][0])) and float(right[i]) == pytest.approx(float(one[1][0]))
    with pytest.raises(ValueError, match="2 pan laws for 3"):
        pan_gains(laws[:2], pan)


def test_reader_takes_track_and_project_laws(tmp_path):
    tracks = [
        TrackSpec("Drums", depth=1, body=["PANLAWFLAGS 3"]),
        TrackSpec("Kick", depth=-1),
        TrackSpec("Bass"),
    ]
    path = write(tmp_path, tracks, ["SAMPLERATE 48000 0 0", "PANLAW 0.70794578"])
    text = path.read_text().replace("VOLPAN 1 0 -1 -1 1", "VOLPAN 1 0 0.5 -1 1", 1)  # Drums: -6 dB law
    path.write_text(text)
    session, _ = load_session(path)
    assert session.pan_law_gain == pytest.approx(0.70794578)
    drums, kick, bass = session.tracks
    assert (drums.pan_law_gain, drums.pan_law_flags) == (0.5, 3)
    assert (kick.pan_law_gain, kick.pan_law_flags) == (-1.0, 0)
    assert PanLaw.of_track(session, drums) == PanLaw(pytest.approx(-6.0206, abs=1e-3), "hybrid")
    assert PanLaw.of_track(session, kick).centre_db == pytest.approx(-3.0, abs=1e-6)  # the project's law
    # A group on the Drums folder pans with the folder's law; one that needs a new bus with the project's.
    drums_bus, bass_bus = plan_layout(session, [Group("Drums", (1,), 0, "folder"), Group("Bass", (2,), None, "name")])
    assert bus_pan_law(session, drums_bus).taper == "hybrid"
    new_bus = bus_pan_law(session, bass_bus)
    assert new_bus.taper == "sine" and new_bus.centre_db == pytest.approx(-3.0, abs=1e-6)


@pytest.mark.parametrize("line, message", [
    ("PANLAWFLAGS 9", "PANLAWFLAGS field 1 is 9"),
    ("PANLAWFLAGS nan", "PANLAWFLAGS field 1 is nan"),
])
def test_bad_pan_law_flags_name_the_line(tmp_path, line, message):
    path = write(tmp_path, [TrackSpec("A", body=[line])])
    with pytest.raises(ProjectParseError, match=message) as err:
        load_session(path)
    assert path.read_text().splitlines()[err.value.line - 1].strip() == line


def test_match_reference_pans_with_the_given_laws(monkeypatch):
    import numpy as np

    from reaper_automix.matching import MatchOptions, match_reference, proxy, song_features

    seen = []
    real = proxy.pan_gains

    def spy(laws, pan):
        seen.append(list(laws))
        return real(laws, pan)

    monkeypatch.setattr(proxy, "pan_gains", spy)
    rng = np.random.default_rng(1)
    stems = [(0.1 * rng.standard_normal((2, 48000 * 3))).astype(np.float32) for _ in range(2)]
    reference = song_features(0.2 * rng.standard_normal((2, 48000 * 3)).astype(np.float32), 48000)
    laws = [PanLaw(), PanLaw(0.0, "hybrid")]
    match_reference(stems, 48000, [], MatchOptions(iterations=2, rounds=1, excerpts=1, excerpt_s=1.0), reference=reference, pan_laws=laws)
    assert seen and all(s == laws for s in seen)
    assert math.isfinite(PanLaw(0.0, "hybrid").gains(torch.tensor([0.3]))[0].item())


def test_live_session_reads_each_tracks_law_as_the_file_does(tmp_path):
    """The stand-in host holds the tracks' D_PANLAW / I_PANLAW_FLAGS; the live session and the .rpp reader agree,
    and so does each bus's law."""
    from reaper_automix.live.bridge import connect
    from reaper_automix.live.session import read_live_session
    from tests.live_harness.process import Host, spec_from_session

    tracks = [TrackSpec("Drums", depth=1, body=["PANLAWFLAGS 3"]), TrackSpec("Kick", depth=-1),
              TrackSpec("Bass", body=["PANLAWFLAGS 2"])]
    path = write(tmp_path, tracks)
    path.write_text(path.read_text().replace("VOLPAN 1 0 -1 -1 1", "VOLPAN 1 0 0.5 -1 1", 1))
    offline, _ = load_session(path)
    with Host(spec_from_session(offline), tmp_path / "host") as host:
        live = read_live_session(connect(web_port=host.web_port)).session
    laws = [(t.pan_law_gain, t.pan_law_flags) for t in live.tracks]
    assert laws == [(0.5, 3), (-1.0, 0), (-1.0, 2)] == [(t.pan_law_gain, t.pan_law_flags) for t in offline.tracks]
    groups = [Group("Drums", (1,), 0, "folder"), Group("Bass", (2,), None, "name")]
    assert [bus_pan_law(live, b) for b in plan_layout(live, groups)] == \
        [bus_pan_law(offline, b) for b in plan_layout(offline, groups)]
    assert bus_pan_law(live, plan_layout(live, groups)[0]) == PanLaw.from_reaper(0.5, 3)


@pytest.mark.parametrize("gain, flags, message", [(0.0, 0, "D_PANLAW 0 is not usable"),
                                                  (float("nan"), 0, "D_PANLAW nan"),
                                                  (1.0, 9, "I_PANLAW_FLAGS: pan law flags 9")])
def test_live_pan_law_reaper_cannot_mean_is_refused_naming_the_track(gain, flags, message):
    from reaper_automix.errors import AutomixError
    from reaper_automix.live.session import session_from_data

    track = {"index": 0, "name": "Bus", "guid": "{G}", "volume": 1.0, "pan": 0.0, "mute": False, "solo": False,
             "folder_depth": 0, "n_channels": 2, "selected": False, "pan_law_gain": gain, "pan_law_flags": flags,
             "ext": {}, "items": [], "fx_chunk": ""}
    with pytest.raises(AutomixError, match=f"track 1 'Bus': .*{message}"):
        session_from_data({"project_file": "", "sample_rate": 44100, "tracks": [track]})
