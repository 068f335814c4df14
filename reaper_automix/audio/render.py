"""Offline renderer: a track's audio items mixed to one pre-fader signal at the project rate.

What REAPER would play on a track before its fader, FX and pan, from the session model alone: each unmuted
audio item's active take, placed at the item position, with its start offset, section, loop, playrate,
item x take volume, take pan and fades, all items summed. Tracks are rendered one at a time and each item
reads only the frames it plays, so memory stays at about one track's length.

Where REAPER's behaviour is not public the choices are documented here and kept as data:

* **Fade shapes** (:data:`FADE_CURVES`): REAPER does not publish its fade formulas. The curves below follow
  the shape names (fast start = quick rise, fast end = slow rise, steep = stronger, slow start/end = S-curve);
  only LINEAR is known exactly. A fade-out uses the same curve mirrored in time, so a fade-out and a
  fade-in of one shape over the same span are each other's time reverse. Fade curvature (REAPER's
  ``D_FADEINDIR``) other than 0 is not emulated and is reported with a :class:`RenderWarning`.
* **Take pan** is a balance law: ``left = min(1, 1 - pan)``, ``right = min(1, 1 + pan)`` (0 dB at centre,
  the far side attenuated linearly). A mono source feeds both channels at unity before the balance. REAPER
  applies its project pan-law setting here, which the session model does not carry.
* **Playrate** changes speed and pitch together (REAPER's mode without pitch preservation); items that ask
  for pitch preservation are rendered the same way, with a :class:`RenderWarning`.
* **Reversed sources**: the take's start offset is taken as measured in the reversed source.
* Positions are rounded to whole samples (item start at the project rate, start offset and section bounds at
  the rate the source is resampled to); sub-sample offsets are not interpolated.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from reaper_automix.audio.io import (
    AudioInfo,
    audio_info,
    read_audio,
    resample_by,
    resample_factors,
)
from reaper_automix.errors import AutomixError, MediaError
from reaper_automix.session import Fade, FadeShape, Item, Session, Track


class RenderWarning(UserWarning):
    """The render differs from what REAPER would play (a feature not emulated) or drops audio (channels)."""


FADE_CURVES: Mapping[FadeShape, Callable[[np.ndarray], np.ndarray]] = MappingProxyType(
    {
        # gain as a function of progress t in [0, 1] through a fade-in; approximations except LINEAR
        FadeShape.LINEAR: lambda t: t,
        FadeShape.FAST_START: lambda t: 1.0 - (1.0 - t) ** 2,
        FadeShape.FAST_END: lambda t: t**2,
        FadeShape.FAST_START_STEEP: lambda t: 1.0 - (1.0 - t) ** 4,
        FadeShape.FAST_END_STEEP: lambda t: t**4,
        FadeShape.SLOW_START_END: lambda t: 0.5 - 0.5 * np.cos(np.pi * t),
        FadeShape.SLOW_START_END_STEEP: lambda t: t**3 * (10.0 - 15.0 * t + 6.0 * t**2),
    }
)


def fade_in_gain(shape: FadeShape, t: np.ndarray) -> np.ndarray:
    """Fade-in gain at progress ``t`` (0 = fade start, 1 = fade end; clipped to [0, 1])."""
    return FADE_CURVES[FadeShape(shape)](np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0))


def fade_out_gain(shape: FadeShape, t: np.ndarray) -> np.ndarray:
    """Fade-out gain at progress ``t`` (0 = fade start, 1 = item end): the fade-in curve mirrored in time."""
    return fade_in_gain(shape, 1.0 - np.asarray(t, dtype=np.float64))


@dataclass(frozen=True)
class Exclusion:
    """A requested track that :func:`render_tracks` leaves out, and why."""

    index: int
    name: str
    reason: str


class TrackRenders:
    """The tracks :func:`render_tracks` will render, rendered lazily one at a time on iteration.

    Attributes:
        indices: the track indices that iteration yields, in order.
        excluded: requested tracks left out (MIDI only, or missing media with ``skip_missing``).
    """

    def __init__(
        self,
        session: Session,
        indices: tuple[int, ...],
        excluded: tuple[Exclusion, ...],
        channels: int,
        progress: Callable[[int, int], None] | None,
    ):
        self.session = session
        self.indices = indices
        self.excluded = excluded
        self._channels = channels
        self._progress = progress

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for done, index in enumerate(self.indices, start=1):
            audio = render_track(self.session, self.session.tracks[index], channels=self._channels)
            if self._progress is not None:
                self._progress(done, len(self.indices))
            yield index, audio


def check_media(session: Session) -> list[tuple[str, Path, str]]:
    """Every missing or unreadable media file of the unmuted audio items, as ``(track name, file, why)``.

    Reads headers only (see :func:`~reaper_automix.audio.io.audio_info`); each file is checked once.
    """
    checked: dict[Path, AudioInfo | str] = {}
    problems: list[tuple[str, Path, str]] = []
    for track in session.tracks:
        problems += _track_media_problems(track, checked)
    return problems


def render_tracks(
    session: Session,
    track_indices: Iterable[int],
    *,
    channels: int = 2,
    skip_missing: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TrackRenders:
    """Prepare to render the given tracks; iterate the result for ``(index, audio)`` one track at a time.

    The media of all requested tracks is checked here, before anything is rendered. MIDI-only tracks are
    excluded (reason ``"MIDI only"``). ``progress(done, total)`` is called after each rendered track.

    Raises:
        MediaError: some requested tracks have missing or unreadable media, listing every problem (unless
            ``skip_missing``, which excludes those tracks instead, with the problems as the reason).
        IndexError: an index is out of range.
    """
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2 (got {channels})")
    checked: dict[Path, AudioInfo | str] = {}
    keep: list[int] = []
    excluded: list[Exclusion] = []
    problems: list[tuple[str, Path, str]] = []
    for index in track_indices:
        if not 0 <= index < len(session.tracks):  # a negative index would silently pick from the end
            raise IndexError(f"track index {index} out of range (the session has {len(session.tracks)} tracks)")
        track = session.tracks[index]
        if track.is_midi_only:
            excluded.append(Exclusion(index, track.name, "MIDI only"))
            continue
        track_problems = _track_media_problems(track, checked)
        if not track_problems:
            keep.append(index)
        elif skip_missing:
            reason = "; ".join(f"{path} ({why})" for _, path, why in track_problems)
            excluded.append(Exclusion(index, track.name, f"missing or unreadable media: {reason}"))
        else:
            problems += track_problems
    if problems:
        raise MediaError(problems)
    return TrackRenders(session, tuple(keep), tuple(excluded), channels, progress)


def render_track(session: Session, track: Track, *, channels: int = 2) -> np.ndarray:
    """Render ``track`` pre-fader: the sum of its audio items, float32 ``(channels, samples)``.

    The length is the session length at the project rate (``round(session.length_s * sample_rate)``).
    Track volume, pan, mute and FX are ignored. ``channels`` is 2 (mono sources feed both channels; sources
    with more than two channels contribute their first two, with a :class:`RenderWarning`) or 1 (stereo
    sources are averaged; take pan does not apply).

    Raises:
        MediaError: the track's media is missing or unreadable.
        AutomixError: an item has an invalid playrate.
    """
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2 (got {channels})")
    return _render(session, track, channels, _track_infos(track))


class TrackRows(NamedTuple):
    """:func:`render_track_rows`' result: ``audio``, float32 ``(1 or 2, samples)``, and what the renderer knows
    about its channels."""

    audio: np.ndarray
    shared: bool  # ``audio`` is one row that both channels of the stereo render equal bit for bit
    scaled_copies: bool  # two rows, each the same mono signal times its own take-pan gain (to float rounding)


def render_track_rows(session: Session, track: Track) -> TrackRows:
    """:func:`render_track`'s stereo render as :class:`TrackRows`: with ``shared``, ``audio`` is one row,
    float32 ``(1, samples)``, that *both* channels of ``render_track(session, track)`` equal bit for bit;
    otherwise ``audio`` is that ``(2, samples)`` render itself.

    The channels are identical by construction when every audio item plays a mono source with its take pan at
    the centre (both pan gains 1): the usual multitrack recording. One row is then rendered, half the memory
    and half the passes over it for whoever measures or sums the track (stage 1). When every item plays a mono
    source with one and the same take pan off the centre, each channel is that source times the channel's pan
    gain (each sample rounded once or, where items overlap, once per item): ``scaled_copies``, which spares a
    measurement the sample-by-sample check (see :func:`~reaper_automix.analysis.cfb.analyse_track`).

    Raises: as :func:`render_track`.
    """
    infos = _track_infos(track)
    mono = all(infos[item.take.source.file].channels == 1 for item in track.audio_items)
    pans = {min(1.0, max(-1.0, item.take.pan)) for item in track.audio_items}
    shared = mono and pans <= {0.0}
    audio = _render(session, track, 1 if shared else 2, infos)
    return TrackRows(audio, shared, mono and len(pans) == 1 and not shared)


def _track_infos(track: Track) -> dict[Path, AudioInfo]:
    """The header of each media file of ``track``'s audio items; MediaError listing the bad ones."""
    infos: dict[Path, AudioInfo | str] = {}
    problems = _track_media_problems(track, infos)
    if problems:
        raise MediaError(problems)
    return infos


