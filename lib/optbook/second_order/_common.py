"""What every method in :mod:`optbook.second_order` shares: checking the arguments, evaluating
:math:`J`, :math:`g` and :math:`H` with autograd while counting calls, one line-search step,
and the result object."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .._validation import check_int, check_real
from .line_search import LineSearchResult, backtracking, strong_wolfe

__all__ = ["OptimizeResult"]

Fn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class OptimizeResult:
    """The outcome of one run, in the manner of :class:`scipy.optimize.OptimizeResult`.

    Attributes:
        x: the last iterate :math:`\\theta` (a detached tensor, dtype of ``x0``).
        fun: :math:`J(\\theta)` there.
        jac: the gradient :math:`g` there.
        nit: iterations (accepted steps) taken.
        nfev: calls to ``f``. One call yields :math:`J`, and :math:`g` by one backward pass,
            and, for Newton's method, :math:`H` by ``n`` more, so ``nfev`` counts points
            visited. Linear CG never calls a function: its ``nfev`` is 0.
        njev: gradients computed (one per call to ``f``).
        nhev: Hessians formed (Newton's method only).
        path: the iterates, shape ``(nit + 1, n)``; ``path[0]`` is ``x0``.
        losses: :math:`J` along ``path``, shape ``(nit + 1,)``.
        success: whether the stopping test (small gradient or residual) was met.
        message: why the run stopped.
        hess_inv: BFGS's final inverse-Hessian approximation :math:`M`, else ``None``.
        residuals: linear CG's residual norms :math:`\\lVert r_k \\rVert` along ``path``,
            else ``None``.
    """

    x: torch.Tensor
    fun: float
    jac: torch.Tensor = field(repr=False)
    nit: int
    nfev: int
    njev: int
    nhev: int
    path: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False)
    success: bool
    message: str
    hess_inv: torch.Tensor | None = field(default=None, repr=False)
    residuals: np.ndarray | None = field(default=None, repr=False)


# ---------------------------------------------------------------- checks at the door


def check_problem(f, x0) -> torch.Tensor:
    """``f`` callable and ``x0`` a finite, non-empty, 1-D floating-point tensor; returns a copy."""
    if not callable(f):
        raise TypeError(f"f must be callable, got {f!r}")
    return check_vector("x0", x0)


def check_vector(name: str, v) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {v!r} of type {type(v).__name__}")
    if v.ndim != 1 or v.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(v.shape)}")
    if not v.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {v.dtype}")
    if not torch.isfinite(v).all():
        raise ValueError(f"{name} must be finite, got {v}")
    return v.detach().clone()


def check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices!r}, got {value!r}")


def check_common(gtol, max_iter, line_search, c1, c2, *, allow_none=False):
    """The tolerances and line-search settings shared by all methods."""
    gtol = check_real("gtol", gtol, low=0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, low=1)
    check_choice("line_search", line_search, ("wolfe", "armijo") + ((None,) if allow_none else ()))
    c1 = check_real("c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
    c2 = check_real("c2", c2, low=0.0, high=1.0, low_open=True, high_open=True)
    if c1 >= c2:
        raise ValueError(f"need 0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")
    return gtol, max_iter, c1, c2


# ---------------------------------------------------------------- evaluating J, g, H


@dataclass
class Point:
    """:math:`\\theta`, :math:`J(\\theta)`, :math:`g(\\theta)`; ``graph`` keeps what a later
    Hessian needs (the leaf and the differentiable gradient) so that it costs no new call."""

    x: torch.Tensor
    f: float
    g: torch.Tensor
    graph: tuple[torch.Tensor, torch.Tensor] | None = None


class Objective:
    """Wraps ``f`` and counts: ``nfev`` calls to ``f``, ``njev`` gradients, ``nhev`` Hessians."""

    def __init__(self, f: Fn):
        self.f = f
        self.nfev = self.njev = self.nhev = 0

    def __call__(self, x: torch.Tensor, *, keep_graph: bool = False) -> Point:
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            J = self.f(leaf)
            self.nfev += 1
            if not isinstance(J, torch.Tensor) or J.ndim != 0:
                shape = tuple(J.shape) if isinstance(J, torch.Tensor) else type(J).__name__
                raise ValueError(f"f must return a scalar (0-d) tensor, got {shape}")
            g = None
            if J.requires_grad:
                (g,) = torch.autograd.grad(J, leaf, create_graph=keep_graph, allow_unused=True)
            if g is None:
                raise ValueError(
                    "f must be differentiable by autograd in its argument, but its output does "
                    "not depend on it through autograd (does f detach, or use .item() / numpy?)"
                )
            self.njev += 1
        graph = (leaf, g) if keep_graph else None
        return Point(x.detach(), J.item(), g.detach(), graph)

    def hessian(self, p: Point) -> torch.Tensor:
        """:math:`H` at ``p``, one backward pass per row, reusing ``p.graph`` when it was kept."""
        if p.graph is None:
            p.graph = self(p.x, keep_graph=True).graph
        leaf, g = p.graph
        n = leaf.numel()
        self.nhev += 1
        if not g.requires_grad:  # J is linear (or constant) in θ
            return torch.zeros(n, n, dtype=leaf.dtype)
        rows = []
        for i in range(n):
            (row,) = torch.autograd.grad(g[i], leaf, retain_graph=i < n - 1, allow_unused=True)
            rows.append(torch.zeros_like(leaf) if row is None else row)
        p.graph = None  # the graph has been used up; free it
        return torch.stack(rows)


def max_abs(g: torch.Tensor) -> float:
    return g.abs().max().item()


# ---------------------------------------------------------------- one line-search step


def line_step(
    obj: Objective,
    p: Point,
    d: torch.Tensor,
    step0: float,
    *,
    line_search: str,
    c1: float,
    c2: float,
    keep_graph: bool = False,
) -> tuple[LineSearchResult, Point | None]:
    """Search along ``d`` from ``p``; return the search's result and the accepted point.

    Each trial is one call to ``f`` that yields :math:`\\phi(\\epsilon) = J(\\theta + \\epsilon d)`
    and :math:`\\phi'(\\epsilon) = g(\\theta + \\epsilon d)^\\top d` together; trials are kept
    so the accepted point is not evaluated twice."""
    trials: dict[float, Point] = {}

    def phi(step: float) -> tuple[float, float]:
        q = obj(p.x + step * d, keep_graph=keep_graph)
        trials[step] = q
        return q.f, torch.dot(q.g, d).item()

    dphi0 = torch.dot(p.g, d).item()
    if line_search == "wolfe":
        ls = strong_wolfe(phi, p.f, dphi0, step0, c1=c1, c2=c2)
    else:
        ls = backtracking(phi, p.f, dphi0, step0, c1=c1)
    return ls, (trials[ls.step] if ls.success else None)


# ---------------------------------------------------------------- recording the run


class Trace:
    """Collects the iterates and their losses, then builds the :class:`OptimizeResult`."""

    def __init__(self, p: Point):
        self.path = [p.x.cpu().numpy().copy()]
        self.losses = [p.f]

    def append(self, p: Point) -> None:
        self.path.append(p.x.cpu().numpy().copy())
        self.losses.append(p.f)

    def result(self, p: Point, obj: Objective, success: bool, message: str, **extra):
        return OptimizeResult(
            x=p.x,
            fun=p.f,
            jac=p.g,
            nit=len(self.path) - 1,
            nfev=obj.nfev,
            njev=obj.njev,
            nhev=obj.nhev,
            path=np.stack(self.path),
            losses=np.asarray(self.losses),
            success=success,
            message=message,
            **extra,
        )


CONVERGED = "converged: max |g| <= gtol"
MAX_ITER = "stopped: max_iter reached"


def first_point(obj: Objective, x0: torch.Tensor, *, keep_graph: bool = False) -> Point:
    p = obj(x0, keep_graph=keep_graph)
    if not (np.isfinite(p.f) and torch.isfinite(p.g).all()):
        raise ValueError(f"f and its gradient must be finite at x0, got f(x0) = {p.f!r}")
    return p


def interpolated_step0(f: float, f_prev: float, dphi0: float) -> float:
    r"""First trial step :math:`\min(1, 1.01 \cdot 2 (J_t - J_{t-1}) / \phi'(0))`: the minimiser of
    the quadratic that would repeat last iteration's decrease (Nocedal & Wright eq. 3.60)."""
    step = 1.01 * 2.0 * (f - f_prev) / dphi0
    return min(1.0, step) if math.isfinite(step) and step > 0 else 1.0


def line_search_failed(ls: LineSearchResult) -> str:
    return f"stopped: line search failed ({ls.message})"
