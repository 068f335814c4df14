"""A safe stand-in for reapy's server, run inside REAPER by ``reascripts/automix_server.py``.

reapy's stock server (``reapy/reascripts/activate_reapy_server.py``) binds ``0.0.0.0`` and runs whatever
function a request names: its JSON decoder imports any module named in the request, so anyone who reaches the
port runs code inside REAPER. This server keeps reapy's wire protocol, so reapy's own client carries the
requests:

- frames: 8-byte little-endian length, then UTF-8 JSON; frames over :data:`MAX_FRAME_BYTES` are refused
  before anything is buffered;
- on connect the server sends the client's address; a request is
  ``{"function": <callable>, "input": {"args": [...], "kwargs": {...}}}`` where a callable travels as
  ``{"__callable__": true, "module_name": ..., "name": ...}``; ``"HOLD"``/``"RELEASE"`` bracket a batch;
- a reply is ``{"type": "result", "value": ...}`` or ``{"type": "error", "traceback": <one line>}``.

What it adds:

- **Authentication.** A per-install secret (:func:`load_or_create_token`: random, in a file only the user can
  read, mode 0600; its path is published in the ExtState ``reaper_automix/token_file``). The first request of
  every connection must be ``{"function": "AUTH", "input": {"token": ...}}``; anything else, or a wrong token,
  is answered with one error line and the connection is closed. (The one exception: reapy's import-time
  ``_get_api_names`` is answered with an empty list, so ``import reapy`` next to a running REAPER does not fail.)
- **An exact allow-list** (:data:`API_CALLS`): the REAPER API functions the tool's own code calls, each with
  argument checks (types, finite numbers, bounded strings and buffers, and for the few that could do harm: the
  one render action for ``Main_OnCommand``, this tool's ExtState section for ``SetExtState``, render keys for
  project settings, the tool's own track keys for track strings), and the operations of
  :data:`reaper_automix.live.ops.EXPORTED`. No reapy internals, no imports of what a request names.
- **Bounded.** At most :data:`MAX_CONNECTIONS` clients; unauthenticated ones are dropped after
  :data:`AUTH_TIMEOUT_S`; a HOLD lasts at most :data:`HOLD_LIMIT_S` in total, however busy the client is.
- **Never dies on client input.** Every failure is answered with a one-line message (no traceback) or ends
  that client's connection; :meth:`SafeServer.poll` itself never raises because of what a client sent.
- **Undo blocks and UI-refresh locks tracked whoever opens them**: direct API calls are counted per
  connection, and the operations run on a counting API; anything left open is closed when the operation
  returns (operations) or when the client goes (direct calls).

Only the standard library is imported here.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import re
import secrets
import socket
import stat
import time
from pathlib import Path

OPS_MODULE = "reaper_automix.live.ops"
API_MODULE = "reapy.reascript_api"
MAX_FRAME_BYTES = 16 << 20  # a request or reply larger than this is refused
MAX_CONNECTIONS = 32
AUTH_TIMEOUT_S = 5.0  # a connection that has not authenticated by then is dropped
HOLD_LIMIT_S = 30.0  # total length of one HOLD (REAPER's UI is blocked meanwhile)
SEND_TIMEOUT_S = 5.0  # a client that does not read its replies for this long is dropped
MAX_STRING = 4096  # longest string argument
MAX_BUFFER = 1 << 16  # largest out-buffer size argument
MAX_CHUNK_BUFFER = 1 << 24  # largest GetTrackStateChunk buffer (ops.CHUNK_SIZE: large sampler states)
MAX_MESSAGE = 300  # longest error message sent back
INTERRUPTED_UNDO = "Automix: interrupted (connection to the tool lost)"
TOKEN_EXT = ("reaper_automix", "token_file")  # ExtState (section, key) holding the token file's path
TOKEN_FILE_ENV = "REAPER_AUTOMIX_TOKEN_FILE"  # overrides the token file's location (tests)


class Refused(Exception):
    """A request outside the allow-list, or with arguments it does not accept; nothing was run."""


class TokenError(Exception):
    """The token file is missing, unreadable, or readable by other users."""


# --- the token ------------------------------------------------------------------------------------------------


def token_path(resource_path: str) -> Path:
    """Where the install's token lives: ``<REAPER resource folder>/reaper_automix/server_token``."""
    override = os.environ.get(TOKEN_FILE_ENV)
    if override:
        return Path(override)
    base = Path(resource_path) if resource_path else Path.home() / ".config"
    return base / "reaper_automix" / "server_token"


