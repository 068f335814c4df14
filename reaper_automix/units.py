"""Decibels and linear gain (amplitude), the one conversion every module shares."""

from __future__ import annotations

import math


def db_to_gain(db: float) -> float:
    """Linear amplitude gain of ``db`` decibels (``-inf`` dB is 0)."""
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    """Decibels of a linear gain's magnitude (REAPER stores inverted polarity as a negative gain); 0 is -inf."""
    gain = abs(gain)
    return -math.inf if gain == 0.0 else 20.0 * math.log10(gain)
