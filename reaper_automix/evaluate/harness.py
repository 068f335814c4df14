"""The evaluation harness: rows (systems) run on held-out cases, measured against known answers.

A **row** maps a case and a reference file to a :class:`RowOutput`: console settings per stem (or none) and the
mix it yields on the input excerpt. Engines that predict settings plug in as plain callables
``engine(stems, sample_rate, reference_paths) -> list[Strip]`` through :func:`engine_row`; the built-in
rows are :func:`stage1_row` (stage 1 only: the stage-1 stems summed), :func:`neutral_row` (a neutral strip on
every bus: the same audio as stage 1, the baseline for the settings columns), :func:`prior_mean_row` (the mean of
the ground-truth distribution: each stem at its role's level; it knows the group names, which the engines do
not), :func:`search_row` (the reference-matching search) and :func:`matchering_row` (the equal-loudness sum
mastered by Matchering, run as an external program in its own interpreter: GPL, never imported).

Each row runs twice per case: against the same-song reference (its settings and mix are compared with the
ground truth) and against the different-song reference (feature distance only). Columns per case
(:func:`measure`):

* ``loudness_error_lu``: per stem, the integrated loudness of the stem alone through its written strip minus the
  same through the ground-truth strip; mean removed over stems (the overall level is free), mean absolute value.
* ``pan_error``: mean |pan - true pan|; ``eq_curve_error_db``: mean RMS difference of the EQ curves
  (:func:`~reaper_automix.evaluate.metrics.eq_curve_error_db`).
* ``gain_reduction_db`` / ``gain_reduction_peak_db``: the mean over buses of each compressor's average
  reduction on its stem, and the largest peak reduction (:func:`~reaper_automix.matching.limits.gain_reduction`);
  ``gain_reduction_error_db``: mean |average reduction - the ground truth's|.
* ``mrstft``: multi-resolution STFT distance of the mix to the ground-truth mix, both at -23 LUFS.
* ``feature_distance``: the total feature distance (:func:`~reaper_automix.matching.distances`) of the mix made
  for the different-song reference to that reference (per-term values in the JSON).
* ``violations``: buses that break a plausibility limit (:func:`~reaper_automix.matching.limits.violations`),
  both runs counted; ``time_s`` and ``cpu_s``: the row's wall and CPU time per run (stage 1 only: stage 1's
  wall time on the whole song).

Settings columns are ``None`` for rows that write no settings (stage 1 only, Matchering).
"""

from __future__ import annotations

import resource
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.loudness import integrated_loudness
from ..audio.io import read_audio, write_audio
from ..errors import AutomixError
from ..matching.features import distances, load_reference, song_features
from ..matching.limits import gain_reduction, gain_reduction_cap, pan_limit, violations
from ..matching import MatchOptions, match_reference, render_console_mix
from ..strip import Strip
from .cases import EvalCase, TruthPrior
from .metrics import eq_curve_error_db, mrstft_distance

LEVEL_MATCH_LUFS = -23.0  # both mixes go to this loudness before an MRSTFT comparison

MATCHERING_SCRIPT = """
import sys
import matchering as mg
mg.log(print)
mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.Result(sys.argv[3], "FLOAT")])
"""

Log = Callable[[str], None]
SettingsEngine = Callable[[Sequence[np.ndarray], int, Sequence[Path]], list[Strip]]


@dataclass
class RowOutput:
    """What a row did on one case: ``settings`` per stem (``None``: no per-stem chain, e.g. Matchering) and the
    resulting ``mix`` of the input excerpt, float32 ``(2, samples)``."""

    settings: list[Strip] | None
    mix: np.ndarray
    writes_settings: bool = True  # False: ``settings`` only describe the audio (stage 1's neutral strips)


@dataclass(frozen=True)
class Row:
    name: str
    run: Callable[[EvalCase, Path], RowOutput]


