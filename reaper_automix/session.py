"""The DAW-independent session model: what the mixing pipeline knows about a project.

Both front ends produce it: the ``.rpp`` reader (offline) and the live bridge (reapy). Nothing here knows about
REAPER's file format or API; values are in plain units (seconds, linear gain, pan -1..1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
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


class FxFormat(enum.Enum):
    """A plug-in's format, as REAPER names it in the FX browser."""

    VST = "VST"
    VST3 = "VST3"
    JS = "JS"
    AU = "AU"
    CLAP = "CLAP"
    DX = "DX"
    LV2 = "LV2"
    OTHER = "other"  # a plug-in chunk of a kind not in the data table (e.g. a video processor)


@dataclass(frozen=True)
class FxInfo:
    """One plug-in in a track's FX chain, in chain order.

    ``plugin`` is the plug-in's own name without the format prefix ("ReaComp (Cockos)", "loser/3BandEQ");
    ``name`` is what the user sees: the custom name when the user renamed it ("Kick Duck"), else ``plugin``.
    """

    name: str
    plugin: str
    format: FxFormat
    instrument: bool = False  # a VSTi/VST3i/AUi/CLAPi/DXi/LV2i: it makes sound from MIDI
    bypassed: bool = False
    offline: bool = False
    fxid: str = ""  # REAPER's FX GUID ({...}); empty when unknown
    ours: bool = False  # added by this tool (its FXID is in the track's EXT_FX tag)

    @property
    def active(self) -> bool:
        """Processes audio: neither bypassed nor offline."""
        return not self.bypassed and not self.offline

    @property
    def label(self) -> str:
        """``"Amp (VST3)"``: the name (a plug-in's own name without its trailing vendor) and the format."""
        name = self.name
        if name == self.plugin and name.endswith(")") and " (" in name:
            name = name[: name.rindex(" (")]
        return f"{name} ({self.format.value})"


class SendMode(enum.Enum):
    """Where a send taps its source track (REAPER's ``I_SENDMODE``)."""

    POST_FADER = "post-fader"  # after the source's FX, fader and pan
    PRE_FX = "pre-FX"  # before the source's FX and fader
    POST_FX = "post-FX"  # after the source's FX, before its fader ("pre-fader" in REAPER's menu)

    @property
    def pre_fader(self) -> bool:
        """True when moving the source's fader does not change what the send carries."""
        return self is not SendMode.POST_FADER


