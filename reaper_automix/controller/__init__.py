"""The learned stage-2 controller: a Diff-MST-style model that predicts each stem's console strip from a
reference mix. Modules: ``features`` (window statistics), ``model`` (the network), ``losses`` (batches, the
band-energy console, losses), ``train``, ``checkpoint`` (safetensors with a contract hash), ``predict``
(inference inside the plausibility limits) and ``engines`` (learned / search / hybrid behind one call).

``learned_engine``, ``network_engine`` (the prediction without the refinement) and ``hybrid_engine`` (the
evaluation harness's engine signature) are importable from here;
they load lazily, so importing a submodule does not pull in the rest.
"""

from __future__ import annotations

__all__ = ["hybrid_engine", "learned_engine", "network_engine"]


def __getattr__(name: str):
    if name == "learned_engine":
        from .predict import learned_engine

        return learned_engine
    if name == "network_engine":
        from .predict import network_engine

        return network_engine
    if name == "hybrid_engine":
        from .engines import hybrid_engine

        return hybrid_engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
