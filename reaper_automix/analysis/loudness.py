"""Integrated loudness (ITU-R BS.1770-4) and sample peak, as pure functions on numpy arrays.

Audio is a float array shaped ``(channels, samples)`` (a 1-D array is taken as mono). Channels follow the
BS.1770 order L, R, C, Ls, Rs with weights 1, 1, 1, 1.41, 1.41; more than five channels is refused (an LFE
channel would have to be dropped, which needs a channel layout this module does not know).

K-weighting
    The two biquads of BS.1770 (a high shelf of about +4 dB above 1.5 kHz modelling the head, and the "RLB"
    high-pass near 38 Hz) are derived for any sample rate from their analogue prototypes by the bilinear
    transform with pre-warping. The prototype constants (centre frequency, gain, Q, and the shelf's
    mid-band gain exponent) are those that reproduce the standard's published 48 kHz coefficients to about
    1e-9, so at 48 kHz the filter *is* the standard's, and at other rates it is the same analogue response.
    pyloudnorm instead uses round-number prototypes (+4 dB shelf at 1.5 kHz, Q 0.707; 38 Hz high-pass, Q 0.5);
    the two agree to a few hundredths of a LU on music (tests cross-check them within 0.05 LU).

Gating
    400 ms blocks every 100 ms (75 % overlap), block boundaries at ``floor(k * 0.1 * sample_rate)``; only blocks
    lying wholly inside the signal count (pyloudnorm rounds the block count and may count one partial block at
    the end). Block energies come from 100 ms segment sums (``np.add.reduceat``, accumulated in float64), so no
    per-block loop and no signal-length float64 copy is needed. Absolute gate -70 LUFS, relative gate -10 LU
    below the absolute-gated loudness. A signal shorter than one block is measured as a single block.
    Silence, or a signal whose blocks are all gated out, measures ``-inf``.

Mono convention
    A mono signal is one channel of weight 1 (BS.1770's convention, also pyloudnorm's): a 1 kHz sine of peak
    -20 dBFS measures -23.0 LUFS. EBU Tech 3341's "dual mono" reading (+3 dB, as if played on two speakers)
    is *not* applied.

Band loudness
    ``integrated_loudness(x, sr, prefilter_sos=band)`` cascades a band filter with the K-weighting into one
    ``sosfilt`` pass: both are linear time-invariant, so their order does not matter. To measure a track *and*
    a band of it, K-weight once (:func:`k_weight`), band-filter the weighted signal, and measure both with
    :func:`weighted_loudness`: two sections fewer per sample than two independent measurements.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..subnormals import flush_states

# Analogue prototypes of the BS.1770 K-weighting; these constants reproduce the standard's 48 kHz
# coefficients (BS.1770-4, Tables 1 and 2) when passed through the pre-warped bilinear transform below.
_SHELF_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_MID_EXPONENT = 0.4996667741545416
_HIGHPASS_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773

CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
BLOCK_S = 0.4
STEP_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
_OFFSET_DB = -0.691


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """The BS.1770 K-weighting filter as second-order sections, shape ``(2, 6)``: shelf, then high-pass."""
    if not sample_rate > 2 * _SHELF_HZ:
        raise ValueError(f"sample rate {sample_rate} Hz is too low for K-weighting")
    k = math.tan(math.pi * _SHELF_HZ / sample_rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_MID_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass])


def _as_channels(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(f"audio must be shaped (channels, samples), got shape {x.shape}")
    if x.shape[0] > len(CHANNEL_WEIGHTS):
        raise ValueError(
            f"loudness supports at most {len(CHANNEL_WEIGHTS)} channels (L, R, C, Ls, Rs), got {x.shape[0]}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"audio must be floating point, got {x.dtype}")
    return x


def segment_edges(n_samples: int, sample_rate: float) -> np.ndarray:
    """Sample indices bounding the 100 ms gating steps that lie wholly inside ``n_samples``."""
    n_steps = int(math.floor(n_samples / (STEP_S * sample_rate) + 1e-9))
    return np.floor(np.arange(n_steps + 1) * STEP_S * sample_rate + 1e-9).astype(np.int64)


def blocks_from_segments(segment_sums: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean-square energy of each 400 ms block ``(channels, blocks)`` from per-step sums of squares."""
    steps_per_block = round(BLOCK_S / STEP_S)
    cumulative = np.concatenate([np.zeros((segment_sums.shape[0], 1)), np.cumsum(segment_sums, axis=-1)], axis=-1)
    block_sums = cumulative[:, steps_per_block:] - cumulative[:, :-steps_per_block]
    block_lengths = edges[steps_per_block:] - edges[:-steps_per_block]
    return block_sums / block_lengths


