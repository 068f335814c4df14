"""A safe stand-in for reapy's server, run inside REAPER by ``reascripts/automix_server.py``.

reapy's stock server (``reapy/reascripts/activate_reapy_server.py``) binds ``0.0.0.0`` and runs whatever
function a request names: its JSON decoder imports any module named in the request, so anyone who reaches the
port runs code inside REAPER. This server keeps reapy's wire protocol, so reapy's own client works unchanged:

- frames: 8-byte little-endian length, then UTF-8 JSON;
- on connect the server sends the client's address; a request is
  ``{"function": <callable>, "input": {"args": [...], "kwargs": {...}}}`` where a callable travels as
  ``{"__callable__": true, "module_name": ..., "name": ...}``; ``"HOLD"``/``"RELEASE"`` bracket a batch;
- a reply is ``{"type": "result", "value": ...}`` or ``{"type": "error", "traceback": ...}``;

but it binds ``127.0.0.1`` only and resolves callables from an allow-list, without importing anything a
request names:

- reapy's API: the ReaScript functions in ``reapy.reascript_api`` (REAPER's own API) and the functions,
  classes and methods defined in ``reapy.core`` modules that are already loaded (no dunders, no modules);
- this package's REAPER operations, :data:`reaper_automix.live.ops.EXPORTED`.

Anything else (``os.system``, ``builtins.exec``, dunder attributes, and the few API functions that start
programs or unpickle: :data:`DENIED_API`, :data:`DENIED_REAPY`) is refused with an error reply naming it;
nothing runs. When a client disconnects (or the action stops) with an undo block or a
``PreventUIRefresh`` it opened still open, the server closes them, so REAPER's undo history and UI are never
left locked by a dropped connection.

Only the standard library is imported here; reapy is imported lazily, when a request names its API.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import traceback

OPS_MODULE = "reaper_automix.live.ops"
HOLD_IDLE_LIMIT_S = 30.0  # a held connection that goes quiet this long is released (REAPER's UI is blocked)
INTERRUPTED_UNDO = "Automix: interrupted (connection to the tool lost)"


# Parts of reapy's API that would still run arbitrary code or programs: REAPER's ExecProcess and the SWS shell
# calls start programs; registering a script makes any file an action; reapy's pickled ext-state reader
# unpickles a string a client can set beforehand.
DENIED_API = frozenset({"ExecProcess", "CF_ShellExecute", "BR_Win32_ShellExecute", "AddRemoveReaScript"})
DENIED_REAPY = frozenset({"add_reascript", "remove_reascript", "Project.get_ext_state"})


class Refused(Exception):
    """A request named a callable outside the allow-list."""


def _walk(obj, parts: list[str]):
    """Follow attribute names through classes and properties only (never into another module, never a dunder).

    Single-underscore names are reapy's own remote helpers (``TrackList._get_items_from_slice``)."""
    import types

    for part in parts:
        if not part or part.startswith("__"):
            return None
        obj = getattr(obj, part, None)
        if isinstance(obj, types.ModuleType):
            return None
    return obj


class ApiCall:
    """A REAPER API function from ``reapy.reascript_api``, with its name (for undo-block bookkeeping)."""

    def __init__(self, name: str, function):
        self.name = name
        self.function = function

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)


class Allowlist:
    """Resolves ``(module_name, name)`` to a callable, or raises :class:`Refused`."""

    def __init__(self, ops_module=None):
        self._ops = ops_module

    def _ops_module(self):
        if self._ops is None:
            import importlib

            self._ops = importlib.import_module(OPS_MODULE)
        return self._ops

    def resolve(self, module_name: str, name: str):
        where = f"{module_name}.{name}"
        parts = name.split(".")
        if module_name == OPS_MODULE:
            ops = self._ops_module()
            if name in ops.EXPORTED:
                return getattr(ops, name)
        elif module_name == "reapy.reascript_api":
            api = sys.modules.get("reapy.reascript_api")
            if api is None:
                import reapy.reascript_api as api  # noqa: F811 (a fixed module, never one the request names)
            if name == "_get_api_names":
                return api._get_api_names
            if len(parts) == 1 and name in getattr(api, "__all__", ()) and name not in DENIED_API:
                return ApiCall(name, getattr(api, name))
        elif module_name.startswith("reapy.core.") and module_name in sys.modules and name not in DENIED_REAPY:
            target = _walk(sys.modules[module_name], parts)
            if callable(target) and str(getattr(target, "__module__", "")).startswith("reapy.core"):
                return target
        raise Refused(f"refused: {where} is not in the reaper-automix server's allow-list "
                      f"(reapy's API and {OPS_MODULE}); nothing was run")

    def reapy_class(self, name: str):
        core = sys.modules.get("reapy.core")
        if core is None:
            import reapy.core as core  # noqa: F811
        cls = getattr(core, name, None) if not name.startswith("_") else None
        base = getattr(core, "ReapyObject", None)
        if not (isinstance(cls, type) and base is not None and issubclass(cls, base)):
            raise Refused(f"refused: reapy object class {name!r} is not part of reapy.core")
        return cls


def decode(data: bytes, allow: Allowlist):
    """reapy's JSON, with callables and reapy objects resolved through the allow-list (never imported)."""

    def hook(x):
        if "__callable__" in x:
            return allow.resolve(str(x.get("module_name")), str(x.get("name")))
        if "__reapy__" in x:
            return allow.reapy_class(str(x.get("class")))(*x.get("args", ()), **x.get("kwargs", {}))
        if "__slice__" in x:
            return slice(*x["args"])
        return x

    return json.loads(data.decode("utf-8"), object_hook=hook)


