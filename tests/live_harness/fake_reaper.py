"""A stand-in for REAPER's Python host: the ``reaper_python`` module with the ``RPR_*`` functions the bridge uses,
on an in-memory project built from the session model.

It follows REAPER's Python conventions: out-parameters come back as a tuple ``(retval, *args with outs
filled)`` (void functions: just the arguments), objects are pointer strings ``"(MediaTrack*)0x..."``, and a
stale pointer is an error. Undo blocks, ``PreventUIRefresh`` and every state change are recorded, so tests
can assert "one undo point" and "no change outside it". ReaEQ and ReaComp keep normalized parameters; values
are formatted with the project's mapping table (``reaper_automix.reaper.mappings``) and ReaEQ's
frequency/gain curves from reaper.md) -- a stand-in, not REAPER's exact display strings.

Faults can be injected per function: ``faults = {"TrackFX_AddByName": (2, "raise")}`` makes the second call
raise RuntimeError; ``"die"`` raises SystemExit (the server action being killed mid-request).
"""

from __future__ import annotations

import itertools
import math
import types
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from reaper_automix.reaper.mappings import from_stored, load_fx_mappings
from reaper_automix.rpp.tokens import format_token

NULL = "0x0000000000000000"
_ids = itertools.count(0x10000)


def _ptr(kind: str) -> str:
    return f"({kind}*)0x{next(_ids):016X}"


def _guid() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


# ReaEQ frequency and gain curves (reaper.md section 3); bandwidth normalization is unknown: the stand-in
# uses octaves / 4 (range 0.01..4 octaves).
def eq_freq_x(hz: float) -> float:
    return math.log(1 + 400 * (hz - 20) / 23980) / math.log(401)


def eq_freq_hz(x: float) -> float:
    return 20 + 23980 * (401**x - 1) / 400


def eq_gain_x(a: float) -> float:
    return a / 2 if a <= 1 else 0.5 + (a - 1) / 6


def eq_gain_linear(x: float) -> float:
    return 2 * x if x <= 0.5 else 1 + 6 * (x - 0.5)


COMP_DEFAULTS = [1.0, 0.0, 0.006, 0.02, 0, 0, 1.0, 0, 0, 0, 3.16e-8, 1.0, 0, 0.05, 0, 0, 0, 0.25, 0, 0, 0]
COMP_NAMES = ["Thresh", "Ratio", "Attack", "Release", "Pre-comp", "resvd", "Lowpass", "Hipass", "SignIn", "AudIn",
              "Dry", "Wet", "PreviewF", "RMS size", "Knee", "AutoMkUp", "AutoRel", "ClsAttk", "AntiAls", "p19", "p20"]
EQ_DEFAULT_BANDS = [(1, 100.0), (2, 300.0), (2, 1000.0), (4, 5000.0)]  # (API band type, Hz)


@dataclass
class Fx:
    name: str  # ours: "ReaEQ (Cockos)"; the user's (from the spec): as REAPER shows it, "VST3: Amp (Vendor)"
    guid: str = field(default_factory=_guid)
    custom: str = ""  # the user's name for it
    bypassed: bool = False
    offline: bool = False
    params: list = field(default_factory=list)  # normalized
    band_types: list = field(default_factory=list)  # ReaEQ: API band type per band
    band_enabled: list = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "ReaEQ" if self.name.startswith("ReaEQ") else "ReaComp" if self.name.startswith("ReaComp") else "?"

    def format(self, param: int, x: float) -> str:
        if self.kind == "ReaEQ":
            what = param % 3
            if what == 0:
                return f"{eq_freq_hz(x):.1f}"
            if what == 1:
                a = eq_gain_linear(x)
                return "-inf" if a <= 0 else f"{20 * math.log10(a):+.2f}"
            return f"{4 * x:.2f}"
        comp = load_fx_mappings().reacomp_by_index()
        if self.kind == "ReaComp" and param in comp:
            entry = comp[param][1]
            if entry["map"] == "db_to_linear" and x <= 0:
                return "-inf"
            return f"{from_stored(entry, x):.2f}"
        return f"{x:.3f}"


@dataclass
class Source:
    ptr: str
    type: str
    file: str = ""
    parent: "Source | None" = None
    section: tuple = (0.0, 0.0, False)


