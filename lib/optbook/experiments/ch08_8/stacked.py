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

from collections.abc import Sequence

import torch
from torch import nn

from optbook import training
from optbook._validation import check_int

__all__ = ["StackedMLP", "minibatch_indices"]

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
