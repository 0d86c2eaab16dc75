r"""Two-dimensional test functions and a trajectory runner that works with any optimiser.

A :class:`Landscape` bundles :math:`f(\theta)` for :math:`\theta = (x, y)` and its analytic
gradient (checked against autograd in the tests; it makes slider figures fast), a standard
start point and a view window. Its methods ``f`` and ``grad`` take tensors of shape
``(..., 2)``, so the same code evaluates one point or a whole contour grid.

:func:`run_trajectory` drives any :class:`torch.optim.Optimizer` over a landscape and stops
cleanly, recording where, if the iterate leaves every reasonable region (divergence).
:func:`run_trajectories_over_lr` runs a whole range of learning rates at the price of one run,
which is what lets a learning-rate slider answer at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from optbook._validation import check_int, check_real

__all__ = [
    "double_well",
    "Landscape",
    "Trajectory",
    "quadratic",
    "rosenbrock",
    "saddle",
    "monkey_saddle",
    "run_trajectory",
    "run_trajectories_over_lr",
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


def double_well(coupling: float = 0.5, stiffness: float = 1.0) -> Landscape:
    r"""Two valleys and a pass between them: :math:`f(x, y) = (x^2 - 1)^2 + b\,(y - c x)^2`.

    With :math:`c` = ``coupling`` and :math:`b` = ``stiffness`` > 0, the gradient vanishes where
    :math:`y = c x` and :math:`4x(x^2 - 1) = 0`: two global minima :math:`(\pm 1, \pm c)` with
    :math:`f = 0`, and a saddle at the origin with :math:`f = 1`, whose Hessian
    :math:`\begin{pmatrix} -4 + 2bc^2 & -2bc \\ -2bc & 2b \end{pmatrix}` has determinant
    :math:`-8b < 0` for every :math:`c`. A non-zero :math:`c` tilts the escape direction away
    from the axes. The landscape's ``minimiser`` is :math:`(1, c)`, one of the two
    (see :func:`double_well_points`); ``lipschitz`` is the largest Hessian eigenvalue there.
    """
    c = check_real("coupling", coupling)
    b = check_real("stiffness", stiffness, low=0.0, low_open=True)

    def value_and_grad(x, y):
        u, r = x * x - 1.0, y - c * x
        return u * u + b * r * r, 4.0 * x * u - 2.0 * b * c * r, 2.0 * b * r

    h11, h12, h22 = 8.0 + 2.0 * b * c * c, -2.0 * b * c, 2.0 * b
    lam_max = 0.5 * (h11 + h22) + float(np.hypot(0.5 * (h11 - h22), h12))
    return Landscape(
        name="double well",
        value_and_grad=value_and_grad,
        x0=(0.3, 1.5),
        xlim=(-2.0, 2.0),
        ylim=(-2.0, 2.0),
        minimiser=(1.0, c),
        lipschitz=lam_max,
    )


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
    stop_below: float | None = None,
) -> Trajectory:
    """Run ``steps`` optimiser steps on ``landscape`` from ``x0`` (default ``landscape.x0``).

    ``make_optimizer`` receives the list ``[theta]`` and returns any
    :class:`torch.optim.Optimizer` (e.g. ``lambda p: optbook.optim.SGD(p, lr=0.1)`` or
    ``functools.partial(torch.optim.Adam, lr=0.1)``). Each step passes a closure, so
    optimisers that re-evaluate (L-BFGS) work too. Computation is in float64.

    The run stops early, with ``diverged_at`` set, once the loss is not finite or the
    iterate is farther than ``escape_radius`` times the view window's size from its centre.
    With ``stop_below`` set it also stops, not diverged, at the first iterate whose loss is
    at most ``stop_below``: the path is cut there, so ``steps_to(tol)`` for any
    ``tol >= stop_below`` is what the full run would give, without the steps after it.
    """
    steps = check_int("steps", steps, low=0)
    escape_radius = check_real("escape_radius", escape_radius, low=0.0, low_open=True)
    if stop_below is not None:
        stop_below = check_real("stop_below", stop_below)
    if not callable(make_optimizer):
        raise TypeError(f"make_optimizer must be callable, got {make_optimizer!r}")
    start = landscape.x0 if x0 is None else x0
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    if theta.shape != (2,):
        raise ValueError(f"x0 must be a point (x, y), got {start!r}")
    opt = make_optimizer([theta])
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer must return a torch.optim.Optimizer, got {opt!r}")

    centre, limit = _escape_window(landscape, escape_radius)
    cx, cy = centre.tolist()  # plain floats: the loop below does scalar arithmetic
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
    if stop_below is not None and vg(*path[0].tolist())[0] <= stop_below:
        steps, path = 0, path[:1]  # the start is already there
    for k in range(1, steps + 1):
        opt.step(closure)
        x, y = theta.tolist()
        if not (math.isfinite(x) and math.isfinite(y)) or math.hypot(x - cx, y - cy) > limit:
            diverged_at = k
            path = path[:k]
            break
        path[k] = x, y
        if stop_below is not None and vg(x, y)[0] <= stop_below:
            path = path[: k + 1]
            break
    return _trajectory(vg, path, diverged_at)


def _escape_window(landscape: Landscape, escape_radius: float) -> tuple[np.ndarray, float]:
    """The view window's centre, and how far from it an iterate counts as diverged."""
    centre = np.array([sum(landscape.xlim) / 2, sum(landscape.ylim) / 2])
    size = max(landscape.xlim[1] - landscape.xlim[0], landscape.ylim[1] - landscape.ylim[0])
    return centre, escape_radius * size


