"""Pictures of a run for a mixing engineer (``--plot DIR``): PNG files, each answering one question at a glance.

- ``loudness.png``: did the balance even the tracks out? Each group's tracks and the groups themselves,
  loudness in their band at the fader before (hollow) and after (filled) stage 1.
- ``spectra.png`` (``mix``): how does the mix's tone compare with the reference? Bark-band mid and side
  spectra of the stage-1 mix, the matched mix and the reference, on one loudness scale.
- ``eq.png`` (``mix``): what did each bus's EQ do? Its magnitude response, 20 Hz to 20 kHz.
- ``gain_reduction.png`` (``mix``): how hard does each bus's compressor work, and when? Its gain reduction over
  the song.

The figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no display).
:func:`draw_balance` and :func:`draw_mix` take a run's result and report; the EQ curves are the console's
exact response (:func:`~reaper_automix.console.eq.eq_response_db`) and the gain reduction is the console's
compressor run on the bus's stage-1 stem after its EQ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AutomixError
from .files import write_atomic

DPI = 110


@dataclass(frozen=True)
class Curve:
    """One line of a figure: ``y`` over ``x`` (same length)."""

    label: str
    x: np.ndarray
    y: np.ndarray


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    return path


def plot_folder(folder: Path | str) -> Path:
    """``folder`` made ready for the PNGs (created if missing); an error naming it when it cannot be."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AutomixError(f"--plot {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AutomixError(f"--plot {folder}: cannot create the folder ({exc.strerror or exc})") from None
    return folder


def loudness_figure(report: Mapping, path: Path) -> Path:
    """``loudness.png`` from a balance report (:func:`reaper_automix.report.balance_report`, also the ``stage1``
    part of a mix report): per track, band loudness at the fader before and after; per group, the stem's."""
    rows: list[tuple[str, float, float, bool]] = []  # label, before, after, is_group
    for group in report["groups"]:
        members = [t for t in report["tracks"] if t["group"] == group["name"] and t["band_loudness_lufs"] is not None
                   and t["fader_after_db"] is not None]
        before_g = group["stem_band_loudness_lufs_before_gain"]
        if before_g is not None:
            rows.append((f"{group['name']} (group)", before_g, before_g + (group["gain_db"] or 0.0), True))
        for t in members:
            before = t["band_loudness_lufs"] + t["fader_before_db"]
            after = t["band_loudness_lufs"] + t["fader_after_db"] + (t["take_gain_db"] or 0.0)
            rows.append((f"  {t['name']}", before, after, False))
    if not rows:
        raise AutomixError("nothing to plot: no track was balanced")
    figure = _figure(8.5, 1.2 + 0.24 * len(rows))
    ax = figure.add_subplot()
    y = np.arange(len(rows))[::-1]
    before = np.array([r[1] for r in rows])
    after = np.array([r[2] for r in rows])
    colours = ["#b8572a" if r[3] else "#2a6fb8" for r in rows]
    for yi, b, a, c in zip(y, before, after, colours):
        ax.plot([b, a], [yi, yi], color=c, linewidth=1.2, alpha=0.6)
    ax.scatter(before, y, facecolors="none", edgecolors=colours, s=36, label="before", zorder=3)
    ax.scatter(after, y, c=colours, s=36, label="after", zorder=3)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), rows):
        tick.set_fontweight("bold" if r[3] else "normal")
    ax.set_xlabel("loudness in the track's band at its fader (LUFS); groups: stem before / after the group gain")
    ax.set_title(f"Stage 1: {report['summary']}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _save(figure, path)


def spectra_figure(spectra: Sequence[tuple[str, np.ndarray, np.ndarray]], path: Path) -> Path:
    """``spectra.png``: for each (label, mid dB (24,), side dB (24,)) its Bark-band spectra, mid above side
    (the matching features' bands and scale: each band's energy relative to the signal's total)."""
    from .matching.features import BARK_EDGES_HZ

    centres = np.sqrt(np.array(BARK_EDGES_HZ[:-1]) * np.array(BARK_EDGES_HZ[1:]))
    figure = _figure(8.5, 6.0)
    mid_ax, side_ax = figure.subplots(2, 1, sharex=True)
    styles = [("#7a7a7a", "--"), ("#2a6fb8", "-"), ("#b8572a", "-")]
    for (label, mid, side), (colour, style) in zip(spectra, styles * 3):
        for ax, values in ((mid_ax, mid), (side_ax, side)):
            ax.semilogx(centres, np.asarray(values, dtype=float), style, color=colour, marker="o", markersize=3,
                        label=label)
    for ax, what in ((mid_ax, "mid (L+R)"), (side_ax, "side (L-R)")):
        ax.set_ylabel(f"{what}, dB per Bark band")
        ax.grid(which="both", alpha=0.3)
        ax.set_xlim(BARK_EDGES_HZ[0], BARK_EDGES_HZ[-1])
        _hz_axis(ax)
    mid_ax.legend(fontsize=8)
    mid_ax.set_title("Spectra by critical band (each relative to its mix's total energy)", fontsize=10)
    side_ax.set_xlabel("frequency (Hz)")
    return _save(figure, path)


def _hz_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))


