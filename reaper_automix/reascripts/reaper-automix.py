# @description reaper-automix: automatic mixing (balance within folders, mix to a reference)
# @version 0.1.0
# @author reaper-automix contributors
# @changelog
#   Initial ReaPack release: one package with every Automix action.
# @metapackage
# @provides
#   [main] automix_balance.py
#   [main] automix_balance_dialog.py
#   [main] automix_mix_reference.py
#   [main] automix_mix_reference_dialog.py
#   [main] automix_mix_selected.py
#   [main] automix_mix_selected_dialog.py
#   [main] automix_cancel.py
#   [main] automix_render_stems.py
#   [main] automix_render_stems_dialog.py
#   [main] automix_server.py
#   automix_action.py
# @link Website https://github.com/reaper-automix/reaper-automix
# @about
#   # reaper-automix
#
#   Automatic mixing inside REAPER: "Automix: Balance levels within folders" evens out the tracks of each
#   folder by their loudness in their characteristic frequency band; "Automix: Mix to reference track" sets
#   gain, EQ, compression and pan on each folder bus to match a reference mix. Every run is one undo point.
#
#   These scripts only start the analysis engine, a Python package installed separately:
#
#   - pip install reaper-automix (CPU torch first, see the project's README)
#   - reaper-automix reaper install (REAPER closed): it finds these scripts and registers nothing twice
#
#   The "..." actions ask for their settings; the others reuse the last ones.
"""ReaPack metapackage of reaper-automix: this file only carries the package header (it is not installed)."""