def engine_row(name: str, engine: SettingsEngine) -> Row:
    """A row for any engine that predicts settings from the stems and the reference."""

    def run(case: EvalCase, reference: Path) -> RowOutput:
        settings = engine(case.stems, case.sample_rate, [reference])
        if len(settings) != len(case.stems):
            raise AutomixError(f"engine {name!r} returned {len(settings)} settings for {len(case.stems)} stems")
        return RowOutput(list(settings), render_console_mix(case.stems, settings, case.sample_rate))

    return Row(name, run)


def stage1_row() -> Row:
    return Row("stage1", lambda case, reference: RowOutput([Strip.neutral()] * len(case.stems),
                                                           np.sum(case.stems, axis=0), writes_settings=False))


def neutral_row() -> Row:
    return engine_row("neutral", lambda stems, sample_rate, refs: [Strip.neutral()] * len(stems))


def prior_mean_row(prior: TruthPrior = TruthPrior()) -> Row:
    def run(case: EvalCase, reference: Path) -> RowOutput:
        loudness = [integrated_loudness(s, case.sample_rate) for s in case.stems]
        settings = prior.mean(case.groups, loudness, case.levels_db)
        return RowOutput(settings, render_console_mix(case.stems, settings, case.sample_rate))

    return Row("prior_mean", run)


def search_row(options: MatchOptions = MatchOptions()) -> Row:
    def engine(stems, sample_rate, references):
        return match_reference(stems, sample_rate, references, options).stems

    return engine_row("search", engine)


def matchering_row(python: Path, work: Path) -> Row:
    """Matchering (limiter on, as shipped) mastering the equal-loudness sum against the reference."""

    def run(case: EvalCase, reference: Path) -> RowOutput:
        return RowOutput(None, run_matchering(python, case.equal_loudness_mix, reference, case.sample_rate, work))

    return Row("matchering", run)