def load_or_create_token(path: Path) -> str:
    """The token in ``path``, created (random, mode 0600, folder 0700) when absent. A token file that others
    could read, or that is not a regular file of this user, is replaced by a new one (the old may be known)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return read_token(path)
    except TokenError:
        pass
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token


def read_token(path: Path | str) -> str:
    """The token of a token file that only its owner (this user) can read; raises TokenError otherwise."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise TokenError(f"no token file at {path} ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise TokenError(f"token file {path} is not a regular file")
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
        raise TokenError(f"token file {path} must belong to this user and be readable by no one else (mode 0600)")
    token = path.read_text(encoding="ascii", errors="replace").strip()
    if not re.fullmatch(r"[0-9a-f]{64}", token):
        raise TokenError(f"token file {path} does not hold a token")
    return token


# --- argument checks ------------------------------------------------------------------------------------------

_POINTER = re.compile(r"\((?:ReaProject|MediaTrack|MediaItem|MediaItem_Take|PCM_source|KbdSectionInfo)\*\)0x[0-9A-Fa-f]{1,16}")


def _pointer(value) -> bool:
    """A REAPER object pointer string, or a project number (0 = the current project)."""
    return (isinstance(value, str) and _POINTER.fullmatch(value) is not None) or (
        isinstance(value, int) and not isinstance(value, bool) and -1 <= value <= 1 << 10
    )


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(1 << 31) <= value < 1 << 31


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _flag(value) -> bool:
    return isinstance(value, bool) or value in (0, 1)


def _string(value) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= MAX_STRING)


def _buffer(value) -> bool:
    return _int(value) and 0 <= value <= MAX_BUFFER


def _chunk_buffer(value) -> bool:
    return _int(value) and 0 <= value <= MAX_CHUNK_BUFFER


_KINDS = {"p": _pointer, "i": _int, "f": _number, "b": _flag, "s": _string, "n": _buffer, "N": _chunk_buffer}
_KIND_NAMES = {"p": "a REAPER object", "i": "an integer", "f": "a finite number", "b": "0 or 1",
               "s": f"a string of at most {MAX_STRING} characters", "n": f"a buffer size 0-{MAX_BUFFER}",
               "N": f"a state-chunk buffer size 0-{MAX_CHUNK_BUFFER}"}

# Track, take and project keys the tool sets (reads are not restricted).
_TRACK_NUMBERS_SET = frozenset({"D_VOL", "D_PAN", "I_FOLDERDEPTH"})
_TAKE_NUMBERS_SET = frozenset({"D_VOL"})
_TRACK_STRINGS_SET = re.compile(r"P_NAME|P_EXT:reaper_automix\w*")
_PROJECT_SET = re.compile(r"RENDER_\w+")
EXT_SECTION = "reaper_automix"


def _setting(value_index: int, key_index: int, allowed, what: str):
    """A check for GetSet* calls: when the last argument says "set", the key must be one the tool writes."""

    def check(args) -> str | None:
        if not args[value_index]:
            return None
        key = args[key_index]
        ok = allowed.fullmatch(key) if isinstance(allowed, re.Pattern) else key in allowed
        return None if ok else f"setting {what} {key!r} is not something this tool does"

    return check


def _always_key(key_index: int, allowed: frozenset, what: str):
    def check(args) -> str | None:
        return None if args[key_index] in allowed else f"setting {what} {args[key_index]!r} is not something this tool does"

    return check


def _ext_section(args) -> str | None:
    return None if args[0] == EXT_SECTION else f"only ExtState section {EXT_SECTION!r} may be written"


def _ui_refresh(args) -> str | None:
    return None if args[0] in (-1, 1) else "PreventUIRefresh takes 1 or -1"


def _reads_only(args) -> str | None:
    return "this tool only reads take strings" if args[-1] else None


def _yes_no_question(args) -> str | None:
    """The one dialog the tool shows (``live`` commands, faders moved meanwhile): a Yes/No box titled Automix."""
    return None if args[1] == "Automix" and args[2] == 4 else "only the tool's own Yes/No question may be shown"


def _fx_name(args) -> str | None:
    return None if args[1] in ("ReaEQ", "ReaComp", "ReaEQ (Cockos)", "ReaComp (Cockos)") else (
        f"only ReaEQ and ReaComp may be added, not {args[1]!r}")


