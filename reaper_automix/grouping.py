"""Which tracks are balanced together.

Rules, in order of precedence:

1. A YAML ``groups:`` pattern (see :mod:`reaper_automix.config`) puts a track into that named group.
2. REAPER folders: a track belongs to the group of its *innermost* folder. A folder track that has audio items of
   its own counts as a member of the folder it opens.
3. Tracks outside every folder are grouped by name keywords (``data/group_keywords.yaml``) into drums, bass,
   vocals and other, the seed paper's source-separation scheme.

Return tracks (sound from sends only, e.g. a reverb) are each their own group, or left out with ``returns:
exclude`` in the settings file; instrument tracks (MIDI into an instrument plug-in) group like audio tracks.
Both are only measurable when the audio includes plug-ins (REAPER's render, ``--stems``): otherwise they are
left out with that reason.

Tracks that cannot be balanced are left untouched and reported with the reason: excluded by the settings file,
muted, without audio items (MIDI/click/empty only), or, after analysis, silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from .config import BalanceConfig
from .fx_notes import instrument_reason, return_reason
from .session import Session, Track

KEYWORD_GROUPS = ("drums", "bass", "vocals")
OTHER = "other"


@dataclass(frozen=True)
class Group:
    """Tracks balanced together. ``folder`` is the index of the folder track whose fader carries the group gain,
    or None when the group has no folder track (name keywords or settings file): its gain then goes onto the
    member faders."""

    name: str
    members: tuple[int, ...]  # track indices, project order
    folder: int | None
    source: str  # "folder", "name", "settings", or "return" (a return track on its own)


@dataclass(frozen=True)
class Exclusion:
    track: int
    reason: str


@dataclass(frozen=True)
class Grouping:
    groups: tuple[Group, ...]
    excluded: tuple[Exclusion, ...]

    def group_of(self, track: int) -> Group | None:
        for g in self.groups:
            if track in g.members:
                return g
        return None


def name_words(name: str) -> list[str]:
    """Lower-case words of a track name: split on non-letters, camelCase and letter/digit boundaries."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", name)
    return [w for w in re.split(r"[^\w]+|_", spaced.casefold()) if w]


@cache
def _keywords() -> dict[str, dict[str, tuple[str, ...]]]:
    text = resources.files("reaper_automix").joinpath("data/group_keywords.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {g: {k: tuple(v) for k, v in raw[g].items()} for g in KEYWORD_GROUPS}


def group_by_name(name: str) -> str:
    """drums, bass, vocals or other, from the words of a track name."""
    words = name_words(name)
    joined = " ".join(words)
    for group, table in _keywords().items():
        if any(p in joined for p in table.get("phrases", ())):
            return group
        if any(w in table.get("words", ()) for w in words):
            return group
        if any(w.startswith(p) for w in words for p in table.get("prefixes", ())):
            return group
    return OTHER


def exclusion_reason(track: Track, config: BalanceConfig, session: Session, *, renders_fx: bool = False) -> str | None:
    """Why a track is left out before any audio is read, or None.

    ``renders_fx``: the audio will include plug-ins (REAPER's render or stems), so return and instrument
    tracks can be measured. ``session`` (holding ``track``) names the tracks feeding a return track."""
    if config.is_excluded(track.name):
        return "excluded by settings file"
    if track.mute:
        return "muted"
    if track.is_return:
        if config.returns == "exclude":
            return "return track (settings file: returns: exclude)"
        return None if renders_fx else return_reason(session, track)
    if track.is_instrument_track:
        return None if renders_fx else instrument_reason(track)
    if not track.items:
        return None if track.is_folder else "no items"
    if track.is_midi_only:
        return "MIDI/click/empty items only (no audio)"
    if not track.has_audio:
        return "all audio items muted"
    return None


def group_tracks(session: Session, config: BalanceConfig | None = None, *, renders_fx: bool = False) -> Grouping:
    """Group the session's audio tracks by settings, folders, then names; return tracks on their own.

    ``renders_fx``: the audio will include plug-ins, so return and instrument tracks are measured."""
    config = config or BalanceConfig()
    members: dict[tuple[str, int | None, str], list[int]] = {}
    excluded: list[Exclusion] = []
    for track in session.tracks:
        reason = exclusion_reason(track, config, session, renders_fx=renders_fx)
        if reason is not None:
            excluded.append(Exclusion(track.index, reason))
            continue
        sounding = track.has_audio or track.is_return or track.is_instrument_track
        if not sounding:  # a folder track without items: it carries a group gain, it is not a member
            continue
        override = config.group_override(track.name)
        if track.is_return and override is None:
            key = (track.name, None, "return")
        elif override is not None:
            key = (override, None, "settings")
        else:
            folder = track.index if track.is_folder else session.parent(track.index)
            if folder is not None:
                key = (session.tracks[folder].name, folder, "folder")
            else:
                key = (group_by_name(track.name), None, "name")
        members.setdefault(key, []).append(track.index)
    groups = tuple(
        Group(name=name, members=tuple(idx), folder=folder, source=source)
        for (name, folder, source), idx in sorted(members.items(), key=lambda kv: kv[1][0])
    )
    return Grouping(groups=groups, excluded=tuple(excluded))
