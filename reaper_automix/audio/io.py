"""Audio file I/O: reading (whole files or frame ranges), cheap header info, resampling, atomic writing, and
the scratch stem files stage 1 writes (:class:`StemFile`).

Every array is float32 shaped ``(channels, samples)``. Problems with the user's files (missing, not audio,
truncated, corrupt) raise :class:`~reaper_automix.errors.AutomixError` naming the file and what is wrong.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from reaper_automix.errors import AutomixError
from reaper_automix.files import write_atomic

# Largest up/down factor for resampling between rates whose exact ratio needs bigger integers (e.g. 44100 ->
# 48001, or a playrate of 1.0137). Rounding to denominators <= 2**16 changes a ratio near 1 by < 3e-7 relative
# (under 0.1 ms over 240 s); the polyphase filter then has ~1.3 M taps, designed in well under a second.
MAX_RESAMPLE_FACTOR = 1 << 16



@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding audio."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str  # libsndfile's major format, e.g. "WAV", "FLAC", "MP3"
    subtype: str  # e.g. "PCM_24", "FLOAT"

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, channel count and length of an audio file, from its header only.

    WAV and AIFF headers are also checked against the file size: libsndfile silently shortens a file whose
    audio data was cut off (an interrupted recording or copy), which would otherwise render as a wrong,
    shorter source.

    Raises:
        AutomixError: the file is missing, not an audio file soundfile can read, or truncated.
    """
    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as e:
        raise AutomixError(f"{path}: not a readable audio file ({_libsndfile_reason(e)})") from None
    _check_not_truncated(path)
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


def read_audio(
    path: str | os.PathLike, *, frames: int | None = None, start: int = 0
) -> tuple[np.ndarray, int]:
    """Read ``frames`` frames (all to the end when None) from frame ``start`` of an audio file.

    Only the requested range is decoded (the file is seeked), so reading a short span of a long file costs
    a short read; MP3 files are the exception (decoded from their start, see below). The result is shorter
    than ``frames`` only when the file ends first.

    Returns:
        ``(audio, sample_rate)`` with ``audio`` float32 shaped ``(channels, frames_read)``.

    Raises:
        AutomixError: the file is missing, unreadable, truncated or corrupt.
        ValueError: ``start`` or ``frames`` is negative.
    """
    if start < 0 or (frames is not None and frames < 0):
        raise ValueError(f"start and frames must be >= 0 (got start={start}, frames={frames})")
    info = audio_info(path)
    start = min(start, info.frames)
    wanted = info.frames - start if frames is None else min(frames, info.frames - start)
    if info.format == "WAV":  # plain WAV: decoded straight into (channels, frames), same samples as below
        from . import wav  # compiled decoders (numba): only where audio is read

        layout = wav.data_layout(info.path, info.subtype, info.channels)
        if layout is not None:
            data = wav.read_frames(info.path, layout, start, wanted)
            if data.shape[1] < wanted:
                raise AutomixError(
                    f"{info.path}: truncated: the header declares {info.frames} frames but the audio ends at frame "
                    f"{start + data.shape[1]}"
                )
            _check_finite(info, data, start)
            return data, info.sample_rate
    try:
        with sf.SoundFile(str(info.path)) as f:
            if info.format == "MP3":
                # libsndfile 1.2's MP3 decoder is only right for a file's first read call: seeking lands
                # off by up to a frame, and a second read call returns damaged audio (measured on 1.2.2).
                # So decode from the start in one call and drop the head.
                data = f.read(start + wanted, dtype="float32", always_2d=True)[start:]
            else:
                f.seek(start)
                data = f.read(wanted, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise AutomixError(
            f"{info.path}: corrupt or truncated audio: reading frames {start}..{start + wanted} failed "
            f"({_libsndfile_reason(e)})"
        ) from None
    if data.shape[0] < wanted:
        raise AutomixError(
            f"{info.path}: truncated: the header declares {info.frames} frames but the audio ends at frame "
            f"{start + data.shape[0]}"
        )
    data = np.ascontiguousarray(data.T)
    _check_finite(info, data, start)
    return data, info.sample_rate


def _check_finite(info: AudioInfo, data: np.ndarray, start: int) -> None:
    """AutomixError for NaN or infinite samples in ``data`` ``(channels, frames)`` read from frame ``start``."""
    if info.subtype in _FLOAT_SUBTYPES and not np.isfinite(data).all():  # only float files can hold them
        bad = int(np.argmax(~np.isfinite(data).all(axis=0)))
        raise AutomixError(
            f"{info.path}: holds non-finite samples (NaN or infinity), the first at frame {start + bad}: a damaged "
            "float file; fix or re-export it"
        )


def resample_factors(sr_from: float, sr_to: float) -> tuple[int, int]:
    """The ``(up, down)`` integers with ``up / down == sr_to / sr_from`` (reduced), e.g. 48000 -> 44100 gives
    ``(147, 160)``. Ratios that need factors above :data:`MAX_RESAMPLE_FACTOR` are rounded to the nearest
    ratio that does not."""
    if not (sr_from > 0 and sr_to > 0 and math.isfinite(sr_from) and math.isfinite(sr_to)):
        raise ValueError(f"sample rates must be positive and finite (got {sr_from} -> {sr_to})")
    ratio = Fraction(sr_to) / Fraction(sr_from)
    if max(ratio.numerator, ratio.denominator) > MAX_RESAMPLE_FACTOR:
        ratio = ratio.limit_denominator(MAX_RESAMPLE_FACTOR)
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, sr_from: float, sr_to: float) -> np.ndarray:
    """Resample ``x`` (``(channels, samples)`` or 1-D) from ``sr_from`` to ``sr_to`` Hz along the last axis.

    Polyphase filtering (:func:`scipy.signal.resample_poly`, Kaiser window) by the rational factors of
    :func:`resample_factors`. Output sample ``k`` is time-aligned with input time ``k * sr_from / sr_to``;
    the signal is taken as zero outside the input. Length: ``ceil(n * up / down)``.
    """
    return resample_by(x, *resample_factors(sr_from, sr_to))