# REAPER API functions the tool's code calls (reaper_automix.live.ops through a remote Api, live/commands.py's
# question, and reapy's Project()), with argument kinds and, where a call could do harm, a check of what it does. ``Main_OnCommand``
# is checked against the render action separately (SafeServer._check_action).
API_CALLS: dict[str, tuple[str, object]] = {
    "EnumProjects": ("isn", None),
    "GetSetProjectInfo": ("psfb", _setting(3, 1, _PROJECT_SET, "project info")),
    "GetSetProjectInfo_String": ("pssb", _setting(3, 1, _PROJECT_SET, "project info")),
    "GetAudioDeviceInfo": ("ssn", None),
    "CountTracks": ("p", None),
    "GetTrack": ("pi", None),
    "GetTrackGUID": ("p", None),
    "GetTrackStateChunk": ("psNb", _reads_only),
    "GetMediaTrackInfo_Value": ("ps", None),
    "SetMediaTrackInfo_Value": ("psf", _always_key(1, _TRACK_NUMBERS_SET, "track value")),
    "GetSetMediaTrackInfo_String": ("pssb", _setting(3, 1, _TRACK_STRINGS_SET, "track string")),
    "IsTrackSelected": ("p", None),
    "SetTrackSelected": ("pb", None),
    "SetOnlyTrackSelected": ("p", None),
    "ReorderSelectedTracks": ("ii", None),
    "InsertTrackInProject": ("pii", None),
    "CountTrackMediaItems": ("p", None),
    "GetTrackMediaItem": ("pi", None),
    "GetMediaItemInfo_Value": ("ps", None),
    "GetActiveTake": ("p", None),
    "GetMediaItemTakeInfo_Value": ("ps", None),
    "SetMediaItemTakeInfo_Value": ("psf", _always_key(1, _TAKE_NUMBERS_SET, "take value")),
    "GetSetMediaItemTakeInfo_String": ("pssb", _reads_only),
    "GetMediaItemTake_Source": ("p", None),
    "GetMediaSourceType": ("psn", None),
    "GetMediaSourceFileName": ("psn", None),
    "GetMediaSourceParent": ("p", None),
    "PCM_Source_GetSectionInfo": ("pffb", None),
    "TrackFX_GetCount": ("p", None),
    "TrackFX_AddByName": ("psbi", _fx_name),
    "TrackFX_Delete": ("pi", None),
    "TrackFX_GetFXGUID": ("pi", None),
    "TrackFX_SetEQParam": ("piiiifb", None),
    "TrackFX_SetEQBandEnabled": ("piiib", None),
    "TrackFX_SetParamNormalized": ("piif", None),
    "TrackFX_GetParamName": ("piisn", None),
    "TrackFX_GetFormattedParamValue": ("piisn", None),
    "TrackFX_FormatParamValueNormalized": ("piifsn", None),
    "PreventUIRefresh": ("i", _ui_refresh),
    "TrackList_AdjustWindows": ("b", None),
    "UpdateArrange": ("", None),
    "Undo_BeginBlock2": ("p", None),
    "Undo_EndBlock2": ("psi", None),
    "SetExtState": ("sssb", _ext_section),
    "SectionFromUniqueID": ("i", None),
    "kbd_enumerateActions": ("pis", None),
    "Main_OnCommand": ("ii", None),
    "ShowMessageBox": ("ssi", _yes_no_question),  # live/commands.py asks before applying over moved faders
}


def check_api_args(name: str, args: list) -> None:
    """Raise Refused unless ``args`` fit ``API_CALLS[name]``."""
    kinds, check = API_CALLS[name]
    if len(args) != len(kinds):
        raise Refused(f"refused: {name} takes {len(kinds)} arguments, got {len(args)}; nothing was run")
    for i, (kind, value) in enumerate(zip(kinds, args)):
        if not _KINDS[kind](value):
            raise Refused(f"refused: {name} argument {i + 1} must be {_KIND_NAMES[kind]}; nothing was run")
    problem = check(args) if check is not None else None
    if problem:
        raise Refused(f"refused: {name}: {problem}; nothing was run")


# Keyword arguments the operations accept from a client (``api`` is the server's, never the client's).
_OPS_KWARGS = {"read_project": set(), "apply_plan": set(), "render_stems": set(), "bisect_params": {"iterations"}}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:MAX_MESSAGE]


