"""Bus tracks with ReaEQ/ReaComp written into .rpp files: values decode back, re-runs replace, folders stay right."""

from __future__ import annotations

import numpy as np
import pytest

from audio_projects import SR, AudioTrack, pink_noise, write_project
from reaper_automix.changes import EXT_BUS, EXT_CREATED, EXT_FX, BusChange, ChangeSet
from reaper_automix.strip import Compressor, EqBand
from reaper_automix.reaper.fxstate import ReaCompState, ReaEqState, decode_fx_state
from reaper_automix.reaper.mappings import compressor_setting, eq_bands
from reaper_automix.rpp.apply import apply_changes
from reaper_automix.rpp.document import Chunk, parse_document
from reaper_automix.rpp.edit import get_track_ext, track_chunks
from reaper_automix.rpp.reader import load_session, session_from_document

N = SR // 2
EQ = (
    EqBand("low_shelf", 120.0, -2.0, 0.7),
    EqBand("peak", 300.0, 1.5, 1.2),
    EqBand("peak", 1200.0, -3.0, 2.0),
    EqBand("peak", 3000.0, 2.0, 0.9),
    EqBand("peak", 6000.0, 0.5, 1.0),
    EqBand("high_shelf", 9000.0, 3.0, 0.7),
)
COMP = Compressor(threshold_db=-18.0, ratio=3.0, attack_ms=15.0, release_ms=120.0, knee_db=6.0, makeup_db=2.0)


def tracks(rng) -> list[AudioTrack]:
    return [
        AudioTrack("Kick", pink_noise(N, rng)),
        AudioTrack("Keys", depth=1),
        AudioTrack("Piano", pink_noise(N, rng)),
        AudioTrack("Organ", pink_noise(N, rng), depth=-1),
        AudioTrack("Snare", pink_noise(N, rng)),
        AudioTrack("Bass", pink_noise(N, rng)),
        AudioTrack("Hat", pink_noise(N, rng)),
    ]


def fx_states(track: Chunk) -> list[ReaEqState | ReaCompState]:
    chain = track.find_chunk("FXCHAIN")
    if chain is None:
        return []
    return [decode_fx_state([line.content for line in vst.lines()]) for vst in chain.chunks("VST")]


def apply_and_reparse(path, changes: ChangeSet):
    session, document = load_session(path)
    apply_changes(document, session, changes)
    data = document.to_bytes()
    path.write_bytes(data)
    return data, parse_document(data, path)


def test_existing_folder_gets_fader_pan_eq_and_comp_that_decode_back(tmp_path):
    path = write_project(tmp_path, tracks(np.random.default_rng(0)))
    session, _ = load_session(path)
    keys = session.tracks[1]
    bus = BusChange("Keys", (session.tracks[2].guid, session.tracks[3].guid), folder_guid=keys.guid,
                    volume=0.5, pan=-0.25, eq=EQ, compressor=COMP)
    _, document = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    folder = track_chunks(document)[1]
    eq_state, comp_state = fx_states(folder)
    for got, want in zip(eq_bands(eq_state), EQ):
        assert got.kind == want.kind
        assert (got.freq_hz, got.gain_db, got.q) == pytest.approx((want.freq_hz, want.gain_db, want.q), rel=1e-9)
    setting, _ = compressor_setting(comp_state)
    for name in ("threshold_db", "ratio", "attack_ms", "release_ms", "knee_db", "makeup_db"):
        assert getattr(setting, name) == pytest.approx(getattr(COMP, name), rel=1e-5)  # float32 in the state
    reread = session_from_document(document, path).tracks[1]
    assert (reread.volume, reread.pan) == (0.5, -0.25)
    assert reread.ext[EXT_BUS] == "Keys" and len(reread.ext[EXT_FX].split()) == 2


def test_rerun_replaces_our_fx_and_writes_the_same_file(tmp_path):
    path = write_project(tmp_path, tracks(np.random.default_rng(1)))
    session, _ = load_session(path)
    bus = BusChange("Keys", (session.tracks[2].guid, session.tracks[3].guid), folder_guid=session.tracks[1].guid,
                    volume=0.7, eq=EQ, compressor=COMP)
    first, _ = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    second, document = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    assert second == first
    assert len(fx_states(track_chunks(document)[1])) == 2


def _scaled(factor: float) -> tuple[tuple[EqBand, ...], Compressor]:
    eq = tuple(EqBand(b.kind, b.freq_hz * factor, b.gain_db * factor, b.q * factor) for b in EQ)
    comp = Compressor(COMP.threshold_db * factor, COMP.ratio * factor, COMP.attack_ms * factor,
                      COMP.release_ms * factor, COMP.knee_db * factor, COMP.makeup_db)
    return eq, comp