@dataclass
class Take:
    ptr: str
    name: str
    volume: float
    source: Source
    pan: float = 0.0
    start_offset_s: float = 0.0
    playrate: float = 1.0


@dataclass
class Item:
    ptr: str
    position_s: float
    length_s: float
    take: Take | None
    volume: float = 1.0
    mute: bool = False


@dataclass
class Track:
    ptr: str
    guid: str
    name: str
    volume: float = 1.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False
    depth: int = 0
    nchan: int = 2
    selected: bool = False
    ext: dict = field(default_factory=dict)
    pan_law: float = -1.0  # D_PANLAW: < 0 = the project's law
    pan_law_flags: int = 0  # I_PANLAW_FLAGS: 0 sine, 2 linear, 3 hybrid taper
    items: list = field(default_factory=list)
    fx: list = field(default_factory=list)
    fx_enabled: bool = True
    receives: list = field(default_factory=list)  # {"source", "mode", "volume", "mute", "src_channel", "dest_channel"}


class FakeReaper:
    """The project and REAPER's global state, plus recordings for tests."""

    def __init__(self, spec: dict, resource_path: str = ""):
        self.project_ptr = _ptr("ReaProject")
        self.project_file = spec.get("project_file", "")
        self.sample_rate = spec.get("sample_rate", 44100)
        self.resource_path = resource_path
        self.objects: dict[str, object] = {}
        self.tracks: list[Track] = [self._track(t) for t in spec.get("tracks", ())]
        self.ext_state: dict[tuple[str, str], str] = {}
        self.project_info = {"RENDER_SETTINGS": 0.0, "RENDER_BOUNDSFLAG": 0.0, "RENDER_SRATE": 0.0,
                             "RENDER_CHANNELS": 2.0, "PROJECT_SRATE": float(self.sample_rate),
                             "PROJECT_SRATE_USE": 1.0}
        self.project_strings = {"RENDER_FILE": "", "RENDER_PATTERN": ""}
        self.undo: list[str] = []
        self.undo_depth = 0
        self.ui_refresh = 0
        self.changes_outside_undo: list[str] = []
        self.console: list[str] = []
        self.calls: dict[str, int] = {}
        self.faults: dict[str, tuple[int, str]] = dict(spec.get("faults", {}))
        self.user_inputs: list = list(spec.get("user_inputs", ()))
        self.file_picks: list = list(spec.get("file_picks", ()))  # GetUserFileNameForRead answers ("" = cancel)
        self.message_box_answers: list = list(spec.get("message_box_answers", ()))  # ShowMessageBox returns
        self.named_commands: dict[str, int] = dict(spec.get("named_commands", {}))
        self.rendered: list[str] = []

    # --- building --------------------------------------------------------------------------------------
    def _register(self, obj):
        self.objects[obj.ptr] = obj
        return obj

    def _track(self, t: dict) -> Track:
        track = self._register(Track(_ptr("MediaTrack"), t.get("guid") or _guid(), t.get("name", ""),
                                     t.get("volume", 1.0), t.get("pan", 0.0), t.get("mute", False),
                                     t.get("solo", False), t.get("folder_depth", 0), t.get("n_channels", 2),
                                     t.get("selected", False), dict(t.get("ext", {})),
                                     t.get("pan_law_gain", -1.0), t.get("pan_law_flags", 0)))
        for f in t.get("fx", ()):
            track.fx.append(Fx(f["name"], f.get("guid") or _guid(), f.get("custom", ""), f.get("bypassed", False),
                               f.get("offline", False)))
        track.fx_enabled = t.get("fx_enabled", True)
        track.receives = [dict(r) for r in t.get("receives", ())]
        for it in t.get("items", ()):
            take = None
            if it.get("take") is not None:
                tk = it["take"]
                src = self._register(Source(_ptr("PCM_source"), tk.get("type", "WAVE"), tk.get("file", "")))
                take = self._register(Take(_ptr("MediaItem_Take"), tk.get("name", ""), tk.get("volume", 1.0), src,
                                           tk.get("pan", 0.0), tk.get("start_offset_s", 0.0),
                                           tk.get("playrate", 1.0)))
            track.items.append(self._register(Item(_ptr("MediaItem"), it.get("position_s", 0.0),
                                                   it.get("length_s", 1.0), take, it.get("volume", 1.0),
                                                   it.get("mute", False))))
        return track

    # --- recording and checking --------------------------------------------------------------------------
    def called(self, name: str) -> None:
        n = self.calls[name] = self.calls.get(name, 0) + 1
        if name in self.faults and self.faults[name][0] == n:
            if self.faults[name][1] == "die":
                raise SystemExit(f"injected: REAPER's script host stopped in {name}")
            raise RuntimeError(f"injected fault in {name}")

    def changed(self, what: str) -> None:
        if self.undo_depth == 0:
            self.changes_outside_undo.append(what)

    def get(self, ptr, kind):
        obj = self.objects.get(ptr)
        if not isinstance(obj, kind):
            raise RuntimeError(f"invalid {kind.__name__} pointer {ptr!r}")
        return obj

    def dump(self) -> dict:
        return {
            "tracks": [{
                "guid": t.guid, "name": t.name, "volume": t.volume, "pan": t.pan, "folder_depth": t.depth,
                "selected": t.selected, "ext": t.ext,
                "take_volumes": [i.take.volume if i.take else None for i in t.items],
                "fx": [{"name": f.name, "guid": f.guid, "params": f.params, "band_types": f.band_types,
                        "band_enabled": f.band_enabled,
                        "formatted": [f.format(p, x) for p, x in enumerate(f.params)]} for f in t.fx],
            } for t in self.tracks],
            "undo": self.undo, "undo_depth": self.undo_depth, "ui_refresh": self.ui_refresh,
            "changes_outside_undo": self.changes_outside_undo, "calls": self.calls,
            "ext_state": {f"{s}/{k}": v for (s, k), v in self.ext_state.items()}, "console": self.console,
            "rendered": self.rendered,
        }


