# @noindex
# @description Automix: Mix selected folders to reference
# @about
#   Like 'Mix to reference track' but only for the selected folders, with the remembered reference.
"""REAPER action: Automix: Mix selected folders to reference"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_action  # noqa: E402 (after the path is set)

automix_action.run_action("mix_selected", dialog=False)
