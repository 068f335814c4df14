# @noindex
# @description Automix: Mix to reference track
# @about
#   Mixes the groups to the remembered reference (a file or a track) without asking. One undo point.
"""REAPER action: Automix: Mix to reference track"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("mix", dialog=False)
