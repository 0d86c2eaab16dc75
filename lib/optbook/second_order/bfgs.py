r"""BFGS (§8.6.3): a dense approximation :math:`M` of the inverse Hessian, refined every step."""

from __future__ import annotations

import torch

from .._validation import check_bool
from ._common import (
    CONVERGED,
    MAX_ITER,
    Fn,
    Objective,
    OptimizeResult,
    Trace,
    check_common,
    check_problem,
    first_point,
    line_search_failed,
    line_step,
    max_abs,
)

__all__ = ["bfgs", "bfgs_update", "curvature_ok"]


def curvature_ok(s: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether :math:`y^\\top s` is safely positive, as any Wolfe step guarantees; updates
    are skipped otherwise (possible with Armijo backtracking), which keeps :math:`M` positive
    definite."""
    return torch.dot(y, s).item() > 1e-10 * (s.norm() * y.norm()).item()


def bfgs_update(M: torch.Tensor, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The BFGS update of the inverse-Hessian approximation (Nocedal & Wright eq. 6.17):

    .. math::

        M_{t+1} = \Bigl(I - \frac{s y^\top}{y^\top s}\Bigr) M_t
                  \Bigl(I - \frac{y s^\top}{y^\top s}\Bigr) + \frac{s s^\top}{y^\top s},

    with :math:`s = \theta_{t+1} - \theta_t` and :math:`y = g_{t+1} - g_t`. :math:`M_{t+1}` is
    the symmetric matrix closest to :math:`M_t` that satisfies the secant condition
    :math:`M_{t+1} y = s`. Expanded for symmetric :math:`M` into rank-one terms, it costs
    :math:`O(n^2)`: with :math:`\rho = 1/y^\top s` and :math:`u = M y`,
    :math:`M + \rho^2 (y^\top s + y^\top u)\, s s^\top - \rho\,(u s^\top + s u^\top)`.
    Returns a new matrix.
    """
    ys = torch.dot(y, s).item()
    rho = 1.0 / ys
    u = M @ y
    # Three fused rank-one updates into one new matrix: one allocation, three passes over n².
    out = torch.addr(M, s, s, alpha=rho * rho * (ys + torch.dot(y, u).item()))
    out.addr_(u, s, alpha=-rho)
    return out.addr_(s, u, alpha=-rho)


def bfgs(
    f: Fn,
    x0: torch.Tensor,
    *,
    line_search: str = "wolfe",
    scale_initial: bool = True,
    gtol: float = 1e-5,
    max_iter: int = 1000,
    c1: float = 1e-4,
    c2: float = 0.9,
) -> OptimizeResult:
    r"""Minimise ``f`` from ``x0`` by BFGS (the book's §8.6.3; Nocedal & Wright Algorithm 6.1).

    .. math::

        d_t = -M_t g_t, \qquad \theta_{t+1} = \theta_t + \epsilon^* d_t, \qquad
        M_{t+1} = \text{bfgs\_update}(M_t, s_t, y_t).

    :math:`M_0 = I`; the first trial step is :math:`\min(1, 1/\lVert g_0\rVert)` (a step of
    length at most 1), later ones :math:`\epsilon = 1`, which a good :math:`M` accepts. With
    ``scale_initial`` (default), :math:`M_0` is replaced by :math:`\frac{y^\top s}{y^\top y} I`
    just before the first update (Nocedal & Wright eq. 6.20), which fits :math:`M` to the
    problem's scale. Memory and time per step are :math:`O(n^2)`: see :func:`lbfgs` for the
    :math:`O(mn)` variant.

    Symbol map: :math:`M` = ``hess_inv`` in the result (the book writes :math:`M_t` and
    :math:`\rho_t = M_t g_t`; :math:`d_t = -\rho_t` here), :math:`s, y` as in
    :func:`bfgs_update`, :math:`\epsilon^*` = the line-search step.

    Differs from :func:`scipy.optimize.minimize` ``method="BFGS"``: scipy does not rescale
    :math:`M_0` and starts every line search at :math:`\min(1, 1.01 \cdot 2 \Delta J / g^\top d)`.
    """
    x0 = check_problem(f, x0)
    gtol, max_iter, c1, c2 = check_common(gtol, max_iter, line_search, c1, c2)
    scale_initial = check_bool("scale_initial", scale_initial)

    obj = Objective(f)
    p = first_point(obj, x0)
    trace = Trace(p)
    n = x0.numel()
    M = torch.eye(n, dtype=x0.dtype)
    first = True  # M is still the identity
    for _ in range(max_iter):
        if max_abs(p.g) <= gtol:
            return trace.result(p, obj, True, CONVERGED, hess_inv=M)
        d = -(M @ p.g)
        if not torch.dot(p.g, d) < 0:  # M lost positive definiteness to rounding: reset
            M, d, first = torch.eye(n, dtype=x0.dtype), -p.g, True
        step0 = min(1.0, 1.0 / p.g.norm().item()) if first else 1.0
        ls, q = line_step(obj, p, d, step0, line_search=line_search, c1=c1, c2=c2)
        if q is None:
            return trace.result(p, obj, False, line_search_failed(ls), hess_inv=M)
        s, y = q.x - p.x, q.g - p.g
        if curvature_ok(s, y):
            if first and scale_initial:
                M = (torch.dot(y, s) / torch.dot(y, y)) * M
            M, first = bfgs_update(M, s, y), False
        p = q
        trace.append(p)
    if max_abs(p.g) <= gtol:
        return trace.result(p, obj, True, CONVERGED, hess_inv=M)
    return trace.result(p, obj, False, MAX_ITER, hess_inv=M)
