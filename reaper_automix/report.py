"""What a run measured and changed: a JSON document and a terminal table.

Numbers are rounded for reading (0.01 dB, 0.1 Hz); infinities (silence) are written as ``null``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .balance import FaderPlan
from .changes import ChangeSet
from .files import write_bytes_atomic
from .fx_notes import bus_fx_note, dry_warning, fx_facts, track_notes
from .stage1 import BalanceResult
from .units import gain_to_db

if TYPE_CHECKING:  # stage 2 pulls in torch: not at import time for stage 1 reports
    from .stage2 import MixResult


def _num(value: float | None, digits: int = 2) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def balance_report(
    result: BalanceResult, plan: FaderPlan | None = None, changes: ChangeSet | None = None
) -> dict[str, Any]:
    """The stage 1 report as plain JSON-able data.

    ``plan`` and ``changes``: the faders and edits that are written, when a later stage decided them from stage 1's
    gains (``mix``: :attr:`~reaper_automix.stage2.MixResult.plan`); by default stage 1's own."""
    session = result.session
    plan = result.plan if plan is None else plan
    changes = result.changes if changes is None else changes
    group_name = {t: r.group.name for r in result.groups for t in r.relative_db}
    for g in result.grouping.groups:
        for t in g.members:
            group_name.setdefault(t, g.name)
    tracks = []
    for track in session.tracks:
        a = result.analyses.get(track.index)
        change = plan.changes.get(track.index)
        where = None
        if change is not None:
            where = "fader + take volume" if change.take_gain_db else "fader"
        tracks.append(
            {
                "index": track.index,
                "name": track.name,
                "guid": track.guid,
                "group": group_name.get(track.index),
                "folder": track.is_folder,
                "method": a.method_used if a else None,
                "band_hz": [_num(a.band_low_hz, 1), _num(a.band_high_hz, 1)] if a and a.band_low_hz else None,
                "f0_hz": _num(a.f0_hz, 1) if a and a.f0_hz else None,
                "band_loudness_lufs": _num(a.band_loudness_lufs) if a else None,
                "lufs": _num(a.lufs) if a else None,
                "peak_dbfs": _num(a.peak_dbfs) if a else None,
                "analysis_note": (a.note or None) if a else None,
                "fader_before_db": _num(change.fader_before_db if change else gain_to_db(track.volume)),
                "fader_after_db": _num(change.fader_after_db) if change else None,
                "take_gain_db": _num(change.take_gain_db) if change and change.take_gain_db else None,
                "gain_went_to": where,
                "note": change.note if change and change.note else None,
                "excluded": result.excluded.get(track.index),
                "fx_notes": track_notes(session, track, renders_fx=result.measured_with_fx)
                if track.index in result.analyses else [],
                **fx_facts(session, track),
            }
        )
    groups = [
        {
            "name": r.group.name,
            "source": r.group.source,
            "folder_track": session.tracks[r.group.folder].name if r.group.folder is not None else None,
            "tracks": [session.tracks[t].name for t in r.relative_db],
            "stem_peak_dbfs_before_gain": _num(r.stem_peak_dbfs),
            "stem_band_loudness_lufs_before_gain": _num(r.stem_band_loudness),
            "stem_lufs_before_gain": _num(r.stem_lufs),
            "gain_db": _num(r.gain_db),
        }
        for r in result.groups
    ]
    o = result.options
    return {
        "project": str(session.path),
        "sample_rate": session.sample_rate,
        "method": o.method,
        "options": {
            "filter_order": o.filter_order,
            "group_peak_dbfs": o.group_peak_dbfs,
            "mix_ceiling_dbfs": o.mix_ceiling_dbfs,
            "silence_lufs": o.silence_lufs,
            "between_groups": o.between_groups,
            "strength": o.strength,
        },
        "summary": changes.description,
        "mix_peak_dbfs": _num(result.mix_peak_dbfs),
        "groups": groups,
        "tracks": tracks,
        "notes": list(changes.notes),
        "measured_with_fx": result.measured_with_fx,
        "warnings": [w for w in [dry_warning(session, result.analyses, renders_fx=result.measured_with_fx)] if w],
    }