def _grid(n: int) -> tuple[int, int]:
    columns = min(3, max(1, n))
    return math.ceil(n / columns), columns


def eq_figure(curves: Sequence[Curve], path: Path) -> Path:
    """``eq.png``: one panel per bus, its EQ's magnitude response (``x`` Hz, ``y`` dB)."""
    rows, columns = _grid(len(curves))
    figure = _figure(3.4 * columns, 2.4 * rows + 0.4)
    axes = np.atleast_1d(figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)).ravel()
    limit = max([6.0] + [float(np.max(np.abs(c.y))) + 1.0 for c in curves])
    for ax, curve in zip(axes, curves):
        ax.semilogx(curve.x, curve.y, color="#2a6fb8")
        ax.axhline(0.0, color="#7a7a7a", linewidth=0.8)
        ax.set_title(curve.label, fontsize=9)
        ax.set_xlim(20, 20000)
        _hz_axis(ax)
        ax.set_ylim(-limit, limit)
        ax.grid(which="both", alpha=0.3)
    for ax in axes[len(curves):]:
        ax.set_visible(False)
    figure.supxlabel("frequency (Hz)", fontsize=9)
    figure.supylabel("EQ gain (dB)", fontsize=9)
    figure.suptitle("Bus EQ (ReaEQ as set by Automix)", fontsize=10)
    return _save(figure, path)


