r"""Two-dimensional test functions and a trajectory runner that works with any optimiser.

A :class:`Landscape` bundles :math:`f(\theta)` for :math:`\theta = (x, y)` and its analytic
gradient (checked against autograd in the tests; it makes slider figures fast), a standard
start point and a view window. Its methods ``f`` and ``grad`` take tensors of shape
``(..., 2)``, so the same code evaluates one point or a whole contour grid.

:func:`run_trajectory` drives any :class:`torch.optim.Optimizer` over a landscape and stops
cleanly, recording where, if the iterate leaves every reasonable region (divergence).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import check_int, check_real

__all__ = [
    "Landscape",
    "Trajectory",
    "quadratic",
    "rosenbrock",
    "saddle",
    "monkey_saddle",
    "run_trajectory",
]

VG = Callable  # (x, y) -> (f, df/dx, df/dy), written with arithmetic operators only


@dataclass(frozen=True)
class Landscape:
    """A 2-D objective with its gradient, a start point and a view window.

    The objective is given once, as ``value_and_grad(x, y) -> (f, df/dx, df/dy)`` written
    with arithmetic operators only, so the same expression runs on Python floats (fast
    trajectories: no tensor overhead per step), NumPy arrays and torch tensors (contour grids
    and autograd checks).

    Attributes:
        name: label for plots.
        value_and_grad: the objective and its analytic gradient (checked against autograd
            in the tests).
        x0: default start point.
        xlim, ylim: the window plots show.
        minimiser: the global minimiser, if there is one (``None`` for saddles).
        lipschitz: the largest Hessian eigenvalue at the minimiser (the curvature that
            bounds a stable gradient-descent step, :math:`\\epsilon < 2/L`), if defined.
    """

    name: str
    value_and_grad: VG
    x0: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minimiser: tuple[float, float] | None = None
    lipschitz: float | None = None

    def f(self, theta: torch.Tensor) -> torch.Tensor:
        """:math:`f(\\theta)` for a tensor of shape ``(..., 2)`` (differentiable by autograd)."""
        return self.value_and_grad(theta[..., 0], theta[..., 1])[0]

    __call__ = f

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        """The analytic gradient, shape ``(..., 2)``."""
        _, gx, gy = self.value_and_grad(theta[..., 0], theta[..., 1])
        return torch.stack(torch.broadcast_tensors(gx, gy), dim=-1)

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)`` arrays of ``f`` on an ``n`` × ``n`` grid over the view window."""
        n = check_int("n", n, low=2)
        X, Y = np.meshgrid(np.linspace(*self.xlim, n), np.linspace(*self.ylim, n), indexing="xy")
        return X, Y, np.asarray(self.value_and_grad(X, Y)[0], dtype=np.float64)


def quadratic(kappa: float = 10.0) -> Landscape:
    r"""The ill-conditioned quadratic :math:`f(x, y) = \tfrac12 (x^2/\kappa + y^2)`.

    Its Hessian is :math:`\mathrm{diag}(1/\kappa, 1)`: the largest curvature is 1, so
    gradient descent is stable for :math:`\epsilon < 2` whatever :math:`\kappa`, while progress
    along :math:`x` slows as the condition number :math:`\kappa` grows.
    """
    kappa = check_real("kappa", kappa, low=1.0)
    c = 1.0 / kappa

    def value_and_grad(x, y):
        return 0.5 * (c * x * x + y * y), c * x, 1.0 * y

    return Landscape(
        name=f"quadratic, κ = {kappa:g}",
        value_and_grad=value_and_grad,
        x0=(-9.0, 2.0),
        xlim=(-10.0, 10.0),
        ylim=(-4.0, 4.0),
        minimiser=(0.0, 0.0),
        lipschitz=1.0,
    )


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Landscape:
    r"""Rosenbrock's banana valley :math:`f(x, y) = (a - x)^2 + b\,(y - x^2)^2`.

    Minimum 0 at :math:`(a, a^2)`, at the end of a long, curved, flat-bottomed valley.
    """
    a = check_real("a", a)
    b = check_real("b", b, low=0.0, low_open=True)

    def value_and_grad(x, y):
        d, r = x - a, y - x * x
        return d * d + b * r * r, 2.0 * d - 4.0 * b * x * r, 2.0 * b * r

    # Hessian at the minimiser: [[2 + 8 b a^2, -4 b a], [-4 b a, 2 b]].
    h11, h12, h22 = 2.0 + 8.0 * b * a * a, -4.0 * b * a, 2.0 * b
    lam_max = 0.5 * (h11 + h22) + math.sqrt(0.25 * (h11 - h22) ** 2 + h12 * h12)
    return Landscape(
        name="Rosenbrock",
        value_and_grad=value_and_grad,
        x0=(-1.5, 1.5),
        xlim=(-2.0, 2.0),
        ylim=(-1.0, 3.0),
        minimiser=(a, a * a),
        lipschitz=lam_max,
    )


