"""reaper-automix: two-stage automatic multitrack mixing for REAPER."""

__version__ = "0.1.0"
