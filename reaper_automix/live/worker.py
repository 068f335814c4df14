"""``python -m reaper_automix.live.worker live balance ...``: the process REAPER's Automix actions start, so that
the analysis runs outside REAPER's UI thread and heavy libraries never load inside REAPER."""

from .commands import main

if __name__ == "__main__":
    main()
