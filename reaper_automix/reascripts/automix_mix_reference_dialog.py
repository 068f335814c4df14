# @noindex
# @description Automix: Mix to reference track...
# @about
#   Asks for the reference (an audio file or a track name) and strength (remembered), then sets gain, EQ, compression and pan of the group buses to match it. One undo point.
"""REAPER action: Automix: Mix to reference track..."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("mix", dialog=True)
