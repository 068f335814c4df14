"""The live bridge: read and change the project open in a running REAPER through reapy.

Modules: :mod:`.ops` (runs inside REAPER, standard library only), :mod:`.server` (the safe, allow-listed
server the REAPER action ``reascripts/automix_server.py`` runs), :mod:`.bridge` (the client side),
:mod:`.session` (project -> Session, stems), :mod:`.apply` (ChangeSet -> REAPER), :mod:`.install` (register
the actions and set reapy up), :mod:`.commands` (the ``live`` and ``reaper`` CLI groups).

Nothing heavy is imported here: REAPER's embedded Python imports this package.
"""
