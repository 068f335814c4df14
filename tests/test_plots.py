"""The PNGs of --plot, read back: the size the figure asked for, not blank, the data's colours present."""

from __future__ import annotations

import numpy as np
import pytest

from reaper_automix.errors import AutomixError
from reaper_automix.plots import (DPI, Curve, eq_figure, gain_reduction_figure, loudness_figure, plot_folder,
                                  spectra_figure)

BLUE, ORANGE = (0x2A, 0x6F, 0xB8), (0xB8, 0x57, 0x2A)


def read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return (imread(path)[..., :3] * 255).round().astype(int)


def share_of(pixels, rgb, tolerance=12) -> float:
    return float(np.mean(np.all(np.abs(pixels - np.array(rgb)) <= tolerance, axis=-1)))


def assert_drawn(pixels, width_in, colours=()):
    assert pixels.shape[1] == round(width_in * DPI) and pixels.shape[0] > 100
    ink = np.mean(np.any(pixels < 200, axis=-1))
    assert 0.01 < ink < 0.6, ink  # something drawn, not a filled block
    for c in colours:
        assert share_of(pixels, c) > 1e-4, c


def report():
    def track(name, group, band, before, after, take=None):
        return {"name": name, "group": group, "band_loudness_lufs": band, "fader_before_db": before,
                "fader_after_db": after, "take_gain_db": take}

    return {"summary": "Automix: balanced 4 tracks in 2 groups",
            "groups": [{"name": "Drums", "stem_band_loudness_lufs_before_gain": -20.0, "gain_db": -2.0},
                       {"name": "Keys", "stem_band_loudness_lufs_before_gain": -30.0, "gain_db": 5.0}],
            "tracks": [track("Kick", "Drums", -18.0, 0.0, -3.0), track("Snare", "Drums", -26.0, 0.0, 5.0),
                       track("Piano", "Keys", -31.0, -2.0, 0.0), track("Organ", "Keys", -40.0, 0.0, 12.0, 3.0),
                       track("Unused", None, None, 0.0, None)]}


def test_loudness_figure(tmp_path):
    path = loudness_figure(report(), tmp_path / "loudness.png")
    assert_drawn(read_png(path), 8.5, colours=(BLUE, ORANGE))


def test_loudness_figure_refuses_an_empty_report(tmp_path):
    with pytest.raises(AutomixError, match="nothing to plot"):
        loudness_figure({"summary": "", "groups": [], "tracks": []}, tmp_path / "x.png")


def test_spectra_eq_and_gain_reduction_figures(tmp_path):
    rng = np.random.default_rng(0)
    spectra = [(name, rng.normal(-20, 5, 24), rng.normal(-35, 5, 24)) for name in ("stage 1", "matched", "reference")]
    assert_drawn(read_png(spectra_figure(spectra, tmp_path / "spectra.png")), 8.5, colours=(BLUE, ORANGE))
    f = np.geomspace(20, 20000, 200)
    curves = [Curve(f"Bus {i}", f, 4 * np.exp(-np.log(f / (200 * 4**i)) ** 2)) for i in range(4)]
    assert_drawn(read_png(eq_figure(curves, tmp_path / "eq.png")), 3 * 3.4, colours=(BLUE,))
    t = np.linspace(0, 30, 600)
    gr = [Curve(f"Bus {i}", t, np.clip(3 * np.sin(t * (i + 1)), 0, None)) for i in range(3)]
    assert_drawn(read_png(gain_reduction_figure(gr, tmp_path / "gr.png")), 8.5, colours=(ORANGE,))


def test_plot_folder_is_created_or_refused(tmp_path):
    assert plot_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(AutomixError, match="not a folder"):
        plot_folder(tmp_path / "file")
