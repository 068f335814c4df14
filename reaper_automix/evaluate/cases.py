"""Evaluation cases: a generated song's stage-1 stems, a ground-truth console and two references.

A case is built from a :func:`~reaper_automix.demo.generate_demo` session (held out from training: the demo's
SoundFont TimGM6mb and seeds below 100000, see the controller's model card):

* **Stems**: stage 1 (centroid CFB, Rules 1-3) run on the whole session, one stem per group at its stage-1 level.
  The song is split in two halves: the engines see the *first* half (the input excerpt).
* **Ground truth** (:func:`draw_truth`): a console setting per stem drawn from :class:`TruthPrior`, a musically
  plausible distribution: the stem's loudness at its role's level in a mix (the demo reference's rule, mixing.md
  section 4) +/- 3 LU, EQ gains within +/-4 dB, a compressor whose threshold sits 0-9 dB under the stem's level
  at ratio 1.5-4, pans within +/-0.1 for bass, drums and lead vocals and +/-0.5 for the rest.
* **Same-song reference**: the *second* half of the stems through the ground-truth console (normalised to peaks
  of -1 dBFS). It is not a time-aligned copy of the input: different bars, same mix. The right answer is known:
  the input half through the same console (:attr:`EvalCase.truth_mix`).
* **Different-song reference**: the demo's ``reference.wav`` (another song, mixed by rule): no right answer,
  only feature distances.
* **Equal-loudness sum** of the input half (stage 1 with the plain-LUFS method): what Matchering masters.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.loudness import integrated_loudness
from ..audio.io import write_audio
from ..demo import generate_demo
from ..demo.reference import ROLE_LEVEL_DB
from ..matching.limits import stem_level_db
from ..matching import render_console_mix
from ..rpp.reader import load_session
from ..stage1 import BalanceOptions, balance_session
from ..strip import Compressor, EqBand, Strip

# The role whose mix level a demo group's stem takes in the ground truth (ROLE_LEVEL_DB: the demo reference's).
GROUP_ROLE = {
    "Drums": "snare", "Bass": "bass", "Guitars": "guitar", "Keys": "keys", "Strings & Pads": "strings",
    "Vocals": "lead_vocal", "Backing Vocals": "backing_vocal", "Percussion": "percussion", "FX": "fx",
}
CENTRED_GROUPS = frozenset({"Drums", "Bass", "Vocals"})  # engineers keep these near the centre
UNKNOWN_ROLE_LEVEL_DB = -12.0
REFERENCE_PEAK_DBFS = -1.0


@dataclass(frozen=True)
class SongSpec:
    """One evaluation song: a demo session's seed, length and track count."""

    seed: int
    length_s: float
    n_tracks: int

    @property
    def name(self) -> str:
        return f"song{self.seed}-{self.n_tracks}x{self.length_s:g}s"


def held_out_songs(count: int, *, first_seed: int = 9000, length_s: float = 20.0,
                   tracks: Sequence[int] = (20, 24, 28)) -> list[SongSpec]:
    """``count`` songs with consecutive seeds from ``first_seed`` (held out: training uses seeds >= 100000),
    track counts cycling through ``tracks`` (20/24/28 demo tracks give 6-8 group stems)."""
    if first_seed + count > 100000:
        raise ValueError("evaluation seeds must stay below 100000 (the training seeds start there)")
    return [SongSpec(first_seed + i, length_s, tracks[i % len(tracks)]) for i in range(count)]


def ensure_song(root: Path, spec: SongSpec) -> Path:
    """The song's folder under ``root``, generated on first use (deterministic in ``spec``)."""
    folder = root / spec.name
    if not (folder / "demo-manifest.json").exists():
        generate_demo(folder, seed=spec.seed, length_s=spec.length_s, n_tracks=spec.n_tracks, overwrite=True)
    return folder


@dataclass(frozen=True)
class TruthPrior:
    """The distribution of ground-truth console settings (see the module docstring); units dB unless stated."""

    loudness_spread_lu: float = 3.0
    eq_db: float = 4.0
    threshold_below_level_db: tuple[float, float] = (0.0, 9.0)
    ratio: tuple[float, float] = (1.5, 4.0)  # log-uniform
    pan_centred: float = 0.1
    pan_other: float = 0.5  # the plausibility limit (matching/limits.py): the truth is a plausible mix

    def mean(self, names: Sequence[str], loudness_lufs: Sequence[float],
             levels_db: Sequence[float]) -> list[Strip]:
        """The prior's mean setting per stem: each stem at its role's level, flat EQ, the middle threshold and
        the log-middle ratio, centred."""
        gains = _role_gains(names, loudness_lufs, np.zeros(len(names)))
        below = float(np.mean(self.threshold_below_level_db))
        ratio = math.sqrt(self.ratio[0] * self.ratio[1])
        neutral = Strip.neutral()
        return [Strip(g, neutral.eq, _compressor(level - below, ratio), 0.0)
                for g, level in zip(gains, levels_db)]


def _role_gains(names: Sequence[str], loudness_lufs: Sequence[float], offsets_lu: np.ndarray) -> list[float]:
    """Gains that put each stem at its role's level plus ``offsets_lu``, mean removed (the level is free).
    Silent stems get 0 dB."""
    target = np.array([ROLE_LEVEL_DB.get(GROUP_ROLE.get(n, ""), UNKNOWN_ROLE_LEVEL_DB) for n in names])
    loudness = np.asarray(loudness_lufs, dtype=np.float64)
    audible = np.isfinite(loudness)
    gains = np.zeros(len(names))
    gains[audible] = target[audible] + offsets_lu[audible] - loudness[audible]
    if audible.any():
        gains[audible] -= gains[audible].mean()
    return [float(g) for g in gains]


