"""Render what a balanced project would sound like: every audible track at its new faders, summed to stereo.

A track is audible when neither it nor a folder above it is muted (solo is ignored). Its gain is the sum of the
new faders on its path plus any take gain; its pan is its own track pan, with that track's pan law
(:class:`~reaper_automix.console.pan.PanLaw`). Folder pans and track FX are not rendered. Tracks are rendered
and added one at a time, so memory holds one track and the mix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .audio.io import write_audio
from .audio.render import render_tracks
from .balance import FaderPlan
from .console.pan import PanLaw
from .session import Session
from .units import db_to_gain


def audible_tracks(session: Session) -> list[int]:
    return [t.index for t in session.tracks
            if t.has_audio and not any(session.tracks[p].mute for p in session.fader_path(t.index))]


def effective_gain_db(session: Session, plan: FaderPlan, track: int) -> float:
    """Own fader + every folder fader above + take gain, after ``plan``."""
    total = sum(plan.fader_db(p, session) for p in session.fader_path(track))
    change = plan.changes.get(track)
    return total + (change.take_gain_db if change else 0.0)


def render_mix(
    session: Session,
    plan: FaderPlan,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> np.ndarray:
    """The stereo mix of ``session`` after ``plan``, float32 ``(2, samples)``. Tracks whose media is missing or
    unreadable are left out (the balance run has already reported them)."""
    n = max(1, round(session.length_s * session.sample_rate))
    mix = np.zeros((2, n), dtype=np.float32)
    renders = render_tracks(session, audible_tracks(session), skip_missing=True)
    for done, (t, audio) in enumerate(renders, 1):
        law = PanLaw.of_track(session, session.tracks[t])
        left, right = law.gains(torch.tensor([session.tracks[t].pan], dtype=torch.float64))
        gain = db_to_gain(effective_gain_db(session, plan, t))
        mix[0, : audio.shape[1]] += np.float32(gain * float(left[0])) * audio[0]
        mix[1, : audio.shape[1]] += np.float32(gain * float(right[0])) * audio[1]
        if progress:
            progress("rendering preview", done, len(renders))
    return mix


def render_preview(
    session: Session,
    plan: FaderPlan,
    path: Path,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> np.ndarray:
    """Render the mix (see :func:`render_mix`) and write it as a 32-bit float WAV (no clipping, no dither)."""
    mix = render_mix(session, plan, progress=progress)
    write_audio(path, mix, session.sample_rate, subtype="FLOAT")
    return mix
