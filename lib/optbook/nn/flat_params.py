r"""A network's training cost as a function of one flat parameter vector :math:`\theta`.

The methods of :mod:`optbook.second_order` minimise ``f``, a function of a 1-D tensor.
:func:`flat_objective` turns a model, a loss and a fixed (full) batch into such an ``f`` with
:func:`torch.func.functional_call`, so autograd differentiates with respect to the flat
:math:`\theta` directly; :func:`load_flat` writes a :math:`\theta` back into the model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["flatten_parameters", "unflatten", "flat_objective", "load_flat"]


def _check_model(model) -> list[tuple[str, nn.Parameter]]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model has no trainable parameters")
    return named


def flatten_parameters(model: nn.Module) -> torch.Tensor:
    """A detached copy of the model's trainable parameters, concatenated in
    ``named_parameters()`` order (the order :func:`torch.nn.utils.parameters_to_vector` uses)."""
    return torch.cat([p.detach().reshape(-1) for _, p in _check_model(model)]).clone()


def unflatten(model: nn.Module, theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Views of ``theta`` shaped like each trainable parameter, by name (differentiable)."""
    named = _check_model(model)
    n = sum(p.numel() for _, p in named)
    if not isinstance(theta, torch.Tensor) or theta.ndim != 1 or theta.numel() != n:
        shape = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise ValueError(f"theta must be a 1-D tensor with {n} entries for this model, got {shape}")
    out, start = {}, 0
    for name, p in named:
        out[name] = theta[start : start + p.numel()].view_as(p)
        start += p.numel()
    return out


def flat_objective(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    r"""``(f, theta0)`` with :math:`f(\theta) = ` ``loss_fn(model(X; θ), y)`` and ``theta0`` the
    model's current parameters, flattened.

    The model's own parameters are not touched by calls to ``f`` (use :func:`load_flat`);
    buffers (batch-norm statistics) are read as they are. ``f`` accepts any 1-D ``theta`` of the
    right size, in the parameters' dtype.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {loss_fn!r}")
    theta0 = flatten_parameters(model)

    def f(theta: torch.Tensor) -> torch.Tensor:
        return loss_fn(torch.func.functional_call(model, unflatten(model, theta), (X,)), y)

    return f, theta0


@torch.no_grad()
def load_flat(model: nn.Module, theta: torch.Tensor) -> None:
    """Copy ``theta`` into the model's trainable parameters (in place)."""
    for name, value in unflatten(model, theta.detach()).items():
        model.get_parameter(name).copy_(value)
