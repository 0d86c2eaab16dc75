"""A small, seeded training loop for the chapters' real-data experiments.

:func:`mlp` builds a multilayer perceptron; :func:`train` runs minibatch training with any
optimiser and returns a :class:`History` of per-epoch numbers (it computes, never draws).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ._validation import check_int
from .data import Split, minibatches

__all__ = ["History", "mlp", "evaluate", "train"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def mlp(
    sizes: Sequence[int], activation: str = "relu", seed: int = 0, dtype=torch.float32
) -> nn.Sequential:
    """A fully connected net with layer widths ``sizes`` (input first, output last).

    Weights use torch's default initialisation drawn from a generator seeded with ``seed``,
    so two calls with the same arguments give identical nets.
    """
    sizes = [check_int("layer size", s, low=1) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output width, got {sizes!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    seed = check_int("seed", seed, low=0)
    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(m, n, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[activation]())
    finally:
        torch.random.set_rng_state(rng_state)
    return nn.Sequential(*layers)


@dataclass
class History:
    """Per-epoch records; index 0 is before any training."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)


@torch.no_grad()
def evaluate(model: nn.Module, data: Split) -> tuple[float, float]:
    """Mean cross-entropy and 0-1 error of ``model`` on ``data``."""
    logits = model(data.X)
    loss = nn.functional.cross_entropy(logits, data.y).item()
    error = (logits.argmax(1) != data.y).double().mean().item()
    return loss, error


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: Split,
    val_data: Split,
    epochs: int,
    batch_size: int = 32,
    seed: int = 0,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: bool | str = False,
    loss_fn: Callable = nn.functional.cross_entropy,
) -> History:
    """Minibatch training for ``epochs`` epochs; returns the :class:`History`.

    The minibatch order comes from a generator seeded with ``seed``. ``scheduler`` (if any)
    steps once per epoch. ``progress`` shows a tqdm bar (a string sets its description).
    """
    epochs = check_int("epochs", epochs, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_int("seed", seed, low=0)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    gen = torch.Generator().manual_seed(seed)
    hist = History()

    def record():
        tl, _ = evaluate(model, train_data)
        vl, ve = evaluate(model, val_data)
        hist.train_loss.append(tl)
        hist.val_loss.append(vl)
        hist.val_error.append(ve)
        hist.lr.append(optimizer.param_groups[0]["lr"])

    record()
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        desc = progress if isinstance(progress, str) else "training"
        epoch_iter = tqdm(epoch_iter, desc=desc, leave=True)
    for _ in epoch_iter:
        model.train()
        for xb, yb in minibatches(train_data, batch_size, gen):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            optimizer.step()
        model.eval()
        if scheduler is not None:
            scheduler.step()
        record()
    return hist
