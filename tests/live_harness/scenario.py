"""Synthetic sessions and change sets for the live tests and the benchmark."""

from __future__ import annotations

import random
from pathlib import Path

from reaper_automix.changes import BusChange, ChangeSet, FaderChange, TakeGainChange
from reaper_automix.strip import Compressor, EqBand
from reaper_automix.session import Item, Session, Source, SourceKind, Take, Track


def guid(i: int) -> str:
    return "{%08X-0000-4000-8000-%012X}" % (i, i)


def make_session(n_groups: int, per_group: int, foldered: int, media: Path | None = None) -> Session:
    """``n_groups`` groups of ``per_group`` consecutive tracks; the first ``foldered`` groups sit in a user
    folder (a parent track named after the group), the others are loose at the top level."""
    tracks: list[Track] = []
    for g in range(n_groups):
        if g < foldered:
            tracks.append(Track(len(tracks), f"Group {g}", guid(1000 + g), folder_depth=1))
        for k in range(per_group):
            depth = -1 if (g < foldered and k == per_group - 1) else 0
            take = Take(volume=1.0, source=Source(SourceKind.AUDIO, (media or Path("/nonexistent")) / f"g{g}_{k}.wav",
                                                  "WAVE"))
            items = (Item(0.0, 4.0, take), Item(4.0, 2.0, take))
            tracks.append(Track(len(tracks), f"G{g} T{k}", guid(g * 100 + k), volume=1.0, folder_depth=depth,
                                items=items))
    return Session(Path("/tmp/live.rpp"), 44100, tuple(tracks))


def make_changes(session: Session, n_groups: int, per_group: int, foldered: int, seed: int = 1,
                 with_fx: bool = True) -> ChangeSet:
    rng = random.Random(seed)
    faders, takes, buses = [], [], []
    for t in session.tracks:
        if " T" in t.name:
            faders.append(FaderChange(t.guid, t.name, t.volume, round(rng.uniform(0.1, 1.9), 6)))
            if rng.random() < 0.25:
                takes.append(TakeGainChange(t.guid, t.name, round(rng.uniform(-30, 20), 3)))
    for g in range(n_groups):
        members = tuple(guid(g * 100 + k) for k in range(per_group))
        eq = comp = None
        if with_fx:
            eq = (EqBand("low_shelf", rng.uniform(60, 200), rng.uniform(-6, 6), 0.7),
                  EqBand("peak", rng.uniform(300, 3000), rng.uniform(-6, 6), rng.uniform(0.5, 4)),
                  EqBand("high_shelf", rng.uniform(4000, 12000), rng.uniform(-6, 6), 0.7))
            comp = Compressor(threshold_db=rng.uniform(-30, -5), ratio=rng.uniform(1.5, 8),
                                     attack_ms=rng.uniform(1, 50), release_ms=rng.uniform(50, 500),
                                     knee_db=rng.uniform(0, 12), makeup_db=rng.uniform(-6, 0))
        buses.append(BusChange(f"Group {g}", members, folder_guid=guid(1000 + g) if g < foldered else None,
                               volume=round(rng.uniform(0.3, 1.5), 6), pan=round(rng.uniform(-0.5, 0.5), 6),
                               eq=eq, compressor=comp))
    n = sum(1 for t in session.tracks if " T" in t.name)
    return ChangeSet(f"Automix: balanced {n} tracks in {n_groups} groups", tuple(faders), tuple(takes), tuple(buses))
