"""The demo session generator: files, manifest, levels, spectra, folder structure, determinism."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.demo import MAX_TRACKS, MIN_TRACKS, DemoManifest, generate_demo
from reaper_automix.demo import arrangement
from reaper_automix.demo.project import folder_layout
from reaper_automix.demo.tracks import FOLDERS, build_track_list
from reaper_automix.errors import AutomixError
from reaper_automix.rpp.tokens import split_tokens
from reaper_automix.session import Session, Track

SR = 44100


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, DemoManifest]:
    out = tmp_path_factory.mktemp("demo") / "session"
    return out, generate_demo(out, seed=3, length_s=12.0, n_tracks=40)


def _timeline(out: Path, track, n: int) -> np.ndarray:
    """A track as a renderer would play it: its items placed on the project timeline (mono mixdown)."""
    audio, _ = sf.read(out / track.media, dtype="float64", always_2d=True)
    audio = audio.mean(axis=1)
    line = np.zeros(n)
    for item in track.items:
        a = int(round(item.position_s * SR))
        o = int(round(item.source_offset_s * SR))
        k = int(round(item.length_s * SR))
        line[a : a + k] = audio[o : o + k]
    return line


def _fraction_above(x: np.ndarray, cutoff_hz: float) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float(power[freqs > cutoff_hz].sum() / power.sum())


def _read_rpp_tracks(path: Path) -> list[tuple[str, int, list[tuple[float, float, str]]]]:
    """A minimal independent reading of the written project: (name, ISBUS depth, [(position, length, file)])."""
    tracks = []
    item: dict = {}
    for raw in path.read_text().split("\n"):
        tokens = split_tokens(raw.strip())
        if not tokens:
            continue
        indent = len(raw) - len(raw.lstrip())
        if tokens[0] == "<TRACK":
            tracks.append(["", 0, []])
        elif tokens[0] == "NAME" and indent == 4:
            tracks[-1][0] = tokens[1]
        elif tokens[0] == "ISBUS":
            tracks[-1][1] = int(tokens[2])
        elif tokens[0] in ("POSITION", "LENGTH"):
            item[tokens[0]] = float(tokens[1])
        elif tokens[0] == "FILE":
            tracks[-1][2].append((item["POSITION"], item["LENGTH"], tokens[1]))
    return [tuple(t) for t in tracks]


def test_media_files_are_24_bit_44k_and_match_the_manifest(demo):
    out, manifest = demo
    assert manifest.sample_rate == SR and len(manifest.tracks) == 40
    for track in manifest.tracks:
        assert not Path(track.media).is_absolute() and track.media.startswith("media/")
        info = sf.info(out / track.media)
        assert (info.format, info.subtype, info.samplerate) == ("WAV", "PCM_24", SR), track.name
        assert info.channels == track.channels
        offset = 0
        for item in track.items:  # items read the file back to back, in order
            assert item.source_offset_s == pytest.approx(offset / SR, abs=1e-9)
            offset += int(round(item.length_s * SR))
        assert info.frames == offset, track.name


def test_items_are_not_silent_and_sit_on_bar_lines(demo):
    out, manifest = demo
    bar_s = 240.0 / manifest.tempo_bpm
    for track in manifest.tracks:
        audio, _ = sf.read(out / track.media, always_2d=True)
        for item in track.items:
            o = int(round(item.source_offset_s * SR))
            chunk = audio[o : o + int(round(item.length_s * SR))]
            assert 20 * np.log10(np.sqrt(np.mean(chunk**2))) > -60.0, track.name
            start = item.position_s + 0.05 if item.position_s > 0 else 0.0
            assert start / bar_s == pytest.approx(round(start / bar_s), abs=1e-4), track.name


def test_some_tracks_play_only_in_parts_of_the_song(demo):
    _, manifest = demo
    coverage = [sum(i.length_s for i in t.items) / manifest.length_s for t in manifest.tracks]
    assert sum(c < 0.75 for c in coverage) >= len(coverage) // 4
    assert max(coverage) > 0.75


def test_manifest_json_round_trips(demo):
    out, manifest = demo
    assert DemoManifest.from_json((out / "demo-manifest.json").read_text()) == manifest


def test_trims_span_24_db_and_set_the_measured_peaks(demo):
    out, manifest = demo
    trims = np.array([t.trim_db for t in manifest.tracks])
    assert trims.min() >= -24.0 and trims.max() <= 0.0
    assert trims.max() - trims.min() > 22.0
    for track in manifest.tracks:  # each file peaks at -1 dBFS + its trim (independent measurement)
        audio, _ = sf.read(out / track.media)
        assert 20 * np.log10(np.max(np.abs(audio))) == pytest.approx(-1.0 + track.trim_db, abs=0.05)


def test_narrowband_tracks_have_their_energy_above_5_khz(demo):
    out, manifest = demo
    narrow = [t for t in manifest.tracks if t.narrowband_hf]
    assert {"Hi-Hat", "Shaker", "Noise Sweep"} <= {t.name for t in narrow}
    for track in narrow:
        audio, _ = sf.read(out / track.media, always_2d=True)
        assert _fraction_above(audio.mean(axis=1), 5000.0) > 0.9, track.name
    for name in ("Kick In", "Bass DI", "Lead Vocal"):  # the measurement can tell the difference
        track = next(t for t in manifest.tracks if t.name == name)
        audio, _ = sf.read(out / track.media, always_2d=True)
        assert _fraction_above(audio.mean(axis=1), 5000.0) < 0.1, name


def test_stereo_where_natural_and_mono_close_mics(demo):
    out, manifest = demo
    by_name = {t.name: t for t in manifest.tracks}
    for name in ("Pad", "Synth", "Riser"):
        audio, _ = sf.read(out / by_name[name].media)
        assert audio.shape[1] == 2 and np.max(np.abs(audio[:, 0] - audio[:, 1])) > 1e-3, name
    for name in ("Kick In", "Snare Top", "Lead Vocal", "Bass DI"):
        assert by_name[name].channels == 1


def test_snare_bottom_is_polarity_inverted_against_snare_top(demo):
    out, manifest = demo
    by_name = {t.name: t for t in manifest.tracks}
    n = int((manifest.length_s + 3) * SR)
    top = _timeline(out, by_name["Snare Top"], n)
    bottom = _timeline(out, by_name["Snare Bottom"], n)
    kick = _timeline(out, by_name["Kick In"], n)
    assert by_name["Snare Bottom"].polarity_inverted and not by_name["Snare Top"].polarity_inverted
    assert np.corrcoef(top, bottom)[0, 1] < -0.3
    assert np.corrcoef(kick, _timeline(out, by_name["Kick Out"], n))[0, 1] > 0.1  # one performance, two mics


def test_reference_is_a_different_song_in_stereo_without_clipping(demo):
    out, manifest = demo
    info = sf.info(out / "reference.wav")
    assert (info.channels, info.samplerate, info.subtype) == (2, SR, "PCM_24")
    mix, _ = sf.read(out / "reference.wav")
    peak_db = 20 * np.log10(np.max(np.abs(mix)))
    assert -1.5 < peak_db < -0.5
    assert np.mean(np.abs(mix) > 0.999) == 0.0
    left, right = mix[:, 0], mix[:, 1]
    assert np.max(np.abs(left - right)) > 0.01  # panned, not dual mono
    ref = manifest.reference
    assert ref.tempo_bpm != manifest.tempo_bpm and ref.key != manifest.key and ref.seed != manifest.seed
    assert info.frames / SR == pytest.approx(ref.length_s + 3.0, abs=0.01)


def test_project_text_has_reaper_shape_and_folders(demo):
    out, manifest = demo
    text = (out / "demo.rpp").read_text()
    assert "\r" not in text
    assert text.startswith('<REAPER_PROJECT 0.1 "7.0/linux-x86_64" ')
    assert "  SAMPLERATE 44100 0 0\n" in text and f"  TEMPO {manifest.tempo_bpm} 4 4\n" in text
    tracks = _read_rpp_tracks(out / "demo.rpp")
    assert len(tracks) == len(manifest.tracks) + len(manifest.folders)
    session = Session(out / "demo.rpp", SR, tuple(
        Track(index=i, name=name, guid=str(i), folder_depth=depth) for i, (name, depth, _) in enumerate(tracks)))
    parents = session.parents()

    def path_of(i):
        chain = []
        while parents[i] is not None:
            i = parents[i]
            chain.insert(0, session.tracks[i].name)
        return tuple(chain)

    written = {name: (path_of(i), items) for i, (name, _, items) in enumerate(tracks) if items}
    for track in manifest.tracks:
        folder, items = written[track.name]
        assert folder == track.folder
        assert [(p, f) for p, _, f in items] == [(pytest.approx(i.position_s, abs=1e-9), track.media)
                                                for i in track.items]
    assert ("Vocals", "Backing Vocals") in manifest.folders


def test_project_reads_back_with_the_reader(demo):
    reader = pytest.importorskip("reaper_automix.rpp.reader")
    out, manifest = demo
    session, _ = reader.load_session(out / "demo.rpp")
    assert session.sample_rate == SR
    parents = session.parents()
    audio_tracks = [(i, t) for i, t in enumerate(session.tracks) if t.items]
    assert [t.name for _, t in audio_tracks] == [t.name for t in manifest.tracks]
    for (i, track), intended in zip(audio_tracks, manifest.tracks):
        chain, p = [], parents[i]
        while p is not None:
            chain.insert(0, session.tracks[p].name)
            p = parents[p]
        assert tuple(chain) == intended.folder
        assert track.guid == intended.guid
        for item, want in zip(track.items, intended.items, strict=True):
            assert item.position_s == pytest.approx(want.position_s, abs=1e-9)
            assert item.length_s == pytest.approx(want.length_s, abs=1e-9)
            assert item.take.start_offset_s == pytest.approx(want.source_offset_s, abs=1e-9)
            assert item.take.source.file == (out / intended.media).resolve()
            assert item.take.source.file.is_file()
    folder_names = [t.name for t in session.tracks if t.is_folder]
    assert folder_names == [f[-1] for f in manifest.folders]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = generate_demo(tmp_path / "a", seed=11, length_s=6.0, n_tracks=16)
    b = generate_demo(tmp_path / "b", seed=11, length_s=6.0, n_tracks=16)
    c = generate_demo(tmp_path / "c", seed=12, length_s=6.0, n_tracks=16)
    assert a == b
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert (tmp_path / "a" / "demo.rpp").read_bytes() != (tmp_path / "c" / "demo.rpp").read_bytes()
    assert c.tracks[0].guid != a.tracks[0].guid


def test_refuses_a_non_empty_folder_unless_asked(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(AutomixError, match="not empty"):
        generate_demo(out, length_s=4.0, n_tracks=MIN_TRACKS)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    manifest = generate_demo(out, length_s=4.0, n_tracks=MIN_TRACKS, overwrite=True)
    assert (out / "keep.txt").read_text() == "user data"
    assert len(manifest.tracks) == MIN_TRACKS and (out / "demo.rpp").is_file()
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("bad", [dict(n_tracks=MIN_TRACKS - 1), dict(n_tracks=MAX_TRACKS + 1), dict(length_s=0.0),
                                 dict(length_s=float("nan"))])
def test_rejects_bad_arguments(tmp_path, bad):
    with pytest.raises(AutomixError):
        generate_demo(tmp_path / "x", **{"length_s": 4.0, "n_tracks": 16, **bad})


@pytest.mark.parametrize("n", [MIN_TRACKS, 16, 51, 104, 160, MAX_TRACKS])
def test_track_lists_of_any_size_are_grouped_and_uniquely_named(n):
    tracks = build_track_list(n)
    assert len(tracks) == n == len({t.name for t in tracks})
    folder_order = [FOLDERS.index(t.folder) for t in tracks]
    assert folder_order == sorted(folder_order)  # each folder's tracks are contiguous
    assert {"Lead Vocal", "Kick In", "Hi-Hat"} <= {t.name for t in tracks}
    assert any(t.narrowband_hf for t in tracks)


@pytest.mark.parametrize("length_s", [4.0, 12.0, 40.0, 150.0, 600.0])
def test_every_part_plays_somewhere_in_songs_of_any_length(length_s):
    for seed in (0, 1):
        song = arrangement.make_song(seed, length_s)
        assert abs(song.length_s - length_s) <= max(song.bar_s / 2, 4 * song.bar_s - length_s) + 1e-9
        for spec in build_track_list(160):
            notes = arrangement.compose(song, spec.part).notes
            assert arrangement.play_regions(song, notes), (length_s, spec.name)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FOLDERS), st.integers(1, 3)), min_size=1, max_size=12))
def test_folder_layout_gives_each_track_its_folder(groups):
    order = sorted({g: n for g, n in groups}.items(), key=lambda p: FOLDERS.index(p[0]))
    track_folders = [folder for folder, n in order for _ in range(n)]
    rows = folder_layout(track_folders)
    assert sum(depth for _, _, depth in rows) == 0
    tracks = tuple(Track(index=r, name="/".join(path) if index is None else f"t{index}", guid=str(r),
                         folder_depth=depth) for r, (path, index, depth) in enumerate(rows))
    parents = Session(Path("x.rpp"), SR, tracks).parents()
    for r, (path, index, _) in enumerate(rows):
        if index is not None:
            assert parents[r] is not None and tracks[parents[r]].name == "/".join(track_folders[index])
        else:
            expected_parent = "/".join(path[:-1]) or None
            assert (tracks[parents[r]].name if parents[r] is not None else None) == expected_parent