class CountingApi:
    """The API the operations get: REAPER's, counting the undo blocks and UI-refresh locks they open."""

    def __init__(self, api):
        self._api = api
        self.undo_open = 0
        self.ui_refresh = 0

    def __getattr__(self, name: str):
        function = getattr(self._api, name)
        if name in ("Undo_BeginBlock", "Undo_BeginBlock2", "Undo_EndBlock", "Undo_EndBlock2", "PreventUIRefresh"):
            def counted(*args):
                result = function(*args)
                self.count(name, args)
                return result

            return counted
        return function

    def count(self, name: str, args) -> None:
        if name in ("Undo_BeginBlock", "Undo_BeginBlock2"):
            self.undo_open += 1
        elif name in ("Undo_EndBlock", "Undo_EndBlock2"):
            self.undo_open = max(0, self.undo_open - 1)
        elif name == "PreventUIRefresh" and args:
            self.ui_refresh += int(args[0])

    def close_all(self, api, description: str = INTERRUPTED_UNDO) -> None:
        """Close what was left open, through ``api`` (REAPER's)."""
        if self.ui_refresh > 0:
            api.PreventUIRefresh(-self.ui_refresh)
        self.ui_refresh = 0
        while self.undo_open > 0:
            api.Undo_EndBlock2(0, description, -1)
            self.undo_open -= 1


# --- requests -------------------------------------------------------------------------------------------------


class Request:
    """A validated request: ``kind`` is "AUTH", "HOLD", "RELEASE", "api", "op" or "names"."""

    def __init__(self, kind: str, name: str = "", args: list | None = None, kwargs: dict | None = None):
        self.kind, self.name, self.args, self.kwargs = kind, name, args or [], kwargs or {}


def parse_request(frame: bytes, ops_exported: tuple[str, ...]) -> Request:
    """Decode and validate one frame; raises Refused (or ValueError for malformed JSON) with a one-line reason.

    Plain JSON only: no object hooks, so nothing a request names is imported or built."""
    try:
        message = json.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused("refused: a frame is not UTF-8 JSON") from None
    if not isinstance(message, dict) or "function" not in message:
        raise Refused('refused: a request is a JSON object {"function": ..., "input": ...}')
    function, payload = message["function"], message.get("input")
    if function in ("HOLD", "RELEASE"):
        return Request(function)
    if function == "AUTH":
        token = payload.get("token") if isinstance(payload, dict) else None
        return Request("AUTH", args=[token if isinstance(token, str) else ""])
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise Refused("refused: a request's input must be an object with args and kwargs")
    args, kwargs = payload.get("args", []), payload.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise Refused("refused: args must be a list and kwargs an object")
    if not (isinstance(function, dict) and function.get("__callable__") is True):
        raise Refused(f"refused: {str(function)[:80]!r} is not a callable; nothing was run")
    module, name = str(function.get("module_name"))[:100], str(function.get("name"))[:100]
    if module == API_MODULE and name == "_get_api_names" and not args and not kwargs:
        return Request("names")
    if module == API_MODULE and name in API_CALLS:
        if kwargs:
            raise Refused(f"refused: {name} takes no keyword arguments; nothing was run")
        check_api_args(name, args)
        return Request("api", name, args)
    if module == OPS_MODULE and name in ops_exported:
        extra = set(kwargs) - _OPS_KWARGS.get(name, set())
        if extra:
            raise Refused(f"refused: {name} does not take {sorted(extra)} from a client; nothing was run")
        return Request("op", name, args, kwargs)
    raise Refused(f"refused: {module}.{name} is not in the reaper-automix server's allow-list "
                  f"(the REAPER calls this tool makes and {OPS_MODULE}); nothing was run")


def encode(value) -> bytes:
    def default(x):
        if isinstance(x, tuple):
            return list(x)
        raise TypeError(f"cannot send {type(x).__name__} to the client")

    return json.dumps(value, default=default, allow_nan=False).encode("utf-8")


def _error(message: str) -> bytes:
    return encode({"type": "error", "traceback": message[:MAX_MESSAGE]})


_OK = encode({"type": "result", "value": None})


class FrameTooLarge(ConnectionError):
    """A length prefix over MAX_FRAME_BYTES: the stream cannot be resynchronised."""


