r"""One network at a time, for the optimisers that cannot be batched across networks (§8.8):
Muon (a matrix operation on each weight) and SAM (a global gradient norm).

:func:`train_network` draws its minibatches exactly as :func:`~.stacked.train_stacked` does for
the same seed (``torch.randint`` from a generator seeded with ``seed``), and a network from
``optbook.training.mlp(..., seed=seed)`` starts where the stacked network of that seed starts, so
runs of the two kinds are directly comparable. :func:`muon_groups` splits a network's parameters
the way Muon is used in practice (Jordan et al. 2024): Muon for the hidden weight matrices,
AdamW for the biases and the output layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from optbook import training
from optbook._validation import check_int
from optbook.data import Split

__all__ = ["SingleRun", "train_network", "muon_groups"]


@dataclass
class SingleRun:
    """``batch_loss[t]``: minibatch loss of step ``t``; the rest after the last step."""

    batch_loss: np.ndarray
    train_loss: float
    val_loss: float
    val_error: float


def muon_groups(net: nn.Sequential) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(matrices, others)``: the weight matrices of every linear layer but the last (for
    Muon), and all biases plus the output layer's weights (for AdamW)."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("net has no nn.Linear layer")
    matrices = [lin.weight for lin in linears[:-1]]
    others = [lin.bias for lin in linears if lin.bias is not None] + [linears[-1].weight]
    return matrices, others


def train_network(
    net: nn.Module,
    optimizers: torch.optim.Optimizer | Sequence[torch.optim.Optimizer],
    train: Split,
    val: Split,
    steps: int,
    batch_size: int,
    seed: int = 0,
    schedulers: Sequence = (),
) -> SingleRun:
    """Minibatch training of ``net`` for ``steps`` steps with cross-entropy.

    With one optimiser, each step calls ``optimizer.step(closure)`` (so SAM works); with
    several (Muon + AdamW), the closure runs once and each optimiser steps on its own
    parameters. Every scheduler is stepped after every step.
    """
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_int("seed", seed, low=0)
    opts = [optimizers] if isinstance(optimizers, torch.optim.Optimizer) else list(optimizers)
    if not opts or not all(isinstance(o, torch.optim.Optimizer) for o in opts):
        raise TypeError(f"optimizers must be a torch.optim.Optimizer or a list of them, got {optimizers!r}")
    gen = torch.Generator().manual_seed(seed)
    losses = np.empty(steps)
    for t in range(steps):
        idx = torch.randint(len(train), (batch_size,), generator=gen)
        xb, yb = train.X[idx], train.y[idx]

        def closure(xb=xb, yb=yb):
            loss = nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            return loss

        for o in opts:
            o.zero_grad(set_to_none=True)
        if len(opts) == 1:
            loss = opts[0].step(closure)
        else:
            loss = closure()
            for o in opts:
                o.step()
        for s in schedulers:
            s.step()
        losses[t] = loss.item()
    net.eval()
    tl, _ = training.evaluate(net, train)
    vl, ve = training.evaluate(net, val)
    net.train()
    return SingleRun(losses, tl, vl, ve)
