"""The balance preview summed from stage 1's one render, and the track pans stage 1's stems now carry.

The second implementation is the preview as it was computed before stage 1 summed it: every audible track
rendered from its media again at the gain the plan gives it, panned by its pan law (``media_preview`` below,
with the console's torch pan law), on projects with pans, pan laws, mutes, folder faders, take gains, excluded,
locked and silent tracks, strength < 1 and several workers.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np
import pytest
import torch

from audio_projects import SR, AudioTrack, band_noise, harmonic_tone, pink_noise, write_project
from reaper_automix import stage1
from reaper_automix.audio import render
from reaper_automix.audio.render import render_track, render_tracks
from reaper_automix.config import BalanceConfig
from reaper_automix.console.pan import PanLaw
from reaper_automix.preview import track_pan_gains
from reaper_automix.rpp.reader import load_session
from reaper_automix.stage1 import BalanceOptions, balance_session

N = 2 * SR
CONFIG = BalanceConfig(groups={"Perc": ("shaker", "tamb")}, exclude=("click",), lock=("tom", "tamb"))


def media_preview(session, plan) -> np.ndarray:
    """Every audible track (not muted, no muted folder above) rendered from its media, at its own and its folders'
    new faders plus its take gain, panned by its law; summed in float64."""
    mix = np.zeros((2, round(session.length_s * session.sample_rate)))
    for t, audio in render_tracks(session, [t.index for t in session.tracks if t.has_audio], skip_missing=True):
        track = session.tracks[t]
        path = [t, *session.ancestors(t)]
        if any(session.tracks[p].mute for p in path):
            continue
        change = plan.changes.get(t)
        gain_db = sum(plan.changes[p].fader_after_db if p in plan.changes else 20 * math.log10(session.tracks[p].volume)
                      for p in path) + (change.take_gain_db if change else 0.0)
        left, right = PanLaw.of_track(session, track).gains(torch.tensor([track.pan], dtype=torch.float64))
        mix[0] += 10 ** (gain_db / 20) * float(left[0]) * audio[0]
        mix[1] += 10 ** (gain_db / 20) * float(right[0]) * audio[1]
    return mix


def band_project(folder, project_law: float = 1.0):
    """A session with every kind of track the preview has to get right (see the names)."""
    rng = np.random.default_rng(11)
    stereo = np.stack([band_noise(N, 6000, 12000, rng), 0.6 * band_noise(N, 5000, 10000, rng)], axis=1)
    tracks = [
        AudioTrack("Drums", depth=1, volume=0.8),
        AudioTrack("Kick", harmonic_tone(N, 55.0, 3), gain_db=-3.0),
        AudioTrack("Snare", pink_noise(N, rng), gain_db=-20.0),
        AudioTrack("Hat", stereo, gain_db=-6.0),
        AudioTrack("Tom", harmonic_tone(N, 110.0), gain_db=-9.0, volume=0.6),  # locked
        AudioTrack("Brush", pink_noise(N, rng), gain_db=-95.0),  # silent for stage 1, still heard
        AudioTrack("Shaker", band_noise(N, 3000, 9000, rng), gain_db=-14.0, depth=-1),  # settings group Perc
        AudioTrack("Keys", depth=1),  # muted folder: its track is balanced but not heard
        AudioTrack("Piano", harmonic_tone(N, 220.0), gain_db=-6.0, depth=-1),
        AudioTrack("Gtr", depth=1, volume=1.2),
        AudioTrack("Guitar", pink_noise(N, rng), gain_db=-10.0, take_volume=0.5),
        AudioTrack("Quiet Gtr", band_noise(N, 300, 3000, rng), gain_db=-48.0, depth=-1),  # fader beyond +12 dB
        AudioTrack("Vox", harmonic_tone(N, 440.0), gain_db=-12.0),
        AudioTrack("Tamb", band_noise(N, 4000, 8000, rng), gain_db=-18.0),  # locked, Perc
        AudioTrack("Click", pink_noise(N, rng), gain_db=-20.0),  # excluded by the settings, still heard
        AudioTrack("Old take", pink_noise(N, rng), gain_db=-10.0),  # muted
    ]
    session, _ = load_session(write_project(folder, tracks))
    pans = {"Snare": (-0.4, -1.0, 0), "Hat": (0.7, 0.7071, 0), "Guitar": (0.3, -1.0, 2), "Vox": (-0.2, 0.5, 3),
            "Click": (0.5, -1.0, 0), "Tom": (1.0, -1.0, 0)}
    new = []
    for t in session.tracks:
        pan, law, flags = pans.get(t.name, (0.0, -1.0, 0))
        new.append(dataclasses.replace(t, pan=pan, pan_law_gain=law, pan_law_flags=flags,
                                       mute=t.name in ("Keys", "Old take")))
    return dataclasses.replace(session, tracks=tuple(new), pan_law_gain=project_law)


@pytest.mark.parametrize("strength, workers, project_law", [
    (1.0, 1, 1.0), (1.0, 2, 0.7071), (0.5, 2, 1.0), (0.3, 1, 1.4142), (0.0, 1, 1.0),
])
def test_preview_summed_from_stage1_equals_the_media_render(tmp_path, strength, workers, project_law):
    session = band_project(tmp_path, project_law)
    result = balance_session(session, BalanceOptions(workers=workers, strength=strength), CONFIG, preview=True)
    assert result.excluded[5].startswith("silent") and "settings" in result.excluded[14]
    assert strength < 1 or (8 in result.plan.changes and result.plan.changes[11].take_gain_db > 0)
    expected = media_preview(session, result.plan)
    assert result.preview_mix.dtype == np.float32 and result.preview_mix.shape == expected.shape
    np.testing.assert_allclose(result.preview_mix, expected, rtol=0, atol=2e-6 * np.abs(expected).max())
    assert result.preview_from_media == ()  # every track heard through the parts: nothing rendered again


def test_the_media_is_read_once_for_stage1_and_the_preview(tmp_path, monkeypatch):
    session = band_project(tmp_path)
    reads = Counter()
    inner = render.read_audio

    def counted(path, *args, **kwargs):
        reads[path.name] += 1
        return inner(path, *args, **kwargs)

    monkeypatch.setattr(render, "read_audio", counted)
    result = balance_session(session, BalanceOptions(workers=1), CONFIG, preview=True)
    played = {session.tracks[t].items[0].take.source.file.name for t in range(len(session.tracks))
              if session.tracks[t].has_audio and session.tracks[t].name != "Old take"}
    assert reads == Counter({name: 1 for name in played})
    assert np.abs(result.preview_mix).max() > 0.1


def test_tracks_the_plan_leaves_at_another_gain_are_added_from_their_media(tmp_path):
    """On its own output with one fader nudged by 0.005 dB, the change back is too small to make (NEGLIGIBLE_DB), so
    that track does not sound at its stage-1 gain: the preview adds the difference from its media alone and
    still equals the media render."""
    from reaper_automix.rpp.apply import write_project as write_rpp

    rng = np.random.default_rng(2)
    tracks = [AudioTrack("Band", depth=1), AudioTrack("Gtr", pink_noise(N, rng), gain_db=-10.0),
              AudioTrack("Bass", harmonic_tone(N, 55.0), gain_db=-20.0, depth=-1)]
    session, document = load_session(write_project(tmp_path, tracks))
    first = balance_session(session, BalanceOptions(workers=1))
    out = write_rpp(document, session, first.changes, tmp_path / "once.rpp").path
    again_session, _ = load_session(out)
    nudged = dataclasses.replace(again_session.tracks[1], volume=again_session.tracks[1].volume * 10 ** (0.005 / 20))
    again_session = dataclasses.replace(again_session, tracks=(again_session.tracks[0], nudged,
                                                               *again_session.tracks[2:]))
    again = balance_session(again_session, BalanceOptions(workers=1), preview=True)
    assert again.preview_from_media == (1,)
    assert again.plan.changes[1].fader_after_db == again.plan.changes[1].fader_before_db  # that fader stayed
    expected = media_preview(again_session, again.plan)
    np.testing.assert_allclose(again.preview_mix, expected, rtol=0, atol=2e-6 * np.abs(expected).max())


def test_kept_stems_carry_each_tracks_pan(tmp_path):
    """A stem is what the bus hears: its tracks at their Rule 1 gains, each panned by its own law (float64 sum of
    the offline renders here); the stem's peak is measured on that."""
    session = band_project(tmp_path)
    result = balance_session(session, BalanceOptions(workers=2), CONFIG, stem_dir=tmp_path / "stems")
    by_name = {g.group.name: g for g in result.groups}
    assert {"Drums", "Gtr", "Perc", "vocals"} <= set(by_name)
    for g in result.groups:
        stem = np.load(g.stem_file)
        expected = np.zeros((2, stem.shape[1]))
        for t, db in g.relative_db.items():
            track = session.tracks[t]
            left, right = PanLaw.of_track(session, track).gains(torch.tensor([track.pan], dtype=torch.float64))
            audio = render_track(session, track).astype(np.float64) * 10 ** (db / 20)
            expected += audio * np.array([[float(left[0])], [float(right[0])]])
        np.testing.assert_allclose(stem, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
        assert g.stem_peak_dbfs == pytest.approx(20 * math.log10(np.abs(expected).max()), abs=1e-5)


def test_a_pan_law_moves_the_stem_levels_and_not_the_track_measurements(tmp_path):
    """Centred tracks under a -6 dB project law (centre gain 0.5) play at -6 dB on both channels: the stems (and
    their measured peak and band loudness) are 6.02 dB lower, the tracks' own analysis and Rule 1 gains are
    unchanged, and the group gains make up for it, so the previews end at the same level (the ceiling)."""
    rng = np.random.default_rng(5)
    tracks = [AudioTrack("Band", depth=1), AudioTrack("Gtr", pink_noise(N, rng), gain_db=-10.0),
              AudioTrack("Bass", harmonic_tone(N, 55.0), gain_db=-20.0, depth=-1)]
    session, _ = load_session(write_project(tmp_path, tracks))
    law_db = 20 * math.log10(0.5)
    plain = balance_session(session, BalanceOptions(workers=1), preview=True)
    lawful = balance_session(dataclasses.replace(session, pan_law_gain=0.5), BalanceOptions(workers=1),
                             preview=True)
    (a,), (b,) = plain.groups, lawful.groups
    assert b.relative_db == a.relative_db
    assert b.stem_peak_dbfs == pytest.approx(a.stem_peak_dbfs + law_db, abs=1e-4)
    assert b.stem_band_loudness == pytest.approx(a.stem_band_loudness + law_db, abs=1e-3)
    assert b.gain_db == pytest.approx(a.gain_db - law_db, abs=1e-3)
    peak = 20 * math.log10(np.abs(lawful.preview_mix).max())
    assert peak == pytest.approx(-1.0, abs=1e-3)


def test_centred_mono_stems_stay_one_row_and_panned_ones_get_two(tmp_path, monkeypatch):
    rng = np.random.default_rng(9)
    tracks = [AudioTrack("Centre", depth=1), AudioTrack("a", pink_noise(N, rng)),
              AudioTrack("b", harmonic_tone(N, 110.0), depth=-1),
              AudioTrack("Panned", depth=1), AudioTrack("c", pink_noise(N, rng)),
              AudioTrack("d", harmonic_tone(N, 220.0), depth=-1)]
    session, _ = load_session(write_project(tmp_path, tracks))
    session = dataclasses.replace(session, tracks=tuple(
        dataclasses.replace(t, pan=0.5) if t.name == "d" else t for t in session.tracks))
    rows = {}
    inner = stage1.remove_folder

    def look(folder):
        rows.update({p.name: np.load(p, mmap_mode="r").shape[0] for p in folder.glob("stem*.npy")})
        inner(folder)

    monkeypatch.setattr(stage1, "remove_folder", look)
    balance_session(session, BalanceOptions(workers=1))
    assert rows == {"stem000.npy": 1, "stem001.npy": 2}


@pytest.mark.parametrize("law, flags", [(1.0, 0), (1.0, 2), (1.0, 3), (0.7071, 0), (0.5, 2), (1.4142, 0)])
@pytest.mark.parametrize("pan", [0.0, -0.3, 1.0])
def test_track_pan_gains_are_the_pan_laws(tmp_path, law, flags, pan):
    """Including the shortcut for a centred track under a balance law: exactly the law's (1, 1)."""
    session, _ = load_session(write_project(tmp_path, [AudioTrack("x", np.zeros(100, dtype=np.float32))]))
    track = dataclasses.replace(session.tracks[0], pan=pan, pan_law_gain=law, pan_law_flags=flags)
    left, right = PanLaw.of_track(session, track).gains(torch.tensor([pan], dtype=torch.float64))
    assert track_pan_gains(session, track) == (float(left[0]), float(right[0]))