def block_energies(weighted: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mean-square energy of each 400 ms gating block, per channel: shape ``(channels, blocks)``.

    ``weighted`` is the K-weighted signal ``(channels, samples)``. Blocks start every 100 ms and lie wholly
    inside the signal; a signal shorter than one block gives one block spanning all of it.
    """
    edges = segment_edges(weighted.shape[-1], sample_rate)
    if len(edges) - 1 < round(BLOCK_S / STEP_S):
        return np.mean(np.square(weighted, dtype=np.float64), axis=-1, keepdims=True)
    segment_sums = np.empty((weighted.shape[0], len(edges) - 1))
    for c, channel in enumerate(weighted):
        squares = np.square(channel[: edges[-1]])
        # float64 accumulation: float32 sums of ~4000 squares lose about 1e-4 relative, harmless, but the
        # accumulator dtype costs nothing here.
        segment_sums[c] = np.add.reduceat(squares, edges[:-1], dtype=np.float64)
    return blocks_from_segments(segment_sums, edges)


def gated_loudness(energies: np.ndarray) -> float:
    """BS.1770 gated loudness in LUFS from per-channel block energies ``(channels, blocks)``."""
    weights = np.asarray(CHANNEL_WEIGHTS[: energies.shape[0]])[:, np.newaxis]
    block_power = np.sum(weights * energies, axis=0)
    with np.errstate(divide="ignore"):
        block_lufs = _OFFSET_DB + 10.0 * np.log10(block_power)
    above_absolute = block_lufs > ABSOLUTE_GATE_LUFS
    if not np.any(above_absolute):
        return -math.inf
    relative_gate = _OFFSET_DB + 10.0 * math.log10(np.mean(block_power[above_absolute])) + RELATIVE_GATE_LU
    gated = above_absolute & (block_lufs > relative_gate)
    return float(_OFFSET_DB + 10.0 * math.log10(np.mean(block_power[gated])))


def k_weight(x: np.ndarray, sample_rate: float, *, prefilter_sos: np.ndarray | None = None) -> np.ndarray:
    """``x`` (``(channels, samples)`` or 1-D) K-weighted along its last axis, after the optional
    ``prefilter_sos`` in the same ``sosfilt`` pass; float32 input is filtered in float32. Always 2-D."""
    from scipy import signal  # about a second to import: only the short-signal and plain-LUFS paths filter here

    x = _as_channels(x)
    sos = k_weighting_sos(sample_rate)
    if prefilter_sos is not None:
        sos = np.vstack([np.atleast_2d(prefilter_sos), sos])
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    return signal.sosfilt(sos.astype(dtype), x, axis=-1)


def weighted_loudness(weighted: np.ndarray, sample_rate: float) -> float:
    """Gated loudness in LUFS of an already K-weighted signal (see :func:`k_weight`).

    Measuring a track and a band of it: K-weight once, then band-filter the weighted signal (the filters are
    linear and time-invariant, so their order does not matter) and measure both with this function.
    """
    weighted = _as_channels(weighted)
    if weighted.shape[-1] == 0:
        return -math.inf
    return gated_loudness(block_energies(weighted, sample_rate))


def integrated_loudness(x: np.ndarray, sample_rate: float, *, prefilter_sos: np.ndarray | None = None) -> float:
    """Integrated loudness of ``x`` in LUFS (BS.1770-4), ``-inf`` for silence.

    ``prefilter_sos``, second-order sections, is applied before measuring (in the same filtering pass as the
    K-weighting): the loudness of a band-filtered version of ``x``.
    """
    x = _as_channels(x)
    if x.shape[-1] == 0:
        return -math.inf
    return weighted_loudness(k_weight(x, sample_rate, prefilter_sos=prefilter_sos), sample_rate)


_BLOCK_ROWS = 128  # rows of a chunk's lanes filtered through a buffer that stays in L1 (16 KB)
_CHUNK_LANES = 16  # lanes filtered side by side: a loop of constant length that compiles to whole vectors


@numba.njit(cache=True, nogil=True)
def _filter_block(buf, rows, sos, z0, z1, energy):  # pragma: no cover - compiled; tested through callers
    """Rows ``< rows`` of ``buf`` ``(rows, _CHUNK_LANES)`` through the sections ``sos`` in place (transposed
    direct form II, states ``z0``/``z1`` ``(sections, _CHUNK_LANES)``), adding each lane's sum of squared
    outputs to ``energy``. The lanes are the innermost loop: independent recursions run side by side."""
    for k in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[k, 0], sos[k, 1], sos[k, 2], sos[k, 4], sos[k, 5]
        for r in range(rows):
            for lane in range(_CHUNK_LANES):
                v = buf[r, lane]
                y = b0 * v + z0[k, lane]
                z0[k, lane] = b1 * v - a1 * y + z1[k, lane]
                z1[k, lane] = b2 * v - a2 * y
                buf[r, lane] = y
    # Lanes innermost here too: each lane's squares are still added in row order (the same sums to the bit), but
    # the lanes' additions run side by side instead of as one dependency chain per lane (half the kernel's time).
    for r in range(rows):
        for lane in range(_CHUNK_LANES):
            energy[lane] += buf[r, lane] * buf[r, lane]


@numba.njit(cache=True, nogil=True)
def _filter_block_2_1(buf, rows, sos_first, sos_then, z0, z1, e_first, e_then):  # pragma: no cover - compiled
    """:func:`_filter_block` through the two sections ``sos_first`` (adding to ``e_first``) and then the one
    section ``sos_then`` (adding to ``e_then``), all three in one pass over the rows with the coefficients in
    registers: the K-weighting and the default first-order band. States ``z0``/``z1`` ``(3, _CHUNK_LANES)``, the
    sections in order. Each lane sees the same operations in the same order as through :func:`_filter_block`
    twice, so the sums are the same to the bit; the three recursions overlap (about 1.7x faster)."""
    p0, p1, p2, p4, p5 = sos_first[0, 0], sos_first[0, 1], sos_first[0, 2], sos_first[0, 4], sos_first[0, 5]
    q0, q1, q2, q4, q5 = sos_first[1, 0], sos_first[1, 1], sos_first[1, 2], sos_first[1, 4], sos_first[1, 5]
    t0, t1, t2, t4, t5 = sos_then[0, 0], sos_then[0, 1], sos_then[0, 2], sos_then[0, 4], sos_then[0, 5]
    for r in range(rows):
        for lane in range(_CHUNK_LANES):
            v = buf[r, lane]
            y = p0 * v + z0[0, lane]
            z0[0, lane] = p1 * v - p4 * y + z1[0, lane]
            z1[0, lane] = p2 * v - p5 * y
            v = y
            y = q0 * v + z0[1, lane]
            z0[1, lane] = q1 * v - q4 * y + z1[1, lane]
            z1[1, lane] = q2 * v - q5 * y
            e_first[lane] += y * y
            v = y
            y = t0 * v + z0[2, lane]
            z0[2, lane] = t1 * v - t4 * y + z1[2, lane]
            z1[2, lane] = t2 * v - t5 * y
            e_then[lane] += y * y


@numba.njit(cache=True, nogil=True)
def _lane_segment_sums(x, lane_channel, lane_start, bounds, skip, sos_first, sos_then):  # pragma: no cover
    """Sums of squares of each lane's signal through ``sos_first``, and through ``sos_then`` after it, per segment.

    Lane ``l`` is ``x[lane_channel[l], lane_start[l] + r]`` for rows ``r`` (zero outside ``x``), filtered from
    zero state. Segment ``s`` holds rows ``bounds[s] ... bounds[s + 1] - 1``; the first ``skip`` segments (a
    pre-roll) are filtered but not returned: shape ``(segments - skip, lanes)`` twice. Float64 state; no
    signal-length temporaries; each lane's squares are summed in row order. The lanes are filtered in chunks of
    :data:`_CHUNK_LANES` (the last one padded with silent lanes)."""
    lanes = lane_channel.shape[0]
    n = x.shape[1]
    n_segments = bounds.shape[0] - 1
    chunks = -(-lanes // _CHUNK_LANES)
    first = np.zeros((n_segments - skip, chunks * _CHUNK_LANES))
    then = np.zeros((n_segments - skip, chunks * _CHUNK_LANES))
    fused = sos_first.shape[0] == 2 and sos_then.shape[0] == 1
    n_first = sos_first.shape[0]
    buf = np.zeros((_BLOCK_ROWS, _CHUNK_LANES))
    scratch = np.zeros(2 * _CHUNK_LANES)
    for chunk in range(chunks):
        l0 = chunk * _CHUNK_LANES
        z0 = np.zeros((n_first + sos_then.shape[0], _CHUNK_LANES))  # the sections of both cascades, in order
        z1 = np.zeros_like(z0)
        buf[:] = 0.0  # padding lanes stay silent
        for s in range(n_segments):
            e_first = first[s - skip, l0 : l0 + _CHUNK_LANES] if s >= skip else scratch[:_CHUNK_LANES]
            e_then = then[s - skip, l0 : l0 + _CHUNK_LANES] if s >= skip else scratch[_CHUNK_LANES:]
            for r0 in range(bounds[s], bounds[s + 1], _BLOCK_ROWS):
                rows = min(_BLOCK_ROWS, bounds[s + 1] - r0)
                for j in range(min(_CHUNK_LANES, lanes - l0)):
                    lane = l0 + j
                    i0 = lane_start[lane] + r0
                    lo, hi = min(max(0, -i0), rows), min(max(0, n - i0), rows)  # rows inside x
                    column = buf[:, j]
                    column[:lo] = 0.0
                    column[hi:rows] = 0.0
                    if hi > lo:
                        # Views indexed from 0: the compiler then knows the indices are not negative and drops
                        # numpy's wrap-around arithmetic from every access (it made this copy ~2x slower).
                        src, dst = x[lane_channel[lane], i0 + lo : i0 + hi], column[lo:hi]
                        for r in range(hi - lo):
                            dst[r] = src[r]
                if fused:
                    _filter_block_2_1(buf, rows, sos_first, sos_then, z0, z1, e_first, e_then)
                else:
                    _filter_block(buf, rows, sos_first, z0[:n_first], z1[:n_first], e_first)
                    _filter_block(buf, rows, sos_then, z0[n_first:], z1[n_first:], e_then)
                flush_states(z0, z1)  # silence would take them into subnormals: ~20x slower (subnormals.py)
    return first[:, :lanes], then[:, :lanes]


_LANES_PER_CHANNEL = 16
_WARMUP_DECAY = 1e-18  # the pre-roll lets a lane's start-up transient fall below this fraction: float rounding
_MIN_LANE_WARMUPS = 10  # lanes are at least this many warm-ups long, so pre-roll costs at most ~10 % extra work


def _warmup_samples(*cascades: np.ndarray) -> int | None:
    """Samples after which the slowest-decaying pole of the cascades has fallen by :data:`_WARMUP_DECAY`
    (with a margin for repeated poles), or None for a filter that does not decay."""
    radius = max(float(np.max(np.abs(np.roots([1.0, s[4], s[5]])), initial=0.0)) for sos in cascades for s in sos)
    if not radius < 1.0:
        return None
    return int(math.ceil(2 * math.log(_WARMUP_DECAY) / math.log(max(radius, 1e-3))))


def _cascade_segment_sums(x: np.ndarray, sos_first: np.ndarray, sos_then: np.ndarray, edges: np.ndarray):
    """Per-step sums of squares ``(channels, steps)`` of ``x`` through ``sos_first``, and of that through
    ``sos_then`` too, for the 100 ms steps bounded by ``edges`` (which start at 0).

    Each channel is cut into up to 16 lanes of whole steps, filtered side by side (see
    :func:`_lane_segment_sums`). A lane after the first starts from zero state a warm-up before its first step
    (:func:`_warmup_samples`), by which time the difference from the true state has decayed to 1e-18 of the
    signal: the sums equal one sequential pass up to float rounding (tested against ``sosfilt``). Steps of a
    non-integer number of samples (e.g. 11025 Hz) take a single lane per channel, which *is* the sequential pass.
    """
    n_channels, n_steps = x.shape[0], len(edges) - 1
    step = int(edges[1] - edges[0])
    warmup = _warmup_samples(sos_first, sos_then)
    lanes = 1
    if warmup is not None and np.all(np.diff(edges) == step):
        lanes = int(min(_LANES_PER_CHANNEL, max(1, n_steps * step // (_MIN_LANE_WARMUPS * warmup))))
    steps_per_lane = -(-n_steps // lanes)
    lanes = -(-n_steps // steps_per_lane)
    if lanes == 1:  # one sequential pass per channel
        warmup, bounds, skip = 0, edges, 0
    else:
        bounds, skip = np.concatenate([[0], warmup + step * np.arange(steps_per_lane + 1)]), 1
    lane_channel = np.repeat(np.arange(n_channels), lanes)
    lane_start = np.tile(np.arange(lanes) * steps_per_lane * step - warmup, n_channels)
    first, then = _lane_segment_sums(
        x, lane_channel, lane_start, bounds.astype(np.int64), skip, sos_first, sos_then
    )

    def per_channel(sums: np.ndarray) -> np.ndarray:  # (steps_per_lane, channels x lanes) -> (channels, steps)
        return sums.T.reshape(n_channels, lanes * steps_per_lane)[:, :n_steps]

    return per_channel(first), per_channel(then)


@numba.njit(cache=True, nogil=True)
def _scale_of_copy(ref, other, tolerance, verify):  # pragma: no cover - compiled; tested through callers
    """``k`` with ``other == k * ref`` to within ``tolerance`` of ``other``'s peak, or NaN. No temporaries: one
    pass finds ``ref``'s largest sample (the first, where several are as large), whose ratio is ``k``, and
    ``other``'s peak; with ``verify`` a second pass checks every sample, stopping at the first one off by more
    (a stem of differently panned tracks stops within its first samples). Without ``verify`` (the caller knows
    the rows are scaled copies) that pass is left out: the same ``k``, NaN only where ``ref`` is silent."""
    j = 0
    peak = 0.0
    for i in range(ref.shape[0]):
        if abs(ref[i]) > abs(ref[j]):
            j = i
        peak = max(peak, abs(np.float64(other[i])))
    if ref[j] == 0.0:
        return np.nan
    k = np.float64(other[j]) / np.float64(ref[j])
    if verify:
        limit = tolerance * peak
        for i in range(ref.shape[0]):
            if abs(np.float64(other[i]) - k * np.float64(ref[i])) > limit:
                return np.nan
    return k


@numba.njit(cache=True, nogil=True)
def _rows_equal(a, b):  # pragma: no cover - compiled; tested through channels_identical
    """Whether the 1-D arrays ``a`` and ``b`` are equal sample for sample (NaN equals nothing), stopping at the
    first difference."""
    for i in range(a.shape[0]):
        if a[i] != b[i]:
            return False
    return True


def channels_identical(x: np.ndarray) -> bool:
    """Whether every channel of ``x`` ``(channels, samples)`` equals the first sample for sample (a mono source
    on a stereo track, centred): one compiled comparison per channel that stops at the first difference, a few
    ms for 240 s of copies; none for rows that share memory (``np.broadcast_to`` of one row)."""
    x = np.asarray(x)
    if not (x.ndim == 2 and x.shape[0] > 1):
        return False
    return x.strides[0] == 0 or all(_rows_equal(x[0], x[c]) for c in range(1, x.shape[0]))


def _copy_scales(x: np.ndarray, tolerance: float = 1e-6, *, known: bool = False) -> np.ndarray | None:
    """Per-channel scale ``k_c`` with ``x[c] == k_c * x[0]`` to within ``tolerance`` of the channel's peak (float
    rounding of a pan gain), or None when the channels differ or there is only one. Exact copies (the usual
    case) are recognised by a comparison that stops at the first difference, before the compiled scale check.
    ``known``: the caller knows every channel is a scaled copy of the first (the renderer, of a panned mono
    source): the scales are taken from the first channel's largest sample as the check would, unchecked."""
    if x.shape[0] < 2:
        return None
    scales = np.ones(x.shape[0])
    if x.strides[0] == 0:  # every row is the first (np.broadcast_to: the caller knows they are copies)
        return scales
    for c in range(1, x.shape[0]):
        if known or not _rows_equal(x[0], x[c]):
            scales[c] = _scale_of_copy(x[0], x[c], tolerance, not known)
    return None if np.isnan(scales).any() else scales