def saddle() -> Landscape:
    r"""The saddle :math:`f(x, y) = x^2 - y^2`: a minimum along :math:`x`, a maximum along :math:`y`."""

    def value_and_grad(x, y):
        return x * x - y * y, 2.0 * x, -2.0 * y

    return Landscape("saddle x² − y²", value_and_grad, x0=(-1.8, 0.05), xlim=(-2.0, 2.0),
                     ylim=(-2.0, 2.0))


def monkey_saddle() -> Landscape:
    r"""The monkey saddle :math:`f(x, y) = x^3 - 3 x y^2`: three ways down, and a Hessian of zero
    at the origin, so no second-order test can classify it."""

    def value_and_grad(x, y):
        return x * x * x - 3.0 * x * y * y, 3.0 * x * x - 3.0 * y * y, -6.0 * x * y

    return Landscape("monkey saddle", value_and_grad, x0=(1.5, 0.3), xlim=(-2.0, 2.0),
                     ylim=(-2.0, 2.0))


@dataclass(frozen=True)
class Trajectory:
    """The iterates of one run: ``path[k]`` is :math:`\\theta` after ``k`` steps.

    ``diverged_at`` is the step at which the run left every reasonable region (the loss was
    no longer finite or the iterate ran off), or ``None``; the path stops before it.
    """

    path: np.ndarray
    losses: np.ndarray
    diverged_at: int | None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def steps_to(self, tol: float) -> int | None:
        """The first step ``k`` with ``losses[k] <= tol``, or ``None`` if the run never got there."""
        hits = np.flatnonzero(self.losses <= tol)
        return int(hits[0]) if hits.size else None


def run_trajectory(
    landscape: Landscape,
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    steps: int,
    x0: tuple[float, float] | None = None,
    *,
    escape_radius: float = 1e3,
) -> Trajectory:
    """Run ``steps`` optimiser steps on ``landscape`` from ``x0`` (default ``landscape.x0``).

    ``make_optimizer`` receives the list ``[theta]`` and returns any
    :class:`torch.optim.Optimizer` (e.g. ``lambda p: optbook.optim.SGD(p, lr=0.1)`` or
    ``functools.partial(torch.optim.Adam, lr=0.1)``). Each step passes a closure, so
    optimisers that re-evaluate (L-BFGS) work too. Computation is in float64.

    The run stops early, with ``diverged_at`` set, once the loss is not finite or the
    iterate is farther than ``escape_radius`` times the view window's size from its centre.
    """
    steps = check_int("steps", steps, low=0)
    escape_radius = check_real("escape_radius", escape_radius, low=0.0, low_open=True)
    if not callable(make_optimizer):
        raise TypeError(f"make_optimizer must be callable, got {make_optimizer!r}")
    start = landscape.x0 if x0 is None else x0
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    if theta.shape != (2,):
        raise ValueError(f"x0 must be a point (x, y), got {start!r}")
    opt = make_optimizer([theta])
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer must return a torch.optim.Optimizer, got {opt!r}")

    cx, cy = sum(landscape.xlim) / 2, sum(landscape.ylim) / 2
    size = max(landscape.xlim[1] - landscape.xlim[0], landscape.ylim[1] - landscape.ylim[0])
    limit = escape_radius * size
    vg = landscape.value_and_grad

    def closure():
        # Plain-float arithmetic: a 2-D gradient costs ~1 µs instead of ~20 µs of tensor ops.
        x, y = theta.tolist()
        fx, gx, gy = vg(x, y)
        theta.grad = torch.tensor((gx, gy), dtype=torch.float64)
        return fx  # a float is a valid loss for every torch optimiser, L-BFGS included

    # The loop only steps and copies two floats: per-step overhead is what a slider feels.
    path = np.empty((steps + 1, 2))
    path[0] = start
    diverged_at = None
    for k in range(1, steps + 1):
        opt.step(closure)
        x, y = theta.tolist()
        if not (math.isfinite(x) and math.isfinite(y)) or math.hypot(x - cx, y - cy) > limit:
            diverged_at = k
            path = path[:k]
            break
        path[k] = x, y
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.asarray(vg(path[:, 0], path[:, 1])[0], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:  # f overflowed although the iterate itself stayed finite
        diverged_at = int(bad[0])
        path, losses = path[: bad[0]], losses[: bad[0]]
    return Trajectory(path=path, losses=losses, diverged_at=diverged_at)
