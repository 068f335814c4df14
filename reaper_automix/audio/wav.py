"""Direct decoding of plain little-endian WAV files (16- and 24-bit PCM, 32-bit float), equal bit for bit to
libsndfile's float32 read.

libsndfile converts a PCM sample to float32 as ``(float) (sample << (32 - bits)) * (1.0f / 0x80000000)``: the
shifted integer has at most 24 significant bits, so both steps are exact and the result is exactly
``sample / 2**(bits - 1)``, which is what :func:`decode_into` computes (``sample`` converted exactly, times a
power of two). Float samples are copied and 16-bit ones converted through numpy views; 24-bit samples, which have
no numpy type, take one compiled pass. Either way the channels come out de-interleaved, ``(channels, frames)``:
reading a 240 s 24-bit track this way took about a fifth of ``soundfile.read``'s time (which also
leaves the channels interleaved). Anything else (other sample formats, big-endian RIFX, RF64, a header this
module does not understand) is left to libsndfile: :func:`data_layout` returns None.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

_FORMAT_PCM, _FORMAT_FLOAT, _FORMAT_EXTENSIBLE = 1, 3, 0xFFFE
_BYTES = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}  # libsndfile's subtype -> bytes per sample


@dataclass(frozen=True)
class DataLayout:
    """Where a WAV file's samples are: ``offset`` bytes into the file, ``channels`` interleaved samples of
    ``sample_bytes`` bytes per frame."""

    offset: int
    channels: int
    sample_bytes: int
    is_float: bool


def data_layout(path: Path, subtype: str, channels: int) -> DataLayout | None:
    """The layout of ``path``'s audio data when it is a RIFF/WAVE file of libsndfile subtype ``subtype``
    (``PCM_16``, ``PCM_24`` or ``FLOAT``) whose ``fmt `` chunk agrees with it and with ``channels``; else None."""
    sample_bytes = _BYTES.get(subtype)
    if sample_bytes is None:
        return None
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        pos, fmt_ok = 12, False
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_len = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"fmt ":
                fmt = f.read(min(chunk_len, 16))
                if len(fmt) < 16:
                    return None
                tag, fmt_channels, _, _, block_align, bits = struct.unpack("<HHIIHH", fmt)
                expected_tag = _FORMAT_FLOAT if subtype == "FLOAT" else _FORMAT_PCM
                fmt_ok = (tag in (expected_tag, _FORMAT_EXTENSIBLE) and fmt_channels == channels
                          and bits == 8 * sample_bytes and block_align == channels * sample_bytes)
            elif chunk_id == b"data":
                return DataLayout(pos + 8, channels, sample_bytes, subtype == "FLOAT") if fmt_ok else None
            pos += 8 + chunk_len + (chunk_len & 1)
    return None


_CHUNK_BYTES = 1 << 18  # read and decoded a chunk at a time: the raw bytes stay in the processor's cache


def read_frames(path: Path, layout: DataLayout, start: int, frames: int) -> np.ndarray:
    """Frames ``[start, start + frames)`` as float32 ``(channels, frames)``; fewer frames where the file ends.

    The bytes are read a chunk of about :data:`_CHUNK_BYTES` at a time into one small buffer and decoded from
    there into the result: no file-length byte buffer, and the decode reads from the cache rather than memory."""
    frame_bytes = layout.channels * layout.sample_bytes
    chunk_frames = max(1, _CHUNK_BYTES // frame_bytes)
    out = np.empty((layout.channels, frames), dtype=np.float32)
    buf = np.empty(min(frames, chunk_frames) * frame_bytes, dtype=np.uint8)
    view = memoryview(buf)
    done = 0
    with open(path, "rb", buffering=0) as f:
        f.seek(layout.offset + start * frame_bytes)
        while done < frames:
            want = min(chunk_frames, frames - done) * frame_bytes
            got = 0
            while got < want:
                n = f.readinto(view[got:want])
                if not n:
                    break
                got += n
            usable = got // frame_bytes
            decode_into(buf[: usable * frame_bytes], layout.sample_bytes, layout.is_float, out, done)
            done += usable
            if got < want:  # the file ends here
                return out[:, :done].copy()
    return out


def decode_into(raw: np.ndarray, sample_bytes: int, is_float: bool, out: np.ndarray, first: int = 0) -> None:
    """Decode interleaved little-endian samples ``raw`` (uint8, whole frames) into ``out`` (float32
    ``(channels, frames)``) from frame ``first`` on."""
    channels = out.shape[0]
    frames = raw.size // (channels * sample_bytes)
    if is_float:
        out[:, first : first + frames] = raw[: frames * channels * 4].view("<f4").reshape(frames, channels).T
    elif sample_bytes == 3:
        _decode_pcm24(raw, frames, out, first)
    else:  # int16 -> float32 is exact, and so is the power-of-two scale
        np.multiply(raw[: frames * channels * 2].view("<i2").reshape(frames, channels).T, np.float32(2.0**-15),
                    out=out[:, first : first + frames])


@numba.njit(cache=True, nogil=True)
def _decode_pcm24(raw, frames, out, first):  # pragma: no cover - compiled; tested through read_frames
    channels = out.shape[0]
    scale = np.float32(1.0 / 8388608.0)  # 2**-23
    for c in range(channels):
        row = out[c, first : first + frames]  # indexed from 0: no wrap-around arithmetic per access
        i = 3 * c
        for f in range(frames):  # branch-free sign extension: the loop vectorises
            v = np.int32(raw[i]) | (np.int32(raw[i + 1]) << 8) | (np.int32(raw[i + 2]) << 16)
            v -= (v & 8388608) << 1
            row[f] = np.float32(v) * scale
            i += 3 * channels
