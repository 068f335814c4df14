"""Speed of the differentiable console on a full song: 16 stereo stems x 240 s at 44.1 kHz, 2 threads.

Reports the chunked render (EQ, compressor, gain, pan on every stem, then the master bus) as seconds and as a
ratio to a baseline measured in the same process (scipy's ``sosfilt`` running the same six sections on every
stem, the floor any exact IIR EQ has to pay), a forward + backward pass on an optimisation window, and peak
resident memory. Run: ``.venv/bin/python benchmarks/console_speed.py [--stems 16] [--seconds 240]``.
"""

from __future__ import annotations

import argparse
import resource
import time

import scipy.signal
import torch

from reaper_automix.console.eq import eq_sos
from reaper_automix.console.mix import mix
from reaper_automix.console.params import (
    ChannelParams,
    MasterParams,
    channel_param_names,
    master_param_names,
)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stems", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--window-seconds", type=float, default=5.9)
    parser.add_argument("--chunk", type=int, default=2**17)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    sr = 44100
    n = int(args.seconds * sr)
    generator = torch.Generator().manual_seed(0)
    stems = 0.1 * torch.randn(args.stems, 2, n, generator=generator)
    channel = ChannelParams.from_normalised(
        torch.rand(args.stems, len(channel_param_names()), generator=generator, dtype=torch.float64)
    )
    master = MasterParams.from_normalised(
        torch.rand(1, len(master_param_names()), generator=generator, dtype=torch.float64)
    )

    sos = eq_sos(channel.eq, sr).numpy()
    stems_np = stems.numpy()

    def baseline() -> None:
        for s in range(args.stems):
            scipy.signal.sosfilt(sos[s], stems_np[s], axis=-1)

    def render() -> None:
        with torch.no_grad():
            mix(stems, channel, sr, master, chunk_samples=args.chunk)

    window = stems[..., : int(args.window_seconds * sr)]
    x_channel = channel.to_normalised().detach().requires_grad_(True)
    x_master = master.to_normalised().detach().requires_grad_(True)

    def forward_backward() -> None:
        out = mix(window, ChannelParams.from_normalised(x_channel), sr, MasterParams.from_normalised(x_master))
        out.square().mean().backward()

    render()  # compile numba kernels, warm caches
    t_base = best_of(baseline, args.repeats)
    t_render = best_of(render, args.repeats)
    t_grad = best_of(forward_backward, args.repeats)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.stems} stems x {args.seconds:.0f} s stereo, {torch.get_num_threads()} threads")
    print(f"baseline scipy sosfilt (6 sections/stem, 1 thread): {t_base:.2f} s")
    print(f"console render (chunk {args.chunk}): {t_render:.2f} s = {t_render / t_base:.2f} x baseline")
    print(f"forward+backward on a {args.window_seconds} s window: {t_grad:.2f} s")
    print(f"peak RSS: {peak_mib:.0f} MiB (input stems alone: {stems.numel() * 4 / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
