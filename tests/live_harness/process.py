"""Start and stop the stand-in REAPER host as a subprocess (for tests and the benchmark)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from reaper_automix.session import Session

REPO = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = REPO / "reaper_automix" / "reascripts" / "automix_server.py"


def spec_from_session(session: Session, **extra) -> dict:
    """The host's project description from a session model (what the stand-in loads)."""
    tracks = []
    for t in session.tracks:
        items = []
        for i in t.items:
            take = None
            if i.take is not None:
                src = i.take.source
                take = {"name": i.take.name, "volume": i.take.volume, "pan": i.take.pan,
                        "start_offset_s": i.take.start_offset_s, "playrate": i.take.playrate,
                        "type": src.source_type or src.kind.name, "file": str(src.file or "")}
            items.append({"position_s": i.position_s, "length_s": i.length_s, "volume": i.volume,
                          "mute": i.mute, "take": take})
        fx = [{"name": f"{f.format.value}{'i' if f.instrument else ''}: {f.plugin}",
               "custom": f.name if f.name != f.plugin else "", "guid": f.fxid, "bypassed": f.bypassed,
               "offline": f.offline} for f in t.fx]
        modes = {"post-fader": 0, "pre-FX": 1, "post-FX": 3}
        receives = [{"source": r.source, "mode": modes[r.mode.value], "volume": r.volume, "mute": r.mute,
                     "src_channel": 0 if r.audio else -1, "dest_channel": r.dest_channel} for r in t.receives]
        tracks.append({"name": t.name, "guid": t.guid, "volume": t.volume, "pan": t.pan, "mute": t.mute,
                       "solo": t.solo, "folder_depth": t.folder_depth, "n_channels": t.n_channels,
                       "pan_law_gain": t.pan_law_gain, "pan_law_flags": t.pan_law_flags, "ext": dict(t.ext), "items": items, "fx": fx, "fx_enabled": t.fx_enabled,
                       "receives": receives})
    return {"project_file": str(session.path), "sample_rate": session.sample_rate, "tracks": tracks, **extra}


class Host:
    """``with Host(spec, tmp_path) as host:`` runs the stand-in with the safe server action started."""

    def __init__(self, spec: dict, folder: Path, scripts=(SERVER_SCRIPT,), max_s: float = 60.0,
                 tick_s: float = 0.001, actions: dict | None = None):
        self.spec, self.folder, self.scripts, self.max_s, self.tick_s = spec, Path(folder), scripts, max_s, tick_s
        self.actions = actions or {}
        self.ready = self.folder / "host_ready.json"
        self.stop_file = self.folder / "host_stop"
        self.dump_file = self.folder / "host_dump.json"
        self.proc: subprocess.Popen | None = None
        self.web_port = 0
        self._dump: dict | None = None

    def __enter__(self) -> "Host":
        self.folder.mkdir(parents=True, exist_ok=True)
        for f in (self.ready, self.stop_file, self.dump_file):
            f.unlink(missing_ok=True)
        spec_file = self.folder / "host_spec.json"
        spec_file.write_text(json.dumps(self.spec), encoding="utf-8")
        cmd = [sys.executable, "-m", "tests.live_harness.host", "--spec", str(spec_file), "--ready", str(self.ready),
               "--dump", str(self.dump_file), "--stop-file", str(self.stop_file), "--max-s", str(self.max_s),
               "--tick-s", str(self.tick_s)]
        for s in self.scripts:
            cmd += ["--script", str(s)]
        for name, path in self.actions.items():
            cmd += ["--action", f"{name}={path}"]
        self.token_file = self.folder / "server_token"  # the install's secret, as the server action creates it
        env = dict(os.environ, PYTHONPATH=str(REPO), REAPER_AUTOMIX_SERVER_PORT="0",
                   REAPER_AUTOMIX_TOKEN_FILE=str(self.token_file))
        self.log = open(self.folder / "host_log.txt", "w")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.flush()
                raise RuntimeError("stand-in host did not start:\n" + (self.folder / "host_log.txt").read_text())
            time.sleep(0.02)
        self.web_port = json.loads(self.ready.read_text())["web_port"]
        return self

    def stop(self) -> dict:
        """Stop the host (atexit code runs) and return its final state."""
        if self._dump is None:
            self.stop_file.touch()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            self._dump = json.loads(self.dump_file.read_text()) if self.dump_file.exists() else {}
        return self._dump

    def __exit__(self, *exc) -> None:
        self.stop()
