"""The offline track renderer against hand-built expected signals."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reaper_automix.audio.render as render_module
from reaper_automix.audio.io import resample, write_audio
from reaper_automix.audio.render import (
    FADE_CURVES,
    RenderWarning,
    check_media,
    fade_in_gain,
    fade_out_gain,
    render_track,
    render_track_rows,
    render_tracks,
)
from reaper_automix.errors import MediaError
from reaper_automix.session import Fade, FadeShape, Item, Session, Source, SourceKind, Take, Track

SR = 44100


def _write(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    write_audio(path, x, sr, subtype="FLOAT")
    return path


def _ramp(frames: int) -> np.ndarray:
    """A mono source whose every sample is distinct: any misplacement shows."""
    return (np.arange(frames, dtype=np.float32) / frames)[None]


def _sine(freq_hz: float, sr: int, frames: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq_hz * np.arange(frames) / sr)).astype(np.float32)


def _item(path: Path, position_s: float, length_s: float, **kwargs) -> Item:
    take_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in Take.__dataclass_fields__}
    source_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in Source.__dataclass_fields__}
    source = Source(SourceKind.AUDIO, file=path, source_type="WAVE", **source_fields)
    return Item(position_s, length_s, Take(source=source, preserve_pitch=False, **take_fields), **kwargs)


def _session(*tracks_items: list[Item], names: list[str] | None = None, sr: int = SR) -> Session:
    tracks = tuple(
        Track(index=i, name=(names[i] if names else f"t{i}"), guid=f"{{{i}}}", items=tuple(items))
        for i, items in enumerate(tracks_items)
    )
    return Session(Path("/nowhere/project.rpp"), sr, tracks)


def _render(session: Session, index: int = 0, channels: int = 2) -> np.ndarray:
    return render_track(session, session.tracks[index], channels=channels)


def _peak_freq_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / len(x)


# --- placement and gain ---------------------------------------------------------------------------------


def test_item_lands_sample_exact_with_offset_gain_and_polarity(tmp_path: Path):
    src = _ramp(2 * SR)
    path = _write(tmp_path / "ramp.wav", src)
    take_gain = -(10 ** (-6 / 20))  # -6 dB, polarity flipped
    session = _session([_item(path, 1.5, 0.5, start_offset_s=0.25, volume=take_gain)])
    out = _render(session)

    expected = np.zeros((2, 2 * SR), np.float32)  # session length = 1.5 + 0.5 s
    expected[:, 66150:88200] = take_gain * src[0, 11025 : 11025 + 22050]  # 1.5 s, 0.25 s, 0.5 s at 44.1 kHz
    assert out.dtype == np.float32 and out.shape == (2, 88200)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=0)
    # the ramp's value is its frame index / N, so each output sample names the source frame it came from
    assert out[0, 66149] == 0 and out[0, 88200 - 1] == pytest.approx(take_gain * (11025 + 22049) / (2 * SR))
    assert out[1, 66150] == pytest.approx(take_gain * 11025 / (2 * SR), rel=1e-6)


def test_item_volume_times_take_volume(tmp_path: Path):
    path = _write(tmp_path / "dc.wav", np.full((1, SR), 0.5, np.float32))
    session = _session([Item(0.0, 1.0, Take(volume=-0.25, source=Source(SourceKind.AUDIO, path)), volume=3.0)])
    np.testing.assert_allclose(_render(session), np.full((2, SR), 0.5 * 3.0 * -0.25), rtol=1e-6)


def test_track_fader_pan_and_mute_are_ignored(tmp_path: Path):
    path = _write(tmp_path / "dc.wav", np.full((1, 100), 0.5, np.float32))
    track = Track(0, "t", "{0}", volume=0.1, pan=1.0, mute=True, items=(_item(path, 0.0, 100 / SR),))
    session = Session(Path("p.rpp"), SR, (track,))
    np.testing.assert_array_equal(_render(session), np.full((2, 100), 0.5, np.float32))


def test_overlapping_items_are_summed(tmp_path: Path):
    a = _write(tmp_path / "a.wav", _ramp(1000))
    b = _write(tmp_path / "b.wav", np.full((1, 1000), 0.25, np.float32))
    session = _session([_item(a, 0.0, 1000 / SR), _item(b, 500 / SR, 1000 / SR)])
    out = _render(session)
    expected = np.zeros(1500, np.float32)
    expected[:1000] += _ramp(1000)[0]
    expected[500:1500] += 0.25
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)
    np.testing.assert_array_equal(out[0], out[1])

    # listed out of order, a later item bridging two earlier ones, one item inside another
    session = _session([_item(b, 2000 / SR, 1000 / SR), _item(a, 0.0, 1000 / SR), _item(b, 500 / SR, 2000 / SR),
                        _item(a, 100 / SR, 200 / SR, pan=1.0)])
    out = _render(session)
    expected = np.zeros((2, 3000), np.float32)
    expected[:, :1000] += _ramp(1000)[0]
    expected[:, 500:1500] += 0.25  # the bridging item's source ends after 1000 samples
    expected[:, 2000:3000] += 0.25
    expected[1, 100:300] += _ramp(1000)[0, :200]  # hard right: left silent
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_muted_item_is_silent_and_its_media_is_not_required(tmp_path: Path):
    a = _write(tmp_path / "a.wav", _ramp(1000))
    muted = _item(tmp_path / "gone.wav", 0.0, 1000 / SR, mute=True)
    session = _session([_item(a, 0.0, 500 / SR), muted])
    out = _render(session)
    assert out.shape == (2, 1000)
    np.testing.assert_allclose(out[0, :500], _ramp(1000)[0, :500])
    assert not out[:, 500:].any()
    assert check_media(session) == []


def test_item_past_the_source_end_is_silent_there(tmp_path: Path):
    path = _write(tmp_path / "a.wav", _ramp(1000))
    session = _session([_item(path, 0.0, 3000 / SR, start_offset_s=200 / SR)])
    out = _render(session)[0]
    np.testing.assert_allclose(out[:800], _ramp(1000)[0, 200:])
    assert not out[800:].any()


def test_negative_start_offset_delays_the_source(tmp_path: Path):
    path = _write(tmp_path / "a.wav", _ramp(1000))
    out = _render(_session([_item(path, 0.0, 1000 / SR, start_offset_s=-300 / SR)]))[0]
    assert not out[:300].any()
    np.testing.assert_allclose(out[300:], _ramp(1000)[0, :700])


# --- loop -----------------------------------------------------------------------------------------------


def test_loop_repeats_the_source(tmp_path: Path):
    src = _ramp(1000)
    path = _write(tmp_path / "a.wav", src)
    out = _render(_session([_item(path, 100 / SR, 3500 / SR, start_offset_s=250 / SR, loop=True)]))[0]
    expected = np.zeros(3600, np.float32)
    expected[100:] = src[0, (250 + np.arange(3500)) % 1000]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_loop_of_a_short_source_over_a_long_item(tmp_path: Path):
    src = _ramp(7)
    path = _write(tmp_path / "a.wav", src)
    out = _render(_session([_item(path, 0.0, 1.0, loop=True)]))[0]
    np.testing.assert_allclose(out, src[0, np.arange(SR) % 7], rtol=1e-6)


# --- sections and reverse -------------------------------------------------------------------------------


def test_section_source(tmp_path: Path):
    src = _ramp(SR)
    path = _write(tmp_path / "a.wav", src)
    # section 0.5 s .. 0.75 s of the file; the take starts 0.1 s into the section; the item outlasts it
    item = _item(path, 0.0, 0.25, start_offset_s=0.1, section_start_s=0.5, section_length_s=0.25)
    out = _render(_session([item]))[0]
    expected = np.zeros(11025, np.float32)
    expected[: 11025 - 4410] = src[0, 22050 + 4410 : 22050 + 11025]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_looped_section(tmp_path: Path):
    src = _ramp(SR)
    path = _write(tmp_path / "a.wav", src)
    item = _item(path, 0.0, 0.5, section_start_s=0.5, section_length_s=0.1, loop=True)
    out = _render(_session([item]))[0]
    np.testing.assert_allclose(out, src[0, 22050 + np.arange(22050) % 4410], rtol=1e-6)


def test_reversed_section(tmp_path: Path):
    src = _ramp(SR)
    path = _write(tmp_path / "a.wav", src)
    item = _item(path, 0.0, 0.05, start_offset_s=0.01, section_start_s=0.5, section_length_s=0.1, reversed=True)
    out = _render(_session([item]))[0]
    # the reversed section plays file frames 26459, 26458, ...; 0.01 s in it is frame 26459 - 441
    np.testing.assert_allclose(out, src[0, 26459 - 441 - np.arange(2205)], rtol=1e-6)


def test_reversed_whole_file_looped(tmp_path: Path):
    src = _ramp(1000)
    path = _write(tmp_path / "a.wav", src)
    out = _render(_session([_item(path, 0.0, 2500 / SR, reversed=True, loop=True)]))[0]
    np.testing.assert_allclose(out, src[0, 999 - np.arange(2500) % 1000], rtol=1e-6)


# --- fades ----------------------------------------------------------------------------------------------


def test_linear_fades_are_exact_ramps(tmp_path: Path):
    path = _write(tmp_path / "dc.wav", np.ones((1, SR), np.float32))
    item = _item(path, 0.0, 1.0, fade_in=Fade(0.1), fade_out=Fade(0.2))
    out = _render(_session([item]))[0]
    j = np.arange(SR)
    expected = np.minimum(1.0, j / 4410) * np.minimum(1.0, (SR - j) / 8820)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    assert out[0] == 0 and out[4410] == 1 and out[SR - 8820] == 1


@pytest.mark.parametrize("shape", list(FadeShape))
def test_fade_shapes_follow_their_curves(tmp_path: Path, shape: FadeShape):
    path = _write(tmp_path / "dc.wav", np.full((1, 2 * SR), 0.5, np.float32))
    item = _item(path, 0.25, 1.0, start_offset_s=0.3, fade_in=Fade(0.3, shape), fade_out=Fade(0.4, shape))
    out = _render(_session([item]))[0]
    start, n = 11025, SR
    j = np.arange(n)
    expected = 0.5 * fade_in_gain(shape, j / (0.3 * SR)) * fade_out_gain(shape, 1 - (n - j) / (0.4 * SR))
    assert not out[:start].any()
    np.testing.assert_allclose(out[start:], expected, rtol=1e-5, atol=1e-7)


def test_fade_curves_against_their_closed_forms():
    t = np.linspace(0, 1, 101)
    closed = {
        FadeShape.LINEAR: t,
        FadeShape.FAST_START: 2 * t - t**2,
        FadeShape.FAST_END: t * t,
        FadeShape.FAST_START_STEEP: 1 - (1 - t) ** 4,
        FadeShape.FAST_END_STEEP: t**4,
        FadeShape.SLOW_START_END: np.sin(np.pi * t / 2) ** 2,
        FadeShape.SLOW_START_END_STEEP: 6 * t**5 - 15 * t**4 + 10 * t**3,
    }
    assert set(closed) == set(FADE_CURVES) == set(FadeShape)
    for shape, values in closed.items():
        np.testing.assert_allclose(fade_in_gain(shape, t), values, atol=1e-12)
        np.testing.assert_allclose(fade_out_gain(shape, t), values[::-1], atol=1e-12)


@given(shape=st.sampled_from(list(FadeShape)), t=st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_fade_curves_rise_from_zero_to_one(shape: FadeShape, t: list[float]):
    t = np.sort(np.array(t))
    g = fade_in_gain(shape, t)
    assert fade_in_gain(shape, np.array([0.0, 1.0])).tolist() == [0.0, 1.0]
    assert np.all(np.diff(g) >= -1e-12) and np.all((g >= 0) & (g <= 1))
    fast_start = shape in (FadeShape.FAST_START, FadeShape.FAST_START_STEEP)
    fast_end = shape in (FadeShape.FAST_END, FadeShape.FAST_END_STEEP)
    assert not fast_start or np.all(g >= t - 1e-12)
    assert not fast_end or np.all(g <= t + 1e-12)


def test_fade_curvature_is_reported(tmp_path: Path):
    path = _write(tmp_path / "dc.wav", np.ones((1, 100), np.float32))
    session = _session([_item(path, 0.0, 100 / SR, fade_in=Fade(50 / SR, FadeShape.LINEAR, curve=0.5))])
    with pytest.warns(RenderWarning, match="fade-in curvature of 0.5"):
        _render(session)


# --- rates ----------------------------------------------------------------------------------------------


def test_48k_source_in_44k1_project_keeps_frequency_and_amplitude(tmp_path: Path):
    path = _write(tmp_path / "s48.wav", _sine(1000.0, 48000, 2 * 48000)[None], sr=48000)
    out = _render(_session([_item(path, 0.0, 2.0)]))
    assert out.shape == (2, 2 * SR)
    middle = out[0, SR // 2 : 3 * SR // 2]
    assert _peak_freq_hz(middle, SR) == pytest.approx(1000.0, abs=0.05)
    t = np.arange(SR // 2, 3 * SR // 2) / SR
    np.testing.assert_allclose(middle, 0.5 * np.sin(2 * np.pi * 1000.0 * t), atol=2e-3)


def test_resampled_item_inside_a_file_equals_resampling_the_whole_file(tmp_path: Path):
    src = np.random.default_rng(1).standard_normal((2, 48000)).astype(np.float32) * 0.1
    path = _write(tmp_path / "n48.wav", src, sr=48000)
    whole = resample(src, 48000, SR)
    item = _item(path, 0.1, 0.3, start_offset_s=0.4)
    out = _render(_session([item]))
    np.testing.assert_allclose(out[:, 4410:], whole[:, 17640 : 17640 + 13230], rtol=0, atol=1e-6)


def test_a_resampled_file_is_read_once_per_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _write(tmp_path / "n48.wav", _sine(440.0, 48000, 48000)[None], sr=48000)
    reads = []
    real_read = render_module.read_audio

    def counting_read(*args, **kwargs):
        reads.append(args)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(render_module, "read_audio", counting_read)
    items = [_item(path, 0.1 * k, 0.1, start_offset_s=0.05 * k) for k in range(8)]
    _render(_session(items))
    assert len(reads) == 1


def test_playrate_two_halves_the_length_and_doubles_the_pitch(tmp_path: Path):
    path = _write(tmp_path / "s.wav", _sine(440.0, SR, SR)[None])
    session = _session([_item(path, 0.0, 1.0, playrate=2.0)])
    out = _render(session)[0]
    assert np.abs(out[: SR // 2 - 100]).min() < 1e-3 < np.abs(out[1000 : SR // 2 - 100]).max()
    assert np.abs(out[SR // 2 + 20 :]).max() < 1e-3  # the 1 s source is used up after 0.5 s
    assert _peak_freq_hz(out[1000 : SR // 2 - 1000], SR) == pytest.approx(880.0, abs=0.1)


def test_playrate_with_preserve_pitch_warns(tmp_path: Path):
    path = _write(tmp_path / "s.wav", _sine(440.0, SR, SR)[None])
    item = Item(0.0, 0.5, Take(playrate=2.0, preserve_pitch=True, source=Source(SourceKind.AUDIO, path)))
    with pytest.warns(RenderWarning, match="pitch preservation, which is not emulated"):
        out = _render(_session([item]))[0]
    assert _peak_freq_hz(out[1000:-1000], SR) == pytest.approx(880.0, abs=0.1)


def test_half_playrate_of_a_48k_source(tmp_path: Path):
    path = _write(tmp_path / "s48.wav", _sine(1000.0, 48000, 48000)[None], sr=48000)
    out = _render(_session([_item(path, 0.0, 2.0, playrate=0.5)]))[0]
    assert _peak_freq_hz(out[SR // 2 : 3 * SR // 2], SR) == pytest.approx(500.0, abs=0.05)
    assert np.abs(out[SR // 2 : 3 * SR // 2]).max() == pytest.approx(0.5, rel=2e-3)


# --- channels -------------------------------------------------------------------------------------------


def test_mono_source_feeds_both_channels(tmp_path: Path):
    path = _write(tmp_path / "m.wav", _ramp(500))
    out = _render(_session([_item(path, 0.0, 500 / SR)]))
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_allclose(out[0], _ramp(500)[0])


def test_stereo_source_and_take_pan_balance(tmp_path: Path):
    src = np.stack([_ramp(500)[0], -_ramp(500)[0] / 2])
    path = _write(tmp_path / "s.wav", src)
    out = _render(_session([_item(path, 0.0, 500 / SR)]))
    np.testing.assert_allclose(out, src, rtol=1e-6)
    out = _render(_session([_item(path, 0.0, 500 / SR, pan=0.25)]))  # right: left down 25 %
    np.testing.assert_allclose(out, src * np.array([[0.75], [1.0]]), rtol=1e-6)
    out = _render(_session([_item(path, 0.0, 500 / SR, pan=-1.0)]))  # hard left
    np.testing.assert_allclose(out, src * np.array([[1.0], [0.0]]), rtol=1e-6)


def test_mono_render(tmp_path: Path):
    src = np.stack([_ramp(500)[0], np.full(500, 0.5, np.float32)])
    path = _write(tmp_path / "s.wav", src)
    out = _render(_session([_item(path, 0.0, 500 / SR, pan=1.0)]), channels=1)
    assert out.shape == (1, 500)
    np.testing.assert_allclose(out[0], (src[0] + src[1]) / 2, rtol=1e-6)
    with pytest.raises(ValueError):
        _render(_session([_item(path, 0.0, 500 / SR)]), channels=3)


def test_rows_of_mono_centred_items_are_one_row_equal_to_both_channels(tmp_path: Path):
    """Overlapping mono items with gains, fades, an offset and a loop: one row, bit for bit both channels."""
    mono = _write(tmp_path / "m.wav", _sine(220.0, SR, SR // 2)[None])
    other = _write(tmp_path / "n.wav", -_ramp(SR // 3))
    items = [_item(mono, 0.1, 0.4, volume=0.7, fade_in=Fade(0.05, FadeShape.SLOW_START_END), fade_out=Fade(0.1)),
             _item(other, 0.3, 0.6, start_offset_s=0.01, loop=True, volume=-1.3)]
    session = _session(items)
    rows, shared, scaled_copies = render_track_rows(session, session.tracks[0])
    stereo = _render(session)
    assert shared and not scaled_copies and rows.shape == (1, stereo.shape[1]) and rows.dtype == np.float32
    assert np.array_equal(rows[0], stereo[0]) and np.array_equal(rows[0], stereo[1])
    assert np.abs(rows).max() > 0.1  # the items really play


@pytest.mark.parametrize("case", ["stereo source", "panned take", "one of two items panned"])
def test_rows_keep_two_channels_where_they_differ(tmp_path: Path, case: str):
    mono = _write(tmp_path / "m.wav", _ramp(500))
    stereo = _write(tmp_path / "s.wav", np.stack([_ramp(500)[0], np.full(500, 0.5, np.float32)]))
    items = {"stereo source": [_item(stereo, 0.0, 500 / SR)],
             "panned take": [_item(mono, 0.0, 500 / SR, pan=0.3)],
             "one of two items panned": [_item(mono, 0.0, 500 / SR), _item(mono, 0.0, 500 / SR, pan=-0.5)]}[case]
    session = _session(items)
    rows, shared, scaled_copies = render_track_rows(session, session.tracks[0])
    assert not shared
    assert scaled_copies == (case == "panned take")
    np.testing.assert_array_equal(rows, _render(session))
    assert not np.array_equal(rows[0], rows[1])


@pytest.mark.parametrize("pan", [0.3, -0.8, 1.0])
def test_rows_of_mono_items_under_one_take_pan_are_scaled_copies(tmp_path: Path, pan: float):
    """Overlapping mono items with different gains, fades, an offset and a loop, all at one take pan: the
    renderer says ``scaled_copies``, and each channel is one signal times its pan gain to float rounding (what
    the loudness pass then relies on without checking), the render itself unchanged."""
    mono = _write(tmp_path / "m.wav", _sine(220.0, SR, SR // 2)[None])
    other = _write(tmp_path / "n.wav", -_ramp(SR // 3))
    items = [_item(mono, 0.1, 0.4, volume=0.7, pan=pan, fade_in=Fade(0.05, FadeShape.SLOW_START_END),
                   fade_out=Fade(0.1)),
             _item(other, 0.3, 0.6, start_offset_s=0.01, loop=True, volume=-1.3, pan=pan)]
    session = _session(items)
    rows, shared, scaled_copies = render_track_rows(session, session.tracks[0])
    assert scaled_copies and not shared
    np.testing.assert_array_equal(rows, _render(session))
    left, right = min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)  # the take pan's balance law
    mono_mix = _render(_session([replace(i, take=replace(i.take, pan=0.0)) for i in items]))[0]
    for row, gain in ((rows[0], left), (rows[1], right)):
        np.testing.assert_allclose(row, gain * mono_mix, rtol=0, atol=1e-6 * float(np.max(np.abs(mono_mix))))
    assert np.abs(rows).max() > 0.1


def test_multichannel_source_renders_first_two_channels_and_warns(tmp_path: Path):
    src = np.stack([_ramp(300)[0] * (c + 1) for c in range(6)])
    path = _write(tmp_path / "six.wav", src)
    with pytest.warns(RenderWarning, match=r"six\.wav has 6 channels; only the first two"):
        out = _render(_session([_item(path, 0.0, 300 / SR)]))
    np.testing.assert_allclose(out, src[:2], rtol=1e-6)


# --- media problems and many tracks ---------------------------------------------------------------------


def test_missing_media_lists_every_file(tmp_path: Path):
    good = _write(tmp_path / "good.wav", _ramp(100))
    (tmp_path / "text.wav").write_text("not audio")
    data = (good).read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) - 100])
    session = _session(
        [_item(good, 0.0, 0.01), _item(tmp_path / "gone1.wav", 0.0, 0.01)],
        [_item(tmp_path / "gone2.wav", 0.0, 0.01), _item(tmp_path / "text.wav", 0.1, 0.01)],
        [_item(good, 0.0, 0.01)],
        [_item(tmp_path / "cut.wav", 0.0, 0.01), _item(tmp_path / "gone1.wav", 0.5, 0.01)],
        names=["Kick", "Snare", "Bass", "Vox"],
    )
    problems = check_media(session)
    assert [(name, path.name) for name, path, _ in problems] == [
        ("Kick", "gone1.wav"),
        ("Snare", "gone2.wav"),
        ("Snare", "text.wav"),
        ("Vox", "cut.wav"),
        ("Vox", "gone1.wav"),
    ]
    whys = [why for _, _, why in problems]
    assert whys[0] == "file not found" and "not a readable audio file" in whys[2] and "truncated" in whys[3]

    with pytest.raises(MediaError) as err:
        render_tracks(session, range(4))
    assert err.value.problems == problems
    assert all(str(path) in str(err.value) for _, path, _ in problems)

    with pytest.raises(MediaError, match="gone1.wav"):
        render_track(session, session.tracks[0])

    renders = render_tracks(session, range(4), skip_missing=True)
    assert [e.name for e in renders.excluded] == ["Kick", "Snare", "Vox"]
    assert "gone2.wav (file not found)" in renders.excluded[1].reason
    assert [index for index, _ in renders] == [2]


def test_render_tracks_yields_one_track_at_a_time_and_excludes_midi(tmp_path: Path):
    path = _write(tmp_path / "a.wav", _ramp(1000))
    midi = Item(0.0, 0.01, Take(source=Source(SourceKind.MIDI, source_type="MIDI")))
    session = _session(
        [_item(path, 0.0, 1000 / SR)], [midi], [], [_item(path, 200 / SR, 500 / SR, volume=2.0)],
        names=["A", "Keys", "Folder", "B"],
    )
    calls = []
    renders = render_tracks(session, [3, 1, 0, 2], progress=lambda done, total: calls.append((done, total)))
    assert renders.indices == (3, 0, 2) and len(renders) == 3
    assert [(e.index, e.name, e.reason) for e in renders.excluded] == [(1, "Keys", "MIDI only")]
    results = iter(renders)
    index, audio = next(results)
    assert index == 3 and calls == [(1, 3)]  # rendered lazily
    np.testing.assert_allclose(audio[0, 200:700], 2 * _ramp(1000)[0, :500], rtol=1e-6)
    assert [i for i, _ in results] == [0, 2] and calls[-1] == (3, 3)
    assert not render_track(session, session.tracks[2]).any()
    with pytest.raises(IndexError, match="track index -1 out of range"):
        render_tracks(session, [-1])


def test_empty_session_renders_nothing():
    session = Session(Path("p.rpp"), SR, (Track(0, "empty", "{0}"),))
    assert render_track(session, session.tracks[0]).shape == (2, 0)


def test_no_warnings_for_a_plain_item(tmp_path: Path):
    path = _write(tmp_path / "a.wav", _ramp(100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _render(_session([_item(path, 0.0, 100 / SR, fade_in=Fade(10 / SR, FadeShape.FAST_END))]))
