"""Stage 1 decisions on hand-built sessions: grouping, settings, gain rules and fader planning."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.balance import (
    NEGLIGIBLE_DB,
    between_group_gains,
    equal_loudness_gains,
    plan_faders,
    rule1_gain_db,
    stem_offset_db,
)
from reaper_automix.config import BalanceConfig, load_config
from reaper_automix.errors import AutomixError
from reaper_automix.grouping import group_by_name, group_tracks, name_words
from reaper_automix.session import Item, Session, Source, SourceKind, Take, Track
from reaper_automix.units import db_to_gain, gain_to_db


def audio_item() -> Item:
    return Item(0.0, 1.0, Take(source=Source(SourceKind.AUDIO, Path("/x.wav"), "WAVE")))


def midi_item() -> Item:
    return Item(0.0, 1.0, Take(source=Source(SourceKind.MIDI, None, "MIDI")))


def make_session(spec: list[tuple[str, int, bool]], volumes: dict[int, float] | None = None) -> Session:
    """spec: (name, folder_depth, has_audio) per track."""
    volumes = volumes or {}
    tracks = tuple(
        Track(i, name, f"{{G{i}}}", volume=volumes.get(i, 1.0), folder_depth=depth,
              items=(audio_item(),) if audio else ())
        for i, (name, depth, audio) in enumerate(spec)
    )
    return Session(Path("/p/x.rpp"), 44100, tracks)


NESTED = [
    ("Drums", 1, False),
    ("Kick", 0, True),
    ("Snare", -1, True),
    ("Vocals", 1, False),
    ("Lead", 0, True),
    ("BVs", 1, False),
    ("BV1", 0, True),
    ("BV2", -2, True),  # closes BVs and Vocals
    ("Gtr", 0, True),
    ("Bass DI", 0, True),
]


def test_groups_follow_innermost_folder_then_names():
    session = make_session(NESTED)
    grouping = group_tracks(session)
    by_name = {g.name: (g.members, g.folder, g.source) for g in grouping.groups}
    assert by_name["Drums"] == ((1, 2), 0, "folder")
    assert by_name["Vocals"] == ((4,), 3, "folder")
    assert by_name["BVs"] == ((6, 7), 5, "folder")
    assert by_name["other"] == ((8,), None, "name")
    assert by_name["bass"] == ((9,), None, "name")


def test_exclusions_are_reported_with_reasons():
    spec = [("Kick", 0, True), ("Click", 0, True), ("Synth MIDI", 0, False), ("Muted", 0, True)]
    tracks = list(make_session(spec).tracks)
    tracks[2] = Track(2, "Synth MIDI", "{G2}", items=(midi_item(),))
    tracks[3] = Track(3, "Muted", "{G3}", mute=True, items=(audio_item(),))
    session = Session(Path("/p/x.rpp"), 44100, tuple(tracks))
    grouping = group_tracks(session, BalanceConfig(exclude=("click",)))
    reasons = {e.track: e.reason for e in grouping.excluded}
    assert reasons[1] == "excluded by settings file"
    assert "MIDI" in reasons[2]
    assert reasons[3] == "muted"
    assert [g.members for g in grouping.groups] == [(0,)]


@pytest.mark.parametrize(
    "name,group",
    [("KickIn", "drums"), ("OH L", "drums"), ("Bass Drum", "drums"), ("Bass DI", "bass"), ("BV 3", "vocals"),
     ("Lead Vox", "vocals"), ("Gtr DI", "other"), ("Piano", "other"), ("Voz principal", "vocals"),
     ("Batería Room", "drums"), ("snr btm", "drums"), ("Shaker", "drums"), ("Pad", "other")],
)
def test_group_by_name_keywords(name, group):
    assert group_by_name(name) == group


def test_name_words_split_camel_case_and_digits():
    assert name_words("KickIn_02") == ["kick", "in", "02"]
    assert name_words("BV3 (double)") == ["bv", "3", "double"]


def test_settings_override_lock_and_offsets(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "groups:\n  Band: ['gtr', 'bass*']\nlock: [Kick]\nexclude: []\n"
        "offsets_db:\n  tracks: {Lead: 3}\n  groups: {Vocals: -2}\n"
    )
    config = load_config(cfg)
    session = make_session(NESTED)
    grouping = group_tracks(session, config)
    assert {g.name: g.members for g in grouping.groups}["Band"] == (8, 9)
    assert config.is_locked("kick") and config.track_offset_db("LEAD") == 3.0
    assert config.group_offset_db("Vocals") == -2.0


@pytest.mark.parametrize(
    "text,fragment",
    [("[1, 2]", "mapping"), ("groups: 3", "groups"), ("colour: red", "unknown key"),
     ("offsets_db: {tracks: {a: loud}}", "offsets_db.tracks.a"), ("lock: [1]", "lock"), ("a: [", "YAML")],
)
def test_bad_settings_name_file_and_key(tmp_path, text, fragment):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(AutomixError, match="bad.yaml") as info:
        load_config(cfg)
    assert fragment in str(info.value)


def test_equal_loudness_gains_and_locked_anchor():
    session = make_session(NESTED, volumes={2: db_to_gain(-4.0)})
    drums = group_tracks(session).groups[0]
    band = {1: -20.0, 2: -30.0}
    assert rule1_gain_db(-20.0, 1.5, target_lufs=-25.0) == pytest.approx(-3.5)
    at_target = {t: rule1_gain_db(band[t], target_lufs=-25.0) for t in band}
    free = equal_loudness_gains(drums, at_target, band, session, BalanceConfig(), target_lufs=-25.0)
    assert free.relative_db == {1: pytest.approx(-5.0), 2: pytest.approx(5.0)}
    assert free.anchor_shift_db == 0.0
    locked = equal_loudness_gains(drums, {1: at_target[1]}, band, session, BalanceConfig(lock=("snare",)),
                                  target_lufs=-25.0)
    # the snare keeps its -4 dB fader and sits at -34; the kick is aimed at that level
    assert locked.relative_db[2] == pytest.approx(-4.0)
    assert -20.0 + locked.relative_db[1] == pytest.approx(-34.0)
    assert locked.anchor_shift_db == pytest.approx(-9.0)  # from the -25 target to the snare's -34


def test_stem_offset_and_between_group_rules():
    assert stem_offset_db(-6.0, -0.1) == pytest.approx(5.9)
    gains = between_group_gains({"a": -20.0, "b": -30.0, "silent": -math.inf}, {"b": 1.0})
    assert gains["a"] == pytest.approx(-5.0) and gains["b"] == pytest.approx(6.0) and gains["silent"] == 0.0


def effective_db(session: Session, plan, t: int) -> float:
    parents = session.parents()
    total, p = plan.fader_db(t, session), parents[t]
    while p is not None:
        total += plan.fader_db(p, session)
        p = parents[p]
    change = plan.changes.get(t)
    return total + (change.take_gain_db if change else 0.0)


def test_faders_realise_effective_gains_through_nested_folders():
    session = make_session(NESTED, volumes={3: db_to_gain(5.0)})
    grouping = group_tracks(session)
    groups = {g.name: g for g in grouping.groups}
    track_db = {1: -3.0, 2: 2.0, 4: 0.0, 6: -1.0, 7: 1.0, 8: 4.0, 9: -2.0}
    group_db = {groups["Drums"]: -6.0, groups["Vocals"]: 3.0, groups["BVs"]: -4.0,
                groups["other"]: 1.0, groups["bass"]: -1.5}
    plan = plan_faders(session, track_db, group_db)
    for g, gdb in group_db.items():
        for t in g.members:
            assert effective_db(session, plan, t) == pytest.approx(gdb + track_db[t])
    # the inner folder's fader is relative to the outer one
    assert plan.changes[5].fader_after_db == pytest.approx(-4.0 - 3.0)


def test_fader_cap_moves_excess_to_take_volume_and_through_folders():
    session = make_session(NESTED)
    groups = {g.name: g for g in group_tracks(session).groups}
    plan = plan_faders(session, {1: 10.0, 2: 0.0}, {groups["Drums"]: 15.0})
    assert plan.changes[0].fader_after_db == pytest.approx(12.0)
    assert "tracks inside" in plan.changes[0].note
    assert plan.changes[1].fader_after_db == pytest.approx(12.0)  # 10 + 3 compensating the folder cap
    assert plan.changes[1].take_gain_db == pytest.approx(1.0)
    assert effective_db(session, plan, 1) == pytest.approx(25.0)
    assert effective_db(session, plan, 2) == pytest.approx(15.0)


@given(st.floats(0, 1), st.lists(st.floats(-30, 30), min_size=3, max_size=3))
@settings(max_examples=60, deadline=None)
def test_strength_interpolates_effective_gains(strength, gains):
    session = make_session([("Kick", 0, True), ("Snare", 0, True), ("Hat", 0, True)],
                           volumes={0: db_to_gain(-3.0), 1: db_to_gain(2.0)})
    group = group_tracks(session).groups[0]
    plan = plan_faders(session, dict(enumerate(gains)), {group: 0.0}, strength=strength, fader_max_db=99)
    for t, target in enumerate(gains):
        before = gain_to_db(session.tracks[t].volume)
        # changes below NEGLIGIBLE_DB are not made
        assert effective_db(session, plan, t) == pytest.approx(before + strength * (target - before), abs=NEGLIGIBLE_DB)


def test_locked_tracks_keep_their_fader():
    session = make_session(NESTED, volumes={1: db_to_gain(-7.0)})
    groups = {g.name: g for g in group_tracks(session).groups}
    plan = plan_faders(session, {1: -7.0, 2: 3.0}, {groups["Drums"]: 1.0}, frozenset({1}))
    assert 1 not in plan.changes
    assert plan.changes[2].fader_after_db == pytest.approx(3.0)
