"""Audio file I/O: formats, frame ranges, broken files, resampling, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.audio.io import audio_info, read_audio, resample, resample_factors, write_audio
from reaper_automix.errors import AutomixError

SR = 44100


def _noise(channels: int, frames: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, frames)) * 0.1).astype(np.float32)


def _sine(freq_hz: float, sr: int, frames: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq_hz * np.arange(frames) / sr)).astype(np.float32)


def _peak_freq_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the strongest bin, refined by parabolic interpolation of the log magnitude."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / len(x)


# --- reading and writing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subtype", "atol"),
    [
        ("a.wav", "FLOAT", 0.0),
        ("a.wav", "PCM_24", 2.0**-23),
        ("a.flac", "PCM_24", 2.0**-23),
        ("a.aiff", "PCM_16", 2.0**-15),
    ],
)
def test_lossless_round_trip(tmp_path: Path, name: str, subtype: str, atol: float):
    x = _noise(2, 5000)
    write_audio(tmp_path / name, x, SR, subtype=subtype)
    y, sr = read_audio(tmp_path / name)
    assert sr == SR and y.dtype == np.float32 and y.shape == (2, 5000)
    np.testing.assert_allclose(y, x, rtol=0, atol=atol)
    info = audio_info(tmp_path / name)
    assert (info.sample_rate, info.channels, info.frames) == (SR, 2, 5000)
    assert info.duration_s == pytest.approx(5000 / SR)


@pytest.mark.parametrize(("name", "subtype"), [("a.ogg", "VORBIS"), ("a.mp3", "MPEG_LAYER_III")])
def test_lossy_formats_read_back_the_same_tone(tmp_path: Path, name: str, subtype: str):
    x = _sine(1000.0, SR, SR)[None]
    write_audio(tmp_path / name, x, SR, subtype=subtype)
    y, sr = read_audio(tmp_path / name)
    assert sr == SR and y.shape[0] == 1
    middle = y[0, SR // 4 : 3 * SR // 4]
    assert _peak_freq_hz(middle, SR) == pytest.approx(1000.0, abs=1.0)
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize(("name", "subtype"), [("r.wav", "PCM_24"), ("r.flac", "PCM_16"), ("r.mp3", "MPEG_LAYER_III")])
def test_frame_range_equals_slice_of_whole_file(tmp_path: Path, name: str, subtype: str):
    # A sine makes MP3 frames distinct enough that libsndfile's inexact MP3 seek would show here.
    x = np.stack([_sine(331.0, SR, 3 * SR), _sine(557.0, SR, 3 * SR)])
    write_audio(tmp_path / name, x, SR, subtype=subtype)
    whole, _ = read_audio(tmp_path / name)
    for start, frames in [(0, 100), (50_000, 2000), (100_000, 3000), (3 * SR - 10, 100)]:
        part, _ = read_audio(tmp_path / name, start=start, frames=frames)
        np.testing.assert_array_equal(part, whole[:, start : start + frames])
    tail, _ = read_audio(tmp_path / name, start=120_000)
    np.testing.assert_array_equal(tail, whole[:, 120_000:])


@settings(max_examples=25, deadline=None)
@given(start=st.integers(0, 1200), frames=st.one_of(st.none(), st.integers(0, 1200)))
def test_any_frame_range_of_a_wav(tmp_path_factory: pytest.TempPathFactory, start: int, frames: int | None):
    path = tmp_path_factory.getbasetemp() / "range.wav"
    x = _noise(3, 1000, seed=3)
    if not path.exists():
        write_audio(path, x, SR, subtype="FLOAT")
    y, _ = read_audio(path, start=start, frames=frames)
    expected = x[:, start:] if frames is None else x[:, start : start + frames]
    np.testing.assert_array_equal(y, expected)


def test_negative_range_is_refused(tmp_path: Path):
    write_audio(tmp_path / "a.wav", _noise(1, 10), SR)
    with pytest.raises(ValueError):
        read_audio(tmp_path / "a.wav", start=-1)


def test_zero_frame_wav_reads_as_empty(tmp_path: Path):
    sf.write(tmp_path / "z.wav", np.zeros((0, 2), np.float32), SR)
    y, sr = read_audio(tmp_path / "z.wav")
    assert y.shape == (2, 0) and sr == SR
    assert read_audio(tmp_path / "z.wav", start=5, frames=5)[0].shape == (2, 0)


# --- broken input ---------------------------------------------------------------------------------------


def _valid_wav_bytes(tmp_path: Path) -> bytes:
    write_audio(tmp_path / "valid.wav", _noise(2, 4410), SR, subtype="PCM_24")
    return (tmp_path / "valid.wav").read_bytes()


def test_missing_file(tmp_path: Path):
    with pytest.raises(AutomixError, match=r"nope\.wav: file not found"):
        read_audio(tmp_path / "nope.wav")
    with pytest.raises(AutomixError, match="file not found"):
        audio_info(tmp_path / "nope.wav")


def test_directory_is_not_audio(tmp_path: Path):
    (tmp_path / "d.wav").mkdir()
    with pytest.raises(AutomixError, match=r"d\.wav: not a file"):
        audio_info(tmp_path / "d.wav")


def test_text_file_named_wav(tmp_path: Path):
    (tmp_path / "notes.wav").write_text("these are my session notes\n" * 20)
    with pytest.raises(AutomixError, match=r"notes\.wav: not a readable audio file \(Format not recognised"):
        audio_info(tmp_path / "notes.wav")
    with pytest.raises(AutomixError, match=r"notes\.wav: not a readable audio file"):
        read_audio(tmp_path / "notes.wav")


def test_empty_file_named_wav(tmp_path: Path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AutomixError, match=r"empty\.wav: not a readable audio file"):
        read_audio(tmp_path / "empty.wav")


def test_wav_cut_in_the_header(tmp_path: Path):
    (tmp_path / "cut.wav").write_bytes(_valid_wav_bytes(tmp_path)[:30])
    with pytest.raises(AutomixError, match=r"cut\.wav: not a readable audio file"):
        audio_info(tmp_path / "cut.wav")


def test_wav_cut_in_the_audio(tmp_path: Path):
    data = _valid_wav_bytes(tmp_path)
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(AutomixError, match=r"cut\.wav: truncated: the header declares 26460 bytes of audio"):
        audio_info(tmp_path / "cut.wav")
    with pytest.raises(AutomixError, match=r"cut\.wav: truncated"):
        read_audio(tmp_path / "cut.wav", start=10, frames=10)


def test_aiff_cut_in_the_audio(tmp_path: Path):
    write_audio(tmp_path / "a.aiff", _noise(1, 4410), SR, subtype="PCM_16")
    data = (tmp_path / "a.aiff").read_bytes()
    (tmp_path / "cut.aiff").write_bytes(data[: len(data) - 1000])
    with pytest.raises(AutomixError, match=r"cut\.aiff: truncated"):
        audio_info(tmp_path / "cut.aiff")


def test_flac_cut_in_the_audio(tmp_path: Path):
    write_audio(tmp_path / "a.flac", _noise(2, 3 * SR), SR)
    data = (tmp_path / "a.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    with pytest.raises(AutomixError, match=r"cut\.flac: (corrupt or truncated|truncated)"):
        read_audio(tmp_path / "cut.flac")


def _with_chunk_after_fmt(data: bytes, chunk_id: bytes, payload: bytes) -> bytes:
    """``data`` (a WAV file) with a chunk inserted after its fmt chunk: odd-length payloads get their pad byte,
    and the RIFF size is corrected."""
    fmt_end = 12 + 8 + int.from_bytes(data[16:20], "little")
    extra = chunk_id + len(payload).to_bytes(4, "little") + payload + b"\0" * (len(payload) & 1)
    patched = bytearray(data[:fmt_end] + extra + data[fmt_end:])
    patched[4:8] = (len(patched) - 8).to_bytes(4, "little")
    return bytes(patched)


def test_odd_sized_chunk_before_data_is_not_mistaken_for_truncation(tmp_path: Path):
    # A RIFF chunk of odd length is followed by a pad byte; the walk to 'data' must skip it.
    (tmp_path / "odd.wav").write_bytes(_with_chunk_after_fmt(_valid_wav_bytes(tmp_path), b"note", b"abc"))
    assert audio_info(tmp_path / "odd.wav").frames == 4410


# --- plain WAV decoded directly (audio/wav.py) ----------------------------------------------------------


def _libsndfile_read(path: Path, start: int = 0, frames: int = -1) -> np.ndarray:
    return sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)[0].T


@pytest.mark.parametrize("chunk_bytes", [None, 1000])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_direct_wav_read_equals_libsndfiles_bit_for_bit(tmp_path: Path, subtype: str, channels: int,
                                                        chunk_bytes: int | None, monkeypatch: pytest.MonkeyPatch):
    """Every integer code (extremes included) and any float sample decode exactly as libsndfile decodes them,
    the channels de-interleaved; frame ranges too; also read in chunks of 1000 bytes (a whole number of frames
    only for some layouts), so that the file spans many chunks."""
    from reaper_automix.audio import wav

    if chunk_bytes is not None:
        monkeypatch.setattr(wav, "_CHUNK_BYTES", chunk_bytes)

    bits = {"PCM_16": 16, "PCM_24": 24, "FLOAT": 32}[subtype]
    rng = np.random.default_rng(channels)
    if subtype == "FLOAT":
        x = rng.standard_normal((5000, channels)).astype(np.float32)
    else:
        top = 2 ** (bits - 1)
        codes = np.concatenate([[-top, -top + 1, -1, 0, 1, top - 1], rng.integers(-top, top, 5000 * channels - 6)])
        x = (codes.reshape(-1, channels) / top).astype(np.float64)  # exact codes
    path = tmp_path / "x.wav"
    sf.write(path, x, 44100, subtype=subtype)
    assert wav.data_layout(path, subtype, channels) is not None  # the direct path is taken
    whole, _ = read_audio(path)
    expected = _libsndfile_read(path)
    assert whole.dtype == np.float32 and whole.flags.c_contiguous and np.array_equal(whole, expected)
    part, _ = read_audio(path, start=1234, frames=777)
    assert np.array_equal(part, _libsndfile_read(path, 1234, 777))
    layout = wav.data_layout(path, subtype, channels)
    tail = wav.read_frames(path, layout, 4321, 5000)  # past the end: the frames there are
    assert tail.shape == (channels, 5000 - 4321) and tail.flags.c_contiguous
    assert np.array_equal(tail, _libsndfile_read(path, 4321))


def test_direct_wav_read_skips_other_chunks_and_leaves_other_formats_to_libsndfile(tmp_path: Path):
    from reaper_automix.audio import wav

    (tmp_path / "list.wav").write_bytes(_with_chunk_after_fmt(_valid_wav_bytes(tmp_path), b"LIST", b"abcde"))
    info = audio_info(tmp_path / "list.wav")
    assert wav.data_layout(info.path, info.subtype, info.channels) is not None
    assert np.array_equal(read_audio(info.path)[0], _libsndfile_read(info.path))
    x = np.linspace(-1, 1, 300).reshape(-1, 1)
    for name, subtype in (("i32.wav", "PCM_32"), ("u8.wav", "PCM_U8"), ("f.flac", "PCM_24"), ("a.aiff", "PCM_24")):
        sf.write(tmp_path / name, x, 44100, subtype=subtype)
        info = audio_info(tmp_path / name)
        assert wav.data_layout(info.path, info.subtype, info.channels) is None, name
        assert np.array_equal(read_audio(info.path)[0], _libsndfile_read(info.path)), name


# --- resampling -----------------------------------------------------------------------------------------


def test_resample_factors():
    assert resample_factors(48000, 44100) == (147, 160)
    assert resample_factors(44100, 48000) == (160, 147)
    assert resample_factors(44100, 88200) == (2, 1)
    assert resample_factors(44100, 48001) == (48001, 44100)
    up, down = resample_factors(44100, 44100 / 1.0137)  # a playrate: the exact binary ratio is huge
    assert max(up, down) <= 2**16 and up / down == pytest.approx(1 / 1.0137, rel=3e-7)
    with pytest.raises(ValueError):
        resample_factors(0, 44100)


@pytest.mark.parametrize(("sr_from", "sr_to"), [(48000, 44100), (44100, 48000), (44100, 22050), (44100, 48001)])
def test_resampled_sine_keeps_frequency_and_amplitude(sr_from: int, sr_to: int):
    x = np.stack([_sine(997.0, sr_from, sr_from), _sine(3001.0, sr_from, sr_from, amp=0.25)])
    y = resample(x, sr_from, sr_to)
    up, down = resample_factors(sr_from, sr_to)
    assert y.dtype == np.float32 and y.shape == (2, -(-sr_from * up // down))
    for row, freq, amp in [(0, 997.0, 0.5), (1, 3001.0, 0.25)]:
        middle = y[row, sr_to // 4 : 3 * sr_to // 4]
        assert _peak_freq_hz(middle, sr_to) == pytest.approx(freq, abs=0.05)
        assert np.abs(middle).max() == pytest.approx(amp, rel=2e-3)
    # time-aligned: output sample k is input time k / sr_to
    t = np.arange(sr_to // 4, 3 * sr_to // 4) / sr_to
    np.testing.assert_allclose(y[0, sr_to // 4 : 3 * sr_to // 4], 0.5 * np.sin(2 * np.pi * 997.0 * t), atol=2e-3)


def test_resample_same_rate_is_identity():
    x = _noise(2, 100)
    np.testing.assert_array_equal(resample(x, 44100, 44100), x)


# --- atomic writing -------------------------------------------------------------------------------------


def test_write_replaces_existing_file_and_leaves_no_temporary(tmp_path: Path):
    write_audio(tmp_path / "out.wav", _noise(1, 100, seed=1), SR)
    write_audio(tmp_path / "out.wav", _noise(2, 200, seed=2), SR, subtype="FLOAT")
    y, _ = read_audio(tmp_path / "out.wav")
    np.testing.assert_array_equal(y, _noise(2, 200, seed=2))
    assert os.listdir(tmp_path) == ["out.wav"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_audio(tmp_path / "out.wav", _noise(1, 100), SR)
    before = (tmp_path / "out.wav").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_audio(tmp_path / "out.wav", _noise(1, 999), SR)
    assert (tmp_path / "out.wav").read_bytes() == before
    assert os.listdir(tmp_path) == ["out.wav"]


def test_write_refuses_bad_input(tmp_path: Path):
    with pytest.raises(ValueError, match="transposed"):
        write_audio(tmp_path / "t.wav", _noise(1000, 2), SR)
    with pytest.raises(ValueError):
        write_audio(tmp_path / "t.wav", np.zeros(100, np.float32), SR)
    with pytest.raises(AutomixError, match=r"t\.xyz: unknown audio extension"):
        write_audio(tmp_path / "t.xyz", _noise(1, 10), SR)
    with pytest.raises(AutomixError, match=r"t\.ogg: subtype 'PCM_24' does not fit OGG"):
        write_audio(tmp_path / "t.ogg", _noise(1, 10), SR)
    assert os.listdir(tmp_path) == []


@settings(max_examples=60, deadline=None)
@given(start=st.integers(-120, 120), stop=st.one_of(st.none(), st.integers(-120, 120)),
       step=st.sampled_from([None, 1, 3]), channel=st.sampled_from([slice(None), 0, slice(1, 2)]))
def test_stem_file_slices_equal_the_array(tmp_path_factory: pytest.TempPathFactory, start, stop, step, channel):
    """A StemFile read (direct file reads for ``[:, a:b]``, a memory map otherwise) gives the saved array's slice,
    as a writable copy."""
    from reaper_automix.audio.io import StemFile

    path = tmp_path_factory.mktemp("stem") / "stem.npy"
    x = np.random.default_rng(abs(start)).standard_normal((2, 100)).astype(np.float32)
    np.save(path, x)
    key = (channel, slice(start, stop, step))
    got = StemFile(path)[key]
    assert got.shape == x[key].shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, x[key])
    got *= 2.0  # a copy: the caller may scale it in place
    np.testing.assert_array_equal(StemFile(path)[key], x[key])
