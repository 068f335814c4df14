"""Bus layout decided from the session before any audio: existing folders, new buses, gathering scattered
top-level tracks, re-runs finding their bus, and impossible layouts refused before rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_projects import SR, AudioTrack, pink_noise, write_project
from reaper_automix.changes import EXT_BUS, EXT_CREATED
from reaper_automix.config import BalanceConfig
from reaper_automix.errors import AutomixError
from reaper_automix.grouping import group_tracks
from reaper_automix.layout import plan_layout
from reaper_automix.rpp.reader import load_session
from reaper_automix.session import Session, Track
from reaper_automix.stage1 import BalanceOptions
from reaper_automix.stage2 import mix_session


def session_of(layout: list[tuple[str, int]], ext: dict[int, dict[str, str]] | None = None) -> Session:
    """A session from (name, folder depth) pairs; no media is needed to plan a layout."""
    from reaper_automix.session import Item, Source, SourceKind, Take

    audio = (Item(0.0, 1.0, Take(source=Source(SourceKind.AUDIO, Path("x.wav")))),)
    tracks = tuple(Track(i, name, f"{{G{i}}}", folder_depth=depth, items=() if depth == 1 else audio,
                         ext=(ext or {}).get(i, {}))
                   for i, (name, depth) in enumerate(layout))
    return Session(Path("song.rpp"), SR, tracks)


def plan(session: Session, config: BalanceConfig | None = None):
    return {b.group.name: b for b in plan_layout(session, group_tracks(session, config).groups)}


def test_topology_answers_once():
    s = session_of([("Drums", 1), ("Kick", 0), ("Toms", 1), ("Tom 1", 0), ("Tom 2", -2), ("Bass", 0)])
    assert s.ancestors(3) == [2, 0] and s.fader_path(3) == [3, 2, 0] and s.folder_level(4) == 2
    assert s.subtree(0) == [0, 1, 2, 3, 4] and s.subtree(2) == [2, 3, 4] and s.subtree(5) == [5]
    assert s.parent(1) == 0 and s.parent(5) is None and s.folder_level(5) == 0


def test_exact_folder_is_its_own_bus_and_a_shared_one_gets_a_new_bus():
    s = session_of([("Vocals", 1), ("Lead", 0), ("BVs", 1), ("BV1", 0), ("BV2", -2), ("Kick", 0)])
    buses = plan(s)
    assert (buses["BVs"].track, buses["BVs"].created) == (2, False)
    vocals = buses["Vocals"]
    assert (vocals.name, vocals.track, vocals.created, vocals.members, vocals.moves) == (
        "Vocals bus", None, True, (1,), ())
    drums = buses["drums"]
    assert (drums.name, drums.track, drums.members) == ("Drums", None, (5,))


def test_scattered_top_level_members_are_moved_together():
    s = session_of([("Kick", 0), ("Snare", 0), ("Bass", 0), ("Hat", 0), ("Keys", 0), ("Tom", 0)])
    drums = plan(s)["drums"]
    assert drums.members == (0, 1, 3, 5) and drums.moves == (3, 5)


def test_second_run_reuses_the_bus_it_created():
    s = session_of([("Kick", 0), ("Bass", 0), ("Snare", 0)], ext={1: {EXT_BUS: "Mine", EXT_CREATED: "1"}})
    buses = plan(s, BalanceConfig(groups={"Mine": ("Kick", "Snare")}))
    assert (buses["Mine"].track, buses["Mine"].created) == (1, True)


SPREAD = BalanceConfig(groups={"Drums": ("Kick", "Snare")})  # a settings-file group over two folders


def test_members_in_different_folders_are_refused():
    s = session_of([("Kick", 0), ("Keys", 1), ("Snare", -1), ("Bass", 0)])
    with pytest.raises(AutomixError, match="'Drums': its tracks are spread over several folders"):
        plan(s, SPREAD)


def test_a_bad_layout_fails_before_any_audio(tmp_path):
    rng = np.random.default_rng(3)
    n = SR
    path = write_project(tmp_path, [AudioTrack("Kick", pink_noise(n, rng)), AudioTrack("Keys", depth=1),
                                    AudioTrack("Snare", pink_noise(n, rng)), AudioTrack("Piano", pink_noise(n, rng),
                                                                                       depth=-1)])
    sf.write(tmp_path / "ref.wav", np.stack([pink_noise(6 * SR, rng)] * 2).T, SR)
    session, _ = load_session(path)
    rendered = []

    def renderer(session, track):  # the pipeline's only way to audio: it must never be called
        rendered.append(track.name)
        raise AssertionError("rendered before the layout was checked")

    with pytest.raises(AutomixError, match="spread over several folders"):
        mix_session(session, [tmp_path / "ref.wav"], balance_options=BalanceOptions(workers=1), config=SPREAD,
                    renderer=renderer)
    assert rendered == []
