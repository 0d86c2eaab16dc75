r"""Many small networks trained as one: the batched runs behind §8.8's grids and sliders.

A :class:`StackedMLP` holds :math:`K` independent multilayer perceptrons whose weights are
stacked along a leading axis, :math:`W_l \in \mathbb R^{K \times n_{l-1} \times n_l}`, and
evaluates all of them with batched matrix products. Because the loss it returns is the *sum*
of the :math:`K` networks' losses, the gradient of network :math:`k`'s weights is exactly its
own gradient, and any optimiser that acts elementwise (SGD, Adam, AdamW, Lion) updates each
network exactly as if it were trained alone. Muon (a matrix operation) and SAM (a global
gradient norm) are not elementwise: train those one network at a time.

Network :math:`k` starts from the weights of ``optbook.training.mlp(sizes, activation,
seed=seeds[k])``, so a stacked run and a run of that network alone start identically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from optbook import training
from optbook._validation import check_int
from optbook.data import Split

__all__ = ["GridRun", "StackedMLP", "minibatch_indices", "stacked_forward", "train_stacked"]

_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


class StackedMLP(nn.Module):
    """``len(seeds)`` MLPs with layer widths ``sizes`` evaluated together.

    Args:
        sizes: layer widths, input first, output last (as :func:`optbook.training.mlp`).
        activation: "relu", "tanh" or "sigmoid".
        seeds: one initialisation seed per network (repeats allowed: same start).
        dtype: floating dtype of the weights.

    Parameters are ``weights[l]`` of shape ``(K, n_l, n_{l+1})`` and ``biases[l]`` of shape
    ``(K, 1, n_{l+1})``.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", seeds: Sequence[int] = (0,),
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if activation not in _ACT:
            raise ValueError(f"activation must be one of {sorted(_ACT)}, got {activation!r}")
        seeds = list(seeds)
        if not seeds:
            raise ValueError(f"seeds must name at least one network, got {seeds!r}")
        nets = [training.mlp(sizes, activation, seed=s, dtype=dtype) for s in seeds]
        linears = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        self.sizes, self.activation = [int(s) for s in sizes], activation
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([lin[i].weight.detach().T for lin in linears]).contiguous())
            for i in range(len(self.sizes) - 1))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([lin[i].bias.detach()[None] for lin in linears]).contiguous())
            for i in range(len(self.sizes) - 1))

    @property
    def n_models(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of every network, shape ``(K, n, out)``. ``x`` is ``(n, in)`` (the same
        inputs for all) or ``(K, n, in)`` (each network its own)."""
        return stacked_forward(list(self.weights), list(self.biases), x, self.activation)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of each network, shape ``(K,)``; ``y`` is ``(n,)`` or ``(K, n)``."""
        logits = self(x)
        K, n, c = logits.shape
        y = y.expand(K, n) if y.dim() == 1 else y
        return nn.functional.cross_entropy(logits.reshape(K * n, c), y.reshape(K * n),
                                           reduction="none").view(K, n).mean(1)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy and 0-1 error of each network on ``(x, y)``, each shape ``(K,)``."""
        logits = self(x)
        return self.losses(x, y), (logits.argmax(-1) != y).to(logits.dtype).mean(1)

    def network(self, k: int) -> nn.Sequential:
        """A copy of network ``k`` as the plain ``nn.Sequential`` of :func:`optbook.training.mlp`."""
        k = check_int("k", k, low=0, high=self.n_models - 1)
        net = training.mlp(self.sizes, self.activation, seed=0, dtype=self.weights[0].dtype)
        with torch.no_grad():
            for lin, W, b in zip([m for m in net if isinstance(m, nn.Linear)], self.weights, self.biases,
                                 strict=True):
                lin.weight.copy_(W[k].T)
                lin.bias.copy_(b[k, 0])
        return net


def stacked_forward(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], x: torch.Tensor,
                    activation: str = "relu") -> torch.Tensor:
    """The stacked networks' outputs for weights ``(K, n_l, n_{l+1})`` and biases ``(K, 1, n_{l+1})``."""
    K = weights[0].shape[0]
    h = x.expand(K, *x.shape) if x.dim() == 2 else x
    for i, (W, b) in enumerate(zip(weights, biases, strict=True)):
        h = torch.baddbmm(b, h, W)
        if i < len(weights) - 1:
            h = _ACT[activation](h)
    return h


def minibatch_indices(n_models: int, n_examples: int, batch_size: int, generator: torch.Generator,
                      shared: bool = False) -> torch.Tensor:
    """Indices of one minibatch per network, shape ``(K, batch_size)``, drawn with replacement.

    ``shared=True`` gives every network the same minibatch (only their initialisations differ).
    """
    n_models = check_int("n_models", n_models, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    if shared:
        return torch.randint(n_examples, (1, batch_size), generator=generator).expand(n_models, -1)
    return torch.randint(n_examples, (n_models, batch_size), generator=generator)


@dataclass
class GridRun:
    """What :func:`train_stacked` records, indexed by setting ``c`` and seed ``s``:
    ``batch_loss[t, c, s]`` the minibatch loss of step ``t``; ``train_loss``, ``val_loss`` and
    ``val_error`` ``[c, s]`` after the last step; ``eval_loss[j, c, s]`` the loss on the
    evaluation set after ``eval_steps[j]`` steps (empty unless ``eval_at`` was given)."""

    batch_loss: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_error: np.ndarray
    eval_steps: np.ndarray
    eval_loss: np.ndarray


def train_stacked(
    settings: Sequence[Mapping],
    make_optimizer: Callable[[list[dict]], torch.optim.Optimizer],
    train: Split,
    val: Split,
    sizes: Sequence[int],
    steps: int,
    batch_size: int,
    seeds: Sequence[int] = (0,),
    make_scheduler: Callable[[torch.optim.Optimizer], object] | None = None,
    l2: Sequence[float] | None = None,
    activation: str = "relu",
    eval_at: Sequence[int] | None = None,
    stop_below: float | None = None,
    eval_data: Split | None = None,
) -> GridRun:
    r"""Train one network per (setting, seed) in one batched run.

    Each setting (a dict of optimiser options such as ``{"lr": 0.01, "weight_decay": 0.1}``)
    becomes one parameter group of ``make_optimizer(groups)``, holding one network per seed as
    a single tensor of shape ``(len(seeds), number of weights and biases)``; the optimiser must
    act elementwise (see the module docstring). Seed :math:`s` fixes the
    initial weights (those of ``training.mlp(sizes, activation, seed=s)``) and the sequence of
    minibatches (drawn with replacement), the same in every setting. ``make_scheduler(optimizer)``
    (optional) is stepped after every step. ``l2[c]`` (optional) adds
    :math:`\tfrac{\lambda_c}{2}\lVert\theta\rVert^2` (all weights and biases) to the loss of the
    networks of setting ``c``. ``eval_at`` lists step counts after which the loss on the whole
    training set (or on ``eval_data``, e.g. a fixed part of it) is recorded (0 = before
    training); with ``stop_below``, training stops at the first of them where, in some setting,
    the networks of every seed are below it: the setting that reaches ``stop_below`` first has
    then been found (a diverged network never gets below).
    """
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    seeds = [check_int("seed", s, low=0) for s in seeds]
    settings = [dict(s) for s in settings]
    if not settings or not seeds:
        raise ValueError("settings and seeds must each hold at least one value")
    if l2 is not None and len(l2) != len(settings):
        raise ValueError(f"l2 must give one coefficient per setting ({len(settings)}), got {len(l2)}")
    S, C = len(seeds), len(settings)
    K = C * S
    # The K networks' weights live twice. Per layer, one (K, n_l, n_{l+1}) leaf per weight and
    # bias (setting-major, then seed) that the forward pass and backward pass use as they are.
    # Per setting, one flat (S, n_params) tensor of its S networks' weights and biases, end to
    # end: the optimiser's parameter for that setting's group. The optimiser acts elementwise,
    # so one flat tensor per setting is the same update as one tensor per weight matrix and
    # bias, in as many tensor operations as there are settings (not 2 x layers x settings).
    # Each step copies the gradients from the leaves into the flat ones and, after the step,
    # the updated weights back.
    base = StackedMLP(sizes, activation, seeds=seeds, dtype=train.X.dtype)
    leaves = [p.detach().repeat(C, 1, 1).requires_grad_()
              for pair in zip(base.weights, base.biases, strict=True) for p in pair]  # W_0, b_0, W_1, ...
    widths = [p[0].numel() for p in leaves]
    ends = np.cumsum(widths).tolist()
    flat = torch.cat([p.detach().view(K, -1) for p in leaves], dim=1).view(C, S, -1)
    flat_grad = torch.empty_like(flat)
    # (a view of, per leaf, the columns of flat that hold it, shaped as the leaf)
    cols = [slice(e - w, e) for w, e in zip(widths, ends, strict=True)]
    flat_parts = [flat.view(K, -1)[:, c].view(p.shape) for c, p in zip(cols, leaves, strict=True)]
    grad_parts = [flat_grad.view(K, -1)[:, c].view(p.shape) for c, p in zip(cols, leaves, strict=True)]
    flat_params = [nn.Parameter(flat[c]) for c in range(C)]  # views: the optimiser updates flat
    for c, p in enumerate(flat_params):
        p.grad = flat_grad[c]  # overwritten in place every step, never set to None
    groups = [{"params": [p], **s} for p, s in zip(flat_params, settings, strict=True)]
    opt = make_optimizer(groups)
    sched = make_scheduler(opt) if make_scheduler is not None else None
    lam = None if l2 is None else torch.tensor(list(l2), dtype=train.X.dtype).repeat_interleave(S)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    Ws, bs = leaves[0::2], leaves[1::2]  # what stacked_forward takes
    eval_at = sorted({check_int("eval_at step", e, low=0, high=steps) for e in (eval_at or [])})
    eval_steps, eval_losses = [], []
    ev = train if eval_data is None else eval_data
    batch_losses = np.full((steps, C, S), np.nan)
    for t in range(steps + 1):
        if len(eval_steps) < len(eval_at) and t == eval_at[len(eval_steps)]:
            with torch.no_grad():
                logits = stacked_forward(Ws, bs, ev.X, activation)
                n = logits.shape[1]
                ce = nn.functional.cross_entropy(logits.reshape(K * n, -1), ev.y.repeat(K),
                                                 reduction="none").view(K, n).mean(1).view(C, S).numpy()
            eval_steps.append(t)
            eval_losses.append(ce)
            if stop_below is not None and np.any(np.all(ce < stop_below, axis=1)):
                break
        if t == steps:
            break
        idx = torch.stack([torch.randint(len(train), (batch_size,), generator=g) for g in gens]).repeat(C, 1)
        logits = stacked_forward(Ws, bs, train.X[idx], activation)
        per_model = nn.functional.cross_entropy(logits.reshape(K * batch_size, -1), train.y[idx].reshape(-1),
                                                reduction="none").view(K, batch_size).mean(1)
        loss = per_model.sum()
        if lam is not None:
            loss = loss + 0.5 * (lam * sum((p**2).flatten(1).sum(1) for p in Ws + bs)).sum()
        for p in leaves:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p, g in zip(leaves, grad_parts, strict=True):
                g.copy_(p.grad)
            opt.step()
            for p, f in zip(leaves, flat_parts, strict=True):
                p.copy_(f)
        if sched is not None:
            sched.step()
        batch_losses[t] = per_model.detach().view(C, S).numpy()

    with torch.no_grad():
        res = []
        for data in (train, val):
            logits = stacked_forward(Ws, bs, data.X, activation)
            n, c = logits.shape[1:]
            ce = nn.functional.cross_entropy(logits.reshape(K * n, c), data.y.repeat(K),
                                             reduction="none").view(K, n).mean(1)
            err = (logits.argmax(-1) != data.y).to(logits.dtype).mean(1)
            res.append((ce.view(C, S).numpy(), err.view(C, S).numpy()))
    return GridRun(batch_losses, res[0][0], res[1][0], res[1][1], np.array(eval_steps, dtype=int),
                   np.array(eval_losses).reshape(len(eval_steps), C, S))
