# @description Automix: Balance levels within folders...
# @version 0.1.0
# @author reaper-automix
# @changelog Initial release.
# @provides [nomain] automix_action.py
# @about
#   Asks for the method, strength and whether to balance the groups too (remembered), then balances. One undo point.
"""REAPER action: Automix: Balance levels within folders..."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("balance", dialog=True)
