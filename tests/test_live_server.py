"""The safe server: reapy's protocol, 127.0.0.1 only, allow-listed dispatch that never imports what a request
names."""

from __future__ import annotations

import json
import os
import sys

import pytest

from reaper_automix.errors import AutomixError
from reaper_automix.live import ops
from reaper_automix.live.bridge import connect, current_project
from reaper_automix.live.server import Allowlist, Refused, SafeServer, decode
from tests.live_harness.process import Host


def callable_ref(module: str, name: str) -> dict:
    return {"__callable__": True, "module_name": module, "name": name}


def request_bytes(module: str, name: str) -> bytes:
    return json.dumps({"function": callable_ref(module, name), "input": {"args": [], "kwargs": {}}}).encode()


@pytest.mark.parametrize("module,name", [
    ("os", "system"),
    ("builtins", "exec"),
    ("subprocess", "run"),
    ("reaper_automix.live.ops", "_json_dumps"),  # in the module, not exported
    ("reaper_automix.live.ops", "os.system"),
    ("reapy.core.reaper.reaper", "os.system"),  # a module reachable from a reapy.core module
    ("reapy.core.reaper.reaper", "reapy.config.configure_reaper"),
    ("reapy.core.project.project", "Project.__init__.__globals__"),
    ("reapy.core.project.project", "pickle.loads"),
    ("reapy.reascript_api", "os.system"),
    ("reapy.core.not_a_module", "anything"),
    ("reapy.reascript_api", "ExecProcess"),  # REAPER's API, but it runs programs
    ("reapy.reascript_api", "AddRemoveReaScript"),
    ("reapy.core.reaper.reaper", "add_reascript"),
    ("reapy.core.project.project", "Project.get_ext_state"),  # unpickles a client-settable string
])
def test_disallowed_callables_are_refused(module, name):
    from reaper_automix.live.bridge import _import_reapy

    _import_reapy()
    import reapy.core.project.project  # noqa: F401 (loaded, as inside REAPER)

    with pytest.raises(Refused, match=r"refused: .* is not in the reaper-automix server's allow-list"):
        decode(request_bytes(module, name), Allowlist())


def test_refusal_imports_nothing():
    assert "antigravity" not in sys.modules and "this" not in sys.modules
    for module in ("antigravity", "this"):
        with pytest.raises(Refused):
            decode(request_bytes(module, "anything"), Allowlist())
    assert "antigravity" not in sys.modules and "this" not in sys.modules


def test_allowed_callables_resolve():
    allow = Allowlist()
    for name in ops.EXPORTED:
        assert decode(request_bytes(ops.__name__, name), allow)["function"] is getattr(ops, name)
    import reapy.core.track.track as track_module

    got = decode(request_bytes("reapy.core.track.track", "TrackList._get_items_from_slice"), allow)["function"]
    assert got is track_module.TrackList._get_items_from_slice


def test_binds_loopback_only():
    server = SafeServer(0)
    try:
        assert server._sock.getsockname()[0] == "127.0.0.1" and server.port > 0
    finally:
        server.close()


def test_refused_end_to_end_through_reapys_client(tmp_path):
    marker = tmp_path / "pwned"
    with Host({"tracks": [{"name": "A"}]}, tmp_path) as host:
        bridge = connect(web_port=host.web_port)
        with pytest.raises(AutomixError, match=r"refused: posix.system is not in the .* allow-list.*nothing was run"):
            bridge.request(os.system, [f"touch {marker}"])  # reapy encodes the function object itself
        # the connection stays usable, and reapy's own API works through the server, batched or not
        project = current_project(bridge)
        import reapy

        with reapy.inside_reaper():
            names = [t.name for t in project.tracks]
        assert names == ["A"]
        dump = host.stop()
    assert not marker.exists()
    assert dump["changes_outside_undo"] == []


def test_reaper_api_functions_that_run_programs_are_refused(monkeypatch):
    import types

    fake = types.ModuleType("reapy.reascript_api")
    fake.__all__ = ["GetTrack", "ExecProcess", "AddRemoveReaScript"]
    for name in fake.__all__:
        setattr(fake, name, lambda *a, _n=name: _n)
    monkeypatch.setitem(sys.modules, "reapy.reascript_api", fake)
    allow = Allowlist()
    assert decode(request_bytes("reapy.reascript_api", "GetTrack"), allow)["function"]() == "GetTrack"
    for name in ("ExecProcess", "AddRemoveReaScript"):
        with pytest.raises(Refused, match=name):
            decode(request_bytes("reapy.reascript_api", name), allow)
