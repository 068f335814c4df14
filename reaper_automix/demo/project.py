"""Write a demo session as ``.rpp`` text in the shape REAPER itself writes (REAPER 7, LF line endings).

Only what a plain recorded session holds: project settings, section regions, folder and audio tracks with
items playing WAV files by relative path. Tracks and items get their GUIDs from the caller (deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..rpp.tokens import format_number, format_token
from ..session import folder_depths

PROJECT_TIMESTAMP = 1735689600  # fixed (2025-01-01), so one seed gives byte-identical files
REAPER_VERSION = "7.0/linux-x86_64"
FADE_S = 0.01  # REAPER's default item auto-fade


@dataclass(frozen=True)
class ProjectItem:
    position_s: float
    length_s: float
    source_offset_s: float
    file: str  # relative to the project folder, "/"-separated
    name: str
    iguid: str
    guid: str


@dataclass(frozen=True)
class ProjectTrack:
    name: str
    guid: str
    folder_depth: int  # REAPER's I_FOLDERDEPTH: 1 opens a folder, -n closes n levels
    colour: tuple[int, int, int] | None = None
    items: tuple[ProjectItem, ...] = ()


def folder_layout(track_folders: list[tuple[str, ...]]) -> list[tuple[tuple[str, ...], int | None, int]]:
    """Rows in project order for tracks whose enclosing folder paths are ``track_folders``: a folder track is
    inserted where its folder first appears. Each row is (folder path, track index or None for a folder track,
    folder depth). Tracks of one folder must be contiguous (with nested folders after their direct tracks)."""
    rows: list[tuple[tuple[str, ...], int | None]] = []
    opened: set[tuple[str, ...]] = set()
    current: tuple[str, ...] = ()
    for i, folder in enumerate(track_folders):
        if folder != current:
            for k in range(1, len(folder) + 1):
                path = folder[:k]
                if current[:k] != path:
                    if path in opened:
                        raise ValueError(f"tracks of folder {'/'.join(path)} are not contiguous")
                    opened.add(path)
                    rows.append((path, None))
            current = folder
        rows.append((folder, i))
    # nesting level of each row: a folder track sits at its parent's level, a track inside its folder
    depths = folder_depths([len(path) - 1 if index is None else len(path) for path, index in rows])
    return [(path, index, depth) for (path, index), depth in zip(rows, depths)]


def _colour(rgb: tuple[int, int, int] | None) -> int:
    if rgb is None:
        return 16576  # REAPER's "no colour"
    r, g, b = rgb
    return r | (g << 8) | (b << 16) | 0x1000000


def _isbus(depth: int) -> str:
    if depth > 0:
        return "1 1"
    if depth < 0:
        return f"2 {depth}"
    return "0 0"


def project_text(*, tempo_bpm: float, sample_rate: int, regions: list[tuple[str, float, float, str]],
                 tracks: list[ProjectTrack], notes: str = "") -> str:
    """The ``.rpp`` text. ``regions``: (name, start_s, end_s, GUID) shown as REAPER regions."""
    n = format_number
    lines = [
        f'<REAPER_PROJECT 0.1 "{REAPER_VERSION}" {PROJECT_TIMESTAMP}',
        "  <NOTES 0 2",
        *(f"    |{line}" for line in notes.splitlines()),
        "  >",
        "  RIPPLE 0",
        "  GROUPOVERRIDE 0 0 0",
        "  AUTOXFADE 129",
        "  ENVATTACH 3",
        "  POOLEDENVATTACH 0",
        "  MIXERUIFLAGS 11 48",
        "  PEAKGAIN 1",
        "  FEEDBACK 0",
        "  PANLAW 1",
        "  PROJOFFS 0 0 0",
        "  MAXPROJLEN 0 0",
        "  GRID 3199 8 1 8 1 0 0 0",
        "  TIMEMODE 1 5 -1 30 0 0 -1",
        "  VIDEO_CONFIG 0 0 256",
        "  PANMODE 3",
        "  CURSOR 0",
        "  ZOOM 10 0 0",
        "  VZOOMEX 6 0",
        "  USE_REC_CFG 0",
        "  RECMODE 1",
        "  SMPTESYNC 0 30 100 40 1000 300 0 0 1 0 0",
        "  LOOP 0",
        "  LOOPGRAN 0 4",
        '  RECORD_PATH media ""',
        "  RENDER_FILE \"\"",
        f"  RENDER_FMT 0 2 {sample_rate}",
        "  RENDER_1X 0",
        "  RENDER_RANGE 1 0 0 18 1000",
        "  RENDER_RESAMPLE 3 0 1",
        "  RENDER_ADDTOPROJ 0",
        "  RENDER_STEMS 0",
        "  RENDER_DITHER 0",
        "  TIMELOCKMODE 1",
        "  TEMPOENVLOCKMODE 1",
        "  ITEMMIX 1",
        "  DEFPITCHMODE 589824 0",
        "  TAKELANE 1",
        f"  SAMPLERATE {sample_rate} 0 0",
        "  LOCK 1",
        "  GLOBAL_AUTO -1",
        f"  TEMPO {n(tempo_bpm)} 4 4",
        "  PLAYRATE 1 0 0.25 4",
        "  SELECTION 0 0",
        "  SELECTION2 0 0",
        "  MASTERAUTOMODE 0",
        "  MASTERTRACKHEIGHT 0 0",
        "  MASTERPEAKCOL 16576",
        "  MASTERMUTESOLO 0",
        "  MASTERTRACKVIEW 0 0.6667 0.5 0.5 0 0 0 0 0 0 0 0 0 0",
        "  MASTERHWOUT 0 0 1 0 0 0 0 -1",
        "  MASTER_NCH 2 2",
        "  MASTER_VOLUME 1 0 -1 -1 1",
        "  MASTER_PANMODE 3",
        "  MASTER_FX 1",
        "  MASTER_SEL 0",
    ]
    for index, (name, start_s, end_s, guid) in enumerate(regions, start=1):
        lines.append(f"  MARKER {index} {n(start_s)} {format_token(name)} 1 0 1 R {guid}")
        lines.append(f'  MARKER {index} {n(end_s)} "" 1 0 1 R')
    lines += ["  <PROJBAY", "  >"]
    item_id = 0
    for track in tracks:
        lines += [
            f"  <TRACK {track.guid}",
            f"    NAME {format_token(track.name)}",
            f"    PEAKCOL {_colour(track.colour)}",
            "    BEAT -1",
            "    AUTOMODE 0",
            "    VOLPAN 1 0 -1 -1 1",
            "    MUTESOLO 0 0 0",
            "    IPHASE 0",
            "    PLAYOFFS 0 1",
            f"    ISBUS {_isbus(track.folder_depth)}",
            "    BUSCOMP 0 0 0 0 0",
            "    SHOWINMIX 1 0.6667 0.5 1 0.5 0 0 0",
            "    SEL 0",
            "    REC 0 0 1 0 0 0 0 0",
            "    VU 2",
            "    TRACKHEIGHT 0 0 0 0 0 0",
            "    INQ 0 0 0 0.5 100 0 0 100",
            "    NCHAN 2",
            "    FX 1",
            f"    TRACKID {track.guid}",
            "    PERF 0",
            "    MIDIOUT -1",
            "    MAINSEND 1 0",
        ]
        for item in track.items:
            item_id += 1
            lines += [
                "    <ITEM",
                f"      POSITION {n(item.position_s)}",
                "      SNAPOFFS 0",
                f"      LENGTH {n(item.length_s)}",
                "      LOOP 0",
                "      ALLTAKES 0",
                f"      FADEIN 1 {n(FADE_S)} 0 1 0 0 0",
                f"      FADEOUT 1 {n(FADE_S)} 0 1 0 0 0",
                "      MUTE 0 0",
                "      SEL 0",
                f"      IGUID {item.iguid}",
                f"      IID {item_id}",
                f"      NAME {format_token(item.name)}",
                "      VOLPAN 1 0 1 -1",
                f"      SOFFS {n(item.source_offset_s)}",
                "      PLAYRATE 1 1 0 -1 0 0.0025",
                "      CHANMODE 0",
                f"      GUID {item.guid}",
                "      <SOURCE WAVE",
                f"        FILE {format_token(item.file, force_quotes=True)}",
                "      >",
                "    >",
            ]
        lines.append("  >")
    lines.append(">")
    return "\n".join(lines) + "\n"
