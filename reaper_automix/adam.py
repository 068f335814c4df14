"""Adam, written out: the optimiser the refinement and the search descend with.

The same arithmetic as ``torch.optim.Adam``'s single-tensor update with its defaults (betas 0.9/0.999, eps 1e-8,
no weight decay), bit for bit (``tests/test_adam.py`` checks it against torch), because constructing
any ``torch.optim`` optimiser imports ``torch._dynamo`` on first use: about 1.4 s of every ``mix`` on the
development machine, more than the learned engine's refinement costs. As in torch, a parameter without a gradient
is skipped and keeps its own step count.
"""

from __future__ import annotations

import torch
from torch import Tensor

BETAS = (0.9, 0.999)
EPS = 1e-8


class Adam:
    """``groups``: (parameters, learning rate) pairs; :meth:`step` updates from the parameters' ``.grad``."""

    def __init__(self, groups: list[tuple[list[Tensor], float]]):
        self.groups = groups
        self.moments = [[(torch.zeros_like(p), torch.zeros_like(p)) for p in params] for params, _ in groups]
        self.steps = [[0] * len(params) for params, _ in groups]

    @torch.no_grad()
    def step(self, lr_scale: float = 1.0) -> None:
        """One update, each group at ``lr_scale`` x its rate; the gradients are cleared (set to None)."""
        beta1, beta2 = BETAS
        for (params, lr), moments, steps in zip(self.groups, self.moments, self.steps):
            for i, (p, (mean, square)) in enumerate(zip(params, moments)):
                if p.grad is None:
                    continue
                steps[i] += 1
                correction1 = 1 - beta1 ** steps[i]
                correction2_sqrt = (1 - beta2 ** steps[i]) ** 0.5
                mean.lerp_(p.grad, 1 - beta1)
                square.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.addcdiv_(mean, (square.sqrt() / correction2_sqrt).add_(EPS), value=-(lr * lr_scale / correction1))
                p.grad = None
