"""A stand-in for the worker REAPER's actions start: records its arguments, writes progress like the real one.

``AUTOMIX_STUB_MODE``: unset, progress and DONE; ``fail``, error output on stderr, an ERROR line and exit 2;
``slow``, one line then a long sleep (to be cancelled)."""

import json
import os
import sys
import time

args = sys.argv[1:]
progress = args[args.index("--progress-file") + 1]
mode = os.environ.get("AUTOMIX_STUB_MODE", "")
with open(os.environ["AUTOMIX_STUB_ARGV"], "w", encoding="utf-8") as f:
    json.dump(args, f)
lines = {"": ("analysing tracks: 1/2", "analysing tracks: 2/2", "DONE: stub finished"),
         "fail": ("analysing tracks: 1/2", "ERROR: Kick.wav: not a sound file"),
         "slow": ("analysing tracks: 1/2",)}[mode]
for line in lines:
    time.sleep(0.1)
    with open(progress, "a", encoding="utf-8") as f:
        f.write(line + "\n")
open(os.environ["AUTOMIX_STUB_ARGV"] + ".done", "w").close()
if mode == "fail":
    print("Traceback (most recent call last):\n  File \"x.py\", line 1\nSoundFileError: Kick.wav", file=sys.stderr)
    sys.exit(2)
if mode == "slow":
    time.sleep(60)
