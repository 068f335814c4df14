"""Shared helpers for the .rpp tests: the fixture folder and a small project-text builder.

The builder writes text the way REAPER does (two-space indentation, tokens quoted only when needed) but is
independent of the parser under test, except for quoting names with ``format_token``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reaper_automix.rpp.tokens import format_token

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rpp"


def fixture_paths() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.suffix.lower() == ".rpp")


@dataclass
class TrackSpec:
    name: str = "Track"
    depth: int = 0  # I_FOLDERDEPTH
    volume: str = "1"
    pan: str = "0"
    guid: str = "{00000000-0000-0000-0000-000000000000}"
    body: list[str] = field(default_factory=list)  # extra lines (relative indentation with two spaces)


def isbus(depth: int) -> str:
    return "ISBUS 0 0" if depth == 0 else "ISBUS 1 1" if depth == 1 else f"ISBUS 2 {depth}"


def project_lines(tracks: list[TrackSpec], header: list[str] | None = None) -> list[str]:
    lines = ['<REAPER_PROJECT 0.1 "6.69/linux64" 1700000000']
    lines += ["  " + h for h in (header if header is not None else ["RIPPLE 0", "SAMPLERATE 48000 0 0"])]
    for i, t in enumerate(tracks):
        guid = t.guid if t.guid != TrackSpec.guid else "{%08X-0000-4000-8000-%012X}" % (i, i)
        lines += [
            f"  <TRACK {guid}",
            f"    NAME {format_token(t.name)}",
            f"    VOLPAN {t.volume} {t.pan} -1 -1 1",
            "    MUTESOLO 0 0 0",
            f"    {isbus(t.depth)}",
            "    NCHAN 2",
            f"    TRACKID {guid}",
            "    MAINSEND 1 0",
        ]
        lines += ["    " + b for b in t.body]
        lines.append("  >")
    lines.append(">")
    return lines


def project_text(tracks: list[TrackSpec], newline: str = "\n", header: list[str] | None = None) -> str:
    return newline.join(project_lines(tracks, header)) + newline
