"""Run the stand-in REAPER host: ``python -m tests.live_harness.host --spec SPEC.json --ready READY.json ...``

Like REAPER, it exposes ``reaper_python``, defines ``obj``, ``RPR_defer`` and ``RPR_atexit`` (and every
``RPR_*`` function) in ``__main__``, runs a ReaScript there with ``__name__ == "__main__"``, then runs deferred
code in a loop (bounded by ``--max-s`` and a stop file). A web interface on a free port of 127.0.0.1 answers
``GET /_/GET/EXTSTATE/<section>/<key>`` as REAPER does (``EXTSTATE\\t<section>\\t<key>\\t<value>\\n``) and
``GET /_/<command>`` by running a registered action. On exit it runs the atexit code and writes the project
state (``--dump``) for the test to inspect.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
import traceback
import types
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.live_harness.fake_reaper import FakeReaper, build_module


def serve_web(r: FakeReaper, actions: queue.Queue) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            parts = [urllib.parse.unquote(p) for p in self.path.split("/") if p]
            body = ""
            if len(parts) == 5 and parts[:3] == ["_", "GET", "EXTSTATE"]:
                section, key = parts[3], parts[4]
                body = f"EXTSTATE\t{section}\t{key}\t{r.ext_state.get((section, key), '')}\n"
            elif len(parts) == 2 and parts[0] == "_":
                actions.put(parts[1])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(body.encode("utf-8"))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--script", action="append", default=[], help="ReaScript to run at start (repeatable)")
    ap.add_argument("--action", action="append", default=[], help="NAME=PATH: action runnable via the web")
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--max-s", type=float, default=60.0)
    ap.add_argument("--tick-s", type=float, default=0.001)
    args = ap.parse_args()

    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    r = FakeReaper(spec, resource_path=spec.get("resource_path", ""))
    for (section, key), value in ((tuple(k.split("/", 1)), v) for k, v in spec.get("ext_state", {}).items()):
        r.ext_state[(section, key)] = value
    # A fresh __main__, as REAPER gives each script: the scripts run there and must not clobber this module.
    main_module = types.ModuleType("__main__")
    sys.modules["__main__"] = main_module
    deferred: list[str] = []
    at_exit: list[str] = []
    actions: queue.Queue = queue.Queue()
    named_actions = dict(a.split("=", 1) for a in args.action)

    def run_script(path: str) -> None:
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        main_module.__dict__["__file__"] = path
        exec(code, main_module.__dict__)

    module = build_module(r, run_action=None)
    sys.modules["reaper_python"] = module
    for name in dir(module):
        if name.startswith("RPR_"):
            setattr(main_module, name, getattr(module, name))
    main_module.obj = None  # reapy's test for "inside REAPER"
    main_module.RPR_defer = deferred.append
    main_module.RPR_atexit = at_exit.append
    os.environ.setdefault("REAPER_AUTOMIX_SERVER_PORT", "0")

    web = serve_web(r, actions)
    status = 0
    try:
        for path in args.script:
            run_script(path)
        with open(args.ready + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"web_port": web.server_address[1], "pid": os.getpid()}, f)
        os.replace(args.ready + ".tmp", args.ready)
        end = time.monotonic() + args.max_s
        while time.monotonic() < end and not os.path.exists(args.stop_file):
            while not actions.empty():
                name = actions.get()
                if name in named_actions:
                    run_script(named_actions[name])
            batch, deferred[:] = list(deferred), []
            for code in batch:
                exec(code, main_module.__dict__)
            time.sleep(args.tick_s)
    except SystemExit as exc:
        r.console.append(f"[host] script host stopped: {exc}")
        status = 3
    except BaseException:
        r.console.append("[host] " + traceback.format_exc())
        status = 2
    finally:
        for code in at_exit:
            try:
                exec(code, main_module.__dict__)
            except BaseException:
                r.console.append("[host atexit] " + traceback.format_exc())
        web.shutdown()
        with open(args.dump + ".tmp", "w", encoding="utf-8") as f:
            json.dump(r.dump(), f, indent=1)
        os.replace(args.dump + ".tmp", args.dump)
    return status


if __name__ == "__main__":
    sys.exit(main())
