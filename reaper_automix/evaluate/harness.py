"""The evaluation harness: mixes of generated songs by several systems, measured against their references.

For each song (a :func:`~reaper_automix.demo.generate_demo` session and its reference, a different song):

* ``raw``: every track at its original fader and pan, summed;
* ``stage1_<method>``: stage 1 only (Rules 1-3) with each CFB method (centroid, f0, lufs);
* ``matched``: stage 1 (centroid) + reference matching (:func:`~reaper_automix.matching.match_reference`);
* ``matchering``: the equal-loudness sum (stage 1 with the ``lufs`` method: every track at equal LUFS)
  mastered against the same reference by Matchering, run as an external program (GPL: never imported).

Each mix gets the per-term feature distances to the reference (:func:`~reaper_automix.matching.distances`).
Ground-truth cases: the reference is the song's own stage-1 stems mixed through the console with known random
settings; matching must then recover them (parameter errors) and come close to that mix (MRSTFT distance).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.loudness import integrated_loudness
from ..audio.io import read_audio, write_audio
from ..balance import FaderPlan
from ..demo import generate_demo
from ..errors import AutomixError
from ..matching.features import MixFeatures, distances, song_features
from ..matching.optimise import (
    MatchOptions,
    match_reference,
    render_console_mix,
)
from ..preview import render_mix
from ..rpp.reader import load_session
from ..stage1 import BalanceOptions, balance_session
from ..strip import Compressor, Strip
from .metrics import mrstft_distance, settings_errors

METHODS = ("centroid", "f0", "lufs")
GT_GAIN_DB = 6.0  # ground-truth settings: gains uniform in +/-6 dB, pans in +/-0.7, EQ gains in +/-6 dB,
GT_PAN = 0.7  # compressor ratio 1..3 with the threshold 0..6 dB above the stem's RMS
GT_EQ_DB = 6.0
GT_RATIO = 3.0
LEVEL_MATCH_LUFS = -23.0  # both mixes go to this loudness before an MRSTFT comparison

MATCHERING_SCRIPT = """
import sys
import matchering as mg
mg.log(print)
mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.Result(sys.argv[3], "FLOAT")])
"""

Log = Callable[[str], None]


@dataclass(frozen=True)
class SongSpec:
    seed: int
    length_s: float
    n_tracks: int

    @property
    def name(self) -> str:
        return f"song{self.seed}-{self.n_tracks}x{self.length_s:g}s"


def ensure_song(root: Path, spec: SongSpec) -> Path:
    """The song's folder under ``root``, generated on first use (deterministic in ``spec``)."""
    folder = root / spec.name
    if not (folder / "demo-manifest.json").exists():
        generate_demo(folder, seed=spec.seed, length_s=spec.length_s, n_tracks=spec.n_tracks, overwrite=True)
    return folder


def stage1_stems(project: Path, method: str, stem_dir: Path, workers: int = 2) -> list[np.ndarray]:
    """Stage-1 stems at their stage-1 level (group gain applied), float32 ``(2, samples)`` each."""
    session, _ = load_session(project)
    result = balance_session(session, BalanceOptions(method=method, workers=workers), stem_dir=stem_dir)
    return [np.load(r.stem_file) * np.float32(10 ** (r.gain_db / 20)) for r in result.groups]


def raw_mix(project: Path) -> np.ndarray:
    """Every track at its own fader and pan, summed (the session as recorded)."""
    session, _ = load_session(project)
    return render_mix(session, FaderPlan())


def random_settings(stems: Sequence[np.ndarray], rng: np.random.Generator) -> list[Strip]:
    """Known console settings for a ground-truth reference (ranges above), within what matching can express."""
    out = []
    neutral = Strip.neutral()
    for s in stems:
        rms_db = 10 * np.log10(max(float(np.mean(np.square(s, dtype=np.float64))), 1e-10))
        eq = tuple(
            type(b)(b.kind, b.freq_hz, float(rng.uniform(-GT_EQ_DB, GT_EQ_DB)), b.q) for b in neutral.eq
        )
        comp = Compressor(float(rms_db + rng.uniform(0, 6)), float(rng.uniform(1, GT_RATIO)),
                                 neutral.compressor.attack_ms, neutral.compressor.release_ms,
                                 neutral.compressor.knee_db, 0.0)
        out.append(Strip(float(rng.uniform(-GT_GAIN_DB, GT_GAIN_DB)), eq, comp,
                                float(rng.uniform(-GT_PAN, GT_PAN))))
    return out


