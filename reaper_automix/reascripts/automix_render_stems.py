# @noindex
# @description Automix: Render stems for offline analysis
# @about
#   Headless twin of "Automix: Render stems for offline analysis...": renders with the remembered choice (selected tracks or all), for shortcuts and custom actions.
"""REAPER action: Automix: Render stems for offline analysis"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import automix_render_stems_dialog  # noqa: E402 (after the path is set)

automix_render_stems_dialog.main(dialog=False)