def _render(session: Session, track: Track, channels: int, infos: dict[Path, AudioInfo]) -> np.ndarray:
    sr = session.sample_rate
    n_total = round(session.length_s * sr)
    plans = []
    for item in track.audio_items:
        plan = _plan_item(track, item, sr, n_total, infos[item.take.source.file])
        if plan is not None:
            plans.append(plan)

    sources = _SourceCache(infos, plans)
    # One item over the whole song (the usual multitrack): its source frames, fetched into a new array, become
    # the render, scaled in place, when they have the output's channels: no second signal-length array.
    whole = len(plans) == 1 and plans[0].out_start == 0 and plans[0].length == n_total
    out = None
    reported_channels: set[Path] = set()
    written_until = 0  # output samples at or after this are still zero
    for plan in sorted(plans, key=lambda p: p.out_start):
        block = sources.fetch(plan)
        if block.shape[0] > 2 and plan.path not in reported_channels:
            reported_channels.add(plan.path)
            warnings.warn(
                f"track {track.name!r}: {plan.path} has {block.shape[0]} channels; only the first two "
                "are rendered",
                RenderWarning,
                stacklevel=3,
            )
        if out is None:
            out = block if whole and block.shape[0] == channels else np.zeros((channels, n_total), np.float32)
        _mix_into(out, block, plan, sr, overwrite=plan.out_start >= written_until)
        written_until = max(written_until, plan.out_start + plan.length)
    return out if out is not None else np.zeros((channels, n_total), dtype=np.float32)


