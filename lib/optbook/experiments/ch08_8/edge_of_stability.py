r"""Progressive sharpening and the edge of stability (Cohen et al. 2021), §8.8.

Gradient descent with step size :math:`\epsilon` on a quadratic is stable only while the
largest Hessian eigenvalue (the *sharpness*) satisfies :math:`\lambda_{\max} < 2/\epsilon`.
Cohen et al. found that full-batch gradient descent on neural networks first *raises*
:math:`\lambda_{\max}` (progressive sharpening) until it reaches :math:`2/\epsilon`, then keeps it
hovering there while the loss goes on falling, non-monotonically, over long time scales.

:func:`gd_sharpness` reproduces the experiment on a subset of the digits with the squared loss
(their Figure 1 uses it; the cross-entropy sharpness falls late in training), running one
network per step size in one batched run (:class:`~.stacked.StackedMLP`): every network starts
from the same weights and only :math:`\epsilon` differs. The sharpness of each network is tracked
by power iteration on Hessian-vector products, warm-started from the previous estimate's vector
(:func:`stacked_top_eigenvalues`); ``optbook.sharpness.top_hessian_eigenvalue`` computes the same
quantity for one network from scratch, and the tests check the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from optbook._validation import check_int, check_real

from .stacked import StackedMLP

__all__ = ["SharpnessRun", "gd_sharpness", "stacked_top_eigenvalues", "squared_losses"]


def squared_losses(model: StackedMLP, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Per network, :math:`\frac{1}{n}\sum_i \tfrac12\lVert f(x_i) - y_i\rVert^2` (shape ``(K,)``)."""
    return 0.5 * ((model(x) - targets) ** 2).sum(-1).mean(-1)


def _per_model_dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((u * v).flatten(1).sum(1) for u, v in zip(a, b, strict=True))


def stacked_top_eigenvalues(
    losses_fn: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    iters: int,
    v0: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    r"""Top Hessian eigenvalue of each of :math:`K` stacked networks by ``iters`` power iterations.

    ``losses_fn()`` returns the ``(K,)`` losses; the Hessian of their sum is block diagonal
    (one block per network), so one Hessian-vector product serves all :math:`K` power
    iterations, each vector normalised on its own block. Returns the Rayleigh quotients
    :math:`v_k^\top H_k v_k / v_k^\top v_k` and the final vectors (to warm-start the next call).
    Power iteration finds the eigenvalue of largest magnitude, which here is the largest one.
    """
    iters = check_int("iters", iters, low=1)
    params = list(params)
    if v0 is None:
        v = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    else:
        v = [t.clone() for t in v0]
    grads = torch.autograd.grad(losses_fn().sum(), params, create_graph=True)  # once: the graph is kept
    for i in range(iters):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=i < iters - 1)
        lam = _per_model_dot(v, hv) / _per_model_dot(v, v)
        norm = _per_model_dot(hv, hv).sqrt().clamp_min(torch.finfo(params[0].dtype).tiny)
        v = [h / norm.view(-1, *[1] * (h.dim() - 1)) for h in hv]
    return lam.detach(), v


@dataclass
class SharpnessRun:
    """``losses[t, k]``: training loss of network ``k`` before step ``t`` (``steps + 1`` rows);
    ``sharpness[j, k]``: its top Hessian eigenvalue at step ``measured_at[j]``; ``lrs[k]``: its
    step size :math:`\\epsilon_k`."""

    lrs: np.ndarray
    losses: np.ndarray
    sharpness: np.ndarray
    measured_at: np.ndarray

    @property
    def thresholds(self) -> np.ndarray:
        r""":math:`2/\epsilon_k`, the stability threshold of each step size."""
        return 2.0 / self.lrs


def gd_sharpness(
    lrs: Sequence[float],
    x: torch.Tensor,
    targets: torch.Tensor,
    sizes: Sequence[int],
    steps: int,
    every: int = 20,
    power_iters: int = 5,
    first_power_iters: int = 30,
    activation: str = "tanh",
    seed: int = 0,
) -> SharpnessRun:
    r"""Full-batch gradient descent :math:`\theta \leftarrow \theta - \epsilon_k \nabla J(\theta)`
    on the squared loss, one network per step size in ``lrs``, all from the initialisation of
    ``optbook.training.mlp(sizes, activation, seed=seed)``; the sharpness is measured every
    ``every`` steps with ``power_iters`` warm-started power iterations (``first_power_iters`` the
    first time). ``x``: ``(n, in)`` inputs, ``targets``: ``(n, out)`` (e.g. one-hot labels).
    """
    lrs_arr = np.array([check_real("lr", lr, low=0.0, low_open=True) for lr in lrs])
    if lrs_arr.size == 0:
        raise ValueError("lrs must hold at least one step size")
    steps = check_int("steps", steps, low=1)
    every = check_int("every", every, low=1)
    power_iters = check_int("power_iters", power_iters, low=1)
    first_power_iters = check_int("first_power_iters", first_power_iters, low=1)
    if x.dim() != 2 or targets.dim() != 2 or len(x) != len(targets):
        raise ValueError(f"x and targets must be (n, in) and (n, out), got {tuple(x.shape)} and "
                         f"{tuple(targets.shape)}")
    model = StackedMLP(sizes, activation, seeds=[seed] * len(lrs_arr), dtype=x.dtype)
    params = list(model.parameters())
    eps = torch.tensor(lrs_arr, dtype=x.dtype)
    gen = torch.Generator().manual_seed(seed)

    def losses_fn():
        return squared_losses(model, x, targets)

    losses, sharp, when, v = [], [], [], None
    for t in range(steps + 1):
        if t % every == 0:
            iters = first_power_iters if v is None else power_iters
            lam, v = stacked_top_eigenvalues(losses_fn, params, iters, v0=v, generator=gen)
            sharp.append(lam.numpy())
            when.append(t)
        loss = losses_fn()
        losses.append(loss.detach().numpy())
        if t == steps:
            break
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(eps.view(-1, *[1] * (p.dim() - 1)) * g)
    return SharpnessRun(lrs_arr, np.array(losses), np.array(sharp), np.array(when))