def _compressor(threshold_db: float, ratio: float) -> Compressor:
    """The search's fixed attack, release and knee (the strip's defaults)."""
    return Compressor(threshold_db=float(threshold_db), ratio=float(ratio))


def draw_truth(names: Sequence[str], loudness_lufs: Sequence[float], levels_db: Sequence[float],
               rng: np.random.Generator, prior: TruthPrior = TruthPrior()) -> list[Strip]:
    """Ground-truth settings per stem (``names``: group names; ``loudness_lufs`` and ``levels_db``: each stem's
    integrated loudness and :func:`~reaper_automix.matching.limits.stem_level_db`)."""
    n = len(names)
    gains = _role_gains(names, loudness_lufs, rng.uniform(-prior.loudness_spread_lu, prior.loudness_spread_lu, n))
    out = []
    flat = Strip.neutral().eq
    for name, gain, level in zip(names, gains, levels_db):
        eq = tuple(EqBand(b.kind, b.freq_hz, float(rng.uniform(-prior.eq_db, prior.eq_db)), b.q) for b in flat)
        threshold = level - rng.uniform(*prior.threshold_below_level_db)
        ratio = math.exp(rng.uniform(math.log(prior.ratio[0]), math.log(prior.ratio[1])))
        width = prior.pan_centred if name in CENTRED_GROUPS else prior.pan_other
        out.append(Strip(gain, eq, _compressor(threshold, ratio), float(rng.uniform(-width, width))))
    return out


@dataclass
class EvalCase:
    """Everything one song contributes to the evaluation (module docstring). Audio float32 ``(2, samples)``."""

    name: str
    sample_rate: int
    groups: list[str]
    stems: list[np.ndarray]  # stage-1 stems, input half
    equal_loudness_mix: np.ndarray  # stage 1 with the plain-LUFS method, input half, summed
    truth: list[Strip]
    truth_mix: np.ndarray  # the input half through the ground-truth console
    same_song_reference: Path  # the second half through the ground-truth console
    other_song_reference: Path
    stage1_s: float  # stage 1's wall time on the whole song
    levels_db: list[float]  # each input stem's stem_level_db


def _stage1(project: Path, method: str, stem_dir: Path, workers: int) -> tuple[list[str], list[np.ndarray]]:
    session, _ = load_session(project)
    result = balance_session(session, BalanceOptions(method=method, workers=workers), stem_dir=stem_dir)
    stems = [np.load(r.stem_file) * np.float32(10 ** (r.gain_db / 20)) for r in result.groups]
    return [r.group.name for r in result.groups], stems


def build_case(folder: Path, work: Path, seed: int, *, workers: int = 2, reuse: bool = False,
               prior: TruthPrior = TruthPrior()) -> EvalCase:
    """The case of the demo song in ``folder``; its files (stage-1 stems, the same-song reference) go to ``work``.
    ``reuse``: take the stage-1 stems saved there by an earlier call (same code assumed). ``seed`` draws the
    ground truth."""
    work.mkdir(parents=True, exist_ok=True)
    sample_rate = int(json.loads((folder / "demo-manifest.json").read_text())["sample_rate"])
    saved = work / f"stage1-{seed}.npz"
    if reuse and saved.exists():
        data = np.load(saved)
        names, stage1_s = [str(n) for n in data["names"]], float(data["stage1_s"])
        stems, equal = list(data["stems"]), data["equal"]
    else:
        project = folder / "demo.rpp"
        t0 = time.perf_counter()
        names, stems = _stage1(project, "centroid", work / "centroid", workers)
        stage1_s = time.perf_counter() - t0
        _, equal_stems = _stage1(project, "lufs", work / "lufs", workers)
        n = max(s.shape[1] for s in stems + equal_stems)
        stems = [_pad(s, n) for s in stems]
        equal = np.sum([_pad(s, n) for s in equal_stems], axis=0)
        np.savez(saved, names=np.array(names), stage1_s=stage1_s, stems=np.stack(stems), equal=equal)
    n = stems[0].shape[1]
    half = n // 2
    first = [np.ascontiguousarray(s[:, :half]) for s in stems]
    second = [np.ascontiguousarray(s[:, half:]) for s in stems]
    loudness = [integrated_loudness(s, sample_rate) for s in stems]
    levels = [stem_level_db(s, sample_rate) for s in first]
    truth = draw_truth(names, loudness, levels, np.random.default_rng([seed, 0x8E]), prior)
    reference = render_console_mix(second, truth, sample_rate)
    reference *= np.float32(10 ** (REFERENCE_PEAK_DBFS / 20) / max(float(np.max(np.abs(reference))), 1e-9))
    reference_path = work / "same-song-reference.wav"
    write_audio(reference_path, reference, sample_rate, subtype="FLOAT")
    return EvalCase(
        name=folder.name, sample_rate=sample_rate, groups=names, stems=first,
        equal_loudness_mix=np.ascontiguousarray(equal[:, :half]),
        truth=truth, truth_mix=render_console_mix(first, truth, sample_rate),
        same_song_reference=reference_path, other_song_reference=folder / "reference.wav",
        stage1_s=stage1_s, levels_db=levels,
    )


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    return x if x.shape[1] >= n else np.pad(x, ((0, 0), (0, n - x.shape[1])))