@dataclass(frozen=True)
class Receive:
    """A send from track ``source`` (an index into ``Session.tracks``) into the track that holds it."""

    source: int
    mode: SendMode = SendMode.POST_FADER
    volume: float = 1.0  # linear
    mute: bool = False
    dest_channel: int = 0  # first destination channel, 0-based (0 = channels 1/2)
    audio: bool = True  # False for a MIDI-only send (no source channels)

    @property
    def feeds_main_pair(self) -> bool:
        """Carries audio onto channels 1/2 (what the track plays); a receive into higher channels feeds a
        plug-in's side input (a compressor's key), which is not heard as such."""
        return self.audio and self.dest_channel < 2


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
    fx: tuple[FxInfo, ...] = ()  # the track's FX chain, in order (input/record FX not included)
    fx_enabled: bool = True  # False when the whole chain is bypassed (the track's FX button)
    receives: tuple[Receive, ...] = ()
    pan_law_gain: float = -1.0  # REAPER's D_PANLAW (VOLPAN field 3): linear centre gain; < 0 = the project's law
    pan_law_flags: int = 0  # REAPER's I_PANLAW_FLAGS (PANLAWFLAGS): the taper, 0 sine, 2 linear, 3 hybrid

    @property
    def active_fx(self) -> tuple[FxInfo, ...]:
        """The user's plug-ins that process this track's sound (active, chain enabled, not added by us)."""
        if not self.fx_enabled:
            return ()
        return tuple(f for f in self.fx if f.active and not f.ours)

    @property
    def instrument(self) -> FxInfo | None:
        """The first active instrument plug-in, if any."""
        return next((f for f in self.active_fx if f.instrument), None)

    @property
    def is_instrument_track(self) -> bool:
        """MIDI items played by an instrument plug-in: it sounds, but only REAPER can render it."""
        return self.instrument is not None and any(
            i.take is not None and i.take.source.kind is SourceKind.MIDI and not i.mute for i in self.items
        )

    @property
    def audible_receives(self) -> tuple[Receive, ...]:
        """Receives that reach what the track plays (unmuted, into channels 1/2)."""
        return tuple(r for r in self.receives if not r.mute and r.feeds_main_pair)

    @property
    def is_return(self) -> bool:
        """A track whose sound comes from sends only (a reverb or effects return): receives, no audio items."""
        return (
            bool(self.audible_receives) and not self.has_audio and not self.is_folder and not self.is_instrument_track
        )

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
    pan_law_gain: float = 1.0  # the project's pan law (PANLAW), linear centre gain: 1 = 0 dB (REAPER's default)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def length_s(self) -> float:
        """End of the last item on any track (0 for an empty project)."""
        return max((i.end_s for t in self.tracks for i in t.items), default=0.0)

    # --- topology: the folder hierarchy, answered here once for every module ------------------------------------

    @cached_property
    def _parents(self) -> tuple[int | None, ...]:
        stack: list[int] = []
        result: list[int | None] = []
        for track in self.tracks:
            result.append(stack[-1] if stack else None)
            if track.folder_depth > 0:
                stack.append(track.index)
            elif track.folder_depth < 0:
                del stack[max(0, len(stack) + track.folder_depth) :]
        return tuple(result)

    def parents(self) -> list[int | None]:
        """For each track, the index of its folder parent (None at the top level).

        Follows REAPER's rule: a track with depth 1 opens a folder for the tracks after it; a track with depth
        -n closes n levels after itself. Closing more levels than are open is clamped at the top level, as
        REAPER does.
        """
        return list(self._parents)

    def parent(self, track: int) -> int | None:
        """The folder track directly above ``track`` (None at the top level)."""
        return self._parents[track]

    def ancestors(self, track: int) -> list[int]:
        """The folder tracks above ``track``, nearest first (empty at the top level)."""
        out: list[int] = []
        p = self._parents[track]
        while p is not None:
            out.append(p)
            p = self._parents[p]
        return out

    def fader_path(self, track: int) -> list[int]:
        """``track`` and every folder above it: the faders (and mutes) its signal passes on its way to the master,
        nearest first. A track's effective gain is the sum of these faders in dB."""
        return [track, *self.ancestors(track)]

    def folder_level(self, track: int) -> int:
        """How many folders ``track`` is inside (0 at the top level)."""
        return len(self.ancestors(track))

    def subtree(self, track: int) -> list[int]:
        """``track`` and every track inside it (a folder's whole contents; just ``track`` otherwise), in project
        order. In REAPER a folder's contents are the tracks right after it, so this is a contiguous range."""
        end = track + 1
        while end < len(self.tracks) and track in self.fader_path(end):
            end += 1
        return list(range(track, end))

    def children(self, parent: int | None) -> list[Track]:
        """The tracks directly inside folder ``parent`` (None: the top level)."""
        return [t for t, p in zip(self.tracks, self._parents) if p == parent]

    def track_by_guid(self, guid: str) -> Track:
        for t in self.tracks:
            if t.guid == guid:
                return t
        raise KeyError(guid)


def folder_depths(levels: list[int]) -> list[int]:
    """REAPER's ``I_FOLDERDEPTH`` for tracks in project order whose folder levels (how many folders each is
    inside, as :meth:`Session.folder_level`) are ``levels``: each track opens or closes what the next one needs,
    and the last closes every folder. The inverse of the topology above."""
    return [(levels[i + 1] if i + 1 < len(levels) else 0) - level for i, level in enumerate(levels)]
