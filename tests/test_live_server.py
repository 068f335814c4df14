"""The safe server attacked: 127.0.0.1 only, a per-install token, an exact allow-list with argument checks,
bounded frames, HOLDs and connections, one-line errors, and a loop no client input ends. The attacks run from
this process against the stand-in REAPER host (another process) through raw sockets and reapy's own client."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import threading
import time
import types

import pytest

from reaper_automix.errors import AutomixError
from reaper_automix.live import ops
from reaper_automix.live.bridge import RemoteApi, connect
from reaper_automix.live.server import (
    API_CALLS,
    MAX_FRAME_BYTES,
    Refused,
    SafeServer,
    TokenError,
    load_or_create_token,
    parse_request,
    read_token,
)
from tests.live_harness.process import Host

TOKEN = "ab" * 32
HOLD = json.dumps({"function": "HOLD", "input": None}).encode()  # what reapy's inside_reaper() sends
RELEASE = json.dumps({"function": "RELEASE", "input": None}).encode()


def callable_ref(module: str, name: str) -> dict:
    return {"__callable__": True, "module_name": module, "name": name}


def request_bytes(module: str, name: str, args=(), kwargs=None) -> bytes:
    return json.dumps({"function": callable_ref(module, name),
                       "input": {"args": list(args), "kwargs": kwargs or {}}}).encode()


def parse(module: str, name: str, args=(), kwargs=None):
    return parse_request(request_bytes(module, name, args, kwargs), ops.EXPORTED)


# --- the allow-list, unit by unit ---------------------------------------------------------------------------------

TRACK = "(MediaTrack*)0x0000000000000010"


@pytest.mark.parametrize("module,name,args", [
    ("os", "system", ["touch /tmp/x"]),
    ("builtins", "exec", ["1"]),
    ("subprocess", "run", []),
    ("reaper_automix.live.ops", "_json_dumps", []),  # in the module, not exported
    ("reaper_automix.live.ops", "os.system", []),
    ("reapy.core.reaper.defer", "Deferrer._wrapped_open", [None, "/tmp/victim.txt", "w"]),  # the file-write bypass
    ("reapy.core.reaper.defer", "defer", []),  # defer(Undo_BeginBlock2): an undo block the server never saw
    ("reapy.core.reaper.reaper", "perform_action", [40001]),
    ("reapy.core.project.project", "Project.__init__.__globals__", []),
    ("reapy.core.track.track", "TrackList._get_items_from_slice", []),  # reapy internals are gone altogether
    ("reapy.reascript_api", "os.system", []),
    ("reapy.reascript_api", "ExecProcess", ["ls", 0]),
    ("reapy.reascript_api", "AddRemoveReaScript", [True, 0, "/tmp/x.py", True]),
    ("reapy.reascript_api", "DeleteTrack", [TRACK]),
    ("reapy.reascript_api", "__builtins__", []),
])
def test_calls_outside_the_allow_list_are_refused(module, name, args):
    with pytest.raises(Refused, match=r"refused: .* is not in the reaper-automix server's allow-list"):
        parse(module, name, args)


@pytest.mark.parametrize("name,args,message", [
    ("SetExtState", ["reapy", "server_port", "1", False], "only ExtState section 'reaper_automix'"),
    ("GetSetProjectInfo_String", [0, "RECORD_PATH", "/tmp", True], "project info 'RECORD_PATH'"),
    ("GetSetMediaTrackInfo_String", [TRACK, "P_EXT:other_tool", "x", True], "track string"),
    ("SetMediaTrackInfo_Value", [TRACK, "I_RECARM", 1], "track value 'I_RECARM'"),
    ("GetSetMediaItemTakeInfo_String", ["(MediaItem_Take*)0x1", "P_NAME", "x", True], "only reads"),
    ("TrackFX_AddByName", [TRACK, "JS: evil", False, -1], "only ReaEQ and ReaComp"),
    ("PreventUIRefresh", [1000], "1 or -1"),
    ("ShowMessageBox", ["hi", "title", 0], "only the tool's own Yes/No question"),
    ("GetTrack", [0], "takes 2 arguments, got 1"),
    ("GetTrack", [0, "1"], "argument 2 must be an integer"),
    ("SetMediaTrackInfo_Value", [TRACK, "D_VOL", float("nan")], "argument 3 must be a finite number"),
    ("SetMediaTrackInfo_Value", [TRACK, "D_VOL", 1e400], "argument 3 must be a finite number"),
    ("SetMediaTrackInfo_Value", ["not a pointer", "D_VOL", 1.0], "argument 1 must be a REAPER object"),
    ("GetMediaSourceFileName", ["(PCM_source*)0x1", "", 1 << 40], "buffer size"),
    ("GetSetMediaTrackInfo_String", [TRACK, "P_NAME", "x" * 5000, True], "at most 4096 characters"),
])
def test_allowed_calls_have_their_arguments_checked(name, args, message):
    assert name in API_CALLS
    with pytest.raises(Refused, match=message):
        parse("reapy.reascript_api", name, args)


def test_operations_cannot_be_handed_an_api():
    with pytest.raises(Refused, match="does not take"):
        parse(ops.__name__, "read_project", kwargs={"api": "os"})
    assert parse(ops.__name__, "bisect_params", ["ReaComp", []], {"iterations": 3}).kind == "op"


def test_allowed_calls_parse():
    for name in ops.EXPORTED:
        assert parse(ops.__name__, name).name == name
    request = parse("reapy.reascript_api", "SetMediaTrackInfo_Value", [TRACK, "D_VOL", 0.5])
    assert (request.kind, request.name, request.args) == ("api", "SetMediaTrackInfo_Value", [TRACK, "D_VOL", 0.5])
    # what ops uses through a remote Api is exactly what is allowed
    import inspect
    import re

    used = set(re.findall(r"\bapi\.(\w+)\(", inspect.getsource(ops))) | {"kbd_enumerateActions"}
    used |= {"ShowMessageBox"}  # live/commands.py's Yes/No question
    # DeleteTrack only runs inside an operation (bisect_params' scratch track), never on a client's word.
    assert used - {"DeleteTrack"} == set(API_CALLS)


@pytest.mark.parametrize("frame", [
    b"[1,2,3]", b"42", b'"HOLD', b"\xff\xfe", b'{"function": {"__reapy__": true, "class": "Project"}}',
    b'{"function": {"__callable__": true, "module_name": "os", "name": "system"}, "input": 5}',
    b"[" * 100000,
])
def test_malformed_frames_are_refused_in_one_line(frame):
    with pytest.raises(Refused) as err:
        parse_request(frame, ops.EXPORTED)
    assert "\n" not in str(err.value)


def test_refusal_imports_nothing():
    assert "antigravity" not in sys.modules and "this" not in sys.modules
    for module in ("antigravity", "this"):
        with pytest.raises(Refused):
            parse(module, "anything")
    assert "antigravity" not in sys.modules and "this" not in sys.modules


def test_binds_loopback_only_and_needs_a_token():
    server = SafeServer(0, token=TOKEN)
    try:
        assert server._sock.getsockname()[0] == "127.0.0.1" and server.port > 0
    finally:
        server.close()
    with pytest.raises(ValueError, match="127.0.0.1"):
        SafeServer(0, "0.0.0.0", token=TOKEN)
    with pytest.raises(ValueError, match="token"):
        SafeServer(0, token="")


# --- the token file -------------------------------------------------------------------------------------------


def test_token_file_is_private_and_kept(tmp_path):
    path = tmp_path / "reaper_automix" / "server_token"
    token = load_or_create_token(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_token(path) == token == read_token(path)
    path.chmod(0o644)  # readable by others: it may be known, so it is replaced
    with pytest.raises(TokenError, match="0600"):
        read_token(path)
    assert load_or_create_token(path) != token and stat.S_IMODE(path.stat().st_mode) == 0o600
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(TokenError, match="regular file"):
        read_token(link)


# --- attacks on the stand-in host (another process) ------------------------------------------------------------


class RawClient:
    """A hand-made client: frames as the attacker chooses them."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.greeting = self.recv()

    def send_frame(self, payload: bytes, length: int | None = None) -> None:
        self.sock.sendall((len(payload) if length is None else length).to_bytes(8, "little") + payload)

    def recv(self):
        head = self._exactly(8)
        if head is None:
            return None
        return self._exactly(int.from_bytes(head, "little"))

    def reply(self) -> dict | None:
        data = self.recv()
        return None if data is None else json.loads(data)

    def _exactly(self, n: int):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def auth(self, token: str) -> dict | None:
        self.send_frame(json.dumps({"function": "AUTH", "input": {"token": token}}).encode())
        return self.reply()

    def call(self, module: str, name: str, args=()) -> dict | None:
        self.send_frame(request_bytes(module, name, args))
        return self.reply()


