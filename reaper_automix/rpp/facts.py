"""REAPER format facts kept as data (``reaper_automix/data/reaper_rpp.yaml``), read once."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml


@functools.cache
def rpp_facts() -> dict[str, Any]:
    """The parsed ``reaper_rpp.yaml`` (shared: do not modify the returned mapping)."""
    text = resources.files("reaper_automix").joinpath("data/reaper_rpp.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
