"""The method and engine names are defined once (reaper_automix.methods); the places that cannot import them
(the ReaScript action runs inside REAPER without the package) or spell them for the user agree with them."""

from __future__ import annotations

from pathlib import Path

import click

from reaper_automix.cli import main
from reaper_automix.methods import ENGINES, METHODS

REPO = Path(__file__).resolve().parents[1]


def test_the_reaper_action_offers_the_same_methods():
    source = (REPO / "reaper_automix" / "reascripts" / "automix_action.py").read_text(encoding="utf-8")
    assert "choice(" + ", ".join(f'"{m}"' for m in METHODS) + ")" in source
    assert "Method (" + " / ".join(METHODS) + ")" in source


def test_the_cli_choices_are_the_defined_names():
    mix = main.commands["mix"]
    choices = {p.name: tuple(p.type.choices) for p in mix.params if isinstance(p.type, click.Choice)}
    assert choices["method"] == METHODS
    assert choices["engine"] == ENGINES
