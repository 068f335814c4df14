"""Demo session generator: a synthesised multitrack band recording as a REAPER project, with a reference mix.

``generate_demo(out_dir)`` writes ``demo.rpp``, its media, ``reference.wav`` and ``demo-manifest.json``.
"""

from .generate import generate_demo
from .manifest import DemoManifest, ItemManifest, ReferenceManifest, TrackManifest
from .tracks import MAX_TRACKS, MIN_TRACKS

__all__ = ["generate_demo", "DemoManifest", "ItemManifest", "ReferenceManifest", "TrackManifest",
           "MIN_TRACKS", "MAX_TRACKS"]
