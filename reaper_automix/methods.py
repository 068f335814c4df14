"""The names a user picks a stage's way of working by, defined once. Nothing is imported here, so the CLI's
option parsing reads them without loading the audio libraries."""

from __future__ import annotations

METHODS = ("centroid", "f0", "lufs")  # stage 1's loudness measure (reaper_automix.analysis.cfb)
ENGINES = ("learned", "search", "hybrid")  # stage 2's engine (reaper_automix.controller.engines)
