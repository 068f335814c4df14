"""A stand-in for the worker REAPER's actions start: records its arguments, writes progress like the real one."""

import json
import os
import sys
import time

args = sys.argv[1:]
progress = args[args.index("--progress-file") + 1]
with open(os.environ["AUTOMIX_STUB_ARGV"], "w", encoding="utf-8") as f:
    json.dump(args, f)
for line in ("analysing tracks: 1/2", "analysing tracks: 2/2", "DONE: stub finished"):
    time.sleep(0.1)
    with open(progress, "a", encoding="utf-8") as f:
        f.write(line + "\n")
open(os.environ["AUTOMIX_STUB_ARGV"] + ".done", "w").close()