class _Connection:
    def __init__(self, sock: socket.socket, address):
        self.sock = sock
        self.address = address
        self.buffer = b""
        self.opened = time.monotonic()
        self.authenticated = False
        self.blocks = CountingApi(None)  # undo blocks / UI locks this client opened with direct API calls

    def send(self, payload: bytes) -> None:
        if len(payload) > MAX_FRAME_BYTES:
            payload = _error(f"reply of {len(payload)} bytes is over the {MAX_FRAME_BYTES}-byte limit")
        self.sock.settimeout(SEND_TIMEOUT_S)
        try:
            self.sock.sendall(len(payload).to_bytes(8, "little") + payload)
        finally:
            self.sock.setblocking(False)

    def read_frame(self, wait_s: float = 0.0):
        """One complete frame, or None when none is ready within ``wait_s``; raises ConnectionError on EOF,
        FrameTooLarge on an oversized length prefix."""
        while True:
            if len(self.buffer) >= 8:
                size = int.from_bytes(self.buffer[:8], "little")
                if size == 0:
                    raise ConnectionError("client sent an empty frame")
                if size > MAX_FRAME_BYTES:
                    raise FrameTooLarge(f"refused: a frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit")
                if len(self.buffer) >= 8 + size:
                    frame, self.buffer = self.buffer[8 : 8 + size], self.buffer[8 + size :]
                    return frame
                want = 8 + size - len(self.buffer)
            else:
                want = 8 - len(self.buffer)
            if wait_s > 0:
                self.sock.settimeout(wait_s)
            else:
                self.sock.setblocking(False)
            try:
                chunk = self.sock.recv(min(want, 1 << 20))
            except (BlockingIOError, InterruptedError, socket.timeout):
                return None
            finally:
                self.sock.setblocking(False)
            if not chunk:
                raise ConnectionError("client disconnected")
            self.buffer += chunk