def gain_reduction_figure(curves: Sequence[Curve], path: Path) -> Path:
    """``gain_reduction.png``: one row per bus, its compressor's gain reduction (``x`` s, ``y`` dB >= 0)."""
    figure = _figure(8.5, 1.0 + 1.1 * max(1, len(curves)))
    axes = np.atleast_1d(figure.subplots(max(1, len(curves)), 1, sharex=True, squeeze=False)).ravel()
    top = max([3.0] + [float(np.max(c.y)) * 1.1 for c in curves if c.y.size])
    for ax, curve in zip(axes, curves):
        ax.fill_between(curve.x, 0.0, curve.y, color="#b8572a", linewidth=0)
        ax.set_ylim(top, 0.0)  # reduction hangs down from 0 dB, as on a console's meter
        mean = float(np.mean(curve.y)) if curve.y.size else 0.0
        peak = float(np.max(curve.y, initial=0.0))
        ax.set_ylabel(f"{curve.label}\nmean {mean:.1f}, max {peak:.1f}", rotation=0, ha="right", va="center",
                      fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    figure.suptitle("Bus compressor gain reduction (dB)", fontsize=10)
    return _save(figure, path)


# --- from a run to the figures ---------------------------------------------------------------------------------


def eq_curve(label: str, bands, sample_rate: float, n_points: int = 400) -> Curve:
    """The magnitude response of ``bands`` (:class:`~reaper_automix.strip.EqBand`) from 20 Hz to 20 kHz."""
    import torch

    from .console.eq import eq_response_db
    from .console.params import EqParams

    freqs = np.geomspace(20.0, 20000.0, n_points)
    response = eq_response_db(EqParams.from_bands([bands]), torch.from_numpy(freqs), sample_rate)[0].numpy()
    return Curve(label, freqs, response)


def gain_reduction_curve(label: str, stem, bands, compressor, sample_rate: float, block_s: float = 0.05,
                         chunk_s: float = 20.0) -> Curve:
    """A bus compressor's gain reduction over the song, dB (>= 0): per ``block_s`` block, the level of the EQ'd
    stem over the compressor's output without make-up gain (blocks without signal read 0). ``stem`` is
    ``(2, samples)`` (memory-mapped is fine), processed in ``chunk_s`` chunks with the filters' state carried."""
    from dataclasses import replace

    import torch

    from .console.compressor import compress
    from .console.eq import apply_eq
    from .console.params import CompressorParams, EqParams

    eq = EqParams.from_bands([bands]) if bands else None
    comp = CompressorParams.from_compressors([replace(compressor, makeup_db=0.0)])
    block = max(1, int(round(block_s * sample_rate)))
    chunk = block * max(1, int(chunk_s / block_s))
    eq_state = comp_state = None
    levels_in, levels_out = [], []
    n = stem.shape[1]
    with torch.no_grad():
        for start in range(0, n - n % block, chunk):
            x = torch.from_numpy(np.ascontiguousarray(stem[:, start:min(start + chunk, n - n % block)],
                                                      dtype=np.float64))[None]
            if eq is not None:
                x, eq_state = apply_eq(x, eq, sample_rate, eq_state)
            y, comp_state = compress(x, comp, sample_rate, state=comp_state)
            blocks = x.shape[-1] // block
            levels_in.append(np.mean(np.square(x[0].numpy()).reshape(2, blocks, block), axis=(0, 2)))
            levels_out.append(np.mean(np.square(y[0].numpy()).reshape(2, blocks, block), axis=(0, 2)))
    power_in = np.concatenate(levels_in) if levels_in else np.zeros(0)
    power_out = np.concatenate(levels_out) if levels_out else np.zeros(0)
    audible = power_in > 1e-10
    reduction = np.zeros_like(power_in)
    reduction[audible] = np.maximum(0.0, 10.0 * np.log10(power_in[audible] / np.maximum(power_out[audible], 1e-30)))
    times = (np.arange(power_in.size) + 0.5) * block / sample_rate
    return Curve(label, times, reduction)


def draw_balance(report: Mapping, folder: Path) -> list[Path]:
    """The pictures of a stage-1 run (``analyze``, ``balance``) into ``folder``."""
    return [loudness_figure(report, Path(folder) / "loudness.png")]


def draw_mix(result, report: Mapping, folder: Path) -> list[Path]:
    """The pictures of a ``mix`` run into ``folder``. ``result``'s stage-1 stem files must still exist (run
    :func:`~reaper_automix.stage2.mix_session` with a ``stem_dir``) for the gain reduction over time."""
    from .audio.io import StemFile
    from .matching import ScaledStem

    folder = Path(folder)
    sample_rate = result.balance.session.sample_rate
    m = result.match
    paths = [loudness_figure(report, folder / "loudness.png"),
             spectra_figure([("stage 1", m.before.bark_mid_db, m.before.bark_side_db),
                             ("matched", m.after.bark_mid_db, m.after.bark_side_db),
                             ("reference", m.reference.bark_mid_db, m.reference.bark_side_db)],
                            folder / "spectra.png")]
    buses = list(zip(result.changes.buses, result.balance.groups))
    eq = [eq_curve(bus.group, bus.eq, sample_rate) for bus, _ in buses if bus.eq]
    if eq:
        paths.append(eq_figure(eq, folder / "eq.png"))
    reduction = [gain_reduction_curve(bus.group, ScaledStem(StemFile(group.stem_file), group.gain_db), bus.eq,
                                      bus.compressor, sample_rate)
                 for bus, group in buses if bus.compressor is not None]
    if reduction:
        paths.append(gain_reduction_figure(reduction, folder / "gain_reduction.png"))
    return paths
