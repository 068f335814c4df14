"""Render cost against plain file reading, and peak memory.

Generates a session of mono 24-bit WAV tracks (noise plus a tone, a few items per track with offsets, gains
and fades) into a temporary folder, then times in the same process:

  (a) ``soundfile.read`` of every file, whole, as float32 (the baseline: what decoding alone costs);
  (b) ``render_track`` of every track, one at a time (stereo output, as the pipeline uses it).

The two alternate ``--repeats`` times (the first pass runs while the freshly written files may still be
flushing to disk); the best time of each is compared. Prints the ratio (b)/(a) (target: within 2x) and the
peak resident memory (target: under 1 GB; the renderer holds one track at a time). Default: 128 tracks x
240 s at 44.1 kHz (about 4 GB of WAV files in the temporary folder).

    .venv/bin/python benchmarks/bench_render.py                                 # full size
    .venv/bin/python benchmarks/bench_render.py --tracks 8 --seconds 20         # quick check
    .venv/bin/python benchmarks/bench_render.py --tracks 8 --source-sr 48000    # with resampling

Measured (2-core machine, shared with other jobs, so +-30 %): full size, best of 2: read 13.5 s, render
17.3 s, ratio 1.28x (other runs 0.9x-1.5x), peak RSS 212 MB. 48 kHz files into a 44.1 kHz project (8 x
240 s): ratio 2.9x (polyphase resampling), peak RSS 252 MB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolated import peak_rss_mb  # noqa: E402

from reaper_automix.audio.render import render_track  # noqa: E402
from reaper_automix.session import (  # noqa: E402
    Fade,
    FadeShape,
    Item,
    Session,
    Source,
    SourceKind,
    Take,
    Track,
)


def make_session(
    folder: Path, n_tracks: int, seconds: float, sr: int, items_per_track: int, source_sr: int | None = None,
    *, write: bool = True,
) -> Session:
    """Write one mono file per track (at ``source_sr``, default ``sr``) and a Session at ``sr`` that plays
    it back in ``items_per_track`` items. ``write=False`` only builds the Session for files already written."""
    rng = np.random.default_rng(0)
    sr_file = source_sr or sr
    frames = round(seconds * sr_file)
    chunk = 10 * sr_file  # written in chunks so that generating does not raise the process's peak memory
    tracks = []
    for k in range(n_tracks):
        path = folder / f"track{k:03d}.wav"
        freq_hz = 55.0 * (1 + k % 24)
        if write:
            with sf.SoundFile(path, "w", sr_file, 1, subtype="PCM_24") as f:
                for start in range(0, frames, chunk):
                    t = np.arange(start, min(start + chunk, frames)) / sr_file
                    x = 0.05 * rng.standard_normal(len(t)) + 0.2 * np.sin(2 * np.pi * freq_hz * t)
                    f.write(x.astype(np.float32))
        source = Source(SourceKind.AUDIO, file=path, source_type="WAVE")
        bounds = np.linspace(0.0, seconds, items_per_track + 1)
        items = tuple(
            Item(
                position_s=float(start),
                length_s=float(stop - start),
                take=Take(volume=0.8, pan=0.1 * (k % 3 - 1), start_offset_s=float(start), source=source),
                volume=1.1,
                fade_in=Fade(0.01, FadeShape.SLOW_START_END),
                fade_out=Fade(0.02, FadeShape.FAST_START),
            )
            for start, stop in zip(bounds[:-1], bounds[1:])
        )
        tracks.append(Track(index=k, name=f"track {k}", guid=f"{{{k}}}", items=items))
    return Session(folder / "bench.rpp", sr, tuple(tracks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--items", type=int, default=3, help="items per track")
    parser.add_argument("--sr", type=int, default=44100)
    parser.add_argument("--source-sr", type=int, default=None, help="file rate, to time resampling (default: --sr)")
    parser.add_argument("--repeats", type=int, default=2, help="alternate (a) and (b) this often; best of each")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_render_") as tmp:
        t0 = time.perf_counter()
        session = make_session(Path(tmp), args.tracks, args.seconds, args.sr, args.items, args.source_sr)
        print(f"generated {args.tracks} tracks x {args.seconds:g} s in {time.perf_counter() - t0:.1f} s "
              f"(peak RSS {peak_rss_mb():.0f} MB)")

        read_times, render_times = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for track in session.tracks:
                x, _ = sf.read(track.items[0].take.source.file, dtype="float32")
                del x
            read_times.append(time.perf_counter() - t0)
            print(f"(a) soundfile.read, all files: {read_times[-1]:.2f} s (peak RSS {peak_rss_mb():.0f} MB)")

            t0 = time.perf_counter()
            for track in session.tracks:
                y = render_track(session, track)
                del y
            render_times.append(time.perf_counter() - t0)
            print(f"(b) render_track, all tracks:  {render_times[-1]:.2f} s (peak RSS {peak_rss_mb():.0f} MB)")
        read_s, render_s = min(read_times), min(render_times)

    print(f"best of {args.repeats}: read {read_s:.2f} s, render {render_s:.2f} s")
    ratio = render_s / read_s
    peak = peak_rss_mb()
    print(f"ratio render/read: {ratio:.2f}x (target <= 2x) {'OK' if ratio <= 2 else 'OVER'}")
    print(f"peak RSS: {peak:.0f} MB (target < 1024 MB) {'OK' if peak < 1024 else 'OVER'}")


if __name__ == "__main__":
    main()