def run_matchering(python: Path, target: np.ndarray, reference: Path, sample_rate: int, work: Path) -> np.ndarray:
    """Master ``target`` against ``reference`` with Matchering in its own interpreter."""
    work.mkdir(parents=True, exist_ok=True)
    target_path, out_path = work / "matchering-target.wav", work / "matchering-result.wav"
    write_audio(target_path, target, sample_rate, subtype="FLOAT")
    done = subprocess.run([str(python), "-c", MATCHERING_SCRIPT, str(target_path), str(reference), str(out_path)],
                          check=False, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AutomixError(f"Matchering failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    audio, rate = read_audio(out_path)
    if rate != sample_rate:
        raise AutomixError(f"Matchering wrote {rate} Hz, expected {sample_rate} Hz")
    return audio[:, : target.shape[1]]


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (Matchering): a time that a busy machine
    inflates less than wall time."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --- measures ------------------------------------------------------------------------------------------------------


def _level(x: np.ndarray, sample_rate: int) -> np.ndarray:
    return x * np.float32(10 ** ((LEVEL_MATCH_LUFS - integrated_loudness(x, sample_rate)) / 20))


def per_stem_loudness(stems: Sequence[np.ndarray], settings: Sequence[Strip], sample_rate: int) -> np.ndarray:
    """Integrated loudness (LUFS) of each stem alone through its strip (``-inf`` for a silent one)."""
    return np.array([integrated_loudness(render_console_mix([s], [c], sample_rate), sample_rate)
                     for s, c in zip(stems, settings)])


def loudness_error_lu(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute per-stem loudness error after removing the mean (over stems audible in both)."""
    ok = np.isfinite(found) & np.isfinite(truth)
    if not ok.any():
        return float("nan")
    d = found[ok] - truth[ok]
    return float(np.mean(np.abs(d - d.mean())))


def _bus_checks(case: EvalCase, settings: Sequence[Strip], reference: Path) -> tuple[list, list[str]]:
    """Gain reduction per bus and every plausibility violation, for settings made for ``reference``."""
    audio = load_reference(reference, case.sample_rate)
    pan_max, _ = pan_limit(audio, case.sample_rate)
    stage1 = song_features(np.sum(case.stems, axis=0), case.sample_rate)
    gr_max, heavy = gain_reduction_cap(song_features(audio, case.sample_rate).crest_db, stage1.crest_db)
    reductions, found = [], []
    for group, stem, s, level in zip(case.groups, case.stems, settings, case.levels_db):
        gr = gain_reduction(stem, s.eq, s.compressor, case.sample_rate)
        reductions.append(gr)
        found += [f"{group}: {v}" for v in violations(s.eq, s.compressor, s.pan, level, gr, pan_max=pan_max,
                                                       mean_gain_reduction_max_db=gr_max,
                                                       heavy=heavy is not None)]
    return reductions, found


def measure(case: EvalCase, same: RowOutput, other: RowOutput, truth_loudness: np.ndarray,
            truth_reduction_db: np.ndarray) -> dict:
    """The columns of the module docstring for one row on one case."""
    sr = case.sample_rate
    out: dict = {
        "mrstft": mrstft_distance(_level(same.mix, sr), _level(case.truth_mix, sr)),
    }
    reference = song_features(load_reference(case.other_song_reference, sr), sr)
    terms = distances(song_features(other.mix, sr), reference)
    out["feature_distance"] = terms["total"]
    out["feature_terms"] = terms
    if same.settings is None:
        return out
    s = same.settings
    out["loudness_error_lu"] = loudness_error_lu(per_stem_loudness(case.stems, s, sr), truth_loudness)
    if not same.writes_settings:
        return out
    out["pan_error"] = float(np.mean([abs(a.pan - b.pan) for a, b in zip(s, case.truth)]))
    out["eq_curve_error_db"] = float(np.mean([eq_curve_error_db(a.eq, b.eq, sr) for a, b in zip(s, case.truth)]))
    reductions, found = _bus_checks(case, s, case.same_song_reference)
    if other.settings is not None:
        found += _bus_checks(case, other.settings, case.other_song_reference)[1]
    mean_gr = np.array([r.mean_db for r in reductions])
    out["gain_reduction_db"] = float(mean_gr.mean())
    out["gain_reduction_peak_db"] = float(max(r.peak_db for r in reductions))
    out["gain_reduction_error_db"] = float(np.mean(np.abs(mean_gr - truth_reduction_db)))
    out["violations"] = len(found)
    out["violation_notes"] = found
    out["settings"] = [settings_dict(x) for x in s]
    return out


def settings_dict(s: Strip) -> dict:
    return {
        "gain_db": round(s.gain_db, 2),
        "eq_gain_db": [round(b.gain_db, 2) for b in s.eq],
        "threshold_db": round(s.compressor.threshold_db, 2),
        "ratio": round(s.compressor.ratio, 3),
        "pan": round(s.pan, 3),
    }


def evaluate_case(case: EvalCase, rows: Sequence[Row], log: Log = print) -> dict:
    """Every row on one case: ``{"song", "truth", "rows": {name: columns}}``."""
    sr = case.sample_rate
    truth_loudness = per_stem_loudness(case.stems, case.truth, sr)
    truth_reduction = np.array([gain_reduction(stem, s.eq, s.compressor, sr).mean_db
                                for stem, s in zip(case.stems, case.truth)])
    record: dict = {"song": case.name, "groups": case.groups, "truth": [settings_dict(s) for s in case.truth],
                    "truth_gain_reduction_db": [round(float(g), 2) for g in truth_reduction], "rows": {}}
    for row in rows:
        t0, c0 = time.perf_counter(), _cpu_s()
        same = row.run(case, case.same_song_reference)
        t1 = time.perf_counter()
        other = row.run(case, case.other_song_reference)
        t2, c2 = time.perf_counter(), _cpu_s()
        columns = measure(case, same, other, truth_loudness, truth_reduction)
        columns["time_s"] = case.stage1_s if row.name == "stage1" else (t2 - t0) / 2
        columns["cpu_s"] = None if row.name == "stage1" else (c2 - c0) / 2
        record["rows"][row.name] = columns
        log(f"  {row.name:<11} " + "  ".join(f"{k} {columns[k]:.3f}" for k in COLUMNS if columns.get(k) is not None)
            + f"  ({t1 - t0:.1f} + {t2 - t1:.1f} s)")
    return record


# --- summary -------------------------------------------------------------------------------------------------------

COLUMNS = ("loudness_error_lu", "pan_error", "eq_curve_error_db", "gain_reduction_db", "gain_reduction_peak_db",
           "gain_reduction_error_db", "feature_distance", "mrstft", "violations", "time_s", "cpu_s")
HEADINGS = {
    "loudness_error_lu": "loud LU", "pan_error": "pan", "eq_curve_error_db": "EQ dB", "gain_reduction_db": "GR dB",
    "gain_reduction_peak_db": "GR pk dB", "gain_reduction_error_db": "GR err dB", "feature_distance": "feat (other)",
    "mrstft": "MRSTFT", "violations": "limits", "time_s": "wall s", "cpu_s": "CPU s",
}


def summarise(records: Sequence[dict]) -> dict:
    """Mean over songs of every column per row (``violations``: the sum), and the issue's checks for each engine
    that writes settings against the baselines (:func:`checks`)."""
    rows = list(records[0]["rows"])
    mean: dict[str, dict[str, float | None]] = {}
    for row in rows:
        mean[row] = {}
        for c in COLUMNS:
            values = [r["rows"][row].get(c) for r in records]
            values = [v for v in values if v is not None and np.isfinite(v)]
            mean[row][c] = None if not values else float(np.sum(values) if c == "violations" else np.mean(values))
    return {"songs": [r["song"] for r in records], "mean": mean, "checks": checks(mean)}


def checks(mean: dict) -> dict:
    """For each engine among search/learned/hybrid present: the "Done when" comparisons of issue 8."""
    def get(row: str, column: str) -> float | None:
        return mean.get(row, {}).get(column)

    out = {}
    for engine in ("search", "learned", "hybrid"):
        if engine not in mean:
            continue
        c = {}
        loud = get(engine, "loudness_error_lu")
        c["loudness_beats_stage1"] = _lt(loud, get("stage1", "loudness_error_lu"))
        if engine != "search":
            c["loudness_beats_search"] = _lt(loud, get("search", "loudness_error_lu"))
        c["pan_at_most_0.6x_centre"] = _lt(get(engine, "pan_error"), _scaled(get("neutral", "pan_error"), 0.6), True)
        c["eq_at_most_0.8x_flat"] = _lt(get(engine, "eq_curve_error_db"),
                                        _scaled(get("neutral", "eq_curve_error_db"), 0.8), True)
        if engine != "search":
            c["feature_within_15pct_of_search"] = _lt(get(engine, "feature_distance"),
                                                      _scaled(get("search", "feature_distance"), 1.15), True)
        c["feature_beats_matchering"] = _lt(get(engine, "feature_distance"), get("matchering", "feature_distance"))
        c["no_limit_violations"] = get(engine, "violations") == 0
        out[engine] = c
    return out


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _lt(a: float | None, b: float | None, or_equal: bool = False) -> bool | None:
    if a is None or b is None:
        return None
    return a <= b if or_equal else a < b


def format_table(summary: dict) -> str:
    """The means as a plain-text table, one line per row, then the checks."""
    head = f"{'row':<12}" + "".join(f"{HEADINGS[c]:>13}" for c in COLUMNS)
    lines = [head, "-" * len(head)]
    for row, values in summary["mean"].items():
        cells = []
        for c in COLUMNS:
            v = values[c]
            cells.append(f"{'-':>13}" if v is None else f"{v:>13.0f}" if c == "violations" else f"{v:>13.3f}")
        lines.append(f"{row:<12}" + "".join(cells))
    lines.append("")
    for engine, c in summary["checks"].items():
        parts = [f"{k} {'yes' if v else 'NO' if v is not None else 'n/a'}" for k, v in c.items()]
        lines.append(f"{engine}: " + ", ".join(parts))
    return "\n".join(lines)


def markdown_table(summary: dict) -> str:
    """The same table in Markdown (for the model card and the closing note)."""
    lines = ["| row | " + " | ".join(HEADINGS[c] for c in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for row, values in summary["mean"].items():
        cells = ["-" if values[c] is None else f"{values[c]:.0f}" if c == "violations" else f"{values[c]:.3f}"
                 for c in COLUMNS]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
