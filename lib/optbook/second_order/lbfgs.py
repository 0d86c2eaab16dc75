r"""L-BFGS (§8.6.3): BFGS that keeps only the last ``m`` curvature pairs instead of :math:`M`."""

from __future__ import annotations

from collections import deque

import torch

from .._validation import check_int
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
from .bfgs import curvature_ok

__all__ = ["lbfgs", "two_loop_recursion"]


def two_loop_recursion(g, s_hist, y_hist, gamma: float) -> torch.Tensor:
    r""":math:`M g` without forming :math:`M` (Nocedal & Wright Algorithm 7.4).

    :math:`M` is what :math:`m` successive :func:`~optbook.second_order.bfgs_update` calls
    with the stored pairs :math:`(s_i, y_i)` (oldest first) would make of
    :math:`M^0 = \gamma I`. Cost :math:`O(mn)`:

    .. math::

        q \leftarrow g;\ \text{for } i = k-1, \dots, k-m:\
            a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i; \quad
        r \leftarrow \gamma q;\ \text{for } i = k-m, \dots, k-1:\
            b = \rho_i y_i^\top r,\ r \leftarrow r + (a_i - b) s_i,

    with :math:`\rho_i = 1 / y_i^\top s_i`. Returns :math:`r = M g`.
    """
    rho = [1.0 / torch.dot(y, s) for s, y in zip(s_hist, y_hist, strict=True)]
    q = g.clone()
    a = []
    for s, y, r_i in zip(reversed(s_hist), reversed(y_hist), reversed(rho), strict=True):
        a_i = r_i * torch.dot(s, q)
        q -= a_i * y
        a.append(a_i)
    r = gamma * q
    for s, y, r_i, a_i in zip(s_hist, y_hist, rho, reversed(a), strict=True):
        b = r_i * torch.dot(y, r)
        r += (a_i - b) * s
    return r


def lbfgs(
    f: Fn,
    x0: torch.Tensor,
    m: int = 10,
    *,
    line_search: str = "wolfe",
    gtol: float = 1e-5,
    max_iter: int = 1000,
    c1: float = 1e-4,
    c2: float = 0.9,
) -> OptimizeResult:
    r"""Minimise ``f`` from ``x0`` by limited-memory BFGS (Nocedal & Wright Algorithm 7.5).

    Like :func:`~optbook.second_order.bfgs`, :math:`d_t = -M_t g_t`, but :math:`M_t g_t` comes
    from :func:`two_loop_recursion` over the last ``m`` pairs :math:`(s, y)`, with
    :math:`M^0_t = \gamma_t I`, :math:`\gamma_t = s^\top y / y^\top y` of the newest pair
    (eq. 7.20). Memory :math:`2mn` numbers instead of :math:`n^2`; time per step :math:`O(mn)`.

    Here ``m`` is the memory, as in Nocedal & Wright (``history_size`` in
    :class:`torch.optim.LBFGS`), not the minibatch size :math:`m` of the rest of the book.
    The first trial step is :math:`\min(1, 1/\lVert g_0\rVert)`, later ones 1. Differs from
    scipy's ``L-BFGS-B``, which handles bounds, uses Moré–Thuente's line search and also stops
    on a small relative decrease of :math:`J`; and from :class:`torch.optim.LBFGS`, whose
    default has no line search at all.
    """
    x0 = check_problem(f, x0)
    gtol, max_iter, c1, c2 = check_common(gtol, max_iter, line_search, c1, c2)
    m = check_int("m", m, low=1)

    obj = Objective(f)
    p = first_point(obj, x0)
    trace = Trace(p)
    s_hist: deque[torch.Tensor] = deque(maxlen=m)
    y_hist: deque[torch.Tensor] = deque(maxlen=m)
    for _ in range(max_iter):
        if max_abs(p.g) <= gtol:
            return trace.result(p, obj, True, CONVERGED)
        if s_hist:
            s, y = s_hist[-1], y_hist[-1]
            d = -two_loop_recursion(p.g, s_hist, y_hist, (torch.dot(s, y) / torch.dot(y, y)).item())
        if not s_hist or not torch.dot(p.g, d) < 0:  # no pairs yet, or rounding: restart
            s_hist.clear(), y_hist.clear()
            d = -p.g
        step0 = 1.0 if s_hist else min(1.0, 1.0 / p.g.norm().item())
        ls, q = line_step(obj, p, d, step0, line_search=line_search, c1=c1, c2=c2)
        if q is None:
            return trace.result(p, obj, False, line_search_failed(ls))
        s, y = q.x - p.x, q.g - p.g
        if curvature_ok(s, y):
            s_hist.append(s)
            y_hist.append(y)
        p = q
        trace.append(p)
    if max_abs(p.g) <= gtol:
        return trace.result(p, obj, True, CONVERGED)
    return trace.result(p, obj, False, MAX_ITER)