def build_module(r: FakeReaper, run_action=None) -> types.ModuleType:
    """The ``reaper_python`` module over ``r``: every ``RPR_*`` function counts its calls (and faults)."""
    m = types.ModuleType("reaper_python")
    m._ft = {}
    m.rpr_packp = lambda kind, value: value

    def api(fn):
        name = fn.__name__

        def wrapped(*args):
            r.called(name)
            return fn(*args)

        wrapped.__name__ = "RPR_" + name
        setattr(m, "RPR_" + name, wrapped)
        return fn

    def track(p) -> Track:
        return r.get(p, Track)

    # --- project ----------------------------------------------------------------------------------------
    @api
    def EnumProjects(idx, buf, sz):
        return (r.project_ptr if idx in (-1, 0) else "(ReaProject*)" + NULL), idx, r.project_file, sz

    @api
    def GetSetProjectInfo(proj, desc, value, is_set):
        if is_set:
            r.project_info[desc] = float(value)
        return r.project_info.get(desc, 0.0)

    @api
    def GetSetProjectInfo_String(proj, desc, value, is_set):
        if is_set:
            r.project_strings[desc] = value
        return True, proj, desc, r.project_strings.get(desc, ""), is_set

    @api
    def GetAudioDeviceInfo(attr, buf, sz):
        return True, attr, "44100" if attr == "SRATE" else "", sz

    @api
    def GetResourcePath():
        return r.resource_path

    @api
    def GetAppVersion():
        return "7.51/linux-x86_64 (stand-in)"

    # --- tracks ---------------------------------------------------------------------------------------------
    @api
    def CountTracks(proj):
        return len(r.tracks)

    @api
    def GetTrack(proj, idx):
        return r.tracks[idx].ptr if 0 <= idx < len(r.tracks) else "(MediaTrack*)" + NULL

    @api
    def GetTrackName(tr, buf, sz):
        return True, tr, track(tr).name, sz

    @api
    def GetTrackGUID(tr):
        return track(tr).guid

    values = {"D_VOL": "volume", "D_PAN": "pan", "B_MUTE": "mute", "I_SOLO": "solo", "I_FOLDERDEPTH": "depth",
              "I_NCHAN": "nchan", "I_SELECTED": "selected", "D_PANLAW": "pan_law", "I_PANLAW_FLAGS": "pan_law_flags"}

    @api
    def GetMediaTrackInfo_Value(tr, key):
        t = track(tr)
        if key == "IP_TRACKNUMBER":
            return float(r.tracks.index(t) + 1)
        return float(getattr(t, values[key]))

    @api
    def SetMediaTrackInfo_Value(tr, key, value):
        t = track(tr)
        attr = values[key]
        setattr(t, attr, type(getattr(t, attr))(value) if attr != "volume" and attr != "pan" else float(value))
        r.changed(f"{t.name} {key}")
        return True

    @api
    def GetSetMediaTrackInfo_String(tr, key, value, is_set):
        t = track(tr)
        if key == "P_NAME":
            if is_set:
                t.name = value
                r.changed(f"{t.name} name")
            return True, tr, key, t.name, is_set
        if key == "GUID":
            return True, tr, key, t.guid, is_set
        if key.startswith("P_EXT:"):
            k = key[6:]
            if is_set:
                t.ext[k] = value
                r.changed(f"{t.name} ext {k}")
            return k in t.ext, tr, key, t.ext.get(k, ""), is_set
        raise RuntimeError(f"stand-in: unsupported track string {key}")

    @api
    def IsTrackSelected(tr):
        return track(tr).selected

    @api
    def SetTrackSelected(tr, selected):
        track(tr).selected = bool(selected)

    @api
    def SetOnlyTrackSelected(tr):
        chosen = track(tr)
        for t in r.tracks:
            t.selected = t is chosen

    @api
    def ReorderSelectedTracks(before_idx, make_prev_folder):
        """REAPER SDK: "Moves all selected tracks to immediately above track specified by index beforeTrackIdx,
        returns false if no tracks were selected. makePrevFolder=0 for normal, 1 = as child of track preceding
        track specified by beforeTrackIdx, 2 = if track preceding track specified by beforeTrackIdx is last
        track in folder, extend folder".

        The moved tracks keep their order and land at the level of the track at ``beforeTrackIdx`` (depth 0),
        except as makePrevFolder says. What the SDK leaves open is modelled so that the other tracks keep
        their folder structure: a moved track that closed folders (negative depth) hands that depth to the
        nearest track above it that stays. Moving folder tracks (positive depth; REAPER moves their children
        too) is not modelled and refused."""
        moving = [t for t in r.tracks if t.selected]
        if not moving:
            return False
        if any(t.depth > 0 for t in moving):
            raise RuntimeError("stand-in: ReorderSelectedTracks of folder tracks is not modelled")
        before_idx = max(0, min(int(before_idx), len(r.tracks)))
        at = sum(1 for t in r.tracks[:before_idx] if not t.selected)
        for i, t in enumerate(r.tracks):
            if t.selected and t.depth < 0:
                above = next((u for u in reversed(r.tracks[:i]) if not u.selected), None)
                if above is not None:
                    above.depth += t.depth
                t.depth = 0
        staying = [t for t in r.tracks if not t.selected]
        r.tracks[:] = staying[:at] + moving + staying[at:]
        prev = staying[at - 1] if at > 0 else None
        if prev is not None and make_prev_folder == 1 and prev.depth <= 0:
            moving[-1].depth, prev.depth = prev.depth - 1, 1
        elif prev is not None and make_prev_folder == 2 and prev.depth < 0:
            moving[-1].depth, prev.depth = prev.depth, 0
        r.changed("reorder tracks")
        return True

    @api
    def CountSelectedTracks(proj):
        return sum(t.selected for t in r.tracks)

    @api
    def GetSelectedTrack(proj, idx):
        return [t for t in r.tracks if t.selected][idx].ptr

    @api
    def GetParentTrack(tr):
        t = track(tr)
        stack: list[Track] = []
        for other in r.tracks:
            if other is t:
                return stack[-1].ptr if stack else "(MediaTrack*)" + NULL
            if other.depth > 0:
                stack.append(other)
            elif other.depth < 0:
                del stack[max(0, len(stack) + other.depth) :]
        raise RuntimeError("unreachable")

    @api
    def InsertTrackInProject(proj, idx, flags):
        new = r._track({"name": ""})
        r.tracks.insert(max(0, min(idx, len(r.tracks))), new)
        r.changed("insert track")

    @api
    def DeleteTrack(tr):
        t = track(tr)
        r.tracks.remove(t)
        del r.objects[t.ptr]
        r.changed(f"delete {t.name}")

    # --- items ------------------------------------------------------------------------------------------------
    @api
    def CountTrackMediaItems(tr):
        return len(track(tr).items)

    @api
    def GetTrackMediaItem(tr, idx):
        return track(tr).items[idx].ptr

    item_values = {"D_POSITION": "position_s", "D_LENGTH": "length_s", "D_VOL": "volume", "B_MUTE": "mute"}

    @api
    def GetMediaItemInfo_Value(it, key):
        item = r.get(it, Item)
        return float(getattr(item, item_values[key])) if key in item_values else 0.0

    @api
    def GetActiveTake(it):
        item = r.get(it, Item)
        return item.take.ptr if item.take else "(MediaItem_Take*)" + NULL

    take_values = {"D_VOL": "volume", "D_PAN": "pan", "D_STARTOFFS": "start_offset_s", "D_PLAYRATE": "playrate"}

    @api
    def GetMediaItemTakeInfo_Value(tk, key):
        take = r.get(tk, Take)
        return float(getattr(take, take_values[key])) if key in take_values else (1.0 if key == "B_PPITCH" else 0.0)

    @api
    def SetMediaItemTakeInfo_Value(tk, key, value):
        take = r.get(tk, Take)
        setattr(take, take_values[key], float(value))
        r.changed(f"take {key}")
        return True

    @api
    def GetSetMediaItemTakeInfo_String(tk, key, value, is_set):
        return True, tk, key, r.get(tk, Take).name, is_set

    @api
    def GetMediaItemTake_Source(tk):
        return r.get(tk, Take).source.ptr

    @api
    def GetMediaSourceType(src, buf, sz):
        return src, r.get(src, Source).type, sz

    @api
    def GetMediaSourceFileName(src, buf, sz):
        return src, r.get(src, Source).file, sz

    @api
    def GetMediaSourceParent(src):
        s = r.get(src, Source)
        return s.parent.ptr if s.parent else "(PCM_source*)" + NULL

    @api
    def PCM_Source_GetSectionInfo(src, offs, length, rev):
        s = r.get(src, Source)
        return s.type == "SECTION", src, s.section[0], s.section[1], s.section[2]

    @api
    def GetTrackStateChunk(tr, buf, size, is_undo):
        """The track as REAPER writes it in a project (the parts the bridge reads, plus plug-in state and an
        item that it must skip)."""
        t = track(tr)
        lines = [f"<TRACK {t.guid}", f"NAME {format_token(t.name)}", f"FX {int(t.fx_enabled)}"]
        for rc in t.receives:
            lines.append(f"AUXRECV {rc['source']} {rc.get('mode', 0)} {rc.get('volume', 1.0)!r} 0 "
                         f"{int(rc.get('mute', False))} 0 0 {rc.get('src_channel', 0)} {rc.get('dest_channel', 0)} "
                         "-1:U 0 -1 ''")
        if t.fx:
            lines += ["<FXCHAIN", "SHOW 0", "LASTSEL 0", "DOCKED 0"]
            for f in t.fx:
                lines.append(f"BYPASS {int(f.bypassed)} {int(f.offline)} 0")
                shown = f.name if ":" in f.name else f"VST: {f.name}"
                kind, _, plugin = shown.partition(": ")
                if kind == "JS":
                    lines += [f"<JS {plugin} {format_token(f.custom)}", "0 - - -", ">"]
                else:
                    lines += [f"<VST {format_token(shown)} plugin.dll 0 {format_token(f.custom)} 1<00> \"\"",
                              "bWNlcu9e7f4EAAAAAQAAAAAAAAACAAAA", ">"]
                lines += [f"FXID {f.guid}", "WAK 0 0"]
            lines.append(">")
        lines += ["<ITEM", "POSITION 0", "<SOURCE MIDI", "E 0 90 3c 60", ">", ">", ">"]
        if len("\n".join(lines)) >= size:
            return False, tr, "", size, is_undo
        return True, tr, "\n".join(lines), size, is_undo

    @api
    def GetTrackNumSends(tr, category):
        """SDK: category < 0 receives, 0 sends, > 0 hardware outputs (the stand-in models receives only)."""
        return len(track(tr).receives) if category < 0 else 0

    # --- FX -----------------------------------------------------------------------------------------------------
    def fx_of(tr, idx) -> Fx:
        t = track(tr)
        if not 0 <= idx < len(t.fx):
            raise RuntimeError(f"stand-in: no FX {idx} on {t.name!r}")
        return t.fx[idx]

    @api
    def TrackFX_GetCount(tr):
        return len(track(tr).fx)

    @api
    def TrackFX_AddByName(tr, name, rec_fx, instantiate):
        t = track(tr)
        if name not in ("ReaEQ (Cockos)", "ReaComp (Cockos)", "ReaEQ", "ReaComp"):
            return -1
        if instantiate >= 0:
            found = [i for i, f in enumerate(t.fx) if f.name.startswith(name.split(" ")[0])]
            if found or instantiate == 0:
                return found[0] if found else -1
        fx = Fx(name if "(" in name else name + " (Cockos)")
        if fx.kind == "ReaEQ":
            fx.band_types = [b for b, _ in EQ_DEFAULT_BANDS]
            fx.band_enabled = [True] * 4
            fx.params = []
            for _, hz in EQ_DEFAULT_BANDS:
                fx.params += [eq_freq_x(hz), 0.5, 0.5]
        else:
            fx.params = list(COMP_DEFAULTS)
        at = len(t.fx) if instantiate > -1000 else min(len(t.fx), -1000 - instantiate)  # SDK: <= -1000 inserts
        t.fx.insert(at, fx)
        r.changed(f"{t.name} add {name}")
        return at

    @api
    def TrackFX_Delete(tr, idx):
        t = track(tr)
        fx_of(tr, idx)
        del t.fx[idx]
        r.changed(f"{t.name} delete fx")
        return True

    @api
    def TrackFX_GetFXGUID(tr, idx):
        return fx_of(tr, idx).guid

    @api
    def TrackFX_GetNumParams(tr, idx):
        return len(fx_of(tr, idx).params)

    @api
    def TrackFX_GetParamName(tr, idx, param, buf, sz):
        fx = fx_of(tr, idx)
        name = COMP_NAMES[param] if fx.kind == "ReaComp" else f"{['Freq', 'Gain', 'BW'][param % 3]}-Band {param // 3 + 1}"
        return True, tr, idx, param, name, sz

    @api
    def TrackFX_SetParamNormalized(tr, idx, param, value):
        fx_of(tr, idx).params[param] = min(1.0, max(0.0, float(value)))
        r.changed("fx param")
        return True

    @api
    def TrackFX_GetParamNormalized(tr, idx, param):
        return fx_of(tr, idx).params[param]

    @api
    def TrackFX_GetFormattedParamValue(tr, idx, param, buf, sz):
        fx = fx_of(tr, idx)
        return True, tr, idx, param, fx.format(param, fx.params[param]), sz

    @api
    def TrackFX_FormatParamValueNormalized(tr, idx, param, value, buf, sz):
        return True, tr, idx, param, value, fx_of(tr, idx).format(param, value), sz

    def eq_band(fx: Fx, bandtype: int, bandidx: int) -> int | None:
        matches = [k for k, b in enumerate(fx.band_types) if b == bandtype]
        return matches[bandidx] if bandidx < len(matches) else None

    @api
    def TrackFX_SetEQParam(tr, idx, bandtype, bandidx, paramtype, value, isnorm):
        fx = fx_of(tr, idx)
        k = eq_band(fx, bandtype, bandidx) if fx.kind == "ReaEQ" else None
        if k is None:
            return False
        if not isnorm:
            value = [eq_freq_x, eq_gain_x, lambda bw: bw / 4][paramtype](float(value))
        fx.params[3 * k + paramtype] = min(1.0, max(0.0, value))
        r.changed("eq param")
        return True

    @api
    def TrackFX_SetEQBandEnabled(tr, idx, bandtype, bandidx, enabled):
        fx = fx_of(tr, idx)
        k = eq_band(fx, bandtype, bandidx) if fx.kind == "ReaEQ" else None
        if k is None:
            return False
        fx.band_enabled[k] = bool(enabled)
        r.changed("eq band enabled")
        return True

    # --- undo, UI, state ------------------------------------------------------------------------------------------
    @api
    def Undo_BeginBlock2(proj):
        r.undo_depth += 1

    @api
    def Undo_EndBlock2(proj, description, flags):
        if r.undo_depth <= 0:
            raise RuntimeError("Undo_EndBlock2 without Undo_BeginBlock2")
        r.undo_depth -= 1
        if r.undo_depth == 0:
            r.undo.append(description)

    @api
    def PreventUIRefresh(n):
        r.ui_refresh += int(n)

    @api
    def TrackList_AdjustWindows(is_minor):
        pass

    @api
    def UpdateArrange():
        pass

    @api
    def SetExtState(section, key, value, persist):
        r.ext_state[(section, key)] = str(value)

    @api
    def GetExtState(section, key):
        return r.ext_state.get((section, key), "")

    @api
    def HasExtState(section, key):
        return (section, key) in r.ext_state

    @api
    def DeleteExtState(section, key, persist):
        r.ext_state.pop((section, key), None)

    @api
    def ShowConsoleMsg(msg):
        r.console.append(str(msg))

    @api
    def ShowMessageBox(msg, title, kind):
        r.console.append(f"[message box] {title}: {msg}")
        return r.message_box_answers.pop(0) if r.message_box_answers else 1

    @api
    def GetUserFileNameForRead(filename, title, defext):
        picked = r.file_picks.pop(0) if r.file_picks else ""
        return bool(picked), picked, title, defext

    @api
    def GetUserInputs(title, n, captions, values, sz):
        if not r.user_inputs:
            return False, title, n, captions, values, sz
        return True, title, n, captions, r.user_inputs.pop(0), sz

    # --- actions and rendering ------------------------------------------------------------------------------------
    RENDER_ID = 42230

    @api
    def SectionFromUniqueID(uid):
        return "(KbdSectionInfo*)0x0000000000000001"

    @api
    def kbd_enumerateActions(section, idx, name):
        table = [(40001, "Track: Insert new track"),
                 (RENDER_ID, "File: Render project, using the most recent render settings, auto-close render dialog")]
        if idx < len(table):
            return table[idx][0], section, idx, table[idx][1]
        return 0, section, idx, ""

    @api
    def AddRemoveReaScript(add, section, filename, commit):
        """Registers ``filename`` as an action (once) and returns its command id, as REAPER does."""
        key = "script:" + filename
        if key not in r.named_commands:
            r.named_commands[key] = 50000 + len(r.named_commands)
        return r.named_commands[key]

    @api
    def NamedCommandLookup(name):
        return r.named_commands.get(name.lstrip("_"), 0)

    @api
    def Main_OnCommand(cmd, flag):
        if cmd == RENDER_ID:
            render(r)
        elif run_action is not None:
            run_action(cmd)

    return m


