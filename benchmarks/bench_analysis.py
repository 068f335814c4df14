"""Stage-1 analysis cost on a large session: 128 tracks x 240 s, stereo 44.1 kHz 24-bit WAV, 2 worker processes.

Each job reads a WAV with soundfile (float32) and runs ``analyse_track`` (centroid method, then f0 method).
Eight distinct synthetic files (harmonic note sequences, noise bursts, gaps of silence; some narrow-band)
are written once to a temporary folder and job i reads file i % 8, so reading is included (from the page
cache, as it would be for a session just rendered or recently opened).

Baseline, in the same run: the naive per-track loop (read; pyloudnorm integrated loudness on the whole track in
float64; a full librosa-style STFT centroid/bandwidth in plain numpy float64, every frame; one first-order band
filter and pyloudnorm again). It is timed on ``--baseline-tracks`` tracks in one process and extrapolated to
128 tracks on 2 workers (x 128 / n / 2), which is stated in the output.

Peak RSS is each process's own ``ru_maxrss``: the largest worker and the parent are reported.

    .venv/bin/python benchmarks/bench_analysis.py [--tracks 128] [--seconds 240] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy import signal

from reaper_automix.analysis.cfb import analyse_track

SR = 44100
N_FILES = 8
_worker: dict = {}


def _synth_file(path: Path, seconds: float, seed: int) -> None:
    """A 'track': notes of a harmonic tone or noise bursts (band-limited for some files), with silent gaps."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros((2, n), np.float32)
    narrow = seed % 4 == 3  # every 4th file: hats-like, noise in 8-10 kHz
    pitched = seed % 2 == 0
    note_len = int(0.5 * SR)
    t = np.arange(note_len) / SR
    envelope = np.exp(-t * 4).astype(np.float32)
    hats = signal.butter(4, [8000, 10000], btype="bandpass", fs=SR, output="sos")
    for start in range(0, n - note_len, note_len):
        if (start // (8 * SR)) % 4 == 3 or rng.random() < 0.15:
            continue  # a bar of rest every 4 bars, and some missing notes
        if pitched:
            f0 = 55.0 * 2 ** (rng.integers(0, 36) / 12)
            note = sum(np.sin(2 * np.pi * k * f0 * t + rng.random()) / k for k in range(1, 25) if k * f0 < 16000)
        else:
            note = rng.standard_normal(note_len)
            if narrow:
                note = signal.sosfilt(hats, note)
        note = (note * envelope * 10 ** (rng.uniform(-12, 0) / 20)).astype(np.float32)
        pan = rng.uniform(0.3, 0.7)
        out[0, start : start + note_len] = note * (1 - pan)
        out[1, start : start + note_len] = note * pan
    out *= np.float32(0.5 / max(1e-9, float(np.max(np.abs(out)))))
    sf.write(path, out.T, SR, subtype="PCM_24")


def _init_worker(method: str) -> None:
    _worker["model"] = None
    if method == "f0":
        import torch

        from reaper_automix.analysis.pitch import load_pitch_model

        torch.set_num_threads(1)  # one thread per worker process: 2 workers on 2 cores

        _worker["model"] = load_pitch_model(SR)


def _job(args: tuple[str, str]) -> tuple[float, int]:
    path, method = args
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    a = analyse_track(np.ascontiguousarray(x.T), sr, method, pitch_model=_worker["model"])
    return a.band_loudness_lufs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _naive(path: str) -> float:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    meter = pyloudnorm.Meter(sr)
    meter.integrated_loudness(x)
    mono = x.mean(axis=1)
    padded = np.pad(mono, 1024)
    window = np.hanning(2049)[:-1]
    freqs = np.arange(1025) * sr / 2048
    centroids, bandwidths = [], []
    for start in range(0, mono.size + 1, 512):
        s = np.abs(np.fft.rfft(padded[start : start + 2048] * window))
        total = s.sum() or 1.0
        c = (s @ freqs) / total
        centroids.append(c)
        bandwidths.append(np.sqrt((s @ (freqs - c) ** 2) / total))
    c, bw = np.mean(centroids), np.mean(bandwidths)
    b, a = signal.butter(1, [max(c - bw / 2, 20.0), min(c + bw / 2, 0.45 * sr)], btype="bandpass", fs=sr)
    return meter.integrated_loudness(signal.lfilter(b, a, x, axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-tracks", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_analysis_") as tmp:
        t0 = time.perf_counter()
        paths = []
        for i in range(N_FILES):
            paths.append(str(Path(tmp) / f"track{i}.wav"))
            _synth_file(Path(paths[-1]), args.seconds, i)
        print(f"wrote {N_FILES} files of {args.seconds:.0f} s stereo 24-bit in {time.perf_counter() - t0:.1f} s")

        rows = []
        for method in ("centroid", "f0"):
            jobs = [(paths[i % N_FILES], method) for i in range(args.tracks)]
            t0 = time.perf_counter()
            with ProcessPoolExecutor(args.workers, initializer=_init_worker, initargs=(method,)) as pool:
                results = list(pool.map(_job, jobs))
            wall = time.perf_counter() - t0
            worker_rss_mb = max(r for _, r in results) / 1024
            rows.append((f"analyse_track {method}", wall, worker_rss_mb, "measured"))

        t0 = time.perf_counter()
        for i in range(args.baseline_tracks):
            _naive(paths[i % N_FILES])
        per_track = (time.perf_counter() - t0) / args.baseline_tracks
        rows.append(
            (
                "naive baseline",
                per_track * args.tracks / args.workers,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                f"extrapolated from {args.baseline_tracks} tracks ({per_track:.2f} s each, 1 process)",
            )
        )

    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    baseline_wall = rows[-1][1]
    print(f"\n{args.tracks} tracks x {args.seconds:.0f} s, {args.workers} workers, {os.cpu_count()} CPUs")
    print(f"{'run':<24}{'wall s':>9}{'vs naive':>10}{'peak RSS MB':>13}  note")
    for name, wall, rss, note in rows:
        print(f"{name:<24}{wall:>9.1f}{baseline_wall / wall:>9.1f}x{rss:>13.0f}  {note}")
    print(f"parent process peak RSS {parent_mb:.0f} MB (includes the naive baseline, run in the parent)")


if __name__ == "__main__":
    main()
