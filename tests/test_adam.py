"""The written-out Adam (reaper_automix/adam.py) against torch.optim.Adam itself, bit for bit: parameter groups
at their own rates, a learning-rate schedule, and a parameter that gets no gradient on some steps."""

from __future__ import annotations

import math

import torch

from reaper_automix.adam import Adam


def _run(steps: int, skip_every: int | None):
    rng = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 4, generator=rng, dtype=torch.float64), torch.randn(5, generator=rng, dtype=torch.float64)]
    ours = [p.clone().requires_grad_(True) for p in start]
    theirs = [p.clone().requires_grad_(True) for p in start]
    mine = Adam([([ours[0]], 0.15), ([ours[1]], 0.015)])
    reference = torch.optim.Adam([{"params": [theirs[0]], "lr": 0.15}, {"params": [theirs[1]], "lr": 0.015}])
    base = [0.15, 0.015]
    for step in range(steps):
        scale = 0.5 * (1.0 + math.cos(math.pi * step / steps))
        skip = skip_every is not None and step % skip_every == 0
        for params in (ours, theirs):
            loss = params[0].sin().sum() if skip else params[0].sin().sum() * params[1].pow(2).sum()
            loss.backward()
        mine.step(scale)
        for group, lr in zip(reference.param_groups, base):
            group["lr"] = lr * scale
        reference.step()
        reference.zero_grad()
    return ours, theirs, start


def test_equals_torch_adam_bit_for_bit_with_groups_and_a_schedule():
    ours, theirs, start = _run(30, None)
    assert all(torch.equal(x, y) for x, y in zip(ours, theirs))
    assert not torch.equal(ours[1], start[1])  # it moved


def test_a_parameter_without_a_gradient_is_skipped_as_torch_skips_it():
    ours, theirs, _ = _run(30, 3)  # the second parameter gets no gradient every third step
    assert all(torch.equal(x, y) for x, y in zip(ours, theirs))