def run_matchering(python: Path, target: np.ndarray, reference: Path, sample_rate: int, work: Path) -> np.ndarray:
    """Master ``target`` against ``reference`` with Matchering in its own interpreter (limiter on, as shipped)."""
    target_path, out_path = work / "matchering-target.wav", work / "matchering-result.wav"
    write_audio(target_path, target, sample_rate, subtype="FLOAT")
    done = subprocess.run([str(python), "-c", MATCHERING_SCRIPT, str(target_path), str(reference), str(out_path)],
                          check=False, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AutomixError(f"Matchering failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    audio, rate = read_audio(out_path)
    if rate != sample_rate:
        raise AutomixError(f"Matchering wrote {rate} Hz, expected {sample_rate} Hz")
    return audio


def _level(x: np.ndarray, sample_rate: int) -> np.ndarray:
    return x * np.float32(10 ** ((LEVEL_MATCH_LUFS - integrated_loudness(x, sample_rate)) / 20))


def evaluate_song(
    folder: Path,
    *,
    methods: Sequence[str] = METHODS,
    match_options: MatchOptions | None = None,
    matchering_python: Path | None = None,
    ground_truth_seed: int | None = 0,
    workers: int = 2,
    log: Log = print,
) -> tuple[dict, dict[str, MixFeatures]]:
    """Every condition on one song. Returns ``(record, features)``: a JSON-ready record (distances, timings,
    ground-truth errors) and the features of every mix (``"reference"`` included) for plots."""
    match_options = match_options or MatchOptions()
    project = folder / "demo.rpp"
    reference_path = folder / "reference.wav"
    manifest = json.loads((folder / "demo-manifest.json").read_text())
    sample_rate = int(manifest["sample_rate"])
    reference = song_features(read_audio(reference_path)[0], sample_rate)
    features: dict[str, MixFeatures] = {"reference": reference}
    record: dict = {"song": folder.name, "conditions": {}}

    def add(name: str, mix: np.ndarray) -> None:
        features[name] = song_features(mix, sample_rate)
        record["conditions"][name] = distances(features[name], reference)
        log(f"  {name}: total {record['conditions'][name]['total']:.2f}")

    add("raw", raw_mix(project))
    with tempfile.TemporaryDirectory(prefix="automix-eval-") as tmp:
        work = Path(tmp)
        stems: dict[str, list[np.ndarray]] = {}
        for method in methods:
            stems[method] = stage1_stems(project, method, work / method, workers)
            add(f"stage1_{method}", sum(stems[method]))
        base = stems.get("centroid") or stems[methods[0]]
        result = match_reference(base, sample_rate, [reference_path], match_options)
        add("matched", result.matched_mix)
        record["matched_settings"] = [_settings_dict(s) for s in result.stems]
        if matchering_python is not None:
            equal = stems["lufs"] if "lufs" in stems else stage1_stems(project, "lufs", work / "lufs", workers)
            add("matchering", run_matchering(matchering_python, sum(equal), reference_path, sample_rate, work))

        if ground_truth_seed is not None:
            record["ground_truth"] = _ground_truth(base, sample_rate, match_options, ground_truth_seed, work, log)
    return record, features


def _ground_truth(stems, sample_rate, options, seed, work: Path, log: Log) -> dict:
    truth = random_settings(stems, np.random.default_rng(seed))
    target_mix = render_console_mix(stems, truth, sample_rate)
    target_path = work / "ground-truth.wav"
    write_audio(target_path, target_mix, sample_rate, subtype="FLOAT")
    result = match_reference(stems, sample_rate, [target_path], options)
    target = _level(target_mix, sample_rate)
    record = {
        "truth": [_settings_dict(s) for s in truth],
        "found": [_settings_dict(s) for s in result.stems],
        "recovery": settings_errors(truth, result.stems, sample_rate),
        "distances_before": result.distances_before,
        "distances_after": result.distances_after,
        "mrstft_stage1": mrstft_distance(_level(sum(stems), sample_rate), target),
        "mrstft_matched": mrstft_distance(_level(result.matched_mix, sample_rate), target),
    }
    log(f"  ground truth: total {record['distances_before']['total']:.2f} -> {record['distances_after']['total']:.2f}, "
        f"MRSTFT {record['mrstft_stage1']:.3f} -> {record['mrstft_matched']:.3f}")
    return record


def _settings_dict(s: Strip) -> dict:
    return {
        "gain_db": round(s.gain_db, 2),
        "eq_gain_db": [round(b.gain_db, 2) for b in s.eq],
        "threshold_db": round(s.compressor.threshold_db, 2),
        "ratio": round(s.compressor.ratio, 3),
        "pan": round(s.pan, 3),
    }


TERMS = ("crest_db", "width", "imbalance", "bark_mid_db", "bark_side_db", "total", "loudness_lu")


def summarise(records: Sequence[dict]) -> dict:
    """Means over songs of every condition's distances, and the two acceptance checks:
    ``matched_vs_stage1``: the reduction of the total distance by matching relative to stage 1 (centroid) only;
    ``matched_vs_matchering``: per term, whether matching is closer to the reference than Matchering."""
    conditions = list(records[0]["conditions"])
    mean = {c: {t: float(np.mean([r["conditions"][c][t] for r in records])) for t in TERMS} for c in conditions}
    summary: dict = {"songs": [r["song"] for r in records], "mean": mean}
    stage1 = "stage1_centroid" if "stage1_centroid" in mean else next(c for c in conditions if c.startswith("stage1"))
    summary["matched_vs_stage1"] = {
        "reference_condition": stage1,
        "total_reduction": 1 - mean["matched"]["total"] / mean[stage1]["total"],
        "per_song_reduction": [1 - r["conditions"]["matched"]["total"] / r["conditions"][stage1]["total"]
                               for r in records],
    }
    if "matchering" in mean:
        summary["matched_vs_matchering"] = {
            t: {"matched": mean["matched"][t], "matchering": mean["matchering"][t],
                "better": mean["matched"][t] < mean["matchering"][t]}
            for t in TERMS
        }
    truths = [r["ground_truth"] for r in records if "ground_truth" in r]
    if truths:
        summary["ground_truth"] = {
            key: float(np.mean([g[key] for g in truths])) for key in ("mrstft_stage1", "mrstft_matched")
        } | {
            f"recovery_{k}": float(np.mean([g["recovery"][k] for g in truths])) for k in truths[0]["recovery"]
        } | {
            "total_before": float(np.mean([g["distances_before"]["total"] for g in truths])),
            "total_after": float(np.mean([g["distances_after"]["total"] for g in truths])),
        }
    return summary


def format_table(summary: dict) -> str:
    """The mean distances as a plain-text table (one row per condition), then the checks."""
    head = f"{'condition':<18}" + "".join(f"{t:>14}" for t in TERMS)
    rows = [head, "-" * len(head)]
    for condition, values in summary["mean"].items():
        rows.append(f"{condition:<18}" + "".join(f"{values[t]:>14.3f}" for t in TERMS))
    check = summary["matched_vs_stage1"]
    rows.append("")
    rows.append(f"matching vs {check['reference_condition']}: total distance reduced by "
                f"{100 * check['total_reduction']:.0f}% (per song: "
                + ", ".join(f"{100 * r:.0f}%" for r in check["per_song_reduction"]) + "; target >= 50%)")
    if "matched_vs_matchering" in summary:
        worse = [t for t, v in summary["matched_vs_matchering"].items() if not v["better"]]
        rows.append("matching vs Matchering: " + ("better on every term" if not worse else
                                                  "NOT better on " + ", ".join(worse)))
    if "ground_truth" in summary:
        g = summary["ground_truth"]
        rows.append(f"ground truth: total {g['total_before']:.2f} -> {g['total_after']:.2f}; MRSTFT "
                    f"{g['mrstft_stage1']:.3f} (stage 1) -> {g['mrstft_matched']:.3f} (matched); recovery errors: "
                    f"gain {g['recovery_gain_db']:.2f} dB, pan {g['recovery_pan']:.2f}, EQ curve "
                    f"{g['recovery_eq_curve_db']:.2f} dB, ratio {g['recovery_ratio']:.2f}")
    return "\n".join(rows)
