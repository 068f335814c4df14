"""Batch processing of whole folders of projects, resumable, on a local process pool or a Dask cluster.

:func:`~reaper_automix.batch.runner.run_batch` runs a :class:`~reaper_automix.batch.jobs.StageSpec` (stage 1, or
stages 1 and 2) on each project with an engine from :mod:`~reaper_automix.batch.engines`, recording inputs,
options and results in the manifest (:mod:`~reaper_automix.batch.manifest`). The ``batch`` command is in
:mod:`~reaper_automix.batch.command`.
"""
