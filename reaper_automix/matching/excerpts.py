"""Where the search looks: a few short windows that cover the song and catch every stem playing.

Optimising on the whole song would cost minutes; one window (Diff-MST's inference) misses stems that are silent
there. :func:`choose_excerpts` cuts the song into ``count`` equal sections (so the windows cover it from intro to
outro) and in each picks the window where the most stems are active (a stem is active in a 0.5 s block whose
mean square is within 30 dB of its loudest blocks; ties go to the louder mix). Features before/after are always
reported on the whole song.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

ACTIVE_WITHIN_DB = 30.0
ACTIVITY_BLOCK_S = 0.5


def choose_excerpts(
    stems: Sequence[np.ndarray], sample_rate: int, count: int, length_s: float
) -> list[tuple[int, int]]:
    """``count`` windows ``(start, stop)`` in samples covering the song (see the module docstring)."""
    n = max(s.shape[1] for s in stems)
    block = max(1, int(ACTIVITY_BLOCK_S * sample_rate))
    n_blocks = max(1, n // block)
    power = np.zeros((len(stems), n_blocks))
    for i, s in enumerate(stems):
        m = min(s.shape[1], n_blocks * block)
        x = np.asarray(s[:, :m], dtype=np.float32)
        power[i, : m // block] = np.mean((x[:, : (m // block) * block] ** 2).reshape(2, -1, block), axis=(0, 2))
    loud = np.percentile(power, 90, axis=1, keepdims=True)
    active = (power > loud * 10 ** (-ACTIVE_WITHIN_DB / 10)) & (power > 0)
    window_blocks = max(1, min(n_blocks, round(length_s / ACTIVITY_BLOCK_S)))
    count = max(1, min(count, n_blocks // window_blocks))
    score = active.sum(axis=0) + 1e-3 * power.sum(axis=0) / max(power.sum(), 1e-30)
    running = np.convolve(score, np.ones(window_blocks), "valid")  # score of the window starting at each block
    edges = np.linspace(0, n_blocks, count + 1).round().astype(int)
    windows = []
    for a, b in itertools.pairwise(edges):
        last_start = max(a, min(b, n_blocks) - window_blocks)
        start = a + int(np.argmax(running[a : last_start + 1]))
        windows.append((start * block, min(n, (start + window_blocks) * block)))
    return windows

