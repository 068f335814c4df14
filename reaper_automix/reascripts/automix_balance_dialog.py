# @noindex
# @description Automix: Balance levels within folders...
# @about
#   Asks for the method, strength and whether to balance the groups too (remembered), then balances. One undo point.
"""REAPER action: Automix: Balance levels within folders..."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("balance", dialog=True)
