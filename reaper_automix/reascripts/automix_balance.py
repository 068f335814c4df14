# @noindex
# @description Automix: Balance levels within folders
# @about
#   Balances track levels inside each folder (group) with the remembered settings; works on the selected tracks/folders when there is a selection. One undo point.
"""REAPER action: Automix: Balance levels within folders"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("balance", dialog=False)