def server_port(host: Host) -> int:
    from reaper_automix.live.bridge import _ext_state

    return int(_ext_state("127.0.0.1", host.web_port, "reapy", "server_port"))


def test_no_token_or_a_wrong_one_runs_nothing(tmp_path):
    with Host({"tracks": [{"name": "A"}, {"name": "B"}]}, tmp_path) as host:
        port = server_port(host)
        assert stat.S_IMODE(host.token_file.stat().st_mode) == 0o600
        real = read_token(host.token_file)
        one_off = real[:-1] + ("1" if real[-1] == "0" else "0")  # the real token with its last digit changed
        for token in (None, "00" * 32, "not hex", one_off):
            client = RawClient(port)
            if token is None:  # straight to business
                reply = client.call("reapy.reascript_api", "SetMediaTrackInfo_Value", [0, "D_VOL", 0.0])
            else:
                reply = client.auth(token)
            assert reply["type"] == "error" and "refused:" in reply["traceback"]
            assert "token" in reply["traceback"] or "authenticate" in reply["traceback"]
            assert client.closed()
        ok = RawClient(port)
        assert ok.auth(read_token(host.token_file)) == {"type": "result", "value": None}
        assert ok.call("reapy.reascript_api", "CountTracks", [0]) == {"type": "result", "value": 2}
        dump = host.stop()
    assert dump["changes_outside_undo"] == [] and dump["undo"] == []


