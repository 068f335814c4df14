"""The controller's training data, made here: generated songs as group stems, mixed through known consoles.

For each song (seed ``base_seed + i``; every number below is a function of that seed alone):

1. **Song and stems.** The demo's composer writes a song (:func:`~reaper_automix.demo.arrangement.make_song`) for
   a random track list of 8-40 tracks; every track is rendered with one of the training SoundFonts
   (:data:`TRAINING_SOUNDFONTS`, alternating by song), brought to the level its role would have in a balanced
   group (``ROLE_LEVEL_DB`` of the demo's reference mixer) give or take 4 dB, panned inside its group half the
   time, and summed by top-level folder into stereo group stems (what stage 1 hands to stage 2). A random subset
   of the groups is kept, and each stem gets a random "raw" level (+/-8 dB) and tone (a fixed-band EQ, +/-3 dB
   per band): the model must not rely on stage 1 having been perfect.
2. **References, Diff-MST's method 1.** ``consoles`` random console settings per song (:func:`random_console`,
   a musically plausible distribution wider than the evaluation's: gain +/-9 dB, EQ +/-8 dB per band, ratio
   1-5 with the threshold -10..+8 dB about the stem's level, pan +/-0.9) are rendered through the exact console
   (:func:`render_truth`). The song is cut in halves: the model hears the stems
   of one half and the reference made of the *other* half, so the reference is never a time-aligned copy of its
   input. Method 2 (another song as the reference) needs no rendering: training pairs stems and references of
   different songs (:mod:`reaper_automix.controller.train`).
3. **Features, once.** Only the controller's window statistics (:mod:`reaper_automix.controller.features`) are
   stored, one ``.npz`` per song plus ``dataset.json``; training never renders audio.

SoundFonts: FluidR3_GM (Debian ``fluid-soundfont-gm``, MIT) and MuseScore_General_Lite (Debian
``musescore-general-soundfont-small``, MIT) for training; TimGM6mb (inside pretty_midi), which the demo and the
evaluation songs use, is held out, and so are song seeds below :data:`MIN_TRAINING_SEED`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.fft import irfft, next_fast_len, rfft

from ..controller.features import N_WINDOWS, WindowStats, level_db, window_stats
from ..demo.arrangement import make_song
from ..demo.reference import ROLE_LEVEL_DB
from ..demo.render import track_signals
from ..demo.synth import SoundFontPlayer
from ..demo.tracks import build_track_list
from ..errors import AutomixError
from ..console import CompressorParams, EqParams, PanLaw, apply_pan, compress, eq_response_db
from ..strip import Compressor, EqBand, Strip, fixed_band_eq, flat_eq

SAMPLE_RATE = 44100
TRAINING_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
)
SOUNDFONT_PACKAGES = "fluid-soundfont-gm musescore-general-soundfont-small"
MIN_TRAINING_SEED = 100_000
FORMAT_VERSION = 1

# The random console of method 1 (physical units; thresholds relative to the stem's mean-square level).
TRUTH_GAIN_DB = 9.0
TRUTH_EQ_DB = 8.0
TRUTH_EQ_FLAT_P = 0.3  # each band is left flat with this probability
TRUTH_RATIO_MAX = 5.0
TRUTH_NO_COMP_P = 0.3
TRUTH_THRESHOLD_REL_DB = (-10.0, 8.0)
TRUTH_PAN = 0.9

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DatasetOptions:
    songs: int = 160
    seed: int = MIN_TRAINING_SEED
    length_s: float = 20.0
    consoles: int = 4
    min_tracks: int = 8
    max_tracks: int = 40
    soundfonts: tuple[str, ...] = tuple(str(p) for p in TRAINING_SOUNDFONTS)  # used in turn, song by song

    def __post_init__(self) -> None:
        if self.songs < 1 or self.consoles < 1:
            raise AutomixError("a dataset needs at least one song and one console per song")
        if self.seed < MIN_TRAINING_SEED:
            raise AutomixError(f"training seeds start at {MIN_TRAINING_SEED} (lower seeds are held out for "
                               f"evaluation), got {self.seed}")
        if not 8.0 <= self.length_s <= 600.0:
            raise AutomixError(f"song length must be within 8..600 s, got {self.length_s}")
        if not 8 <= self.min_tracks <= self.max_tracks <= 512:
            raise AutomixError("track counts must satisfy 8 <= min_tracks <= max_tracks <= 512")
        if not self.soundfonts:
            raise AutomixError("a dataset needs at least one SoundFont")


def random_console(rng: np.random.Generator, stem_levels_db: np.ndarray) -> list[Strip]:
    """Settings of method 1's random console, one per stem (see the module docstring for the distribution)."""
    out = []
    for level in stem_levels_db:
        eq_gain = rng.uniform(-TRUTH_EQ_DB, TRUTH_EQ_DB, len(flat_eq()))
        eq_gain[rng.random(len(eq_gain)) < TRUTH_EQ_FLAT_P] = 0.0
        if rng.random() < TRUTH_NO_COMP_P:
            ratio, threshold = 1.0, float(level)
        else:
            ratio = float(math.exp(rng.uniform(0.0, math.log(TRUTH_RATIO_MAX))))
            threshold = float(level + rng.uniform(*TRUTH_THRESHOLD_REL_DB))
        out.append(Strip(
            gain_db=float(rng.uniform(-TRUTH_GAIN_DB, TRUTH_GAIN_DB)),
            eq=fixed_band_eq(eq_gain),
            compressor=Compressor(threshold_db=threshold, ratio=ratio),
            pan=float(rng.uniform(-TRUTH_PAN, TRUTH_PAN)),
        ))
    return out


