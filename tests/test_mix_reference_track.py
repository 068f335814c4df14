"""``mix --reference-track NAME``, as ``batch --mix --reference-track``: the option reaches the shared entry
point (whose behaviour tests/test_batch.py checks on a real project), and exactly one kind of reference is
accepted, before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reaper_automix import projects
from reaper_automix.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_projects import SR, AudioTrack, pink_noise, write_project  # noqa: E402


@pytest.fixture
def song(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    return write_project(tmp_path, [AudioTrack("Band", depth=1), AudioTrack("A", pink_noise(SR, rng)),
                                    AudioTrack("B", pink_noise(SR, rng), depth=-1),
                                    AudioTrack("Reference mix", pink_noise(SR, rng))])


@pytest.mark.parametrize("args", [[], ["-r", "{song}", "--reference-track", "Reference mix"]])
def test_exactly_one_kind_of_reference_is_accepted(song, monkeypatch, args):
    monkeypatch.setattr(projects, "mix_project", lambda *a, **k: pytest.fail("the mix started"))
    result = CliRunner().invoke(main, ["mix", str(song), *[a.format(song=song) for a in args]])
    assert result.exit_code == 2 and "--reference-track NAME" in " ".join(result.output.split())


def test_the_track_name_reaches_the_mix(song, monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def fake_mix(project, outputs, references, **kwargs):
        seen.update(project=project, target=outputs.target, references=references, track=kwargs["reference_track"])
        raise Stop

    monkeypatch.setattr(projects, "mix_project", fake_mix)
    result = CliRunner().invoke(main, ["mix", str(song), "--reference-track", "Reference mix"])
    assert isinstance(result.exception, Stop), result.output
    assert seen == {"project": song, "target": song.with_name("song-automix.rpp"), "references": (),
                    "track": "Reference mix"}
