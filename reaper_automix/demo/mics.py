"""What a track's microphone makes of the dry parts: filtering, distance delay, polarity, bleed from other
instruments, overhead/room pickup of the whole kit, saturation and stereo. Pure functions on float arrays
shaped ``(n,)`` (mono) or ``(n, 2)`` (stereo), time along axis 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal

from ..units import db_to_gain
from .tracks import KIT_LAYOUT, Mic


def to_mono(x: np.ndarray) -> np.ndarray:
    return 0.5 * (x[:, 0] + x[:, 1]) if x.ndim == 2 else x  # ndarray.mean(axis=1) is ~10x slower here


def butterworth(x: np.ndarray, cutoff_hz: float, kind: str, order: int, sample_rate: int) -> np.ndarray:
    """High- or low-pass Butterworth filter (``kind`` "highpass" or "lowpass") in second-order sections."""
    sos = signal.butter(order, cutoff_hz, btype=kind, fs=sample_rate, output="sos")
    return signal.sosfilt(sos, x, axis=0).astype(np.float32)


def peaking(x: np.ndarray, freq_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """A peaking-EQ biquad (the bilinear-transform design of the Audio EQ Cookbook)."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq_hz / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp])
    a = np.array([1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp])
    return signal.lfilter(b / a[0], a / a[0], x, axis=0).astype(np.float32)


def delay(x: np.ndarray, delay_ms: float, sample_rate: int) -> np.ndarray:
    """Shift later by whole samples (the first samples become silence, the end is cut)."""
    d = int(round(delay_ms * sample_rate / 1000.0))
    if d <= 0:
        return x
    out = np.zeros_like(x)
    out[d:] = x[:-d]
    return out


def widen(x: np.ndarray, sample_rate: int, amount: float = 0.5, delay_ms: float = 11.0) -> np.ndarray:
    """Mono to stereo by mid/side: the side is a delayed, low-passed copy, added left and subtracted right, so
    the channels differ while their sum stays the mono signal."""
    side = butterworth(delay(x, delay_ms, sample_rate), 5000.0, "lowpass", 2, sample_rate) * amount
    return np.stack([x + side, x - side], axis=1)


def room_response(rng: np.random.Generator, sample_rate: int, rt60_s: float = 0.5,
                  length_s: float = 0.6) -> np.ndarray:
    """A small room's impulse response: a direct path then exponentially decaying noise (unit energy)."""
    n = int(length_s * sample_rate)
    t = np.arange(n) / sample_rate
    ir = rng.standard_normal(n) * np.exp(-6.91 * t / rt60_s) * 0.3
    ir[: int(0.004 * sample_rate)] = 0.0  # reflections arrive after the direct sound
    ir[0] = 1.0
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


def kit_pickup(side: float, parts: Callable[[str], np.ndarray], sample_rate: int) -> np.ndarray:
    """An overhead or room microphone at ``side`` (-1 left .. 1 right; 0 centre) hearing every drum part
    (``parts(name)``: its mono dry render), each attenuated and delayed with its distance from the microphone
    (positions from ``KIT_LAYOUT``)."""
    out = None
    for name, (pan, gain_db) in KIT_LAYOUT.items():
        distance = abs(pan - 0.7 * side)
        x = parts(name) * db_to_gain(gain_db) / (1.0 + 1.5 * distance)
        x = delay(x, 1.0 + 2.0 * distance, sample_rate)
        out = x if out is None else out + x
    return out


def record(mic: Mic, own: np.ndarray, parts: Callable[[str], np.ndarray], sample_rate: int,
           room_ir: np.ndarray | None = None) -> np.ndarray:
    """A track's signal: its own part (``own``, the dry stereo render) heard through ``mic``; ``parts(name)``
    gives a drum part's mono dry render (for bleed and kit pickup). Mono result ``(n,)`` unless ``mic.stereo`` is
    "keep" or "widen" (then ``(n, 2)``)."""
    if mic.kit_side is not None:
        x = kit_pickup(mic.kit_side, parts, sample_rate)
    elif mic.stereo == "keep":
        x = own.copy()
    else:
        x = to_mono(own).copy()
    for name, gain_db in mic.bleed:
        bleed = parts(name) * db_to_gain(gain_db)
        x += bleed[:, None] if x.ndim == 2 else bleed
    if mic.room:
        if room_ir is None:
            raise ValueError("a room microphone needs a room response")
        ir = room_ir[:, None] if x.ndim == 2 else room_ir
        x = 0.5 * x + signal.oaconvolve(x, ir, axes=0)[: len(x)].astype(np.float32)
    if mic.presence is not None:
        x = peaking(x, mic.presence[0], mic.presence[1], 1.0, sample_rate)
    if mic.highpass_hz:
        x = butterworth(x, mic.highpass_hz, "highpass", mic.highpass_order, sample_rate)
    if mic.lowpass_hz:
        x = butterworth(x, mic.lowpass_hz, "lowpass", mic.lowpass_order, sample_rate)
    if mic.drive:
        peak = float(np.max(np.abs(x))) or 1.0
        x = (np.tanh(mic.drive * x / peak) * peak).astype(np.float32)
    if mic.stereo == "widen":
        x = widen(x, sample_rate)
    x = delay(x, mic.delay_ms, sample_rate)
    return -x if mic.invert else x