def settings_vector(s: Strip) -> np.ndarray:
    """``[gain_db, eq gains x6, threshold_db, ratio, pan]`` of one stem (physical)."""
    return np.array([s.gain_db, *(b.gain_db for b in s.eq), s.compressor.threshold_db, s.compressor.ratio, s.pan],
                    dtype=np.float32)


def _stereo(audio: np.ndarray) -> np.ndarray:
    return np.stack([audio, audio]) if audio.ndim == 1 else np.ascontiguousarray(audio.T)


def song_stems(index: int, options: DatasetOptions, player: SoundFontPlayer) -> tuple[list[str], list[np.ndarray]]:
    """The group names and stereo stems ``(2, samples)`` float32 of song ``index`` (module docstring, step 1)."""
    seed = options.seed + index
    rng = np.random.default_rng([seed, 0xDA7A])
    song = make_song(seed, options.length_s)
    specs = build_track_list(int(rng.integers(options.min_tracks, options.max_tracks + 1)))
    groups: dict[str, np.ndarray] = {}
    for track in track_signals(song, specs, SAMPLE_RATE, seed, player):
        x = _stereo(track.audio.astype(np.float64))
        playing = np.concatenate([x[:, a:b] for a, b in track.spans], axis=1)
        rms = float(np.sqrt(np.mean(playing**2)))
        if rms == 0.0:
            continue
        level = -20.0 + ROLE_LEVEL_DB[track.spec.role] + rng.uniform(-4.0, 4.0)
        x *= 10 ** (level / 20) / rms
        if track.spec.pan and rng.random() < 0.5:
            p = track.spec.pan * rng.uniform(0.3, 1.0)
            x[0 if p > 0 else 1] *= math.cos(0.5 * math.pi * abs(p))
        name = track.spec.folder[0]
        groups[name] = groups.get(name, 0.0) + x
    names = sorted(groups)
    keep = max(1, len(names) - int(rng.integers(0, 4)))
    names = sorted(rng.choice(names, size=keep, replace=False).tolist())
    stems = [groups[n].astype(np.float32) for n in names]
    out = []
    for stem in stems:
        raw_level_db, tone = rng.uniform(-8.0, 8.0), fixed_band_eq(rng.uniform(-3.0, 3.0, 6))
        n_fft = next_fast_len(stem.shape[1], real=True)
        shaped = irfft(rfft(stem, n_fft) * _magnitude(tone, n_fft), n_fft)[:, : stem.shape[1]]
        out.append((shaped * 10 ** (raw_level_db / 20)).astype(np.float32))
    return names, out


