"""PESTO itself (the installed ``pesto-pitch`` package), the second implementation the project's reimplementation
of its network (``reaper_automix.analysis.pesto_net``) is tested against.

pesto-pitch 2.0.1 imports ``torchaudio`` at module level (``pesto/core.py``) and uses it only in
``predict_from_files``, its file-reading CLI path. The registry's torchaudio build does not load beside CPU torch,
so it is installed without; when no ``torchaudio`` can be found, :func:`import_pesto` puts an empty stand-in
module in ``sys.modules`` for the duration of ``import pesto`` and removes it afterwards; the stand-in's ``load``
raises if anything calls it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def import_pesto() -> types.ModuleType:
    """The ``pesto`` package, imported once (with the torchaudio stand-in where needed)."""
    if "pesto" in sys.modules:
        return sys.modules["pesto"]
    stand_in = None
    if importlib.util.find_spec("torchaudio") is None:
        stand_in = types.ModuleType("torchaudio")
        stand_in.__doc__ = "Stand-in for pesto's import only (see tests/pesto_reference.py)."

        def load(*_args, **_kwargs):
            raise RuntimeError("torchaudio is not installed; the tests pass audio to PESTO as arrays")

        stand_in.load = load
        sys.modules["torchaudio"] = stand_in
    try:
        return importlib.import_module("pesto")
    finally:
        if stand_in is not None and sys.modules.get("torchaudio") is stand_in:
            del sys.modules["torchaudio"]


def load_pesto(step_ms: float = 40.0, sample_rate: int = 16000):
    """PESTO's own model (``pesto.load_model``) for the bundled ``mir-1k_g7`` checkpoint."""
    return import_pesto().load_model("mir-1k_g7", step_size=step_ms, sampling_rate=sample_rate)
