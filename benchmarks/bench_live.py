"""Live bridge benchmark: a 128-track balance with 16 buses (ReaEQ + ReaComp each) applied to the stand-in
REAPER host through reapy's client and the safe server, batched (one server-side call) vs unbatched (one
round-trip per API call). Also reading the project both ways.

    .venv/bin/python benchmarks/bench_live.py [--tick-ms 1]

Reports wall time, round-trips, client peak memory (tracemalloc) and the ratio unbatched/batched. The host
serves one request per client per defer tick; REAPER's defer loop runs at about 30 Hz, so the last column
estimates REAPER's time as round-trips / 30 s (the stand-in ticks every --tick-ms instead).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reaper_automix.live import ops  # noqa: E402
from reaper_automix.live.apply import apply_changes  # noqa: E402
from reaper_automix.live.bridge import RemoteApi, connect  # noqa: E402
from reaper_automix.live.session import read_live_session  # noqa: E402
from tests.live_harness.process import Host, spec_from_session  # noqa: E402
from tests.live_harness.scenario import make_changes, make_session  # noqa: E402

GROUPS, PER_GROUP, FOLDERED = 16, 8, 8
REAPER_DEFER_HZ = 30.0


def measure(label: str, fn, bridge) -> tuple[float, int]:
    tracemalloc.start()
    trips, start = bridge.round_trips, time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = bridge.round_trips - trips
    print(f"{label:<34} {wall:8.3f} s {n:7d} trips {peak / 1e6:7.2f} MB   ~{n / REAPER_DEFER_HZ:7.1f} s in REAPER")
    return wall, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tick-ms", type=float, default=1.0)
    args = ap.parse_args()
    session = make_session(GROUPS, PER_GROUP, FOLDERED)
    changes = make_changes(session, GROUPS, PER_GROUP, FOLDERED)
    print(f"{len(session.tracks)} tracks ({GROUPS * PER_GROUP} balanced), {len(changes.buses)} buses "
          f"({GROUPS - FOLDERED} new), {len(changes.take_gains)} take-gain tracks; stand-in tick {args.tick_ms} ms")
    results = {}
    for batched in (True, False):
        with tempfile.TemporaryDirectory() as tmp, Host(spec_from_session(session), Path(tmp), max_s=600,
                                                        tick_s=args.tick_ms / 1000) as host:
            bridge = connect(web_port=host.web_port)
            kind = "batched" if batched else "unbatched"
            read = (lambda: bridge.call(ops.read_project)) if batched else (
                lambda: ops.read_project(api=RemoteApi(bridge)))
            results[("read", batched)] = measure(f"read project, {kind}", read, bridge)
            results[("apply", batched)] = measure(f"apply, {kind}", lambda: apply_changes(bridge, session, changes,
                                                                                            batched=batched), bridge)
            after = read_live_session(bridge).session  # the project with the new buses, for the re-run
            results[("rerun", batched)] = measure(f"re-apply (replace FX), {kind}",
                                                  lambda: apply_changes(bridge, after, changes, batched=batched), bridge)
            dump = host.stop()
            assert dump["undo"] == [changes.description] * 2 and dump["undo_depth"] == 0
    for what in ("read", "apply", "rerun"):
        (wb, nb), (wu, nu) = results[(what, True)], results[(what, False)]
        print(f"{what:<6} unbatched/batched: wall x{wu / wb:6.1f}, round-trips x{nu / nb:6.0f}")


if __name__ == "__main__":
    main()
