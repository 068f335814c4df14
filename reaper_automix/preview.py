"""What a balanced project would sound like: every audible track at its new faders, panned, summed to stereo.

A track is audible when neither it nor a folder above it is muted (solo is ignored). Its gain is the sum of the
new faders on its path plus any take gain; its pan is its own track pan, with that track's pan law
(:class:`~reaper_automix.console.pan.PanLaw`). Folder pans and track FX are not rendered.

Stage 1 renders every track once and, while it has the track, adds it to a few partial sums
(:class:`PreviewPart`) at gains it knows then; once the faders are planned each part sounds at one common scale,
so the preview is a sum of scaled parts (:func:`mix_from_parts`) and the media is not read again. A track the
plan gives some other gain (a fader change too small to make, a fader that was at -inf) is added from its media,
as :func:`render_mix` does for a whole project.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio.io import StemFile
from .audio.render import render_tracks
from .balance import FaderPlan
from .session import Session, Track
from .units import db_to_gain, gain_to_db

Progress = Callable[[str, int, int], None]  # (stage description, done, total)
# A part's track counts as sounding at its weight plus the part's scale when the two agree to this (dB): far
# below float32 resolution (1e-9 dB is a relative gain error of 1.2e-10), far above the rounding of a few dB sums.
GAIN_TOLERANCE_DB = 1e-9
_BLOCK = 1 << 20  # samples of a part added at a time


def audible_tracks(session: Session) -> list[int]:
    return [t.index for t in session.tracks
            if t.has_audio and not any(session.tracks[p].mute for p in session.fader_path(t.index))]


def effective_gain_db(session: Session, plan: FaderPlan, track: int) -> float:
    """Own fader + every folder fader above + take gain, after ``plan``."""
    total = sum(plan.fader_db(p, session) for p in session.fader_path(track))
    change = plan.changes.get(track)
    return total + (change.take_gain_db if change else 0.0)


def current_gain_db(session: Session, track: int) -> float:
    """Own fader + every folder fader above, as the project stands (no plan)."""
    return sum(gain_to_db(session.tracks[p].volume) for p in session.fader_path(track))


def track_pan_gains(session: Session, track: Track) -> tuple[float, float]:
    """``(left, right)`` linear gains of ``track``'s pan under its pan law (:meth:`PanLaw.of_track`).

    A centred track under a balance law (centre gain 1, REAPER's default) plays at unity on both channels;
    that case, nearly every track, is answered without loading the console (torch: ~3 s to import)."""
    law_gain = track.pan_law_gain if track.pan_law_gain >= 0 else session.pan_law_gain
    if track.pan == 0.0 and law_gain == 1.0:
        return 1.0, 1.0
    import torch

    from .console.pan import PanLaw

    left, right = PanLaw.of_track(session, track).gains(torch.tensor([track.pan], dtype=torch.float64))
    return float(left[0]), float(right[0])


def add_from_media(
    mix: np.ndarray, session: Session, gains: dict[int, float], *, progress: Progress | None = None
) -> None:
    """Render the tracks of ``gains`` (track -> linear gain) from their media and add each to ``mix``
    (float32 ``(2, samples)``) at its gain and pan. Tracks whose media is missing or unreadable are left out
    (the balance run has already reported them)."""
    renders = render_tracks(session, gains, skip_missing=True)
    for done, (t, audio) in enumerate(renders, 1):
        left, right = track_pan_gains(session, session.tracks[t])
        mix[0, : audio.shape[1]] += np.float32(gains[t] * left) * audio[0]
        mix[1, : audio.shape[1]] += np.float32(gains[t] * right) * audio[1]
        if progress:
            progress("rendering preview", done, len(renders))


def render_mix(session: Session, plan: FaderPlan, *, progress: Progress | None = None) -> np.ndarray:
    """The stereo mix of ``session`` after ``plan``, float32 ``(2, samples)``, every audible track rendered from
    its media (for a run whose stage 1 measured audio from elsewhere, REAPER's stems)."""
    mix = np.zeros((2, max(1, round(session.length_s * session.sample_rate))), dtype=np.float32)
    gains = {t: db_to_gain(effective_gain_db(session, plan, t)) for t in audible_tracks(session)}
    add_from_media(mix, session, gains, progress=progress)
    return mix


@dataclass(frozen=True)
class PreviewPart:
    """Audible tracks summed in one file, float32 ``(2, samples)`` or one row for two equal channels: each track
    rendered, panned (:func:`track_pan_gains`) and scaled by ``weights_db[track]``. After the plan the part
    sounds at one scale (dB) for all its tracks: the scale of its ``key``, chosen by who made the part."""

    path: Path | None  # None: every track was summed at nothing (a gain of -inf dB)
    key: tuple[str, int | None]
    weights_db: dict[int, float]


def mix_from_parts(
    session: Session,
    plan: FaderPlan,
    parts: Sequence[tuple[PreviewPart, float]],
    *,
    progress: Progress | None = None,
) -> tuple[np.ndarray, list[int]]:
    """The preview (as :func:`render_mix`) from ``parts`` with their scales (dB), and the tracks that were
    added from their media because the plan gives them another gain than weight + scale.

    Each track's part contribution ``weight + scale`` is checked against :func:`effective_gain_db` of ``plan``;
    where they differ the difference is added from the media (so the preview is exact whatever the plan did)."""
    n = max(1, round(session.length_s * session.sample_rate))
    mix = np.zeros((2, n), dtype=np.float32)
    corrections: dict[int, float] = {}
    for done, (part, scale_db) in enumerate(parts, 1):
        for t, weight_db in part.weights_db.items():
            wanted_db = effective_gain_db(session, plan, t)
            summed_db = weight_db + scale_db
            if wanted_db == summed_db or abs(wanted_db - summed_db) <= GAIN_TOLERANCE_DB:
                continue
            corrections[t] = db_to_gain(wanted_db) - db_to_gain(summed_db)
        if part.path is not None:
            _add_scaled(mix, StemFile(part.path), np.float32(db_to_gain(scale_db)))
        if progress:
            progress("summing the preview", done, len(parts))
    if corrections:
        add_from_media(mix, session, corrections, progress=progress)
    return mix, sorted(corrections)


def _add_scaled(mix: np.ndarray, part: StemFile, scale: np.float32) -> None:
    """``mix += scale * part`` block by block (a one-row part adds to both channels)."""
    n = min(mix.shape[1], part.shape[1])
    for first in range(0, n, _BLOCK):
        block = part[:, first : min(n, first + _BLOCK)]
        block *= scale
        mix[:, first : first + block.shape[1]] += block

