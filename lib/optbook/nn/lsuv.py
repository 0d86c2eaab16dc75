r"""Data-driven initialisation (§8.4): rescale each layer until its outputs on a minibatch have
a chosen standard deviation.

The book's rule of thumb for the initial scale is to look at the standard deviation of the
activations on a single minibatch and, layer after layer, enlarge (or shrink) the weights of
the first layer whose activations are out of range. Mishkin & Matas (2016) turned this into an
algorithm, *layer-sequential unit-variance* (LSUV) initialisation: for each layer :math:`l` in
forward order, with the earlier layers already fixed,

.. math::

    a_l = W_l h_{l-1} + b_l, \qquad
    W_l \leftarrow W_l \cdot \frac{\sigma^\ast}{\operatorname{std}(a_l)},

repeated until :math:`|\operatorname{std}(a_l) - \sigma^\ast| \le \text{tol}\cdot\sigma^\ast`,
where :math:`\sigma^\ast` is ``target_std`` and the standard deviation runs over every entry
of :math:`a_l` on the batch. When every unit has the same bias (zero, say), one rescaling is
exact, since :math:`a_l` is then linear in :math:`W_l` up to a constant shift; biases that
differ between units make it an iteration. The weights keep their pattern (random,
orthogonal, sparse); only each layer's overall scale is set from data.

Differs from Mishkin & Matas, who first draw orthogonal weights: :func:`lsuv_` rescales
whatever the weights are, so it composes with any initialiser of :mod:`optbook.nn.init`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from optbook._validation import check_int, check_real
from optbook.monitor import ActivationMonitor

__all__ = ["lsuv_"]


def _weighted_modules(model: nn.Module) -> list[str]:
    return [
        name
        for name, m in model.named_modules()
        if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() >= 2
    ]


def lsuv_(
    model: nn.Module,
    x: torch.Tensor,
    *,
    modules: Iterable[str] | None = None,
    target_std: float = 1.0,
    tol: float = 0.01,
    max_iter: int = 10,
) -> dict[str, list[float]]:
    r"""Rescale, in place and in forward order, the weight of each layer in ``modules`` so that
    the standard deviation of its output on the batch ``x`` is ``target_std`` (within a
    relative ``tol``), trying at most ``max_iter`` times per layer.

    Args:
        model: the network; ``model(x)`` must run. Its train/eval mode is left as it is.
        x: one minibatch of inputs.
        modules: names from ``model.named_modules()`` of the layers to rescale, in forward
            order; by default every module with a weight of two or more dimensions (linear
            and convolutional layers). Their biases are not changed.
        target_std: :math:`\sigma^\ast > 0`.
        tol: relative tolerance, in :math:`(0, 1)`.
        max_iter: most rescalings per layer (at least 1).

    Returns:
        ``{name: [std before, std after each rescaling, ...]}``, the measured standard
        deviations, so a caller can see how far each layer was off and check convergence
        (a layer that did not reach the tolerance in ``max_iter`` tries is left as it ended).

    Raises:
        ValueError: if a layer's output has zero or non-finite standard deviation (no
            rescaling can fix it: e.g. all-zero weights and biases, or a saturated input).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor (a minibatch of inputs), got {type(x).__name__}")
    target_std = check_real("target_std", target_std, low=0.0, low_open=True)
    tol = check_real("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    max_iter = check_int("max_iter", max_iter, low=1)
    named = dict(model.named_modules())
    if modules is None:
        names = _weighted_modules(model)
        if not names:
            raise ValueError("the model has no layer with a weight of two or more dimensions")
    else:
        if isinstance(modules, str):
            raise TypeError(f"modules must be a list of module names, got the string {modules!r}")
        names = list(modules)
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"module names must be strings, got {name!r}")
            if name not in named:
                raise ValueError(
                    f"no module named {name!r} in the model; its modules are {sorted(named)}"
                )
            if not isinstance(getattr(named[name], "weight", None), torch.Tensor):
                raise ValueError(f"module {name!r} has no weight tensor to rescale")
        if len(set(names)) != len(names):
            raise ValueError(f"modules must not repeat a name, got {names!r}")

    history: dict[str, list[float]] = {}
    with torch.no_grad():
        for name in names:
            weight = named[name].weight
            stds = []
            for k in range(max_iter + 1):
                with ActivationMonitor(model, [name]) as mon:
                    model(x)
                std = mon.outputs[name][0].double().std().item()
                stds.append(std)
                if not math.isfinite(std) or std == 0.0:
                    raise ValueError(
                        f"the output of layer {name!r} has standard deviation {std!r} on this "
                        f"batch; rescaling its weight cannot give {target_std}"
                    )
                if abs(std - target_std) <= tol * target_std or k == max_iter:
                    break
                weight.mul_(target_std / std)
            history[name] = stds
    return history
