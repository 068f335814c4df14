# @noindex
# @description Automix: Cancel running job
# @about
#   Stops the running balance or mix worker; nothing is changed in the project (a job changes REAPER only at
#   its very end, inside one undo point).
"""REAPER action: Automix: Cancel running job"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("cancel", dialog=False)
