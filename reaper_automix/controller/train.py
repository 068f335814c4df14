"""Training the controller on a dataset made by :mod:`reaper_automix.dataset`, deterministically for a seed.

Examples: *method 1* takes song ``i``'s stems from one half and the reference made of the other half through
one of its known consoles (parameter loss + feature loss); *method 2* (a share :attr:`TrainOptions.method2`
of every batch) takes another song's reference mix (feature loss only). A share :attr:`TrainOptions.synthetic`
of the steps uses :func:`synthetic_batch` instead: stems recombined across songs with a fresh console applied in
feature space, so that a few dozen rendered songs give unlimited consoles (the rendered references keep the
model honest about the real console; validation uses only rendered references). The last
:attr:`TrainOptions.validation_songs` songs are held out and measured every :attr:`TrainOptions.eval_every`
steps (method 1, both losses). Adam with a cosine learning-rate decay, gradients clipped at 1; one torch thread
by default. The same dataset, options and seed give the same weights.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import AutomixError
from .checkpoint import save_checkpoint
from ..dataset.make import random_console, settings_vector
from .losses import Batch, band_console, feature_loss, forward, parameter_loss
from .model import ControllerConfig, MixController, parameter_count

Progress = Callable[[int, int, float], None]  # (step, steps, loss)


@dataclass(frozen=True)
class TrainOptions:
    steps: int = 1200
    batch_size: int = 24
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    feature_weight: float = 0.05
    method2: float = 0.25
    level_spread_db: float = 6.0
    synthetic: float = 0.5  # share of steps on feature-space method-1 batches (synthetic_batch)
    validation_songs: int = 6
    eval_every: int = 100
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise AutomixError("steps and batch size must be at least 1")
        if not 0.0 <= self.method2 < 1.0:
            raise AutomixError(f"the method-2 share must be within 0..1, got {self.method2}")


@dataclass
class Song:
    stem_energy: np.ndarray  # (2 halves, S, W, 3, K)
    stem_frame_power: np.ndarray
    stem_peak: np.ndarray
    stem_level_db: np.ndarray  # (S,)
    ref_energy: np.ndarray  # (consoles, 2 halves, W, 3, K)
    ref_frame_power: np.ndarray
    ref_peak: np.ndarray
    truth: np.ndarray  # (consoles, S, 10)

    @property
    def n_stems(self) -> int:
        return self.stem_level_db.shape[0]


def load_songs(dataset: Path) -> list[Song]:
    """Every ``song-*.npz`` of ``dataset``, in index order."""
    paths = sorted(Path(dataset).glob("song-*.npz"))
    if not paths:
        raise AutomixError(f"{dataset} holds no dataset songs (make one with: reaper-automix dataset FOLDER)")
    songs = []
    for p in paths:
        with np.load(p) as z:
            songs.append(Song(**{k: z[k] for k in Song.__dataclass_fields__}))
    return songs


@dataclass(frozen=True)
class Example:
    song: int
    half: int  # the half whose stems the model hears
    ref_song: int
    ref_console: int
    ref_half: int

    @property
    def method(self) -> int:
        return 1 if self.song == self.ref_song else 2


def collate(songs: list[Song], examples: list[Example], rng: np.random.Generator | None = None,
            level_spread_db: float = 0.0) -> Batch:
    """Examples padded to the largest stem count among them. With ``rng``, each stem's input level moves by a
    random ``+/-level_spread_db``: an exact augmentation (the same reference then needs the fader that much lower
    and the threshold that much higher; EQ and pan are unchanged)."""
    s_max = max(songs[e.song].n_stems for e in examples)
    b = len(examples)
    first = songs[examples[0].song]
    w, k = first.stem_energy.shape[2], first.stem_energy.shape[-1]
    f = first.stem_frame_power.shape[-1]
    se = np.zeros((b, s_max, w, 3, k), np.float32)
    sf = np.zeros((b, s_max, w, f), np.float32)
    sp = np.zeros((b, s_max, w), np.float32)
    mask = np.zeros((b, s_max), bool)
    level = np.zeros((b, s_max), np.float32)
    truth = np.full((b, s_max, 10), np.nan, np.float32)
    re = np.zeros((b, w, 3, k), np.float32)
    rf = np.zeros((b, w, f), np.float32)
    rp = np.zeros((b, w), np.float32)
    for i, e in enumerate(examples):
        s, r = songs[e.song], songs[e.ref_song]
        n = s.n_stems
        se[i, :n], sf[i, :n], sp[i, :n] = s.stem_energy[e.half], s.stem_frame_power[e.half], s.stem_peak[e.half]
        mask[i, :n] = True
        level[i, :n] = s.stem_level_db
        re[i], rf[i], rp[i] = (r.ref_energy[e.ref_console, e.ref_half], r.ref_frame_power[e.ref_console, e.ref_half],
                               r.ref_peak[e.ref_console, e.ref_half])
        if e.method == 1:
            truth[i, :n] = s.truth[e.ref_console]
        if rng is not None and level_spread_db > 0:
            shift = rng.uniform(-level_spread_db, level_spread_db, n).astype(np.float32)
            power = 10 ** (shift / 10)
            se[i, :n] *= power[:, None, None, None]
            sf[i, :n] *= power[:, None, None]
            sp[i, :n] *= np.sqrt(power)[:, None]
            level[i, :n] += shift
            truth[i, :n, 0] -= shift
            truth[i, :n, 7] += shift
    t = torch.from_numpy
    return Batch(t(se), t(sf), t(sp), t(mask), t(level), t(re), t(rf), t(rp), t(truth))


def synthetic_batch(rng: np.random.Generator, songs: list[Song], indices: np.ndarray, count: int,
                    level_spread_db: float, max_stems: int = 10) -> Batch:
    """Method 1 in feature space, for unlimited variety: each example's stems are drawn from one to three training
    songs (recombined), moved to random levels, given a fresh random console
    (:func:`~reaper_automix.dataset.random_console`), and the reference is that console applied by
    :func:`~.losses.band_console` to the statistics of the *other* half of the same stems."""
    picks = []
    for _ in range(count):
        sources = rng.choice(indices, size=min(len(indices), int(rng.integers(1, 4))), replace=False)
        pool = [(int(j), k) for j in sources for k in range(songs[j].n_stems)]
        n = int(rng.integers(1, min(max_stems, len(pool)) + 1))
        chosen = [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]
        picks.append((chosen, int(rng.integers(2)), rng.uniform(-level_spread_db, level_spread_db, n)))
    s_max = max(len(c) for c, _, _ in picks)
    first = songs[int(indices[0])]
    shape = first.stem_energy.shape
    w, k, f = shape[2], shape[-1], first.stem_frame_power.shape[-1]
    se = np.zeros((2, count, s_max, w, 3, k), np.float32)  # [input half, other half]
    sf = np.zeros((2, count, s_max, w, f), np.float32)
    sp = np.zeros((2, count, s_max, w), np.float32)
    mask = np.zeros((count, s_max), bool)
    level = np.zeros((count, s_max), np.float32)
    truth = np.full((count, s_max, 10), np.nan, np.float32)
    for i, (chosen, half, shift) in enumerate(picks):
        for slot, ((j, stem), g) in enumerate(zip(chosen, shift)):
            song, power = songs[j], 10 ** (g / 10)
            for which, h in enumerate((half, 1 - half)):
                se[which, i, slot] = song.stem_energy[h, stem] * power
                sf[which, i, slot] = song.stem_frame_power[h, stem] * power
                sp[which, i, slot] = song.stem_peak[h, stem] * np.sqrt(power)
            level[i, slot] = song.stem_level_db[stem] + g
        mask[i, : len(chosen)] = True
        truth[i, : len(chosen)] = np.stack([settings_vector(c) for c in random_console(rng, level[i, : len(chosen)])])
    t = torch.from_numpy
    with torch.no_grad():
        ref = band_console(t(np.nan_to_num(truth, nan=0.0)) + t(np.isnan(truth) * _NEUTRAL), t(se[1]), t(sf[1]),
                           t(sp[1]), t(mask))
    return Batch(t(se[0]), t(sf[0]), t(sp[0]), t(mask), t(level), *(r.float() for r in ref), t(truth))


_NEUTRAL = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 0], np.float32)  # padded stems: any finite setting (masked)


def sample_examples(rng: np.random.Generator, songs: list[Song], indices: np.ndarray, count: int, method2: float,
                    ) -> list[Example]:
    out = []
    for _ in range(count):
        i = int(rng.choice(indices))
        half = int(rng.integers(2))
        if rng.random() < method2 and len(indices) > 1:
            j = int(rng.choice(indices[indices != i]))
            out.append(Example(i, half, j, int(rng.integers(songs[j].truth.shape[0])), int(rng.integers(2))))
        else:
            out.append(Example(i, half, i, int(rng.integers(songs[i].truth.shape[0])), 1 - half))
    return out


def validation_examples(songs: list[Song], indices: np.ndarray) -> list[Example]:
    """Every method-1 example of the held-out songs."""
    return [Example(int(i), h, int(i), c, 1 - h) for i in indices for c in range(songs[i].truth.shape[0])
            for h in (0, 1)]


@dataclass
class TrainResult:
    model: MixController
    history: dict[str, list] = field(default_factory=dict)
    wall_s: float = 0.0


def _losses(model: MixController, batch: Batch, options: TrainOptions) -> tuple[torch.Tensor, dict[str, float]]:
    pred = forward(model, batch)
    p_loss, p_terms = parameter_loss(pred, batch)
    f_loss, f_terms = feature_loss(pred, batch)
    total = p_loss + options.feature_weight * f_loss
    terms = {f"param.{k}": float(v.detach()) for k, v in p_terms.items()}
    terms |= {f"feature.{k}": float(v.detach()) for k, v in f_terms.items()}
    return total, terms | {"param": float(p_loss.detach()), "feature": float(f_loss.detach()),
                           "total": float(total.detach())}


def train(dataset: Path, options: TrainOptions = TrainOptions(), config: ControllerConfig = ControllerConfig(), *,
          progress: Progress | None = None) -> TrainResult:
    """Train a fresh model on ``dataset`` (see the module docstring)."""
    torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    songs = load_songs(dataset)
    n_val = min(options.validation_songs, len(songs) - 1)
    train_idx = np.arange(len(songs) - n_val)
    val_idx = np.arange(len(songs) - n_val, len(songs))
    val_batch = collate(songs, validation_examples(songs, val_idx)) if n_val > 0 else None
    model = MixController(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, options.steps) / options.steps)))
    history: dict[str, list] = {"step": [], "train": [], "val_step": [], "val": [], "val_terms": []}
    start = time.perf_counter()
    running = []
    for step in range(1, options.steps + 1):
        model.train()
        if rng.random() < options.synthetic:
            batch = synthetic_batch(rng, songs, train_idx, options.batch_size, options.level_spread_db)
        else:
            examples = sample_examples(rng, songs, train_idx, options.batch_size, options.method2)
            batch = collate(songs, examples, rng, options.level_spread_db)
        loss, _ = _losses(model, batch, options)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        running.append(float(loss.detach()))
        if step % 10 == 0 or step == options.steps:
            history["step"].append(step)
            history["train"].append(float(np.mean(running)))
            running = []
        if val_batch is not None and (step % options.eval_every == 0 or step == options.steps):
            model.eval()
            with torch.no_grad():
                _, terms = _losses(model, val_batch, options)
            history["val_step"].append(step)
            history["val"].append(terms["total"])
            history["val_terms"].append(terms)
        if progress is not None:
            progress(step, options.steps, running[-1] if running else float(loss.detach()))
    model.eval()
    return TrainResult(model, history, time.perf_counter() - start)


def plot_history(history: dict, path: Path) -> None:
    """Training and validation loss curves as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].semilogy(history["step"], history["train"], label="training (batch mean)")
    if history["val_step"]:
        axes[0].semilogy(history["val_step"], history["val"], label="validation (held-out songs)")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    axes[0].set_title("total loss")
    if history["val_terms"]:
        for key in ("param.gain", "param.eq", "param.comp", "param.pan", "feature"):
            values = [t.get(key, float("nan")) for t in history["val_terms"]]
            axes[1].semilogy(history["val_step"], values, label=key)
        axes[1].set_xlabel("step")
        axes[1].legend()
        axes[1].set_title("validation terms")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_and_save(dataset: Path, out: Path, options: TrainOptions = TrainOptions(),
                   config: ControllerConfig = ControllerConfig(), *, progress: Progress | None = None) -> dict:
    """Train, then write ``out`` (safetensors), ``out`` with ``.json`` (history and options) and ``.png``
    (loss curves). Returns the summary written to the JSON."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise AutomixError(f"the checkpoint must be a .safetensors file, got {out}")
    if not out.parent.is_dir():
        raise AutomixError(f"folder {out.parent} does not exist")
    result = train(dataset, options, config, progress=progress)
    manifest_path = Path(dataset) / "dataset.json"
    dataset_info = json.loads(manifest_path.read_text())["config"] if manifest_path.exists() else None
    n_songs = len(list(Path(dataset).glob("song-*.npz")))
    summary = {"options": asdict(options), "config": asdict(config), "dataset": dataset_info,
               "dataset_songs": n_songs, "parameters": parameter_count(result.model),
               "wall_s": round(result.wall_s, 1), "history": result.history}
    digest = save_checkpoint(result.model, out, {"train": json.dumps({k: summary[k] for k in
                                                                     ("options", "dataset", "dataset_songs")})})
    summary["checkpoint_sha256"] = digest
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    plot_history(result.history, out.with_suffix(".png"))
    return summary