def write_json(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` as JSON atomically (temporary file in the same folder, then rename)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def print_balance_table(report: dict[str, Any], console: Console | None = None) -> None:
    """Per-track and per-group tables, grouped; the JSON report has every field."""
    console = console or Console()
    table = Table(title=f"{report['summary']} ({report['method']})", header_style="bold")
    for col, justify in [("group", "left"), ("track", "left"), ("band Hz", "right"), ("band LUFS", "right"),
                         ("LUFS", "right"), ("fader dB", "right"), ("take dB", "right"), ("note", "left")]:
        table.add_column(col, justify=justify)

    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.1f}"

    def db(v: float | None) -> str:
        return "-inf" if v is None else f"{v:+.1f}"

    for t in sorted(report["tracks"], key=lambda t: (t["group"] or "~", t["index"])):
        if t["excluded"] is None and t["fader_after_db"] is None and not t["folder"]:
            continue
        band = t["band_hz"]
        fader = db(t["fader_before_db"])
        if t["fader_after_db"] is not None:
            fader += f" -> {db(t['fader_after_db'])}"
        note = f"left out: {t['excluded']}" if t["excluded"] else "; ".join(
            [n for n in [t["analysis_note"], *t["fx_notes"]] if n]
        )
        table.add_row(
            t["group"] or "-",
            t["name"] + ("/" if t["folder"] else ""),
            f"{band[0]:.0f}-{band[1]:.0f}" if band else "",
            num(t["band_loudness_lufs"]),
            num(t["lufs"]),
            fader,
            db(t["take_gain_db"]) if t["take_gain_db"] else "",
            note,
        )
    console.print(table)
    groups = Table(title="Groups", header_style="bold")
    for col in ("group", "from", "tracks", "stem band LUFS", "stem peak dBFS", "group gain dB"):
        groups.add_column(col)
    for g in report["groups"]:
        groups.add_row(
            g["name"],
            g["source"] + (f" ({g['folder_track']})" if g["folder_track"] else ""),
            str(len(g["tracks"])),
            num(g["stem_band_loudness_lufs_before_gain"]),
            num(g["stem_peak_dbfs_before_gain"]),
            db(g["gain_db"]),
        )
    console.print(groups)
    console.print(f"Balanced mix peak: {report['mix_peak_dbfs']} dBFS")
    for warning in report["warnings"]:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)


def mix_report(result: MixResult) -> dict[str, Any]:
    """The stage 2 report: stage 1's (with the faders stage 2 writes) plus every bus setting in physical units
    and the feature distances to the reference before (stage 1 only) and after matching, over the whole song."""
    report = balance_report(result.balance, result.plan, result.changes)
    buses = []
    session = result.balance.session
    m = result.match
    reductions = m.gain_reduction or [None] * len(m.stems)
    levels = m.levels_db or [None] * len(m.stems)
    for group, new, bus, settings, gr, level in zip(result.groups, result.new_bus, result.changes.buses, m.stems,
                                                    reductions, levels):
        bus_track = session.track_by_guid(bus.folder_guid) if bus.folder_guid else None
        buses.append(
            {
                "group": group.name,
                "bus_track": bus.group,
                "new_bus_track": new,
                "gain_db": _num(settings.gain_db),
                "pan": _num(bus.pan, 3) if bus.pan is not None else None,
                "eq": [
                    {"kind": b.kind, "freq_hz": _num(b.freq_hz, 1), "gain_db": _num(b.gain_db), "q": _num(b.q, 3),
                     "bandwidth_oct": _num(b.bandwidth_oct, 3)}
                    for b in bus.eq
                ] if bus.eq is not None else None,
                "compressor": {k: _num(v) for k, v in asdict(bus.compressor).items()}
                if bus.compressor is not None else None,
                "user_fx_after_ours": [f.label for f in bus_track.active_fx] if bus_track else [],
                # the compressor's reduction on this bus's own stem (0 when the compressor is off)
                "gain_reduction_db": {"mean": _num(gr.mean_db), "peak": _num(gr.peak_db)}
                if gr is not None and bus.compressor is not None else None,
                "stem_level_db": _num(level),
            }
        )
        note = bus_fx_note(bus_track) if bus_track else None
        if note:
            report["warnings"].append(note)
    report["stage2"] = {
        "engine": m.engine,
        "checkpoint_sha256": m.checkpoint_sha256,
        "buses": buses,
        "features": {"reference": m.reference.to_dict(), "before": m.before.to_dict(), "after": m.after.to_dict()},
        "distances_before": {k: _num(v, 3) for k, v in m.distances_before.items()},
        "distances_after": {k: _num(v, 3) for k, v in m.distances_after.items()},
        "excerpts_s": [[_num(a, 2), _num(b, 2)] for a, b in m.excerpts_s],
        # the plausibility limits this reference allowed, and why any is beyond the usual (matching/limits.py)
        "limits": {
            "pan_max": _num(m.pan_max, 3),
            "pan_reason": m.pan_reason,
            "mean_gain_reduction_max_db": _num(m.gain_reduction_max_db),
            "gain_reduction_reason": m.gain_reduction_reason,
        },
    }
    return report


def print_mix_table(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    stage2 = report["stage2"]
    table = Table(title=report["summary"], header_style="bold")
    for col in ("bus", "gain dB", "pan", "EQ gains dB (100/250/700/2k/5k/10k Hz)", "comp thr dB", "ratio",
                "GR dB avg/peak"):
        table.add_column(col)
    for b in stage2["buses"]:
        eq = " ".join(f"{band['gain_db']:+.1f}" for band in b["eq"]) if b["eq"] else "-"
        comp = b["compressor"]
        table.add_row(
            b["bus_track"] + (" (new)" if b["new_bus_track"] else ""),
            f"{b['gain_db']:+.1f}",
            "-" if b["pan"] is None else f"{b['pan']:+.2f}",
            eq,
            "-" if comp is None else f"{comp['threshold_db']:.1f}",
            "-" if comp is None else f"{comp['ratio']:.2f}",
            "-" if b.get("gain_reduction_db") is None else
            f"{b['gain_reduction_db']['mean']:.1f}/{b['gain_reduction_db']['peak']:.1f}",
        )
    console.print(table)
    for reason in (stage2["limits"]["pan_reason"], stage2["limits"]["gain_reduction_reason"]):
        if reason:
            console.print(f"Beyond the usual limits: {reason}.")
    terms = Table(title="Distance to the reference (whole song)", header_style="bold")
    for col in ("term", "stage 1 only", "matched"):
        terms.add_column(col, justify="right")
    for key, before in stage2["distances_before"].items():
        after = stage2["distances_after"][key]
        terms.add_row(key, f"{before:.3f}", f"{after:.3f}")
    console.print(terms)
    for t in report["tracks"]:
        for note in t["fx_notes"]:
            console.print(f"{t['name']}: {note}", highlight=False)
    for warning in report["warnings"]:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
