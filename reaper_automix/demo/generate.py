"""Generate a demo session: a REAPER project of a synthesised band recording, its media, a reference mix and a
manifest of what was intended."""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AutomixError
from ..units import db_to_gain
from . import arrangement
from .arrangement import make_song
from .manifest import DemoManifest, ItemManifest, ReferenceManifest, TrackManifest
from .project import ProjectItem, ProjectTrack, folder_layout, project_text
from .reference import mix_reference
from .render import timeline_samples, track_signals
from .tracks import FOLDER_COLOURS, build_track_list

SAMPLE_RATE = 44100
TRIM_SPAN_DB = 24.0  # raw per-track trims are spread uniformly over [-24, 0] dB
MEDIA_PEAK_DBFS = -1.0  # each track's media peaks here before its trim
REFERENCE_TRACKS = 32
MAX_LENGTH_S = 1800.0

Progress = Callable[[str, int, int], None]  # (stage, done, total); stages "tracks", "reference"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_wav(path: Path, audio: np.ndarray) -> None:
    _atomic_write(path, lambda tmp: sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_24", format="WAV"))


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda tmp: tmp.write_bytes(text.encode("utf-8")))


def _guid(rng: np.random.Generator) -> str:
    h = rng.bytes(16).hex().upper()
    return f"{{{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}}}"


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "track"
    slug, k = base, 2
    while slug in taken:
        slug, k = f"{base}_{k}", k + 1
    taken.add(slug)
    return slug


def _trims(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` trims uniform over [-TRIM_SPAN_DB, 0] dB, stratified so that they always span nearly all of it."""
    strata = rng.permutation(n) + rng.random(n)
    return -TRIM_SPAN_DB + TRIM_SPAN_DB * strata / n


def generate_demo(out_dir: Path, *, seed: int = 0, length_s: float = 150.0, n_tracks: int = 104,
                  progress: Progress | None = None, overwrite: bool = False) -> DemoManifest:
    """Write a demo session into ``out_dir``: ``demo.rpp``, its 24-bit 44.1 kHz WAV media under ``media/``
    (referenced by relative paths), ``reference.wav`` (a stereo mix of a different song) and
    ``demo-manifest.json`` (the returned :class:`DemoManifest`).

    ``n_tracks`` audio tracks (8..512) in REAPER folders (folder tracks on top of that count); the song lasts
    ``length_s`` rounded to whole bars (at least four). Every file is a function of ``seed`` alone: the same
    arguments give byte-identical files. Each file is written atomically; media first, the project and manifest
    last. Refuses a non-empty ``out_dir`` unless ``overwrite`` (then files of the same names are replaced and
    other files are left alone).
    """
    out_dir = Path(out_dir)
    if not (math.isfinite(length_s) and 0 < length_s <= MAX_LENGTH_S):
        raise AutomixError(f"demo length must be between 0 and {MAX_LENGTH_S:g} s, not {length_s}")
    if out_dir.exists() and not out_dir.is_dir():
        raise AutomixError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise AutomixError(f"{out_dir} is not empty; choose another folder or allow overwriting")
    specs = build_track_list(n_tracks)
    song = make_song(seed, length_s)
    media_dir = out_dir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda stage, done, total: None)

    trims = _trims(np.random.default_rng([seed, 0x100]), len(specs))
    guids = np.random.default_rng([seed, 0x300])
    taken: set[str] = set()
    track_guids = {}
    made: list[tuple[TrackManifest, list[ProjectItem]]] = []
    for i, (track, trim_db) in enumerate(zip(track_signals(song, specs, SAMPLE_RATE, seed), trims)):
        spec = track.spec
        media = np.concatenate([track.audio[a:b] for a, b in track.spans])
        peak = float(np.max(np.abs(media)))
        if peak == 0.0:
            raise RuntimeError(f"demo track {spec.name!r} rendered silent")  # a generator bug
        media = (media * (db_to_gain(MEDIA_PEAK_DBFS + float(trim_db)) / peak)).astype(np.float32)
        relative = f"media/{_slug(spec.name, taken)}.wav"
        _write_wav(out_dir / relative, media)
        track_guids[i] = _guid(guids)
        items, project_items, offset = [], [], 0
        for a, b in track.spans:
            item = ItemManifest(a / SAMPLE_RATE, (b - a) / SAMPLE_RATE, offset / SAMPLE_RATE)
            items.append(item)
            project_items.append(ProjectItem(item.position_s, item.length_s, item.source_offset_s, relative,
                                             Path(relative).name, _guid(guids), _guid(guids)))
            offset += b - a
        made.append((TrackManifest(spec.name, track_guids[i], spec.folder, spec.role, relative, spec.channels,
                                   tuple(items), float(trim_db), spec.narrowband_hf, spec.mic.invert, spec.pan),
                     project_items))
        report("tracks", i + 1, len(specs))

    reference = _write_reference(out_dir / "reference.wav", seed, song, length_s, n_tracks, report)

    project_tracks, folders = [], []
    for path, index, depth in folder_layout([s.folder for s in specs]):
        if index is None:
            folders.append(path)
            project_tracks.append(ProjectTrack(path[-1], _guid(guids), depth, FOLDER_COLOURS.get(path[0])))
        else:
            manifest_track, items = made[index]
            project_tracks.append(ProjectTrack(manifest_track.name, manifest_track.guid, depth,
                                               FOLDER_COLOURS.get(path[0]), tuple(items)))
    summary = arrangement.summarise(song)
    regions = [(name.capitalize(), a, b, _guid(guids)) for name, a, b in summary.sections]
    notes = (f"Demo session generated by reaper-automix (seed {seed}): {len(specs)} tracks, "
             f"{song.tempo_bpm} BPM, {song.key_name}.\nRaw track levels are deliberately unbalanced.")
    _write_text(out_dir / "demo.rpp", project_text(tempo_bpm=song.tempo_bpm, sample_rate=SAMPLE_RATE,
                                                   regions=regions, tracks=project_tracks, notes=notes))
    manifest = DemoManifest(
        project="demo.rpp", seed=seed, sample_rate=SAMPLE_RATE, tempo_bpm=song.tempo_bpm, key=song.key_name,
        length_s=song.length_s, sections=summary.sections, folders=tuple(folders),
        tracks=tuple(t for t, _ in made), reference=reference,
    )
    _write_text(out_dir / "demo-manifest.json", manifest.to_json())
    return manifest


def _write_reference(path: Path, seed: int, song: arrangement.Song, length_s: float, n_tracks: int,
                     report: Progress) -> ReferenceManifest:
    """Mix a different song (its own seed, tempo, key and parts) and write it as a 24-bit stereo WAV."""
    ref_seed = int(np.random.default_rng([seed, 0x400]).integers(0, 2**31))
    ref_song = make_song(ref_seed, length_s, avoid=song)
    specs = build_track_list(min(n_tracks, REFERENCE_TRACKS))
    counts = Counter(s.role for s in specs)

    def signals():
        for i, track in enumerate(track_signals(ref_song, specs, SAMPLE_RATE, ref_seed)):
            yield track
            report("reference", i + 1, len(specs))

    mix = mix_reference(signals(), timeline_samples(ref_song, SAMPLE_RATE), SAMPLE_RATE, counts)
    _write_wav(path, mix)
    peak_dbfs = 20.0 * math.log10(float(np.max(np.abs(mix))))
    return ReferenceManifest(path.name, ref_seed, ref_song.tempo_bpm, ref_song.key_name, ref_song.length_s,
                             len(specs), round(peak_dbfs, 3))