class SafeServer:
    """reapy-compatible, authenticated, allow-listed server; call :meth:`poll` from REAPER's defer loop.

    ``api`` is REAPER's API (an :class:`reaper_automix.live.ops.Api`, resolved lazily inside REAPER); ``token``
    the install's secret (:func:`load_or_create_token`); ``ops_module`` the operations (tests pass their own);
    the limits default to the module's constants."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, token: str, api=None, ops_module=None,
                 max_connections: int = MAX_CONNECTIONS, hold_limit_s: float = HOLD_LIMIT_S,
                 auth_timeout_s: float = AUTH_TIMEOUT_S):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the automix server listens on 127.0.0.1 only")
        if not re.fullmatch(r"[0-9a-f]{64}", token or ""):
            raise ValueError("the automix server needs a 64-hex-digit token (load_or_create_token)")
        self._token = token
        self.max_connections, self.hold_limit_s, self.auth_timeout_s = max_connections, hold_limit_s, auth_timeout_s
        self._api = api
        self._ops = ops_module
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(max_connections)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self.connections: dict = {}
        self.requests_served = 0
        self.refused = 0
        self.rejected_connections = 0
        self._render_actions: frozenset[int] | None = None

    @property
    def api(self):
        if self._api is None:
            from reaper_automix.live.ops import Api

            self._api = Api()
        return self._api

    @property
    def ops(self):
        if self._ops is None:
            import importlib

            self._ops = importlib.import_module(OPS_MODULE)
        return self._ops

    def poll(self) -> None:
        """Accept new clients, then serve at most one request per client (one defer tick). Never raises
        because of a client."""
        self._accept()
        now = time.monotonic()
        for conn in list(self.connections.values()):
            if not conn.authenticated and now - conn.opened > self.auth_timeout_s:
                self._drop(conn)
                continue
            self._serve_one(conn, wait_s=0.0)

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(self.connections) >= self.max_connections:
                self.rejected_connections += 1
                sock.close()
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = _Connection(sock, address)
                conn.send(str(address).encode("ascii"))
            except OSError:
                sock.close()
                continue
            self.connections[address] = conn

    def _serve_one(self, conn: _Connection, wait_s: float, holding: bool = False) -> Request | None:
        """Read and answer one request of ``conn`` (None when none was ready, it was refused, or the client
        went)."""
        try:
            frame = conn.read_frame(wait_s)
            if frame is None:
                return None
            return self._answer(conn, frame, holding)
        except FrameTooLarge as exc:
            self.refused += 1
            self._send_and_drop(conn, _error(str(exc)))
        except (ConnectionError, OSError):
            self._drop(conn)
        except Exception as exc:  # noqa: BLE001 (the loop must outlive any client input)
            self._send_and_drop(conn, _error(f"server error: {_one_line(exc)}"))
        return None

    def _answer(self, conn: _Connection, frame: bytes, holding: bool) -> Request | None:
        try:
            request = parse_request(frame, tuple(self.ops.EXPORTED))
        except Refused as exc:
            self.refused += 1
            if not conn.authenticated:
                self._send_and_drop(conn, _error("refused: authenticate first (AUTH with the install's token)"))
                return None
            conn.send(_error(str(exc)))
            return None
        if not conn.authenticated:
            if request.kind == "names":
                conn.send(encode({"type": "result", "value": []}))  # reapy's import-time probe
                return request
            if request.kind == "AUTH" and hmac.compare_digest(request.args[0].encode(), self._token.encode()):
                conn.authenticated = True
                conn.send(_OK)
                return request
            self.refused += 1
            self._send_and_drop(conn, _error("refused: wrong or missing token (AUTH with the install's token)"))
            return None
        if request.kind in ("HOLD", "RELEASE", "AUTH"):
            conn.send(_OK)  # (a RELEASE after a HOLD that ran out of time is answered here too)
            if request.kind == "HOLD" and not holding:
                self._hold(conn)
        elif request.kind == "names":
            conn.send(encode({"type": "result", "value": sorted(API_CALLS)}))
        else:
            conn.send(self._run(conn, request))
        return request

    def _hold(self, conn: _Connection) -> None:
        """reapy's ``inside_reaper()``: serve this client alone until RELEASE, for at most HOLD_LIMIT_S in all
        (however many requests it makes meanwhile)."""
        end = time.monotonic() + self.hold_limit_s
        while conn.address in self.connections:
            left = end - time.monotonic()
            if left <= 0:
                return  # time is up: back to serving everyone
            request = self._serve_one(conn, min(0.05, left), holding=True)
            if request is not None and request.kind == "RELEASE":
                return

    def _check_action(self, command) -> None:
        """``Main_OnCommand`` runs only REAPER's "render with the most recent settings" action."""
        if self._render_actions is None:
            ops = self.ops
            ids = {ops.RENDER_ACTION_FALLBACK_ID}
            try:
                ids.add(int(ops.find_action(self.api, ops.RENDER_ACTION_NAME, ops.RENDER_ACTION_FALLBACK_ID)))
            except Exception:  # noqa: BLE001 (the fallback id stays allowed)
                pass
            self._render_actions = frozenset(ids)
        if command not in self._render_actions:
            raise Refused(f"refused: Main_OnCommand runs only the render action ({sorted(self._render_actions)}), "
                          f"not {command}; nothing was run")

    def _run(self, conn: _Connection, request: Request) -> bytes:
        self.requests_served += 1
        try:
            if request.kind == "api":
                if request.name == "Main_OnCommand":
                    self._check_action(request.args[0])
                value = getattr(self.api, request.name)(*request.args)
                conn.blocks.count(request.name, request.args)
            else:
                counting = CountingApi(self.api)
                try:
                    value = getattr(self.ops, request.name)(*request.args, **request.kwargs, api=counting)
                finally:
                    counting.close_all(self.api)
            return encode({"type": "result", "value": value})
        except Refused as exc:
            self.refused += 1
            return _error(str(exc))
        except Exception as exc:  # noqa: BLE001 (reported to the client in one line)
            return _error(_one_line(exc))

    def _send_and_drop(self, conn: _Connection, payload: bytes) -> None:
        try:
            conn.send(payload)
        except OSError:
            pass
        self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        """Forget a client; close what it left open in REAPER."""
        self.connections.pop(conn.address, None)
        try:
            conn.sock.close()
        except OSError:
            pass
        try:
            conn.blocks.close_all(self.api)
        except Exception:  # noqa: BLE001 (REAPER refused; nothing more can be done from here)
            pass

    @property
    def open_blocks(self) -> int:
        """Undo blocks the connected clients opened and have not closed (0 when all is tidy)."""
        return sum(conn.blocks.undo_open for conn in self.connections.values())

    def close(self) -> None:
        for conn in list(self.connections.values()):
            self._drop(conn)
        self._sock.close()
