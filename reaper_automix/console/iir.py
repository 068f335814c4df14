"""Exact, differentiable IIR filtering with second-order sections, batched, with state for chunked use.

Why time-domain recursion rather than frequency sampling (dasp-pytorch multiplies the whole signal's FFT by the
filter's response): the recursion *is* the filter REAPER runs (ReaEQ is a biquad cascade), it is exact at any
length, and it processes a song in chunks with the filter state carried across, giving the same samples as one
pass (frequency sampling is circular and would need the whole song in one FFT, or an approximate overlap-add
with a truncated impulse response). The forward recursion is compiled (:func:`filter_lanes`, scipy ``sosfilt``'s
transposed direct form II with its arithmetic in the same order, so the samples are scipy's to the bit: tested;
states that decay below 1e-200 are set to 0, :mod:`~reaper_automix.subnormals`),
the channels of several batch items filtered side by side as vector lanes, groups on parallel threads, reading the
input's dtype directly (no float64 copy of a float32 stem); the backward pass uses scipy.

Gradients: ``y = (B/A) x`` per section with zero initial state. With ``q = A^-T g`` (the upstream gradient ``g``
run backwards in time through the all-pole part) the adjoint gives ``dL/db_k = sum_n q[n] x[n-k]``,
``dL/da_k = -sum_n q[n] y[n-k]`` and ``dL/dx[m] = sum_k b_k q[m+k]``; a cascade repeats this section by
section from the last, recomputing the intermediate signals. Everything runs in float64 (coefficients of
low-frequency biquads at 44.1 kHz need it); outputs come back in the input's dtype.

Gradients exist only for a single pass from rest (the optimisation windows); chunked processing with a carried
state is for rendering, under ``torch.no_grad()``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.signal
import torch
from torch import Tensor

from ..subnormals import flush_states

LANES = 16  # recursions filtered side by side: a loop of constant length, which compiles to whole vectors
BLOCK = 256  # samples of the lanes filtered at a time: the block (256 x 16 float64) stays in L1


def sosfilt(x: Tensor, sos: Tensor, zi: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Filter ``x`` shaped ``(batch, channels, samples)`` by ``sos`` shaped ``(batch, sections, 6)``.

    Rows of ``sos`` are ``[b0, b1, b2, 1, a1, a2]`` (normalised: a0 must be 1). ``zi`` (``(batch, sections,
    channels, 2)``, float64) is the state from the previous chunk, None for rest. Returns ``(y, zf)`` with the
    final state ``zf`` for the next chunk. Differentiable in ``x`` and ``sos`` when ``zi`` is None.
    """
    if x.ndim != 3 or sos.ndim != 3 or sos.shape[-1] != 6 or sos.shape[0] != x.shape[0]:
        raise ValueError(f"sosfilt: bad shapes x {tuple(x.shape)}, sos {tuple(sos.shape)}")
    if not torch.all(sos[..., 3] == 1):
        raise ValueError("sosfilt: sections must be normalised (a0 == 1)")
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or sos.requires_grad)
    if needs_grad:
        if zi is not None:
            raise ValueError("sosfilt: gradients need a pass from rest; render chunks under torch.no_grad()")
        return _SosFilt.apply(x, sos)
    return _filter(x, sos, zi)


def _filter(x: Tensor, sos: Tensor, zi: Tensor | None) -> tuple[Tensor, Tensor]:
    batch, channels, n = x.shape
    if channels > LANES:
        raise ValueError(f"sosfilt: at most {LANES} channels, got {channels}")
    n_sections = sos.shape[1]
    x_np = np.ascontiguousarray(x.detach().cpu().numpy())
    sos_np = np.ascontiguousarray(sos.detach().cpu().to(torch.float64).numpy())
    if zi is None:
        zf = np.zeros((batch, n_sections, channels, 2))
    else:
        zf = np.array(zi.detach().cpu().to(torch.float64).numpy(), dtype=np.float64, order="C")
    y = np.empty((batch, channels, n), dtype=x_np.dtype)
    _cascade_kernel(x_np, sos_np, zf, y, items_per_group(batch, channels))
    return torch.from_numpy(y).to(x.device), torch.from_numpy(zf)


