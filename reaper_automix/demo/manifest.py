"""What a generated demo session is meant to be: the ground truth tests and evaluations compare against.

Written beside the project as ``demo-manifest.json``; :meth:`DemoManifest.from_json` reads it back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ItemManifest:
    """One item: where it sits in the project and where its audio starts in the track's media file."""

    position_s: float
    length_s: float
    source_offset_s: float


@dataclass(frozen=True)
class TrackManifest:
    name: str
    guid: str
    folder: tuple[str, ...]  # enclosing folders, outermost first, e.g. ("Vocals", "Backing Vocals")
    role: str  # instrument class (kick, snare, lead_vocal, backing_vocal, fx, ...)
    media: str  # path relative to the project folder, "/"-separated
    channels: int
    items: tuple[ItemManifest, ...]
    trim_db: float  # gain applied to the media after normalising its peak to -1 dBFS (raw imbalance)
    narrowband_hf: bool  # high-passed at 5 kHz or above: its energy lies above 5 kHz
    polarity_inverted: bool
    pan: float  # where a mix would put it (the project leaves pans centred)


@dataclass(frozen=True)
class ReferenceManifest:
    """The reference mix: a different song, mixed with role-based levels, pans and light bus compression."""

    file: str
    seed: int
    tempo_bpm: int
    key: str
    length_s: float
    n_tracks: int
    peak_dbfs: float


@dataclass(frozen=True)
class DemoManifest:
    project: str  # the .rpp file, relative to the manifest's folder
    seed: int
    sample_rate: int
    tempo_bpm: int
    key: str
    length_s: float  # end of the song's last bar (items may ring on a little after it)
    sections: tuple[tuple[str, float, float], ...]  # (name, start_s, end_s)
    folders: tuple[tuple[str, ...], ...]  # folder paths in project order
    tracks: tuple[TrackManifest, ...]  # audio tracks in project order (folder tracks are in ``folders``)
    reference: ReferenceManifest

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DemoManifest:
        d = json.loads(text)
        tracks = tuple(
            TrackManifest(**{**t, "folder": tuple(t["folder"]),
                             "items": tuple(ItemManifest(**i) for i in t["items"])})
            for t in d["tracks"]
        )
        return cls(**{
            **d,
            "sections": tuple((n, a, b) for n, a, b in d["sections"]),
            "folders": tuple(tuple(f) for f in d["folders"]),
            "tracks": tracks,
            "reference": ReferenceManifest(**d["reference"]),
        })
