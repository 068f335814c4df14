"""Objective evaluation of stage 2 on held-out songs with known answers: the cases (:mod:`.cases`), the rows and
their measures (:mod:`.harness`, :mod:`.metrics`). Used by ``benchmarks/evaluate.py``."""

from .cases import EvalCase, SongSpec, TruthPrior, build_case, draw_truth, ensure_song, held_out_songs
from .harness import (
    Row,
    RowOutput,
    engine_row,
    evaluate_case,
    format_table,
    markdown_table,
    matchering_row,
    neutral_row,
    prior_mean_row,
    search_row,
    stage1_row,
    summarise,
)
from .metrics import eq_curve_error_db, mrstft_distance

__all__ = [
    "EvalCase", "Row", "RowOutput", "SongSpec", "TruthPrior", "build_case", "draw_truth", "engine_row",
    "ensure_song", "eq_curve_error_db", "evaluate_case", "format_table", "held_out_songs", "markdown_table",
    "matchering_row", "mrstft_distance", "neutral_row", "prior_mean_row", "search_row", "stage1_row", "summarise",
]
