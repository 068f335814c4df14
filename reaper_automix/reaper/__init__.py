"""REAPER specifics that are not the .rpp text format: FX states inside ``<VST`` blocks and the value mappings
between the console and REAPER's stock plug-ins."""
