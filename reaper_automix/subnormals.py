"""Keeping the compiled recursions (IIR filters, compressor detectors and gains) out of subnormal numbers.

A recursion that decays through digital silence (a track that stops, a stem with gaps) takes its state down to
about 1e-308 and then into float64's subnormal range, where it can settle on the smallest subnormals for ever
(``x * 0.99`` rounds back to ``x`` there). On many x86 processors every operation on a subnormal takes a
microcode assist, about a hundred times a normal one: measured here, the K-weighting of a 240 s track whose last
180 s are silent took 3.5 s instead of 0.17 s.

A state below :data:`STATE_FLOOR` is set to exactly 0. That changes no result that can be seen: what such a
state adds to an output is of the order of 1e-200 (times the gain of what follows it), below half a unit in the
last place of any output above about 1e-180 (float32 audio's smallest non-zero sample is 1.4e-45), and an output
below that squares to exactly 0 in float64 and rounds to 0 in float32 either way (tested against scipy's
``sosfilt``, which keeps the subnormals). The flushes happen at fixed points (the end of every block of a filter's
lanes, every compressor step), the same in every compiled path, so those paths stay equal to each other bit for
bit, states included.
"""

from __future__ import annotations

import numba

STATE_FLOOR = 1e-200


@numba.njit(inline="always")
def flush_states(z0, z1):  # pragma: no cover - compiled; tested through callers
    """States ``z0``, ``z1`` (``(sections, lanes)`` float64) below :data:`STATE_FLOOR` in magnitude set to 0,
    in place."""
    for s in range(z0.shape[0]):
        for j in range(z0.shape[1]):
            if abs(z0[s, j]) < STATE_FLOOR:
                z0[s, j] = 0.0
            if abs(z1[s, j]) < STATE_FLOOR:
                z1[s, j] = 0.0


@numba.njit(inline="always")
def flushed(value):  # pragma: no cover - compiled; tested through callers
    """``value``, or 0 where its magnitude is below :data:`STATE_FLOOR`."""
    return 0.0 if abs(value) < STATE_FLOOR else value
