"""What a measurement of each track hears and misses: plug-ins, instruments, returns and pre-fader sends.

Our offline renderer plays items only; REAPER (live mode) and the stems a user renders in REAPER (``--stems``)
include every track's plug-ins. These functions turn the session's FX and receive facts into the per-track notes
and the session warning that ``info``, the report and the terminal summary show, so that a track whose
plug-ins change its sound is never measured dry without saying so.
"""

from __future__ import annotations

from collections.abc import Iterable

from .session import Session, Track
from .units import gain_to_db

ADVICE = (
    'for a balance of what you hear, render stems in REAPER (action "Automix: Render stems for offline '
    'analysis...") and pass --stems DIR, or balance the open project with "reaper-automix live balance"'
)


def fx_labels(track: Track) -> str:
    """``"Amp (VST3), Saturation (JS)"``: the track's active user plug-ins."""
    return ", ".join(f.label for f in track.active_fx)


def dry_note(track: Track) -> str | None:
    """``"measured without 2 active plug-ins: Amp (VST3), Saturation (JS)"``, or None without active FX."""
    n = len(track.active_fx)
    if not n:
        return None
    return f"measured without {n} active plug-in{'s' if n > 1 else ''}: {fx_labels(track)}"


def return_reason(session: Session, track: Track) -> str:
    """Why a return track cannot be measured offline."""
    sources = [session.tracks[r.source].name for r in track.audible_receives if r.source < len(session.tracks)]
    fx = fx_labels(track)
    return (
        f"return track fed by sends from {', '.join(sources) or 'other tracks'}"
        + (f" through {fx}" if fx else "")
        + ": only REAPER renders it (use --stems or live mode)"
    )


def instrument_reason(track: Track) -> str:
    """Why an instrument track cannot be measured offline."""
    return f"instrument track (MIDI played by {track.instrument.label}): only REAPER renders it (use --stems or live mode)"


def pre_fader_sends(session: Session, index: int) -> list[str]:
    """Names of the tracks that track ``index`` feeds through an audible pre-fader send."""
    return [
        t.name
        for t in session.tracks
        for r in t.receives
        if r.source == index and r.mode.pre_fader and not r.mute and r.audio
    ]


def send_note(session: Session, index: int) -> str | None:
    """A note for a balanced track whose pre-fader sends do not follow its fader."""
    targets = pre_fader_sends(session, index)
    if not targets:
        return None
    return f"pre-fader send to {', '.join(targets)}: its level does not follow the fader"


def track_notes(session: Session, track: Track, *, renders_fx: bool) -> list[str]:
    """Everything the report says about a track's plug-ins and sends (empty for a plain dry track)."""
    notes = []
    if not renders_fx:
        note = dry_note(track)
        if note and track.has_audio:
            notes.append(note)
    send = send_note(session, track.index)
    if send:
        notes.append(send)
    return notes


def dry_warning(session: Session, measured: Iterable[int], *, renders_fx: bool) -> str | None:
    """The session-level warning when measured tracks carry active plug-ins the renderer did not run."""
    if renders_fx:
        return None
    dry = [session.tracks[t] for t in measured if session.tracks[t].active_fx]
    if not dry:
        return None
    names = ", ".join(t.name for t in dry[:5]) + (f" and {len(dry) - 5} more" if len(dry) > 5 else "")
    return (
        f"{len(dry)} measured track{'s carry' if len(dry) > 1 else ' carries'} active plug-ins that the offline "
        f"renderer does not run ({names}): they were measured dry; {ADVICE}"
    )


def track_fx_summary(track: Track) -> str:
    """The track's chain for a table cell: active plug-ins (instruments marked), then what is switched off."""
    shown = [("instrument: " if f.instrument else "") + f.label for f in track.active_fx]
    ours = [f for f in track.fx if f.ours]
    if ours:
        shown.append(f"{len(ours)} ours")
    off = [f for f in track.fx if not f.ours and f not in track.active_fx]
    if off:
        why = "chain bypassed" if not track.fx_enabled else "bypassed/offline"
        shown.append(f"{len(off)} {why}")
    return ", ".join(shown)


def receive_labels(session: Session, track: Track) -> str:
    """``"Vox (post-FX, -6.0 dB)"`` per receive; muted ones and side-chain feeds marked."""
    parts = []
    for r in track.receives:
        source = session.tracks[r.source].name if r.source < len(session.tracks) else f"track {r.source + 1}"
        what = [r.mode.value, f"{gain_to_db(r.volume):+.1f} dB"]
        if r.mute:
            what.append("muted")
        if not r.audio:
            what.append("MIDI")
        elif not r.feeds_main_pair:
            what.append(f"side-chain into {r.dest_channel + 1}/{r.dest_channel + 2}")
        parts.append(f"{source} ({', '.join(what)})")
    return ", ".join(parts)


def fx_facts(session: Session, track: Track) -> dict:
    """The track's FX, instrument and receives as plain JSON-able data (for reports)."""
    return {
        "fx": [
            {"name": f.name, "plugin": f.plugin, "format": f.format.value, "instrument": f.instrument,
             "bypassed": f.bypassed, "offline": f.offline, "ours": f.ours}
            for f in track.fx
        ],
        "fx_chain_enabled": track.fx_enabled,
        "instrument": track.instrument.label if track.instrument else None,
        "receives": [
            {"from": session.tracks[r.source].name if r.source < len(session.tracks) else None,
             "mode": r.mode.value, "volume": r.volume, "mute": r.mute, "dest_channel": r.dest_channel + 1,
             "audio": r.audio}
            for r in track.receives
        ],
        "return_track": track.is_return,
        "instrument_track": track.is_instrument_track,
    }


def bus_fx_note(track: Track) -> str | None:
    """For a bus that keeps the user's plug-ins: ours go before them, and the console does not model them."""
    if not track.active_fx:
        return None
    return (
        f"bus {track.name!r}: our EQ and compressor go first in its chain; the user's {fx_labels(track)} after "
        "them are not modelled by the console, so the matched result is measured without them"
    )