def test_bypass_calls_are_refused_through_reapys_client(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    with Host({"tracks": [{"name": "A"}]}, tmp_path / "host") as host:
        bridge = connect(web_port=host.web_port)
        port_before = server_port(host)
        attacks = [
            ({"__callable__": True, "module_name": "reapy.core.reaper.defer", "name": "Deferrer._wrapped_open"},
             [None, str(victim), "w"]),
            ({"__callable__": True, "module_name": "reapy.core.reaper.defer", "name": "defer"}, []),
            (os.system, [f"touch {tmp_path / 'pwned'}"]),
        ]
        for function, args in attacks:
            with pytest.raises(AutomixError, match=r"refused: .* allow-list.*nothing was run"):
                bridge.request(function, args)
        api = RemoteApi(bridge)
        for call, match in [
            (lambda: api.Main_OnCommand(40001, 0), "only the render action"),
            (lambda: api.SetExtState("reapy", "server_port", "1", False), "section 'reaper_automix'"),
            (lambda: api.DeleteTrack(api.GetTrack(0, 0)), "allow-list"),
            (lambda: api.ShowMessageBox("hi", "x", 0), "Yes/No question"),
        ]:
            with pytest.raises(AutomixError, match=match):
                call()
        assert api.CountTracks(0) == 1  # the connection is still good
        assert server_port(host) == port_before  # what other clients discover is untouched
        dump = host.stop()
    assert victim.read_text() == "precious" and not (tmp_path / "pwned").exists()
    assert [t["name"] for t in dump["tracks"]] == ["A"]
    assert dump["undo_depth"] == 0 and dump["changes_outside_undo"] == [] and not any(
        "message box" in line for line in dump["console"])


def test_hostile_frames_do_not_end_the_loop(tmp_path):
    with Host({"tracks": [{"name": "A"}]}, tmp_path) as host:
        port, token = server_port(host), read_token(host.token_file)
        replies = []
        for frame in (b"[1,2,3]", b"42", b"\xff" * 10, b'{"function": 5}'):
            c = RawClient(port)
            c.auth(token)
            c.send_frame(frame)
            replies.append(c.reply())
            assert c.call("reapy.reascript_api", "CountTracks", [0])["value"] == 1  # still connected
        c = RawClient(port)
        c.auth(token)
        c.send_frame(HOLD)
        assert c.reply()["type"] == "result"
        c.send_frame(b"{not json")
        replies.append(c.reply())
        c.send_frame(RELEASE)
        assert c.reply()["type"] == "result"
        for length in (1 << 63, 100 << 20, MAX_FRAME_BYTES + 1):  # refused on the prefix, nothing buffered
            c = RawClient(port)
            c.auth(token)
            c.send_frame(b"x" * 1000, length=length)
            replies.append(c.reply())
            assert c.closed()
        c = RawClient(port)
        c.send_frame(b"", length=0)  # an empty frame: the client is dropped
        assert c.closed()
        for reply in replies:
            assert reply["type"] == "error" and "\n" not in reply["traceback"]
            assert "Traceback" not in reply["traceback"] and len(reply["traceback"]) <= 300
        assert RemoteApi(connect(web_port=host.web_port)).CountTracks(0) == 1  # alive
        dump = host.stop()
    assert not any("[host]" in line for line in dump["console"])


def test_undo_blocks_are_closed_whoever_opened_them(tmp_path):
    with Host({"tracks": [{"name": "A"}]}, tmp_path) as host:
        port, token = server_port(host), read_token(host.token_file)
        c = RawClient(port)
        c.auth(token)
        assert c.call("reapy.reascript_api", "Undo_BeginBlock2", [0])["type"] == "result"
        assert c.call("reapy.reascript_api", "PreventUIRefresh", [1])["type"] == "result"
        c.sock.close()  # gone with the block open
        time.sleep(0.3)
        RemoteApi(connect(web_port=host.web_port)).CountTracks(0)
        dump = host.stop()
    assert dump["undo_depth"] == 0 and dump["ui_refresh"] == 0


# --- limits, in this process with a stand-in API ----------------------------------------------------------------


class FakeApi:
    def __init__(self):
        self.undo_depth = 0
        self.ui = 0

    def CountTracks(self, proj):  # noqa: N802 (REAPER's name)
        return 3

    def Undo_BeginBlock2(self, proj):  # noqa: N802
        self.undo_depth += 1

    def Undo_EndBlock2(self, proj, description, flags):  # noqa: N802
        self.undo_depth -= 1

    def PreventUIRefresh(self, n):  # noqa: N802
        self.ui += n


def fake_ops():
    module = types.ModuleType("fake_ops")
    module.EXPORTED = ("read_project",)

    def read_project(api):  # opens a block and fails inside it
        api.Undo_BeginBlock2(0)
        api.PreventUIRefresh(1)
        raise RuntimeError("boom\nsecond line")

    module.read_project = read_project
    return module


@pytest.fixture
def served():
    """A SafeServer polled on a thread, with small limits."""
    api = FakeApi()
    server = SafeServer(0, token=TOKEN, api=api, ops_module=fake_ops(), max_connections=3, hold_limit_s=0.5,
                        auth_timeout_s=0.5)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            server.poll()
            time.sleep(0.001)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield server, api
    stop.set()
    thread.join(5)
    server.close()


def test_failing_operation_has_its_blocks_closed_and_a_one_line_error(served):
    server, api = served
    c = RawClient(server.port)
    c.auth(TOKEN)
    reply = c.call("fake_ops", "read_project")  # module name is irrelevant: not the ops module -> refused
    assert reply["type"] == "error" and "allow-list" in reply["traceback"]
    reply = c.call(ops.__name__, "read_project")
    assert reply == {"type": "error", "traceback": "RuntimeError: boom second line"}
    assert api.undo_depth == 0 and api.ui == 0


def test_hold_is_limited_in_total(served):
    server, _ = served
    holder, other = RawClient(server.port), RawClient(server.port)
    holder.auth(TOKEN)
    other.auth(TOKEN)
    holder.send_frame(HOLD)
    assert holder.reply()["type"] == "result"
    start = time.monotonic()
    other.send_frame(request_bytes("reapy.reascript_api", "CountTracks", [0]))
    while time.monotonic() - start < 1.5:  # the holder keeps busy: every request would reset an idle limit
        assert holder.call("reapy.reascript_api", "CountTracks", [0])["value"] == 3
        other.sock.settimeout(0.01)
        try:
            if other.sock.recv(1, socket.MSG_PEEK):
                break
        except socket.timeout:
            pass
    waited = time.monotonic() - start
    other.sock.settimeout(10)
    assert other.reply()["value"] == 3
    assert 0.4 < waited < 1.4
    holder.send_frame(RELEASE)
    assert holder.reply()["type"] == "result"  # a late RELEASE is still answered


def test_connections_are_capped_and_idle_strangers_dropped(served):
    server, _ = served
    strangers = [RawClient(server.port) for _ in range(3)]
    assert RawClient(server.port).greeting is None  # over the cap: closed before the greeting
    time.sleep(0.8)  # they never authenticated: dropped, so the slots free up
    assert all(s.closed() for s in strangers)
    friend = RawClient(server.port)
    assert friend.auth(TOKEN)["type"] == "result"
    assert server.rejected_connections >= 1


# --- a bounded soak -------------------------------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_soak_mixed_requests_from_many_clients(tmp_path):
    """2,000 requests (good, refused, malformed, unauthenticated, HOLDs, dropped mid-block) from 20 clients."""
    n_clients, per_client = 20, 100
    with Host({"tracks": [{"name": f"T{i}"} for i in range(4)]}, tmp_path) as host:
        port, token = server_port(host), read_token(host.token_file)
        pid = host.proc.pid
        errors: list[str] = []
        counts = {"result": 0, "error": 0, "rejected": 0}
        lock = threading.Lock()

        def count(what: str) -> None:
            with lock:
                counts[what] += 1

        def authenticated() -> RawClient:
            """A connection, retried while the server is at its connection cap (strangers fill it too)."""
            for _ in range(500):
                c = RawClient(port)
                if c.greeting is not None:
                    assert c.auth(token)["type"] == "result"
                    return c
                count("rejected")
                time.sleep(0.01)
            raise AssertionError("never got a connection")

        def worker(k: int, requests: int) -> None:
            try:
                c = authenticated()
                for i in range(requests):
                    kind = (k + i) % 7
                    if kind == 0:
                        reply = c.call("reapy.reascript_api", "CountTracks", [0])
                    elif kind == 1:
                        reply = c.call("os", "system", ["true"])
                    elif kind == 2:
                        c.send_frame(b"[1,2")
                        reply = c.reply()
                    elif kind == 3:
                        reply = c.call("reapy.reascript_api", "GetTrack", [0, "x"])
                    elif kind == 4:
                        c.send_frame(HOLD)
                        c.reply()
                        reply = c.call("reapy.reascript_api", "CountTracks", [0])
                        c.send_frame(RELEASE)
                        c.reply()
                    elif kind == 5:
                        reply = c.call("reapy.reascript_api", "Undo_BeginBlock2", [0])
                        c.sock.close()  # leaves with the block open
                        c = authenticated()
                    else:
                        s = RawClient(port)  # a stranger
                        reply = s.call("reapy.reascript_api", "CountTracks", [0]) if s.greeting else None
                        s.sock.close()
                        if reply is None:
                            count("rejected")
                            continue
                        assert reply["type"] == "error" and "token" in reply["traceback"]
                    count(reply["type"])
            except Exception as exc:  # noqa: BLE001 (collected and asserted below)
                errors.append(f"client {k}: {type(exc).__name__}: {exc}")

        def run(requests: int) -> None:
            threads = [threading.Thread(target=worker, args=(k, requests)) for k in range(n_clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)

        run(10)  # warm-up
        rss_before = _rss_kb(pid)
        run(per_client)
        time.sleep(0.3)
        rss_after = _rss_kb(pid)
        assert RemoteApi(connect(web_port=host.web_port)).CountTracks(0) == 4
        dump = host.stop()
    assert errors == []
    assert counts["result"] + counts["error"] + counts["rejected"] >= n_clients * (10 + per_client)
    assert counts["result"] > 0 and counts["error"] > 0
    assert dump["undo_depth"] == 0 and dump["ui_refresh"] == 0 and dump["changes_outside_undo"] == []
    assert rss_after - rss_before < 20_000, f"host memory grew by {rss_after - rss_before} kB"