def items_per_group(batch: int, channels: int) -> int:
    """Batch items per group of lanes (a group is one parallel task): as many as fill the lanes, but fewer when
    that would leave numba's threads idle (a group costs the same however many of its lanes are used, and what
    runs item by item after the filter, such as a strip's compressor, is then spread over the threads too)."""
    return max(1, min(LANES // channels, -(-batch // numba.get_num_threads())))


@numba.njit(inline="always")
def lane_coefficients(sos, zf, first, count, channels):  # pragma: no cover - compiled; tested through callers
    """The coefficients ``(sections, 6, LANES)`` and states ``z0``, ``z1`` ``(sections, LANES)`` of the lanes
    of items ``first .. first + count - 1`` of ``sos`` ``(batch, sections, 6)`` and ``zf`` ``(batch, sections,
    channels, 2)``: lane ``j`` is channel ``j % channels`` of item ``first + j // channels``; lanes past them stay
    silent (zero coefficients and state)."""
    sections = sos.shape[1]
    coef = np.zeros((sections, 6, LANES))
    z0 = np.zeros((sections, LANES))
    z1 = np.zeros((sections, LANES))
    for j in range(count * channels):
        b, c = first + j // channels, j % channels
        for s in range(sections):
            for k in range(6):
                coef[s, k, j] = sos[b, s, k]
            z0[s, j] = zf[b, s, c, 0]
            z1[s, j] = zf[b, s, c, 1]
    return coef, z0, z1


@numba.njit(inline="always")
def load_lanes(buf, x, first, count, start, rows):  # pragma: no cover - compiled; tested through callers
    """Samples ``start .. start + rows - 1`` of items ``first .. first + count - 1`` of ``x`` ``(batch, channels,
    samples)`` into rows ``< rows`` of ``buf``'s lanes (:func:`lane_coefficients`' order), as float64."""
    channels = x.shape[1]
    for j in range(count * channels):
        src = x[first + j // channels, j % channels, start:start + rows]
        for r in range(rows):
            buf[r, j] = np.float64(src[r])


@numba.njit(inline="always")
def filter_lanes(buf, rows, coef, z0, z1):  # pragma: no cover - compiled; tested through callers
    """Rows ``< rows`` of ``buf`` ``(BLOCK, LANES)`` float64 through each lane's sections in place, states
    carried in ``z0``/``z1``. Per lane, scipy ``_sosfilt``'s arithmetic in its order (transposed direct form II,
    float64), so each lane's samples are scipy's to the bit; the lanes are the innermost loop, so the
    independent recursions run side by side instead of one waiting on its own chain of operations. States
    below :data:`~reaper_automix.subnormals.STATE_FLOOR` are set to 0 after the block (silence would otherwise
    take them into subnormals, many times slower; no output changes, as that module says)."""
    for r in range(rows):
        for s in range(coef.shape[0]):
            for j in range(LANES):
                cur = buf[r, j]
                new = coef[s, 0, j] * cur + z0[s, j]
                z0[s, j] = coef[s, 1, j] * cur - coef[s, 4, j] * new + z1[s, j]
                z1[s, j] = coef[s, 2, j] * cur - coef[s, 5, j] * new
                buf[r, j] = new
    flush_states(z0, z1)


@numba.njit(inline="always")
def store_lane_states(zf, z0, z1, first, count, channels):  # pragma: no cover - compiled; tested through callers
    """:func:`lane_coefficients`' states written back into ``zf``."""
    for j in range(count * channels):
        b, c = first + j // channels, j % channels
        for s in range(zf.shape[1]):
            zf[b, s, c, 0] = z0[s, j]
            zf[b, s, c, 1] = z1[s, j]


@numba.njit(parallel=True, cache=True)
def _cascade_kernel(x, sos, zf, y, per_group):  # pragma: no cover - compiled; tested through callers
    """``y[b] = sosfilt(sos[b], x[b])`` along the last axis in float64, state ``zf`` ``(batch, sections, channels,
    2)`` carried in and out (in place); the channels of ``per_group`` items (:func:`items_per_group`) as
    :func:`filter_lanes`' lanes, groups on parallel threads."""
    batch, channels, n = x.shape
    for group in numba.prange(-(-batch // per_group)):
        first = group * per_group
        count = min(per_group, batch - first)
        coef, z0, z1 = lane_coefficients(sos, zf, first, count, channels)
        buf = np.zeros((BLOCK, LANES))
        for start in range(0, n, BLOCK):
            rows = min(BLOCK, n - start)
            load_lanes(buf, x, first, count, start, rows)
            filter_lanes(buf, rows, coef, z0, z1)
            for j in range(count * channels):
                dst = y[first + j // channels, j % channels, start:start + rows]
                for r in range(rows):
                    dst[r] = buf[r, j]
        store_lane_states(zf, z0, z1, first, count, channels)


def _map_batch(fn, batch: int) -> list:
    """Run ``fn(b)`` for every batch item on up to torch's intra-op thread count (scipy drops the GIL)."""
    workers = min(batch, torch.get_num_threads())
    if workers <= 1:
        return [fn(b) for b in range(batch)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, range(batch)))


def _section_backward(
    coef: np.ndarray, u: np.ndarray, v: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of one section (input ``u``, output ``v``, both ``(channels, T)``) for upstream ``g``.

    Returns (dL/du, dL/d[b0, b1, b2, a0, a1, a2]); a0 is fixed at 1 so its gradient is 0.
    """
    b, a = coef[:3], np.array([1.0, coef[4], coef[5]])
    q = scipy.signal.lfilter([1.0], a, g[:, ::-1], axis=-1)[:, ::-1]
    n = u.shape[-1]
    grad_coef = np.zeros(6)  # a0 is fixed at 1: its entry stays 0
    for k in range(3):
        grad_coef[k] = np.sum(q[:, k:] * u[:, : n - k])
    for k in (1, 2):
        grad_coef[3 + k] = -np.sum(q[:, k:] * v[:, : n - k])
    grad_u = b[0] * q
    grad_u[:, : n - 1] += b[1] * q[:, 1:]
    grad_u[:, : n - 2] += b[2] * q[:, 2:]
    return grad_u, grad_coef


class _SosFilt(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, sos: Tensor) -> tuple[Tensor, Tensor]:
        y, zf = _filter(x, sos, None)
        ctx.save_for_backward(x, sos)
        ctx.mark_non_differentiable(zf)
        return y, zf

    @staticmethod
    def backward(ctx, grad_y: Tensor, _grad_zf: Tensor) -> tuple[Tensor, Tensor]:
        x, sos = ctx.saved_tensors
        x_np = x.detach().cpu().numpy().astype(np.float64)
        sos_np = sos.detach().cpu().to(torch.float64).numpy()
        g_np = grad_y.detach().cpu().numpy().astype(np.float64)

        def one(b: int) -> tuple[np.ndarray, np.ndarray]:
            signals = [x_np[b]]  # input of each section, then the final output
            for k in range(sos_np.shape[1]):
                signals.append(scipy.signal.sosfilt(sos_np[b, k : k + 1], signals[-1], axis=-1))
            g = g_np[b]
            grad_sos = np.zeros_like(sos_np[b])
            for k in reversed(range(sos_np.shape[1])):
                g, grad_sos[k] = _section_backward(sos_np[b, k], signals[k], signals[k + 1], g)
            return g, grad_sos

        results = _map_batch(one, x.shape[0])
        grad_x = torch.from_numpy(np.stack([r[0] for r in results])).to(dtype=x.dtype, device=x.device)
        grad_sos = torch.from_numpy(np.stack([r[1] for r in results])).to(dtype=sos.dtype, device=sos.device)
        return grad_x, grad_sos
