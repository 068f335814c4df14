"""What a run does to a project, independent of how it gets there (``.rpp`` file or live REAPER).

The pipeline's decisions end as a :class:`ChangeSet`; :mod:`reaper_automix.rpp.apply` writes it into a project
file, :mod:`reaper_automix.live` applies it through REAPER's API. Values are physical units; tracks are named by
GUID (stable across both front ends) with the name kept for messages.

Everything the tool creates is tagged in the track's extension data (REAPER's ``P_EXT``) under the keys below,
so a second run finds and replaces it instead of stacking a second bus or effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .strip import Compressor, EqBand

EXT_BUS = "reaper_automix_bus"  # on a bus track: the group name it carries
EXT_CREATED = "reaper_automix_created"  # "1" on a bus track this tool inserted (not a user's folder)
EXT_FX = "reaper_automix_fx"  # on any track: space-separated FXIDs of the effects this tool added


@dataclass(frozen=True)
class FaderChange:
    track_guid: str
    track_name: str
    volume_before: float  # linear, REAPER's D_VOL
    volume_after: float


@dataclass(frozen=True)
class TakeGainChange:
    """Multiply the take volume of every audio item on a track (the part of a gain beyond the fader's range)."""

    track_guid: str
    track_name: str
    gain_db: float


@dataclass(frozen=True)
class BusChange:
    """A group's bus: an existing folder track (``folder_guid``) or a new folder track inserted directly above
    ``member_guids`` (which are then moved under it, keeping their order). ``None`` fields are left alone."""

    group: str
    member_guids: tuple[str, ...]
    folder_guid: str | None = None
    volume: float | None = None  # linear
    pan: float | None = None  # -1..1
    eq: tuple[EqBand, ...] | None = None
    compressor: Compressor | None = None


@dataclass(frozen=True)
class ChangeSet:
    description: str  # the undo point's name, e.g. "Automix: balanced 112 tracks in 9 groups"
    faders: tuple[FaderChange, ...] = ()
    take_gains: tuple[TakeGainChange, ...] = ()
    buses: tuple[BusChange, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return not (self.faders or self.take_gains or self.buses)