# --- planning: where each item's audio comes from -------------------------------------------------------


@dataclass(frozen=True)
class _ItemPlan:
    """One item's contribution: output samples ``[out_start, out_start + length)`` read from ``path`` at the
    rate ``sr_src * up / down`` (one frame per output sample), in 'eff' frames counted from the file start.

    Without loop the frames are ``[eff_start, eff_start + length)`` (read backwards when reversed). With loop
    they repeat the period ``[period_start, period_start + period_length)`` (reversed when reversed),
    starting ``phase`` frames into it.
    """

    item: Item
    path: Path
    up: int
    down: int
    out_start: int
    length: int
    item_start: int  # output sample of the item's start (may lie before out_start)
    reversed: bool
    eff_start: int = 0
    loop: bool = False
    period_start: int = 0
    period_length: int = 0
    phase: int = 0

    @property
    def needed(self) -> tuple[int, int]:
        """The eff frames this plan reads, as ``[start, stop)``."""
        if self.loop:
            return self.period_start, self.period_start + self.period_length
        return self.eff_start, self.eff_start + self.length


def _plan_item(track: Track, item: Item, sr: int, n_total: int, info: AudioInfo) -> _ItemPlan | None:
    take = item.take
    source = take.source
    if not (math.isfinite(take.playrate) and take.playrate > 0):
        raise AutomixError(
            f"track {track.name!r}: item at {item.position_s:.6g} s has an invalid playrate {take.playrate}"
        )
    if take.playrate != 1.0 and take.preserve_pitch:
        warnings.warn(
            f"track {track.name!r}: item at {item.position_s:.6g} s plays at rate {take.playrate:g} with "
            "pitch preservation, which is not emulated: rendered with the pitch shifted by the rate",
            RenderWarning,
            stacklevel=4,
        )
    for fade, which in ((item.fade_in, "fade-in"), (item.fade_out, "fade-out")):
        if fade.length_s > 0 and fade.curve != 0.0:
            warnings.warn(
                f"track {track.name!r}: item at {item.position_s:.6g} s has a {which} curvature of "
                f"{fade.curve:g}, which is not emulated: rendered with the shape's default curve",
                RenderWarning,
                stacklevel=4,
            )

    item_start = round(item.position_s * sr)
    item_stop = round(item.end_s * sr)
    out_start, out_stop = max(item_start, 0), min(item_stop, n_total)
    if out_stop <= out_start:
        return None

    # One eff frame per output sample: the source resampled from its rate to project rate / playrate.
    up, down = resample_factors(info.sample_rate, sr / take.playrate)
    sr_eff = info.sample_rate * up / down
    file_length = -(-info.frames * up // down)  # ceil: the resampled file's length
    section_start = round(source.section_start_s * sr_eff)
    if source.section_length_s is None:
        section_length = file_length - section_start
    else:
        section_length = round(source.section_length_s * sr_eff)
    if section_length <= 0:
        return None
    # position in the (possibly reversed) section of the item's first sample, then of out_start
    offset = round(take.start_offset_s * sr_eff) + (out_start - item_start)
    common = dict(item=item, path=info.path, up=up, down=down, item_start=item_start, reversed=source.reversed)

    if item.loop:
        return _ItemPlan(
            out_start=out_start,
            length=out_stop - out_start,
            loop=True,
            period_start=section_start,
            period_length=section_length,
            phase=offset % section_length,
            **common,
        )
    # Without loop, only section positions [0, section_length) sound.
    first = max(out_start, out_start - offset)
    last = min(out_stop, out_start + section_length - offset)
    if last <= first:
        return None
    pos = offset + (first - out_start)  # section position of output sample `first`
    length = last - first
    eff_start = section_start + (section_length - pos - length if source.reversed else pos)
    return _ItemPlan(out_start=first, length=length, eff_start=eff_start, **common)


# --- reading: each file read once per (file, rate) when it needs resampling -----------------------------


class _SourceCache:
    """Eff frames of the sources of one track's plans.

    Sources at the target rate are read per item, only the frames it plays. Sources that need resampling
    are read and resampled once per (file, factors), over the union of the frames all items need, padded by
    the filter's reach so the result inside equals resampling the whole file.
    """

    def __init__(self, infos: dict[Path, AudioInfo], plans: list[_ItemPlan]):
        self._infos = infos
        spans: dict[tuple[Path, int, int], tuple[int, int]] = {}
        for plan in plans:
            if plan.up == plan.down:
                continue
            key = (plan.path, plan.up, plan.down)
            lo, hi = plan.needed
            old = spans.get(key)
            spans[key] = (lo, hi) if old is None else (min(lo, old[0]), max(hi, old[1]))
        self._spans = spans
        self._resampled: dict[tuple[Path, int, int], tuple[int, np.ndarray]] = {}

    def fetch(self, plan: _ItemPlan) -> np.ndarray:
        """The plan's source frames, (source channels, plan.length), float32, writable."""
        if not plan.loop:
            block = self._eff_frames(plan, plan.eff_start, plan.eff_start + plan.length)
            return block[:, ::-1].copy() if plan.reversed else block
        period = self._eff_frames(plan, plan.period_start, plan.period_start + plan.period_length)
        if plan.reversed:
            period = period[:, ::-1]
        reps = -(-(plan.phase + plan.length) // plan.period_length)
        return np.tile(period, (1, reps))[:, plan.phase : plan.phase + plan.length].copy()

    def _eff_frames(self, plan: _ItemPlan, start: int, stop: int) -> np.ndarray:
        """Eff frames ``[start, stop)`` of the plan's file; zeros outside the file."""
        info = self._infos[plan.path]
        if plan.up == plan.down:
            base, data = start, self._read(info, start, stop)
        else:
            base, data = self._resampled_span(plan)
        if base == start and data.shape[1] == stop - start and plan.up == plan.down:
            return data  # read just for this call: no copy needed
        out = np.zeros((info.channels, stop - start), dtype=np.float32)
        lo, hi = max(start, base), min(stop, base + data.shape[1])
        if hi > lo:
            out[:, lo - start : hi - start] = data[:, lo - base : hi - base]
        return out

    def _resampled_span(self, plan: _ItemPlan) -> tuple[int, np.ndarray]:
        key = (plan.path, plan.up, plan.down)
        if key not in self._resampled:
            up, down = plan.up, plan.down
            lo, hi = self._spans[key]
            # resample_poly's filter reaches 10 * max(up, down) upsampled samples each side
            pad = -(-10 * max(up, down) // up) + 2
            first = max(0, lo * down // up - pad)
            first -= first % down  # so that eff frame first * up / down is an integer
            stop = -(-hi * down // up) + pad
            data = self._read(self._infos[plan.path], first, stop)
            self._resampled[key] = (first * up // down, resample_by(data, up, down))
        return self._resampled[key]

    @staticmethod
    def _read(info: AudioInfo, start: int, stop: int) -> np.ndarray:
        start, stop = max(start, 0), min(stop, info.frames)
        if stop <= start:
            return np.zeros((info.channels, 0), dtype=np.float32)
        return read_audio(info.path, start=start, frames=stop - start)[0]


# --- mixing: gains, fades, pan ---------------------------------------------------------------------------


def _mix_into(out: np.ndarray, block: np.ndarray, plan: _ItemPlan, sr: int, *, overwrite: bool) -> None:
    """Add ``block`` (source channels, plan.length) to ``out`` with the item's gains, fades and pan.

    ``overwrite``: the span of ``out`` is still all zeros, so the scaled block is written straight into it
    (one pass over the samples instead of a scaled copy plus an addition).
    """
    item, take = plan.item, plan.item.take
    channels = out.shape[0]
    in_place = block is out  # the render is the fetched block itself (one item over the whole song)
    if channels == 1:
        block = block[:1] if block.shape[0] == 1 else block[:2].mean(axis=0, keepdims=True)
    else:
        block = block[:2]
    first = plan.out_start - plan.item_start  # item-local index of the block's first sample
    _apply_fades(block, first, item.length_s * sr, item.fade_in, item.fade_out, sr)

    span = slice(plan.out_start, plan.out_start + plan.length)
    gain = item.volume * take.volume
    pan = min(1.0, max(-1.0, take.pan))
    pan_gains = (1.0,) if channels == 1 else (min(1.0, 1.0 - pan), min(1.0, 1.0 + pan))
    for c, pan_gain in enumerate(pan_gains):
        row = block[min(c, block.shape[0] - 1)]
        scale = np.float32(gain * pan_gain)
        if overwrite and in_place and scale == 1.0:
            continue  # x * 1 == x: the row already holds its render
        if overwrite:
            np.multiply(row, scale, out=out[c, span])
        elif scale == 1.0:
            out[c, span] += row
        else:
            out[c, span] += row * scale


def _apply_fades(block: np.ndarray, first: int, item_samples: float, fade_in: Fade, fade_out: Fade, sr: int):
    """Multiply ``block`` in place by the fade envelopes; ``first`` is its first sample's item-local index.

    The continuous fade curves are sampled at the sample instants: fade-in progress ``j / fade_samples``,
    fade-out progress ``1 - (item_samples - j) / fade_samples`` for item-local sample ``j``.
    """
    n = block.shape[1]
    fade_in_samples = fade_in.length_s * sr
    if fade_in_samples > 0:
        stop = min(n, max(0, math.ceil(fade_in_samples) - first))
        if stop > 0:
            j = np.arange(first, first + stop, dtype=np.float64)
            block[:, :stop] *= fade_in_gain(fade_in.shape, j / fade_in_samples).astype(np.float32)
    fade_out_samples = fade_out.length_s * sr
    if fade_out_samples > 0:
        start = min(n, max(0, math.floor(item_samples - fade_out_samples) - first))
        if start < n:
            j = np.arange(first + start, first + n, dtype=np.float64)
            progress = 1.0 - (item_samples - j) / fade_out_samples
            block[:, start:] *= fade_out_gain(fade_out.shape, progress).astype(np.float32)


# --- media checks ----------------------------------------------------------------------------------------


def _track_media_problems(
    track: Track, checked: dict[Path, AudioInfo | str]
) -> list[tuple[str, Path, str]]:
    """``(track name, file, why)`` for each distinct bad file of the track's unmuted audio items.

    ``checked`` memoises each file's header (or what is wrong with it) across calls.
    """
    problems = []
    seen: set[Path] = set()
    for item in track.audio_items:
        path = item.take.source.file
        if path is None:
            problems.append((track.name, Path(""), "audio take without a file name"))
            continue
        if path in seen:
            continue
        seen.add(path)
        if path not in checked:
            try:
                checked[path] = audio_info(path)
            except AutomixError as e:
                checked[path] = str(e).removeprefix(f"{path}: ")
        if isinstance(checked[path], str):
            problems.append((track.name, path, checked[path]))
    return problems