def loudness_and_band_loudness(
    x: np.ndarray, sample_rate: float, band_sos: np.ndarray, *, scaled_copies: bool = False
) -> tuple[float, float]:
    """``(integrated_loudness(x), integrated_loudness(x, prefilter_sos=band_sos))`` in one filtering pass.

    The K-weighting and the band filter run in one compiled loop that accumulates the 100 ms step energies of
    both outputs directly (float64 state, no signal-length temporary), on up to 16 stretches of each channel
    side by side (:func:`_cascade_segment_sums`); channels that are scaled copies of the first are filtered
    once. The result equals the two separate measurements up to float rounding (tested). Signals shorter than
    one gating block take the separate path. ``scaled_copies``: the caller knows that every channel is a scaled
    copy of the first (a panned mono source): the scales are not checked sample by sample (the same result).
    """
    x = _as_channels(x)
    edges = segment_edges(x.shape[-1], sample_rate)
    if len(edges) - 1 < round(BLOCK_S / STEP_S):
        return integrated_loudness(x, sample_rate), integrated_loudness(x, sample_rate, prefilter_sos=band_sos)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    # Channels that are scaled copies of the first (a mono source on a stereo track, panned) are filtered once:
    # the filters are linear, so their energies are the first channel's times the squared scale.
    scales = _copy_scales(x, known=scaled_copies)
    k_sums, band_sums = _cascade_segment_sums(
        np.ascontiguousarray(x[:1] if scales is not None else x), k_weighting_sos(sample_rate),
        np.atleast_2d(band_sos).astype(np.float64), edges,
    )
    if scales is not None:
        k_sums, band_sums = scales[:, None] ** 2 * k_sums, scales[:, None] ** 2 * band_sums
    return (
        gated_loudness(blocks_from_segments(k_sums, edges)),
        gated_loudness(blocks_from_segments(band_sums, edges)),
    )


def sample_peak(x: np.ndarray) -> float:
    """Largest absolute sample value over all channels, linear (0 for an empty array). Two reductions, no
    ``|x|`` temporary: the same value as ``np.max(np.abs(x))``, at a fraction of its memory traffic."""
    x = np.asarray(x)
    return max(float(np.max(x)), -float(np.min(x))) if x.size else 0.0


def sample_peak_dbfs(x: np.ndarray) -> float:
    """:func:`sample_peak` in dBFS (``-inf`` for silence). Not true peak."""
    peak = sample_peak(x)
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf
