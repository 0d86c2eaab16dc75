r"""Newton's method (§8.6.1): pure, damped, line-searched, and saddle-free."""

from __future__ import annotations

import math

import torch

from .._validation import check_bool, check_real
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

__all__ = ["newton", "newton_direction"]


def newton_direction(
    g: torch.Tensor,
    H: torch.Tensor,
    *,
    damping: float = 0.0,
    saddle_free: bool = False,
    make_positive_definite: bool = False,
) -> torch.Tensor | None:
    r"""The Newton step :math:`d = -B^{-1} g`, or ``None`` where :math:`B` is singular.

    :math:`B = H + \alpha I` (the book's eq. 8.28, :math:`\alpha` = ``damping``), with
    :math:`H` replaced by :math:`|H| = V |\Lambda| V^\top` when ``saddle_free`` (Dauphin et al.,
    2014: the eigenvalues' signs are dropped, so negative curvature is descended rather than
    climbed). With ``make_positive_definite`` a multiple :math:`\tau I` is added until a
    Cholesky factorisation succeeds (Nocedal & Wright Algorithm 3.3, :math:`\beta = 10^{-3}`),
    which makes :math:`d` a descent direction for a line search.
    """
    if not make_positive_definite:
        d, ok = newton_directions(g[None], H[None], damping=damping, saddle_free=saddle_free)
        return d[0] if bool(ok[0]) else None
    B = _curvature_matrix(H, damping, saddle_free)
    if not torch.isfinite(B).all():
        return None
    eye = torch.eye(g.numel(), dtype=H.dtype)
    beta = 1e-3 * max(1.0, B.diagonal().abs().max().item())  # scale-aware β
    tau = 0.0 if B.diagonal().min() > 0 else beta - B.diagonal().min().item()
    for _ in range(200):  # τ doubles: 200 tries reach any finite shift
        L, info = torch.linalg.cholesky_ex(B + tau * eye)
        if info == 0:
            return -torch.cholesky_solve(g[:, None], L).squeeze(1)
        tau = max(2.0 * tau, beta)
    return None


def _curvature_matrix(H: torch.Tensor, damping, saddle_free: bool) -> torch.Tensor:
    r""":math:`B + \alpha I` with :math:`B = H` or :math:`|H|`, for one ``(n, n)`` matrix or a batch
    ``(N, n, n)``; ``damping`` is a number or one per matrix."""
    B = H
    if saddle_free:
        lam, V = torch.linalg.eigh(0.5 * (H + H.transpose(-1, -2)))
        B = (V * lam.abs().unsqueeze(-2)) @ V.transpose(-1, -2)
    alpha = torch.as_tensor(damping, dtype=H.dtype)
    if alpha.ndim:
        alpha = alpha[:, None, None]
    return B + alpha * torch.eye(H.shape[-1], dtype=H.dtype)


def newton_directions(
    g: torch.Tensor, H: torch.Tensor, *, damping=0.0, saddle_free: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The Newton step :math:`d = -(B + \alpha I)^{-1} g` for a batch of problems at once.

    ``g`` has shape ``(N, n)``, ``H`` ``(N, n, n)``, ``damping`` is one number or one per problem
    (shape ``(N,)``); :math:`B = H`, or :math:`|H|` when ``saddle_free``. Returns ``(d, ok)``:
    the steps, shape ``(N, n)``, and a boolean mask of the rows where :math:`B + \alpha I` was
    finite and non-singular and the step finite (elsewhere ``d`` is meaningless).
    :func:`newton_direction` is this with ``N = 1``; the §8.6 experiment
    :func:`optbook.experiments.ch08_6.saddles.newton_paths` runs it on thousands of starts.
    """
    B = _curvature_matrix(H, damping, saddle_free)
    finite = torch.isfinite(B).flatten(1).all(1)
    eye = torch.eye(B.shape[-1], dtype=B.dtype)
    d, info = torch.linalg.solve_ex(torch.where(finite[:, None, None], B, eye), -g)
    ok = finite & (info == 0) & torch.isfinite(d).all(1)
    return d, ok


def newton(
    f: Fn,
    x0: torch.Tensor,
    *,
    line_search: str | None = "wolfe",
    damping: float = 0.0,
    saddle_free: bool = False,
    gtol: float = 1e-5,
    max_iter: int = 200,
    c1: float = 1e-4,
    c2: float = 0.9,
) -> OptimizeResult:
    r"""Minimise ``f`` from ``x0`` by Newton's method (the book's eqs. 8.26–8.28).

    Each iteration forms :math:`g` and :math:`H` at :math:`\theta` with autograd and moves to

    .. math::

        \theta \leftarrow \theta - \epsilon\,(H + \alpha I)^{-1} g.

    * ``line_search=None``: the *pure* Newton step, :math:`\epsilon = 1`, :math:`H` as it is.
      It jumps to the stationary point of the local quadratic model, whatever its kind, so it is
      *attracted* to saddle points (on :math:`x^2 - y^2` it lands on the saddle in one step).
    * ``line_search="wolfe"`` (default) or ``"armijo"``: :math:`H + \alpha I` is first made
      positive definite (Nocedal & Wright Algorithm 3.3) so :math:`d` descends, and
      :math:`\epsilon` comes from the line search, starting at 1.
    * ``damping`` :math:`\alpha \ge 0`: the book's regularised step, eq. 8.28.
    * ``saddle_free``: use :math:`|H|` (absolute eigenvalues) instead of :math:`H`, an aside
      after Dauphin et al. (2014): a saddle's negative curvature now repels.

    Symbol map: :math:`\theta` = ``x``, :math:`g` = ``jac``, :math:`\alpha` = ``damping``,
    :math:`\epsilon` = the line-search step. Stops when :math:`\max_i |g_i| \le` ``gtol``.

    Counting: the Hessian is built from the graph of the call that produced :math:`g`
    (``n`` extra backward passes), so each iteration costs one call to ``f`` for pure Newton,
    plus one per extra line-search trial. Differs from :func:`scipy.optimize.minimize`
    ``method="Newton-CG"``, which solves for :math:`d` inexactly by CG and stops on the step size.
    """
    x0 = check_problem(f, x0)
    gtol, max_iter, c1, c2 = check_common(gtol, max_iter, line_search, c1, c2, allow_none=True)
    damping = check_real("damping", damping, low=0.0)
    saddle_free = check_bool("saddle_free", saddle_free)

    obj = Objective(f)
    p = first_point(obj, x0, keep_graph=True)
    trace = Trace(p)
    for _ in range(max_iter):
        if max_abs(p.g) <= gtol:
            return trace.result(p, obj, True, CONVERGED)
        H = obj.hessian(p)
        d = newton_direction(
            p.g,
            H,
            damping=damping,
            saddle_free=saddle_free,
            make_positive_definite=line_search is not None,
        )
        if d is None:
            return trace.result(p, obj, False, "stopped: H + damping I is singular")
        if line_search is None:
            q = obj(p.x + d, keep_graph=True)
            if not (math.isfinite(q.f) and torch.isfinite(q.g).all()):
                return trace.result(p, obj, False, "stopped: the step left the domain of f")
        else:
            ls, q = line_step(
                obj, p, d, 1.0, line_search=line_search, c1=c1, c2=c2, keep_graph=True
            )
            if q is None:
                return trace.result(p, obj, False, line_search_failed(ls))
        p = q
        trace.append(p)
    if max_abs(p.g) <= gtol:
        return trace.result(p, obj, True, CONVERGED)
    return trace.result(p, obj, False, MAX_ITER)
