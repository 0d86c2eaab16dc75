r"""Continuation by Gaussian smoothing (§8.7.6): blur the cost, solve the blurred problem, sharpen.

The smoothed cost with blur :math:`\sigma` is the average of :math:`J` over a Gaussian cloud
around :math:`\theta` (§8.7.6 of Goodfellow et al.):

.. math::

    J_\sigma(\theta) = \mathbb E_{\theta' \sim \mathcal N(\theta, \sigma^2 I)} J(\theta')
    = \mathbb E_{u \sim \mathcal N(0, I)} J(\theta + \sigma u).

:func:`gaussian_smoothing` computes it by Gauss–Hermite quadrature, exact for polynomials of
degree up to :math:`2n - 1` in each coordinate (:math:`n` = ``n_nodes``). The nodes near the
centre are about :math:`2.2\sigma/\sqrt{n}` apart, so features of :math:`J` narrower than that
(a deep, thin well) are resolved only with many nodes: raise ``n_nodes`` (at most 300) or check
against a Monte Carlo estimate. The result is differentiable by autograd.
:func:`continuation` runs gradient descent on :math:`J_{\sigma_0}`, then on
:math:`J_{\sigma_1}` from where it stopped, and so on down the sequence of blurs, ending with
:math:`\sigma = 0`, the true cost. :func:`descents_per_blur` runs plain gradient descent on
many blurs of a scalar cost at once, one blur per row: what a slider over :math:`\sigma` shows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from optbook._validation import check_int, check_real

__all__ = ["gaussian_smoothing", "continuation", "ContinuationPath", "descents_per_blur"]

MAX_NODES = 100_000


def _nodes(dim: int, n_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes :math:`u_k` (shape ``(n^d, max(d, 1))``) and weights :math:`w_k` summing to 1 with
    :math:`\\sum_k w_k h(u_k) \\approx \\mathbb E_{u \\sim \\mathcal N(0, I)} h(u)`."""
    t, w = np.polynomial.hermite.hermgauss(n_nodes)
    u1, w1 = math.sqrt(2.0) * t, w / math.sqrt(math.pi)  # e^{-t²} weight → standard normal
    d = max(dim, 1)
    u = np.array(list(itertools.product(u1, repeat=d)))
    weights = np.prod(np.array(list(itertools.product(w1, repeat=d))), axis=1)
    return torch.tensor(u), torch.tensor(weights)


def gaussian_smoothing(
    f: Callable[[torch.Tensor], torch.Tensor], sigma: float, *, dim: int = 0, n_nodes: int = 40
) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""The smoothed cost :math:`J_\sigma` of ``f``, as a function of the same kind as ``f``.

    Args:
        f: with ``dim=0``, an elementwise function of scalars (``(...) -> (...)``); with
            ``dim=d >= 1``, a function of points ``(..., d) -> (...)`` such as
            :meth:`optbook.problems.landscapes.Landscape.f` (``d = 2``).
        sigma: the blur :math:`\sigma \ge 0`; 0 returns ``f`` itself.
        dim: see ``f``.
        n_nodes: Gauss–Hermite nodes per coordinate, at most 300 (:math:`n^d` evaluations of
            ``f`` per point; at most 100,000 in all).

    The returned function takes ``theta`` (float64 is advised) of the shape ``f`` takes.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {f!r}")
    sigma = check_real("sigma", sigma, low=0.0)
    dim = check_int("dim", dim, low=0)
    n_nodes = check_int("n_nodes", n_nodes, low=1, high=300)  # numpy's hermgauss overflows beyond
    if n_nodes ** max(dim, 1) > MAX_NODES:
        raise ValueError(f"n_nodes ** dim = {n_nodes}**{dim} evaluations per point exceeds {MAX_NODES}")
    if sigma == 0.0:
        return f
    u, w = _nodes(dim, n_nodes)

    def smoothed(theta: torch.Tensor) -> torch.Tensor:
        if not isinstance(theta, torch.Tensor):
            raise TypeError(f"theta must be a torch.Tensor, got {type(theta).__name__}")
        uu, ww = u.to(theta.dtype), w.to(theta.dtype)
        if dim == 0:
            values = f(theta[..., None] + sigma * uu[:, 0])  # (..., n)
        else:
            if theta.shape[-1:] != (dim,):
                raise ValueError(f"theta must have shape (..., {dim}), got {tuple(theta.shape)}")
            values = f(theta[..., None, :] + sigma * uu)  # (..., n^d)
        return (values * ww).sum(-1)

    return smoothed


@dataclass(frozen=True)
class ContinuationPath:
    """``path[k]``: :math:`\\theta` after ``k`` gradient steps (``path[0]`` the start);
    ``losses[k]``: the *true* cost :math:`J` there; ``stage[k - 1]``: the index into ``sigmas``
    of the objective that step ``k`` descended; ``stage_ends[i]``: the index in ``path`` where
    stage ``i`` ended."""

    path: np.ndarray
    losses: np.ndarray
    stage: np.ndarray
    stage_ends: np.ndarray


