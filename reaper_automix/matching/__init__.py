"""Stage 2 without training: per-stem console settings found by optimisation so that the mix's features match a
reference mix's. :mod:`.features` measures (whole-song Diff-MST "AF" features), :mod:`.optimise` searches."""

from .features import (
    MixFeatures,
    average_features,
    distances,
    load_reference,
    reference_features,
    song_features,
    torch_features,
)
from .optimise import (
    MatchOptions,
    MatchResult,
    ScaledStem,
    level_matched_ab,
    match_reference,
    render_console_mix,
)

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