def render(r: FakeReaper) -> None:
    """The render action: one pre-fader stem per selected track, made with the offline renderer (the stand-in
    has no audio engine of its own), named by RENDER_FILE/RENDER_PATTERN with ``$tracknumber``."""
    import soundfile as sf

    from reaper_automix.audio.render import render_track
    from reaper_automix.session import Item, Session, Source, SourceKind, Take, Track as STrack

    settings = int(r.project_info["RENDER_SETTINGS"])
    if not settings & 2:
        raise RuntimeError("stand-in renders stems only")
    folder = Path(r.project_strings["RENDER_FILE"])
    for n, t in enumerate(r.tracks, 1):
        if not t.selected:
            continue
        items = tuple(
            Item(i.position_s, i.length_s,
                 Take(volume=i.take.volume, source=Source(SourceKind.AUDIO, Path(i.take.source.file),
                                                          i.take.source.type), start_offset_s=i.take.start_offset_s)
                 if i.take else None, volume=i.volume, mute=i.mute)
            for i in t.items
        )
        session = Session(Path(r.project_file or "live.rpp"), int(r.sample_rate), (STrack(0, t.name, t.guid, items=items),))
        audio = render_track(session, session.tracks[0])
        pattern = r.project_strings["RENDER_PATTERN"]  # wildcards as REAPER's: the number before the name
        name = pattern.replace("$tracknumber", str(n)).replace("$track", t.name) + ".wav"
        sf.write(folder / name, audio.T, int(r.sample_rate), subtype="FLOAT")
        r.rendered.append(name)
