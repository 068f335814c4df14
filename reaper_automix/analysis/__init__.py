"""Per-track analysis for stage 1: loudness (BS.1770-4), spectral statistics, f0 (PESTO) and the CFB.

Pure functions on float numpy arrays shaped ``(channels, samples)``. :func:`analyse_track` is the entry point;
:mod:`.pitch` imports torch and PESTO lazily, only when the f0 method is used.
"""

from .cfb import TrackAnalysis, analyse_track, band_filter, band_filter_sos, cfb_band
from .loudness import (
    integrated_loudness,
    k_weight,
    k_weighting_sos,
    sample_peak_dbfs,
    weighted_loudness,
)
from .spectral import SpectralStats, frame_features, spectral_stats

__all__ = [
    "SpectralStats",
    "TrackAnalysis",
    "analyse_track",
    "band_filter",
    "band_filter_sos",
    "cfb_band",
    "frame_features",
    "integrated_loudness",
    "k_weight",
    "k_weighting_sos",
    "sample_peak_dbfs",
    "spectral_stats",
    "weighted_loudness",
]