def _magnitude(bands: tuple[EqBand, ...], n_samples: int) -> np.ndarray:
    """The console EQ's magnitude response on the rfft bins of an ``n_samples`` signal (evaluated on a grid of
    at most 8192 bins and interpolated: the response is smooth on that scale)."""
    freqs = np.fft.rfftfreq(n_samples, 1.0 / SAMPLE_RATE)
    grid = freqs[:: max(1, len(freqs) // 8192)]
    response_db = eq_response_db(EqParams.from_bands([bands]), torch.from_numpy(grid), SAMPLE_RATE)[0].numpy()
    return 10 ** (np.interp(freqs, grid, response_db) / 20)


def render_truth(stems: list[np.ndarray], spectra: list[np.ndarray], settings: list[Strip]) -> np.ndarray:
    """The stems through the console with ``settings``: EQ (its exact magnitude response, applied zero-phase in
    the frequency domain, to keep 2 CPU cores fast: only energies are stored and phase changes none), then the
    console's compressor, fader and pan law, summed to stereo ``(2, samples)`` float32."""
    n = stems[0].shape[1]
    n_fft = next_fast_len(n, real=True)
    mix = torch.zeros(2, n, dtype=torch.float32)
    with torch.no_grad():
        for spectrum, s in zip(spectra, settings):
            y = irfft(spectrum * _magnitude(s.eq, n_fft), n_fft)[:, :n].astype(np.float32)
            y, _ = compress(torch.from_numpy(y)[None], CompressorParams.from_compressors([s.compressor]), SAMPLE_RATE)
            y = y * 10 ** (s.gain_db / 20)
            mix += apply_pan(y, torch.tensor([s.pan], dtype=torch.float64), PanLaw())[0]
    return mix.numpy()


def _halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mid = x.shape[1] // 2
    return x[:, :mid], x[:, mid:]


def _pack(stats: list[WindowStats]) -> dict[str, np.ndarray]:
    return {"energy": np.stack([s.energy for s in stats]), "frame_power": np.stack([s.frame_power for s in stats]),
            "peak": np.stack([s.peak for s in stats])}


def make_song_record(index: int, options: DatasetOptions, player: SoundFontPlayer) -> tuple[dict, dict]:
    """Arrays (for the song's ``.npz``) and a JSON summary of one song."""
    names, stems = song_stems(index, options, player)
    rng = np.random.default_rng([options.seed + index, 0xC0750])
    halves = [_halves(s) for s in stems]
    spectra = [rfft(s, next_fast_len(s.shape[1], real=True)) for s in stems]
    arrays: dict[str, np.ndarray] = {}
    # stems: (half, stem, ...), each half's stats over N_WINDOWS windows of that half
    stem_stats = [[window_stats(h[k], SAMPLE_RATE, N_WINDOWS) for h in halves] for k in (0, 1)]
    for key, value in _pack([s for half in stem_stats for s in half]).items():
        arrays[f"stem_{key}"] = value.reshape(2, len(stems), *value.shape[1:])
    levels = np.array([level_db(window_stats(s, SAMPLE_RATE, N_WINDOWS)) for s in stems], dtype=np.float32)
    truths, refs = [], []
    for _ in range(options.consoles):
        truth = random_console(rng, levels)
        mix = render_truth(stems, spectra, truth)
        refs += [window_stats(h, SAMPLE_RATE, N_WINDOWS) for h in _halves(mix)]
        truths.append(np.stack([settings_vector(t) for t in truth]))
    for key, value in _pack(refs).items():
        arrays[f"ref_{key}"] = value.reshape(options.consoles, 2, *value.shape[1:])
    arrays["truth"] = np.stack(truths)  # (consoles, stems, 10)
    arrays["stem_level_db"] = levels
    summary = {"index": index, "seed": options.seed + index, "soundfont": player.soundfont.name, "stems": names,
               "samples": int(stems[0].shape[1])}
    return arrays, summary


def make_dataset(out_dir: Path, options: DatasetOptions = DatasetOptions(), *, progress: Progress | None = None,
                 ) -> dict:
    """Write the dataset into ``out_dir`` (``song-NNNNN.npz`` per song and ``dataset.json``); songs already
    there from the same options are kept, so an interrupted run resumes and a larger ``songs`` extends it
    (song ``i`` does not depend on how many songs there are). Returns the manifest."""
    fonts = [Path(p) for p in options.soundfonts]
    missing = [str(p) for p in fonts if not p.is_file()]
    if missing:
        raise AutomixError(f"training SoundFonts missing: {', '.join(missing)} "
                           f"(install them with: apt-get install {SOUNDFONT_PACKAGES})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "dataset.json"
    config = {"format": FORMAT_VERSION, "sample_rate": SAMPLE_RATE, "windows": N_WINDOWS,
              "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(options).items()
                          if k != "songs"}}
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("config") != config:
            raise AutomixError(f"{out_dir} holds a dataset made with other options; use an empty folder")
    elif any(out_dir.iterdir()):
        raise AutomixError(f"{out_dir} is not empty and holds no dataset; use an empty folder")
    else:
        manifest_path.write_text(json.dumps({"config": config, "songs": []}, indent=1))
    report = progress or (lambda *_: None)
    players: dict[Path, SoundFontPlayer] = {}
    songs = []
    for i in range(options.songs):
        path = out_dir / f"song-{i:05d}.npz"
        summary_path = path.with_suffix(".json")
        if not (path.exists() and summary_path.exists()):
            font = fonts[i % len(fonts)]
            if font not in players:
                players[font] = SoundFontPlayer(SAMPLE_RATE, font)
            arrays, summary = make_song_record(i, options, players[font])
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
            summary_path.write_text(json.dumps(summary))
        songs.append(json.loads(summary_path.read_text()))
        report("songs", i + 1, options.songs)
    manifest = {"config": config, "songs": songs}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest
