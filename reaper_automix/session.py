"""The DAW-independent session model: what the mixing pipeline knows about a project.

Both front ends produce it: the ``.rpp`` reader (offline) and the live bridge (reapy). Nothing here knows about
REAPER's file format or API; values are in plain units (seconds, linear gain, pan -1..1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class SourceKind(enum.Enum):
    """What an item's take plays."""

    AUDIO = "audio"  # a media file soundfile can read (WAV, FLAC, AIFF, OGG, MP3)
    MIDI = "midi"
    EMPTY = "empty"
    CLICK = "click"
    VIDEO = "video"
    OTHER = "other"  # any other REAPER source type (e.g. RPP sub-project, tone generator)


class FadeShape(enum.IntEnum):
    """REAPER's fade shapes (the first field of ``FADEIN``/``FADEOUT``, ``C_FADEINSHAPE``)."""

    LINEAR = 0
    FAST_START = 1  # "fast start" in REAPER's menu; log-like rise
    FAST_END = 2  # "fast end"; exp-like rise
    FAST_START_STEEP = 3
    FAST_END_STEEP = 4
    SLOW_START_END = 5  # S-curve
    SLOW_START_END_STEEP = 6


@dataclass(frozen=True)
class Source:
    """A take's source. ``file`` is absolute (resolved against the project folder) for file sources.

    A REAPER ``SECTION`` source (a sub-range of another source) is flattened into ``section_start_s`` and
    ``section_length_s`` of the inner file source.
    """

    kind: SourceKind
    file: Path | None = None
    source_type: str = ""  # REAPER's source type word, e.g. "WAVE", "FLAC", "MIDI", "SECTION"
    section_start_s: float = 0.0
    section_length_s: float | None = None
    reversed: bool = False

    @property
    def is_audio(self) -> bool:
        return self.kind is SourceKind.AUDIO


@dataclass(frozen=True)
class Fade:
    length_s: float = 0.0
    shape: FadeShape = FadeShape.LINEAR
    curve: float = 0.0  # REAPER's fade curvature, -1..1 (0 = the shape's default)


@dataclass(frozen=True)
class Take:
    """The active take of an item."""

    name: str = ""
    volume: float = 1.0  # linear; negative means polarity flipped
    pan: float = 0.0
    start_offset_s: float = 0.0  # SOFFS: where in the source the item starts, in source seconds
    playrate: float = 1.0
    preserve_pitch: bool = True
    source: Source = field(default_factory=lambda: Source(SourceKind.EMPTY))


@dataclass(frozen=True)
class Item:
    position_s: float
    length_s: float
    take: Take | None  # None: an item with no takes (an empty item)
    volume: float = 1.0  # item volume, linear
    mute: bool = False
    loop: bool = False
    fade_in: Fade = field(default_factory=Fade)
    fade_out: Fade = field(default_factory=Fade)

    @property
    def end_s(self) -> float:
        return self.position_s + self.length_s

    @property
    def is_audio(self) -> bool:
        return self.take is not None and self.take.source.is_audio


@dataclass(frozen=True)
class Track:
    """One track, in project order. ``folder_depth`` is REAPER's I_FOLDERDEPTH: 1 opens a folder (this track is
    its parent), 0 is a normal track, -n closes n folder levels after this track."""

    index: int
    name: str
    guid: str
    volume: float = 1.0  # fader, linear (REAPER's D_VOL)
    pan: float = 0.0  # -1 (left) .. 1 (right)
    mute: bool = False
    solo: bool = False
    folder_depth: int = 0
    n_channels: int = 2
    items: tuple[Item, ...] = ()
    ext: dict[str, str] = field(default_factory=dict)  # per-track extension data (P_EXT), e.g. our tags

    @property
    def is_folder(self) -> bool:
        return self.folder_depth == 1

    @property
    def audio_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.is_audio and not i.mute)

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_items)

    @property
    def is_midi_only(self) -> bool:
        """True when the track has items but none plays audio (MIDI, click, empty sources)."""
        return bool(self.items) and not any(i.is_audio for i in self.items)


@dataclass(frozen=True)
class Session:
    """A project: sample rate and tracks in order. ``path`` is the project file (or a name for live projects)."""

    path: Path
    sample_rate: int
    tracks: tuple[Track, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def length_s(self) -> float:
        """End of the last item on any track (0 for an empty project)."""
        return max((i.end_s for t in self.tracks for i in t.items), default=0.0)

    def parents(self) -> list[int | None]:
        """For each track, the index of its folder parent (None at the top level).

        Follows REAPER's rule: a track with depth 1 opens a folder for the tracks after it; a track with depth
        -n closes n levels after itself. Closing more levels than are open is clamped at the top level, as
        REAPER does.
        """
        stack: list[int] = []
        result: list[int | None] = []
        for track in self.tracks:
            result.append(stack[-1] if stack else None)
            if track.folder_depth > 0:
                stack.append(track.index)
            elif track.folder_depth < 0:
                del stack[max(0, len(stack) + track.folder_depth) :]
        return result

    def children(self, parent: int | None) -> list[Track]:
        """The tracks directly inside folder ``parent`` (None: the top level)."""
        parents = self.parents()
        return [t for t, p in zip(self.tracks, parents) if p == parent]

    def track_by_guid(self, guid: str) -> Track:
        for t in self.tracks:
            if t.guid == guid:
                return t
        raise KeyError(guid)