def _trajectory(vg: VG, path: np.ndarray, diverged_at: int | None) -> Trajectory:
    """The losses along ``path``, cut where ``f`` overflowed although the iterate stayed finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.asarray(vg(path[:, 0], path[:, 1])[0], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        diverged_at = int(bad[0])
        path, losses = path[: bad[0]], losses[: bad[0]]
    return Trajectory(path=path, losses=losses, diverged_at=diverged_at)


def run_trajectories_over_lr(
    landscape: Landscape,
    make_optimizer: Callable[..., torch.optim.Optimizer],
    lrs,
    steps: int,
    x0: tuple[float, float] | None = None,
    *,
    escape_radius: float = 1e3,
) -> list[Trajectory]:
    r"""One trajectory per learning rate in ``lrs``, all computed in a single batched run.

    The result equals ``[run_trajectory(landscape, lambda p: make_optimizer(p, lr=eps), steps)
    for eps in lrs]`` up to rounding, for any optimiser whose step is the learning rate times a
    function of the gradients seen so far,

    .. math:: \theta_k = \theta_{k-1} + \epsilon\, u_k(g_1, \dots, g_k),

    and acts on each coordinate separately. Every algorithm of §8.3 and §8.5 does (SGD,
    momentum, Nesterov, AdaGrad, RMSProp with or without Nesterov momentum, AdaDelta's
    multiplier, Adam, and their torch.optim versions); a line search (L-BFGS), weight decay or
    anything that couples coordinates (gradient clipping by norm) does not, and must use
    :func:`run_trajectory`.

    The trick: write :math:`\theta = \theta_0 + \epsilon\,\psi`. Then :math:`\psi` follows
    the same optimiser with learning rate 1, fed the gradient at :math:`\theta`, so one
    parameter of shape ``(G, 2)``, a row per learning rate, runs all ``G`` of them in one
    optimiser. A step costs about as much as one scalar run's, whatever ``G`` is.

    "Up to rounding" means what it says: the two ways round off differently, and dynamics that
    amplify rounding (RMSProp once a coordinate hovers at its minimum, where each step's sign
    follows the gradient's) can make the runs part visibly after many steps. Both are then
    equally faithful floating-point runs of the same algorithm.

    Args:
        landscape: the surface.
        make_optimizer: called once as ``make_optimizer([psi], lr=1.0)``.
        lrs: the learning rates :math:`\epsilon > 0`, a non-empty sequence.
        steps, x0, escape_radius: as in :func:`run_trajectory`; each row stops on its own.
    """
    steps = check_int("steps", steps, low=0)
    escape_radius = check_real("escape_radius", escape_radius, low=0.0, low_open=True)
    if not callable(make_optimizer):
        raise TypeError(f"make_optimizer must be callable, got {make_optimizer!r}")
    try:
        eps = np.asarray(lrs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"lrs must be a sequence of numbers, got {lrs!r}") from err
    if eps.ndim != 1 or eps.size == 0:
        raise ValueError(f"lrs must be a non-empty 1-D sequence, got {lrs!r}")
    bad = ~np.isfinite(eps) | (eps <= 0)
    if bad.any():
        raise ValueError(f"lrs must be finite and > 0, got {float(eps[bad][0])!r}")
    start = np.asarray(landscape.x0 if x0 is None else x0, dtype=np.float64)
    if start.shape != (2,) or not np.isfinite(start).all():
        raise ValueError(f"x0 must be a finite point (x, y), got {x0!r}")

    n = eps.size
    psi = torch.zeros((n, 2), dtype=torch.float64, requires_grad=True)
    psi.grad = torch.zeros_like(psi)
    opt = make_optimizer([psi], lr=1.0)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer must return a torch.optim.Optimizer, got {opt!r}")
    psi_np, grad_np = psi.detach().numpy(), psi.grad.numpy()  # views: no copies per step
    scale = eps[:, None]

    centre, limit = _escape_window(landscape, escape_radius)
    vg = landscape.value_and_grad

    path = np.empty((steps + 1, n, 2))
    path[0] = start
    diverged_at = np.full(n, -1)
    alive = np.ones(n, dtype=bool)
    theta = path[0].copy()
    with np.errstate(all="ignore"):  # a diverged row may overflow; it is already written off
        for k in range(1, steps + 1):
            _, gx, gy = vg(theta[:, 0], theta[:, 1])
            grad_np[:, 0], grad_np[:, 1] = gx, gy
            grad_np[~alive] = 0.0
            opt.step()
            theta = start + scale * psi_np
            gone = alive & (~np.isfinite(theta).all(1) | (np.hypot(*(theta - centre).T) > limit))
            diverged_at[gone] = k
            alive &= ~gone
            path[k] = theta
            if not alive.any():
                break
    return [_trajectory(vg, path[:k, i].copy(), int(k)) if k >= 0
            else _trajectory(vg, path[:, i].copy(), None) for i, k in enumerate(diverged_at)]
