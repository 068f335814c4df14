"""Stage 1 decisions: gains from loudness measurements, and the fader values that realise them.

The seed paper's rule inside a group: each track gets a fixed gain ``b - l_i`` (``l_i`` its loudness in its
Characteristic Frequency Band), so all members reach the same band loudness ``b``; ``b`` is then chosen so the
summed group stem peaks at -0.1 dBFS. Between groups, with no reference mix, the same rule is applied to the
stems (our reading of the paper's "Rules 1-3": 1. equal band loudness inside groups, 2. each stem offset to peak
at -0.1 dBFS, 3. equal band loudness between stems), and the whole mix is finally offset so it peaks at a
ceiling (default -1 dBFS).

Everything here is arithmetic in dB on measurements; the audio work (rendering stems to find their peaks) is in
:mod:`reaper_automix.stage1`. Gains are *effective* gains relative to the pre-fader track; :func:`plan_faders`
turns them into fader values along REAPER's folder hierarchy (a folder fader scales everything inside it), caps
faders at REAPER's +12 dB and moves any excess into the items' take volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import BalanceConfig
from .grouping import Group
from .session import Session
from .units import gain_to_db

FADER_MAX_DB = 12.0  # REAPER's fader range tops out at +12 dB
# Changes smaller than this are not made: measurement noise (loudness gating decisions, float32 rendering) moves
# results by a few thousandths of a dB, and a re-run on our own output must leave the project as it is.
NEGLIGIBLE_DB = 0.01


@dataclass(frozen=True)
class GroupGains:
    """Inside one group: each member's gain relative to the group's common target (before the stem offset)."""

    group: Group
    relative_db: dict[int, float]  # track -> gain so that band loudness is equal (plus per-track offsets)
    locked: frozenset[int] = frozenset()
    # How far the free members' gains moved from the fixed target to the locked members' level (0 dB without
    # locked members): a stem summed at the fixed-target gains reaches these gains by this one scale.
    anchor_shift_db: float = 0.0


TRACK_TARGET_LUFS = -25.0  # band loudness a free track's fader aims at; the group gain carries the rest


def rule1_gain_db(band_loudness_lufs: float, offset_db: float = 0.0, target_lufs: float = TRACK_TARGET_LUFS) -> float:
    """Rule 1 for one free track: the gain (dB) that brings its band loudness to ``target_lufs``, plus its
    settings offset: ``target_lufs - l_i + offset_i``.

    Any common target gives the same balance, since Rule 2 re-levels the whole stem; a fixed one keeps each
    track's fader a function of that track alone (scaling one track moves only its fader) and, at a level
    typical of recorded tracks, keeps faders near unity with the group's level on the group gain. It is known
    as soon as the track is measured, so stage 1 sums each track into its group stem at this gain right away.
    """
    return target_lufs - band_loudness_lufs + offset_db


def equal_loudness_gains(
    group: Group,
    free_gain_db: dict[int, float],
    band_loudness: dict[int, float],
    session: Session,
    config: BalanceConfig,
    target_lufs: float = TRACK_TARGET_LUFS,
) -> GroupGains:
    """The group's Rule 1 gains from its free members' :func:`rule1_gain_db` (``free_gain_db``, aimed at
    ``target_lufs``) and every present member's band loudness (``band_loudness``; silent members are absent).

    Locked members keep their fader (their gain is their current fader); when there are any, the free members
    are aimed at the locked members' mean band loudness at their faders instead of ``target_lufs``: every free
    gain moves by the same :attr:`GroupGains.anchor_shift_db`.
    """
    locked = frozenset(t for t in group.members if config.is_locked(session.tracks[t].name))
    present = [t for t in group.members if t in band_loudness]
    anchors = [band_loudness[t] + gain_to_db(session.tracks[t].volume) for t in present if t in locked]
    shift = sum(anchors) / len(anchors) - target_lufs if anchors else 0.0
    gains = {
        t: gain_to_db(session.tracks[t].volume) if t in locked else free_gain_db[t] + shift for t in present
    }
    return GroupGains(group=group, relative_db=gains, locked=locked, anchor_shift_db=shift)


def stem_offset_db(stem_peak_dbfs: float, target_peak_dbfs: float = -0.1) -> float:
    """Rule 2: the offset that makes a stem (rendered at the relative gains) peak at ``target_peak_dbfs``."""
    if stem_peak_dbfs == -math.inf:
        return 0.0
    return target_peak_dbfs - stem_peak_dbfs


def between_group_gains(stem_band_loudness: dict[str, float], offsets_db: dict[str, float]) -> dict[str, float]:
    """Rule 3: gains that bring every stem to the same band loudness (the mean), plus per-group offsets."""
    finite = [v for v in stem_band_loudness.values() if v != -math.inf]
    if not finite:
        return {g: 0.0 for g in stem_band_loudness}
    target = sum(finite) / len(finite)
    return {
        g: (target - v if v != -math.inf else 0.0) + offsets_db.get(g, 0.0) for g, v in stem_band_loudness.items()
    }


@dataclass(frozen=True)
class TrackChange:
    """What a track's fader (and take volumes) become."""

    track: int
    fader_before_db: float
    fader_after_db: float
    take_gain_db: float = 0.0  # added to every audio item's take volume (the part of the gain beyond +12 dB)
    note: str = ""


