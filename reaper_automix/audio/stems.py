"""Stems rendered in REAPER, used in place of our own render (``--stems DIR``).

Our renderer plays items only; a stem REAPER rendered pre-fader carries the track's plug-ins, instruments and
receives: what the listener hears before the fader. The action "Automix: Render stems for offline analysis..."
renders them into ``PROJECT-stems/`` beside the project with the file pattern ``$tracknumber - $track`` and
writes a manifest (``automix-stems.json``: the rendered tracks' numbers, names and GUIDs); any folder of stems
named ``<track number><separator><track name>.<audio extension>`` works too (REAPER's "stems (selected
tracks)" render with the track-number wildcard).

Every stem must match exactly one track (its number, with the name agreeing), have the project's sample rate
and the project's length; every track to be measured must have a stem. All problems are reported at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AutomixError
from ..rpp.fx import fx_facts
from ..session import Session, Track
from .io import audio_info, read_audio

_NUMBERED = re.compile(r"^\s*0*(\d+)(?:\s*[-_.)\]:]\s*|\s+)(.*)$")


def _facts() -> dict:
    return fx_facts()["stems"]


def _normal(name: str) -> str:
    """A name as compared with a file name: letters and digits only, any case (REAPER replaces characters a
    file name cannot hold)."""
    return "".join(c for c in name.casefold() if c.isalnum())


def stems_folder(project: Path) -> Path:
    """Where the render action puts a project's stems: ``PROJECT-stems/`` beside ``PROJECT.rpp``."""
    return project.with_name(project.stem + _facts()["folder_suffix"])


def parse_stem_name(file_stem: str) -> tuple[int | None, str]:
    """``"03 - Snare top"`` -> ``(3, "Snare top")``; a name without a leading number -> ``(None, name)``."""
    m = _NUMBERED.match(file_stem)
    if m:
        return int(m.group(1)), m.group(2).strip()
    return None, file_stem.strip()


def _name_agrees(track: Track, name: str) -> bool:
    wanted = _normal(name)
    return not wanted or wanted == _normal(track.name) or wanted == _normal(f"track {track.index + 1}")


def match_stems(session: Session, folder: Path, needed: Iterable[int]) -> dict[int, Path]:
    """Track index -> stem file for the audio files in ``folder``.

    Raises:
        AutomixError: naming every stem that matches no track (or two), and every track in ``needed`` without
            a stem.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AutomixError(f"{folder}: no such folder of stems")
    extensions = {e.lower() for e in _facts()["audio_extensions"]}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower().lstrip(".") in extensions)
    by_name: dict[str, list[Track]] = {}
    for t in session.tracks:
        by_name.setdefault(_normal(t.name), []).append(t)
    problems: list[str] = []
    found: dict[int, Path] = {}
    for path in files:
        number, name = parse_stem_name(path.stem)
        track: Track | None = None
        if number is not None:
            if not 1 <= number <= len(session.tracks):
                problems.append(f"{path.name}: track number {number}, but the project has {len(session.tracks)} tracks")
                continue
            track = session.tracks[number - 1]
            if not _name_agrees(track, name):
                problems.append(f"{path.name}: numbered {number}, but track {number} is {track.name!r}")
                continue
        else:
            candidates = by_name.get(_normal(name), [])
            if len(candidates) != 1:
                problems.append(
                    f"{path.name}: matches no track by name" if not candidates
                    else f"{path.name}: {len(candidates)} tracks have this name; number the stems ($tracknumber)"
                )
                continue
            track = candidates[0]
        if track.index in found:
            problems.append(f"{path.name}: a second stem for track {track.index + 1} {track.name!r} "
                            f"(the first is {found[track.index].name})")
            continue
        found[track.index] = path
    for t in needed:
        if t not in found:
            problems.append(f"track {t + 1} {session.tracks[t].name!r}: no stem")
    if problems:
        raise AutomixError(
            f"{folder}: {len(problems)} stem problem(s):\n" + "\n".join(f"  {p}" for p in problems)
            + "\nStems are matched by track number and name (\"03 - Snare.wav\"); render them with the action "
            '"Automix: Render stems for offline analysis..." or remove the files that are not stems.'
        )
    return found


@dataclass(frozen=True)
class StemsRenderer:
    """A stage-1/stage-2 renderer (``renderer=``) that reads each track's stem instead of rendering its items.

    Build it with :func:`load_stems`, which checks every stem first. Picklable (worker processes)."""

    files: dict[str, str]  # track GUID -> stem file
    frames: int  # the session length in samples: what every renderer returns
    folder: str
    renders_fx: bool = True  # the stems include the tracks' plug-ins (see stage1.renders_fx)

    def __call__(self, session: Session, track: Track) -> np.ndarray:
        """Float32 ``(2, frames)``: the stem, mono duplicated, channels after the second dropped."""
        audio, _ = read_audio(self.files[track.guid], frames=self.frames)
        out = np.zeros((2, self.frames), dtype=np.float32)
        n = audio.shape[1]
        out[:, :n] = audio[:2] if audio.shape[0] >= 2 else audio[:1]
        return out


def load_stems(session: Session, folder: Path, needed: Iterable[int]) -> StemsRenderer:
    """Match and check the stems in ``folder`` for the tracks ``needed`` (indices): rate and length must be the
    project's (within ``length_tolerance_s`` of the data table).

    Raises:
        AutomixError: every problem at once (see :func:`match_stems`), or a stem of the wrong rate or length.
    """
    needed = list(needed)
    found = match_stems(session, folder, needed)
    frames = round(session.length_s * session.sample_rate)
    tolerance = round(_facts()["length_tolerance_s"] * session.sample_rate)
    problems = []
    for t, path in sorted(found.items()):
        info = audio_info(path)
        if info.sample_rate != session.sample_rate:
            problems.append(f"{path.name}: {info.sample_rate} Hz, the project runs at {session.sample_rate} Hz")
        elif abs(info.frames - frames) > tolerance:
            problems.append(
                f"{path.name}: {info.frames / info.sample_rate:.3f} s long, the project is {session.length_s:.3f} s "
                "(render the entire project, without a tail; re-render after editing)"
            )
    if problems:
        raise AutomixError(f"{folder}: stems that do not fit the project:\n" + "\n".join(f"  {p}" for p in problems))
    manifest = Path(folder) / _facts()["manifest"]
    if manifest.is_file():
        _check_manifest(session, manifest, found)
    files = {session.tracks[t].guid: str(p) for t, p in found.items()}
    return StemsRenderer(files=files, frames=frames, folder=str(folder))


def _check_manifest(session: Session, manifest: Path, found: dict[int, Path]) -> None:
    """The render action's record: each numbered stem must still be the track it was rendered from (GUID)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        rendered = {int(t["number"]): str(t["guid"]) for t in data["tracks"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AutomixError(f"{manifest}: not a stems manifest written by the render action ({exc})") from None
    moved = [
        f"track {t + 1} {session.tracks[t].name!r}: its stem was rendered from another track (tracks were "
        "added, removed or reordered since)"
        for t in found
        if t + 1 in rendered and rendered[t + 1] != session.tracks[t].guid
    ]
    if moved:
        raise AutomixError(f"{manifest.parent}: re-render the stems:\n" + "\n".join(f"  {m}" for m in moved))