def continuation(
    f: Callable[[torch.Tensor], torch.Tensor],
    x0,
    sigmas: Sequence[float],
    steps: int | Sequence[int],
    lr: float,
    *,
    dim: int = 0,
    n_nodes: int = 40,
) -> ContinuationPath:
    r"""Gradient descent with rate :math:`\epsilon` = ``lr`` on :math:`J_{\sigma_0}`, then
    :math:`J_{\sigma_1}`, ... (each stage starts where the last stopped).

    ``sigmas`` is usually decreasing and ends with 0 (the true cost); ``steps`` is one count
    for every stage or one per stage. A single ``sigmas=[0]`` is plain gradient descent on ``f``.
    ``x0`` is a scalar (``dim=0``) or a point of ``dim`` coordinates. A run that leaves the
    finite numbers stops there (the path ends early).
    """
    sigmas = [check_real("sigma", s, low=0.0) for s in sigmas]
    if not sigmas:
        raise ValueError("sigmas must name at least one blur")
    steps_list = [steps] * len(sigmas) if isinstance(steps, int | np.integer) else list(steps)
    if len(steps_list) != len(sigmas):
        raise ValueError(f"steps must be an int or one per sigma, got {steps!r} for {len(sigmas)} sigmas")
    steps_list = [check_int("steps", s, low=0) for s in steps_list]
    lr = check_real("lr", lr, low=0.0, low_open=True)
    dim = check_int("dim", dim, low=0)
    theta = torch.as_tensor(np.asarray(x0, dtype=np.float64)).clone()
    if theta.shape != (() if dim == 0 else (dim,)):
        want = "a scalar" if dim == 0 else f"a point of {dim} coordinates"
        raise ValueError(f"x0 must be {want}, got shape {tuple(theta.shape)}")
    objectives = [gaussian_smoothing(f, s, dim=dim, n_nodes=n_nodes) for s in sigmas]

    path, stage, ends = [theta.numpy().copy()], [], []
    stopped = False
    for i, (J, n) in enumerate(zip(objectives, steps_list, strict=True)):
        for _ in range(n if not stopped else 0):
            x = theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(J(x), x)
            theta = theta - lr * g
            if not torch.isfinite(theta).all():
                stopped = True
                break
            path.append(theta.numpy().copy())
            stage.append(i)
        ends.append(len(path) - 1)
    path_arr = np.array(path)
    with torch.no_grad():
        losses = f(torch.as_tensor(path_arr)).numpy()
    return ContinuationPath(path_arr, np.asarray(losses, dtype=np.float64), np.array(stage, dtype=np.int64),
                            np.array(ends, dtype=np.int64))


def descents_per_blur(
    f: Callable[[torch.Tensor], torch.Tensor],
    x0: float,
    sigmas: Sequence[float],
    steps: int,
    lr: float,
    *,
    n_nodes: int = 40,
) -> np.ndarray:
    r"""Gradient descent on :math:`J_\sigma` from ``x0``, for every :math:`\sigma` in ``sigmas``
    at once (a scalar parameter; ``f`` elementwise, as with ``dim=0``).

    Column ``i`` of the result is ``continuation(f, x0, [sigmas[i]], steps, lr,
    n_nodes=n_nodes).path`` up to rounding, but all columns come from one batched run: row
    :math:`i` of :math:`\theta` descends :math:`J_{\sigma_i}`, and since each row's cost
    depends on that row only, the gradient of their sum is every row's own gradient. A blur of
    0 is ``f`` itself. A run that leaves the finite numbers is NaN from then on.

    Returns:
        the iterates, shape ``(steps + 1, len(sigmas))``; row 0 holds ``x0``.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {f!r}")
    sig = [check_real("sigma", s, low=0.0) for s in sigmas]
    if not sig:
        raise ValueError("sigmas must name at least one blur")
    x0 = check_real("x0", x0)
    steps = check_int("steps", steps, low=0)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    n_nodes = check_int("n_nodes", n_nodes, low=1, high=300)
    u, w = _nodes(0, n_nodes)
    sigma = torch.tensor(sig, dtype=torch.float64)
    blurred = sigma > 0

    def J(theta: torch.Tensor) -> torch.Tensor:  # one cost per row
        cloud = f(theta[:, None] + sigma[:, None] * u[:, 0])
        return torch.where(blurred, (cloud * w).sum(-1), f(theta))

    out = np.full((steps + 1, len(sig)), np.nan)
    theta = torch.full((len(sig),), x0, dtype=torch.float64)
    out[0] = x0
    alive = torch.ones(len(sig), dtype=torch.bool)
    for k in range(1, steps + 1):
        x = theta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(J(x).sum(), x)
        theta = torch.where(alive, theta - lr * g, theta)
        alive &= torch.isfinite(theta)
        if not alive.any():
            break
        out[k] = torch.where(alive, theta, torch.nan).numpy()
    return out