@pytest.mark.parametrize("factor, kept", [(1 + 6e-5, True), (1 - 1e-4, True), (1 + 1e-2, False)])
def test_a_rerun_keeps_bus_settings_within_the_searchs_noise(tmp_path, factor, kept):
    """A mix re-run's search lands up to ~1e-4 relative away from its first answer (issue 12): the file then
    keeps its FX and pan exactly; a real change (1 %) is written."""
    path = write_project(tmp_path, tracks(np.random.default_rng(1)))
    session, _ = load_session(path)
    members, folder = (session.tracks[2].guid, session.tracks[3].guid), session.tracks[1].guid
    bus = BusChange("Keys", members, folder_guid=folder, volume=0.7, pan=-0.3, eq=EQ, compressor=COMP)
    first, _ = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    eq, comp = _scaled(factor)
    again = BusChange("Keys", members, folder_guid=folder, volume=0.7, pan=-0.3 * factor, eq=eq, compressor=comp)
    second, document = apply_and_reparse(path, ChangeSet("t", buses=(again,)))
    assert (second == first) == kept
    if not kept:
        track = session_from_document(document, path).tracks[1]
        assert track.pan == pytest.approx(-0.3 * factor, rel=1e-12)
        assert [b.freq_hz for b in eq_bands(fx_states(track_chunks(document)[1])[0])] == pytest.approx(
            [b.freq_hz for b in eq], rel=1e-9)


def test_user_fx_on_the_bus_are_kept(tmp_path):
    path = write_project(tmp_path, tracks(np.random.default_rng(2)))
    session, _ = load_session(path)
    bus = BusChange("Keys", (), folder_guid=session.tracks[1].guid, compressor=COMP)
    _, document = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    # a user adds an EQ of their own after our compressor, then we run again
    from reaper_automix.reaper.fxstate import fx_block_lines
    from reaper_automix.reaper.mappings import reaeq_state
    from reaper_automix.rpp.edit import add_fx

    add_fx(track_chunks(document)[1], "\n".join(fx_block_lines(reaeq_state(EQ), "reaeq.dll", custom_name="mine")))
    path.write_bytes(document.to_bytes())
    _, document = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    states = fx_states(track_chunks(document)[1])
    assert [type(s).__name__ for s in states] == ["ReaCompState", "ReaEqState"]  # theirs kept, ours replaced
    names = [vst.tokens[4] for vst in track_chunks(document)[1].find_chunk("FXCHAIN").chunks("VST")]
    assert names == ["Automix Comp", "mine"]  # ours first in the chain, before the user's


def test_scattered_top_level_tracks_are_gathered_under_a_new_bus(tmp_path):
    path = write_project(tmp_path, tracks(np.random.default_rng(3)))
    session, _ = load_session(path)
    names = [t.name for t in session.tracks]
    drums = tuple(session.tracks[names.index(n)].guid for n in ("Kick", "Snare", "Hat"))
    bus = BusChange("Drums", drums, volume=0.8, eq=EQ)
    _, document = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    after = session_from_document(document, path)
    assert [t.name for t in after.tracks] == ["Drums", "Kick", "Snare", "Hat", "Keys", "Piano", "Organ", "Bass"]
    parents = after.parents()
    assert [parents[i] for i in range(len(after.tracks))] == [None, 0, 0, 0, None, 4, 4, None]
    assert after.tracks[0].ext[EXT_CREATED] == "1" and after.tracks[0].volume == 0.8

    # the second run finds the bus it made (the group is now a folder): nothing new is created
    again = ChangeSet("t", buses=(BusChange("Drums", drums, volume=0.8, eq=EQ),))
    data_before = document.to_bytes()
    data_after, document = apply_and_reparse(path, again)
    assert data_after == data_before


def test_tracks_in_different_folders_cannot_share_a_new_bus(tmp_path):
    from reaper_automix.errors import AutomixError

    path = write_project(tmp_path, tracks(np.random.default_rng(4)))
    session, document = load_session(path)
    bus = BusChange("Mixed", (session.tracks[0].guid, session.tracks[2].guid), eq=EQ)
    with pytest.raises(AutomixError, match="several folders"):
        apply_changes(document, session, ChangeSet("t", buses=(bus,)))


def test_contiguous_members_inside_a_folder_get_a_nested_bus(tmp_path):
    path = write_project(tmp_path, tracks(np.random.default_rng(5)))
    session, _ = load_session(path)
    bus = BusChange("Piano bus", (session.tracks[2].guid,), compressor=COMP)
    _, document = apply_and_reparse(path, ChangeSet("t", buses=(bus,)))
    after = session_from_document(document, path)
    names = [t.name for t in after.tracks]
    parents = after.parents()
    assert names[1:5] == ["Keys", "Piano bus", "Piano", "Organ"]
    assert parents[names.index("Piano")] == names.index("Piano bus")
    assert parents[names.index("Organ")] == names.index("Keys")
    assert parents[names.index("Snare")] is None
    assert get_track_ext(track_chunks(document)[2])[EXT_CREATED] == "1"
