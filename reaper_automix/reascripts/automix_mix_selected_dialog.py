# @noindex
# @description Automix: Mix selected folders to reference...
# @about
#   Asks for the reference and strength, then mixes only the selected folders to it.
"""REAPER action: Automix: Mix selected folders to reference..."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("mix_selected", dialog=True)
