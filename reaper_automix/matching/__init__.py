"""Stage 2 without training: per-stem console settings found by optimisation so that the mix's features match a
reference mix's. :mod:`.features` measures (whole-song Diff-MST "AF" features), :mod:`.search` searches, on
:mod:`.excerpts` of the song through a fast model of the console (:mod:`.proxy`) corrected by the exact one
(:mod:`.render`, which also renders whole songs and the level-matched A/B); :mod:`.limits` bounds every
engine's settings."""

from .features import (
    MixFeatures,
    average_features,
    distances,
    load_reference,
    reference_features,
    song_features,
    torch_features,
)
from .render import ScaledStem, level_matched_ab, render_console_mix
from .search import MatchOptions, MatchResult, match_reference

__all__ = [
    "MatchOptions",
    "MatchResult",
    "MixFeatures",
    "ScaledStem",
    "average_features",
    "distances",
    "level_matched_ab",
    "load_reference",
    "match_reference",
    "reference_features",
    "render_console_mix",
    "song_features",
    "torch_features",
]
