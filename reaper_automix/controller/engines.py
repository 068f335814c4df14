"""Stage 2's three engines behind one call: ``search`` (per-song optimisation, :mod:`reaper_automix.matching`),
``learned`` (the controller's prediction, one forward pass) and ``hybrid`` (the search started from the
prediction and regularised toward it instead of toward neutral).

The engine is :attr:`~reaper_automix.matching.MatchOptions.engine`; its default is chosen by the evaluation
table (reaper_automix/models/README.md says which and why).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from ..matching import MatchOptions, MatchResult, match_reference
from ..matching.features import average_features, load_reference, song_features
from ..matching.limits import gain_reduction, stem_measures_and_sum
from ..matching.render import render_console_mix
from ..matching.search import check_finite, whole_song_result
from .checkpoint import LoadedController
from .predict import controller, for_pan_laws, learned_settings, predict_settings


def match_with_engine(
    stems: Sequence[np.ndarray],
    sample_rate: int,
    references: Sequence[str | os.PathLike],
    options: MatchOptions = MatchOptions(),
    checkpoint: LoadedController | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    pan_laws: Sequence | None = None,
) -> MatchResult:
    """Bus settings for ``stems`` (stage-1 stems, ``(2, samples)``) to match ``references`` with the engine
    ``options.engine``. The result's ``engine`` and ``checkpoint_sha256`` name what made it; ``options``
    (strength, aspect switches) apply to every engine."""
    engine = options.engine
    if engine == "search":
        return match_reference(stems, sample_rate, references, options, progress=progress, pan_laws=pan_laws)
    loaded = checkpoint or controller()
    if engine == "hybrid":
        prediction = predict_settings(stems, sample_rate, references, checkpoint=loaded)
        result = match_reference(stems, sample_rate, references, options,
                                 start=for_pan_laws(prediction.settings, pan_laws), progress=progress,
                                 pan_laws=pan_laws)
        return replace(result, engine=engine, checkpoint_sha256=prediction.checkpoint_sha256)
    audio = [load_reference(p, sample_rate) for p in references]
    # The whole-song features of the references, of the stage-1 sum and then of the matched mix (single-threaded
    # numpy FFTs) are computed on one thread beside the engine's own work, one after the other (never two
    # features' buffers at once).
    with ThreadPoolExecutor(1) as beside:
        target = beside.submit(_average_song_features, audio, sample_rate)
        measures, before_mix = stem_measures_and_sum(stems, sample_rate)  # one read: the limits' measures, the sum
        before = beside.submit(song_features, before_mix, sample_rate)
        learned = learned_settings(stems, sample_rate, options=options, reference_audio=audio, checkpoint=loaded,
                                   pan_laws=pan_laws, measures=measures)
        target = target.result()
        del audio  # measured: the references are not held through the full-length render
        check_finite(learned.settings, engine)
        after_mix = render_console_mix(stems, learned.settings, sample_rate, pan_laws=pan_laws)
        # The matched mix's features (numpy FFTs, one thread) beside the report's gain reductions, whose numpy
        # arithmetic between the compiled compressor's runs leaves the other core idle.
        after = beside.submit(song_features, after_mix, sample_rate)
        reductions = [gr if gr is not None else gain_reduction(stem, s.eq, s.compressor, sample_rate)  # the report's
                      for gr, stem, s in zip(learned.gain_reduction, stems, learned.settings)]
        before, rendered = before.result(), (after_mix, after.result())
    b = learned.bounds
    return whole_song_result(
        stems, learned.settings, sample_rate,
        target=target, before_mix=before_mix,
        before=before, pan_laws=pan_laws, rendered=rendered, excerpts_s=[],
        levels_db=list(b.levels_db), gain_reduction=reductions, pan_max=b.pan_max, pan_reason=b.pan_reason,
        gain_reduction_max_db=b.gain_reduction_max_db, gain_reduction_reason=b.gain_reduction_reason,
        engine=engine, checkpoint_sha256=learned.checkpoint_sha256,
    )


def _average_song_features(signals: Sequence[np.ndarray], sample_rate: int):
    """The target: the whole-song features of the reference signals, averaged."""
    return average_features([song_features(a, sample_rate) for a in signals])


def hybrid_engine(stems: Sequence[np.ndarray], sample_rate: int, reference_paths: Sequence[os.PathLike],
                  options: MatchOptions = MatchOptions()) -> list:
    """The hybrid engine's settings (evaluation harness signature)."""
    return match_with_engine(stems, sample_rate, reference_paths, replace(options, engine="hybrid")).stems