def encode(value) -> bytes:
    def default(x):
        if hasattr(x, "_to_dict"):
            return x._to_dict()
        if isinstance(x, tuple):
            return list(x)
        raise TypeError(f"cannot send {type(x).__name__} to the client")

    return json.dumps(value, default=default).encode("utf-8")


class _Connection:
    def __init__(self, sock: socket.socket, address):
        self.sock = sock
        self.address = address
        self.buffer = b""
        self.undo_open = 0  # Undo_BeginBlock(2) calls without their end, made through this connection
        self.ui_refresh = 0  # sum of PreventUIRefresh arguments made through this connection

    def send(self, payload: bytes) -> None:
        self.sock.sendall(len(payload).to_bytes(8, "little") + payload)

    def read_frame(self, block: bool):
        """One complete frame, or None when none is ready (non-blocking); raises ConnectionError on EOF."""
        while True:
            if len(self.buffer) >= 8:
                size = int.from_bytes(self.buffer[:8], "little")
                if size == 0:
                    raise ConnectionError("client sent an empty frame")
                if len(self.buffer) >= 8 + size:
                    frame, self.buffer = self.buffer[8 : 8 + size], self.buffer[8 + size :]
                    return frame
            self.sock.setblocking(block)
            try:
                chunk = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                return None
            except socket.timeout:
                return None
            if not chunk:
                raise ConnectionError("client disconnected")
            self.buffer += chunk


class SafeServer:
    """reapy-compatible, allow-listed server; call :meth:`poll` from REAPER's defer loop."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", allow: Allowlist | None = None, api=None):
        self.allow = allow or Allowlist()
        self._api = api  # REAPER's API for cleanup (an ops.Api); resolved lazily inside REAPER
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(8)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self.connections: dict = {}
        self.requests_served = 0
        self.refused = 0

    @property
    def api(self):
        if self._api is None:
            from reaper_automix.live.ops import Api

            self._api = Api()
        return self._api

    def poll(self) -> None:
        """Accept new clients, then serve at most one request per client (one defer tick)."""
        while True:
            try:
                sock, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock, address)
            self.connections[address] = conn
            conn.send(str(address).encode("ascii"))
        for address, conn in list(self.connections.items()):
            try:
                frame = conn.read_frame(block=False)
                if frame is not None:
                    self._serve(conn, frame)
            except (ConnectionError, OSError):
                self._drop(conn)

    def _serve(self, conn: _Connection, frame: bytes) -> None:
        try:
            request = decode(frame, self.allow)
        except Refused as exc:
            self.refused += 1
            conn.send(encode({"type": "error", "traceback": str(exc)}))
            return
        except Exception:
            conn.send(encode({"type": "error", "traceback": traceback.format_exc()}))
            return
        if request.get("function") == "HOLD":
            self._hold(conn)
            return
        conn.send(self._run(conn, request))

    def _hold(self, conn: _Connection) -> None:
        """reapy's ``inside_reaper()``: serve this client alone until it sends RELEASE (REAPER's UI waits)."""
        conn.send(encode({"type": "result", "value": None}))
        last = time.monotonic()
        while time.monotonic() - last < HOLD_IDLE_LIMIT_S:
            conn.sock.settimeout(0.05)
            frame = conn.read_frame(block=True)
            if frame is None:
                continue
            last = time.monotonic()
            try:
                request = decode(frame, self.allow)
            except Refused as exc:
                self.refused += 1
                conn.send(encode({"type": "error", "traceback": str(exc)}))
                continue
            if request.get("function") == "RELEASE":
                break
            conn.send(self._run(conn, request))
        conn.send(encode({"type": "result", "value": None}))

    def _run(self, conn: _Connection, request: dict) -> bytes:
        function = request.get("function")
        payload = request.get("input") or {}
        if not callable(function):
            return encode({"type": "error", "traceback": f"refused: {function!r} is not a callable"})
        self.requests_served += 1
        try:
            value = function(*payload.get("args", ()), **payload.get("kwargs", {}))
            self._track_blocks(conn, function, payload.get("args", ()))
            return encode({"type": "result", "value": value})
        except Exception:
            return encode({"type": "error", "traceback": traceback.format_exc()})

    @staticmethod
    def _track_blocks(conn: _Connection, function, args) -> None:
        if not isinstance(function, ApiCall):
            return
        name = function.name
        if name in ("Undo_BeginBlock", "Undo_BeginBlock2"):
            conn.undo_open += 1
        elif name in ("Undo_EndBlock", "Undo_EndBlock2"):
            conn.undo_open = max(0, conn.undo_open - 1)
        elif name == "PreventUIRefresh" and args:
            conn.ui_refresh += int(args[0])

    def _drop(self, conn: _Connection) -> None:
        """Forget a client; close what it left open in REAPER."""
        self.connections.pop(conn.address, None)
        try:
            conn.sock.close()
        except OSError:
            pass
        self._close_blocks(conn)

    def _close_blocks(self, conn: _Connection) -> None:
        if conn.ui_refresh > 0:
            self.api.PreventUIRefresh(-conn.ui_refresh)
            conn.ui_refresh = 0
        while conn.undo_open > 0:
            self.api.Undo_EndBlock2(0, INTERRUPTED_UNDO, -1)
            conn.undo_open -= 1

    def close(self) -> None:
        for conn in list(self.connections.values()):
            self._drop(conn)
        self._sock.close()
