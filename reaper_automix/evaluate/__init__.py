"""Objective evaluation of mixes against references: the harness (:mod:`.harness`) and its measures
(:mod:`.metrics`). Used by ``benchmarks/evaluate.py``."""

from .harness import SongSpec, evaluate_song, format_table, summarise
from .metrics import eq_curve_error_db, mrstft_distance, settings_errors

__all__ = ["SongSpec", "eq_curve_error_db", "evaluate_song", "format_table", "mrstft_distance", "settings_errors",
           "summarise"]