def resample_by(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Resample ``x`` along its last axis by exactly ``up / down`` (see :func:`resample`), as float32."""
    x = np.asarray(x, dtype=np.float32)
    if up == down:
        return x.copy()
    from scipy.signal import resample_poly  # scipy.signal takes ~1 s to import: only where resampling happens

    return resample_poly(x, up, down, axis=-1).astype(np.float32, copy=False)


def write_audio(
    path: str | os.PathLike, x: np.ndarray, sr: int, subtype: str = "PCM_24"
) -> None:
    """Write ``x`` (``(channels, samples)``) to ``path`` atomically.

    The audio goes to a temporary file in the destination folder, which then replaces ``path`` in one
    ``os.replace``: a crash or a full disk never leaves a half-written file under the final name. The
    format follows the extension (``.wav``, ``.flac``, ``.aiff``, ``.ogg``, ``.mp3``).

    Raises:
        AutomixError: the extension is not a known audio format, or ``subtype`` does not fit it.
        ValueError: ``x`` is not shaped ``(channels, samples)``.
    """
    path = Path(path)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] > 64:
        raise ValueError(f"audio must be shaped (channels, samples) with <= 64 channels; got {x.shape} (transposed?)")
    fmt = check_audio_format(path, subtype)
    write_atomic(path, lambda tmp: sf.write(tmp, x.T, int(sr), subtype=subtype, format=fmt))


def check_audio_format(path: str | os.PathLike, subtype: str) -> str:
    """The file format of ``path``'s extension, checked to hold ``subtype`` samples (AutomixError otherwise):
    what :func:`write_audio` would refuse, known before any audio is computed."""
    path = Path(path)
    fmt = _format_for(path)
    if not sf.check_format(fmt, subtype):
        valid = ", ".join(sf.available_subtypes(fmt))
        raise AutomixError(f"{path}: subtype {subtype!r} does not fit {fmt} files (valid: {valid})")
    return fmt


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    fmt = {"wav": "WAV", "flac": "FLAC", "aif": "AIFF", "aiff": "AIFF", "ogg": "OGG", "mp3": "MP3"}.get(ext)
    if fmt is None:
        raise AutomixError(f"{path}: unknown audio extension {path.suffix!r} (use .wav, .flac, .aiff, .ogg, .mp3)")
    return fmt


def _check_exists(path: Path) -> None:
    try:
        is_file = stat.S_ISREG(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise AutomixError(f"{path}: file not found") from None
    except OSError as e:  # a name too long for the file system, a symlink loop, a folder we may not enter
        raise AutomixError(f"{path}: {e.strerror or e}") from None
    if not is_file:
        raise AutomixError(f"{path}: not a file")


def _libsndfile_reason(e: Exception) -> str:
    # soundfile's messages start with "Error opening '<path>': "; the path is already in our message.
    text = str(e)
    return text.split("': ", 1)[1] if text.startswith("Error opening '") and "': " in text else text


def _check_not_truncated(path: Path) -> None:
    """Compare the audio chunk size a RIFF/WAVE or AIFF header declares with the bytes present."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            return  # too short to be RIFF/AIFF; libsndfile has already judged it
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            endian, audio_chunk = "<", b"data"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            endian, audio_chunk = ">", b"SSND"
        else:
            return
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_len = struct.unpack(endian + "4sI", f.read(8))
            if chunk_id == audio_chunk:
                if chunk_len in (0, 0xFFFFFFFF):
                    return  # placeholder size of a streamed file: libsndfile reads up to the file's end
                present = size - (pos + 8)
                if chunk_len > present:
                    raise AutomixError(
                        f"{path}: truncated: the header declares {chunk_len} bytes of audio but only "
                        f"{present} are present (an interrupted recording or copy?)"
                    )
                return
            pos += 8 + chunk_len + (chunk_len & 1)  # chunks are padded to even sizes


class StemFile:
    """A stem ``.npy`` file ``(2, samples)`` read slice by slice, never kept mapped.

    Indexing returns a copy (``stem[:, a:b]``). Reading a whole song block by block this way keeps the process's
    resident memory at one block per stem, where a long-lived memory map would count every page it touched.
    A slice of samples of every channel (``stem[:, a:b]``, the way every reader reads) is read straight from the
    file, one read per channel: no memory map is set up and no ``.npy`` header parsed per slice, which made
    thousands of short reads (a controller's sampled frames) cost seconds. Other keys go through a memory map."""

    def __init__(self, path: Path):
        self.path = Path(path)
        mapped = np.load(self.path, mmap_mode="r")
        self.shape: tuple[int, ...] = mapped.shape
        self.ndim = mapped.ndim
        self.dtype = mapped.dtype
        self._offset = mapped.offset  # where the data starts, after the .npy header
        self._direct = mapped.ndim == 2 and mapped.flags.c_contiguous
        del mapped

    def __getitem__(self, key) -> np.ndarray:
        if (self._direct and isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)
                and isinstance(key[1], slice) and key[1].step in (None, 1)):
            return self._read_samples(*key[1].indices(self.shape[1])[:2])
        mapped = np.load(self.path, mmap_mode="r")
        block = np.array(mapped[key])
        del mapped
        return block

    def _read_samples(self, start: int, stop: int) -> np.ndarray:
        """``[:, start:stop]`` of a C-ordered ``(channels, samples)`` file: each channel's run of bytes."""
        channels, n = self.shape
        out = np.empty((channels, max(0, stop - start)), dtype=self.dtype)
        if out.size == 0:
            return out
        size = self.dtype.itemsize
        with open(self.path, "rb", buffering=0) as f:
            for c in range(channels):
                f.seek(self._offset + (c * n + start) * size)
                view = memoryview(out[c]).cast("B")
                if f.readinto(view) != view.nbytes:
                    raise AutomixError(f"{self.path}: stem file is shorter than its header says")
        return out