@dataclass(frozen=True)
class FaderPlan:
    changes: dict[int, TrackChange] = field(default_factory=dict)

    def fader_db(self, track: int, session: Session) -> float:
        change = self.changes.get(track)
        return change.fader_after_db if change else gain_to_db(session.tracks[track].volume)


def plan_faders(
    session: Session,
    track_gain_db: dict[int, float],
    group_gain_db: dict[Group, float],
    locked: frozenset[int] = frozenset(),
    *,
    strength: float = 1.0,
    fader_max_db: float = FADER_MAX_DB,
) -> FaderPlan:
    """Fader values that give each track its effective gain ``track_gain_db[t] + group_gain_db[g]``.

    ``track_gain_db`` holds the within-group gain of every balanced track; ``group_gain_db`` the gain of each
    group (stem offset, between-group gain, final ceiling offset). A group with a folder track gets its gain on
    that folder's fader; a group without one has it folded into the member faders. The *effective* gain of a
    track is the sum of the faders on its path from the top (its own and its folders'), so faders are solved
    top-down: a track's fader is its effective target minus its ancestors' new faders. A folder fader that hits
    the +12 dB cap is thereby compensated by the tracks inside; a track fader beyond the cap puts the excess into
    its take volumes. Faders of folders that carry no group, and of locked tracks, stay as they are.

    ``strength`` (0..1) moves each effective gain from its current value toward the computed one, in dB, so
    0 changes nothing and 1 applies the full balance.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be within 0..1, got {strength}")
    current = {t.index: gain_to_db(t.volume) for t in session.tracks}

    def path_db(t: int, faders: dict[int, float]) -> float:
        """Sum of the faders above ``t`` (its folders), from ``faders`` where given, else current."""
        return sum(faders.get(p, current[p]) for p in session.ancestors(t))

    targets: dict[int, float] = {}  # effective gain (own fader + folders above) we want, per changed track
    own_take_db: dict[int, float] = {}  # gain a folder-with-audio member needs on its items
    for group, group_db in group_gain_db.items():
        if group.folder is not None:
            targets[group.folder] = group_db
        for t in group.members:
            if t in locked or t not in track_gain_db:
                continue
            if t == group.folder:  # a folder track with its own audio: its fader carries the group gain
                own_take_db[t] = track_gain_db[t]
            else:
                targets[t] = group_db + track_gain_db[t]

    new: dict[int, float] = {}
    changes: dict[int, TrackChange] = {}
    for track in session.tracks:  # project order: folders before what they contain
        t = track.index
        if t not in targets:
            continue
        before = current[t]
        effective_before = before + path_db(t, {})
        goal = targets[t]
        if effective_before != -math.inf:
            goal = effective_before + strength * (goal - effective_before)
        wanted = goal - path_db(t, new)
        fader = min(wanted, fader_max_db)
        if abs(fader - before) < NEGLIGIBLE_DB:
            fader = before
        new[t] = fader
        excess = wanted - fader if wanted - fader >= NEGLIGIBLE_DB else 0.0
        take_db = strength * own_take_db.get(t, 0.0)
        note = ""
        if excess > 0 and not track.has_audio:
            note = f"folder fader capped at +{fader_max_db:g} dB; the {excess:.1f} dB beyond went to the tracks inside (not to locked ones)"
        elif excess > 0:
            take_db += excess
            note = f"fader capped at +{fader_max_db:g} dB; {excess:.1f} dB put into take volume"
        changes[t] = TrackChange(t, before, fader, take_gain_db=take_db, note=note)
    return FaderPlan(changes=changes)
