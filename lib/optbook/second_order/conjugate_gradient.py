r"""Conjugate gradients (§8.6.2): the linear method for quadratics and the nonlinear one."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .._validation import check_int, check_real
from ._common import (
    CONVERGED,
    MAX_ITER,
    Fn,
    Objective,
    OptimizeResult,
    Trace,
    check_choice,
    check_common,
    check_problem,
    check_vector,
    first_point,
    interpolated_step0,
    line_search_failed,
    line_step,
    max_abs,
)

__all__ = ["linear_conjugate_gradient", "conjugate_gradient", "cg_beta"]

BETAS = ("fletcher-reeves", "polak-ribiere")


def linear_conjugate_gradient(
    A: torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    x0: torch.Tensor | None = None,
    *,
    tol: float = 1e-10,
    max_iter: int | None = None,
) -> OptimizeResult:
    r"""Minimise :math:`J(\theta) = \tfrac12 \theta^\top A \theta - b^\top \theta` (i.e. solve
    :math:`A\theta = b`) for symmetric positive definite :math:`A`: Nocedal & Wright Algorithm 5.2.

    With the residual :math:`r = A\theta - b` (the gradient :math:`g` of :math:`J`) and
    :math:`d_0 = -r_0`,

    .. math::

        \epsilon_k = \frac{r_k^\top r_k}{d_k^\top A d_k},\quad
        \theta_{k+1} = \theta_k + \epsilon_k d_k,\quad
        r_{k+1} = r_k + \epsilon_k A d_k,\quad
        \beta_{k+1} = \frac{r_{k+1}^\top r_{k+1}}{r_k^\top r_k},\quad
        d_{k+1} = -r_{k+1} + \beta_{k+1} d_k .

    The step :math:`\epsilon_k` is the exact line minimum (the book's "analytically solve for
    :math:`\epsilon^*`" in Algorithm 8.9), the directions are :math:`A`-conjugate, and in exact
    arithmetic :math:`\theta_n` is the solution: at most ``n`` steps.

    ``A`` is an ``(n, n)`` tensor or a callable :math:`v \mapsto Av` (e.g. a Hessian-vector
    product); one product with ``A`` per step, plus one for :math:`r_0` when ``x0`` is given.
    Stops when :math:`\lVert r\rVert \le` ``tol`` :math:`\cdot \lVert b\rVert`; ``max_iter``
    defaults to :math:`10 n`. The result's ``residuals`` holds :math:`\lVert r_k\rVert`.
    """
    b = check_vector("b", b)
    n = b.numel()
    if isinstance(A, torch.Tensor):
        if A.shape != (n, n):
            raise ValueError(f"A must have shape ({n}, {n}) to match b, got {tuple(A.shape)}")
        if not torch.allclose(A, A.T, rtol=1e-10, atol=0.0):
            raise ValueError(
                f"A must be symmetric, got max |A - A^T| = {(A - A.T).abs().max().item():.3g}"
            )
        A_mat = A.detach().to(b.dtype)
        matvec = lambda v: A_mat @ v  # noqa: E731
    elif callable(A):
        matvec = A
    else:
        raise TypeError(f"A must be a tensor or a callable v -> A v, got {A!r}")
    x = torch.zeros_like(b) if x0 is None else check_vector("x0", x0).to(b.dtype)
    if x.numel() != n:
        raise ValueError(f"x0 must have {n} entries to match b, got shape {tuple(x.shape)}")
    tol = check_real("tol", tol, low=0.0, low_open=True)
    max_iter = 10 * n if max_iter is None else check_int("max_iter", max_iter, low=1)

    r = -b.clone() if x0 is None else matvec(x) - b
    threshold = tol * b.norm().item()
    J = lambda x, r: 0.5 * torch.dot(x, r - b).item()  # ½xᵀAx − bᵀx with Ax = r + b  # noqa: E731
    path, losses, residuals = [x.clone()], [J(x, r)], [r.norm().item()]
    d = -r
    rr = torch.dot(r, r)
    success, message = residuals[0] <= threshold, "converged: ||r|| <= tol * ||b||"
    while not success and len(path) <= max_iter:
        Ad = matvec(d)
        dAd = torch.dot(d, Ad)
        if not dAd > 0:
            message = f"stopped: A is not positive definite (d^T A d = {dAd.item():.3g})"
            break
        step = rr / dAd
        x = x + step * d
        r = r + step * Ad
        rr_new = torch.dot(r, r)
        d = -r + (rr_new / rr) * d
        rr = rr_new
        path.append(x.clone())
        losses.append(J(x, r))
        residuals.append(math.sqrt(rr.item()))
        success = residuals[-1] <= threshold
    if not success and len(path) > max_iter:
        message = MAX_ITER
    return OptimizeResult(
        x=x,
        fun=losses[-1],
        jac=r,
        nit=len(path) - 1,
        nfev=0,
        njev=0,
        nhev=0,
        path=torch.stack(path).cpu().numpy(),
        losses=np.asarray(losses),
        success=bool(success),
        message=message,
        residuals=np.asarray(residuals),
    )


def cg_beta(g: torch.Tensor, g_prev: torch.Tensor, beta: str) -> float:
    r"""The book's eq. 8.30 (Fletcher–Reeves) or eq. 8.31 (Polak–Ribière):

    .. math::

        \beta^{FR} = \frac{g_t^\top g_t}{g_{t-1}^\top g_{t-1}}, \qquad
        \beta^{PR} = \frac{(g_t - g_{t-1})^\top g_t}{g_{t-1}^\top g_{t-1}} .

    Polak–Ribière is clipped at zero, :math:`\beta^{PR+} = \max(\beta^{PR}, 0)` (Nocedal &
    Wright eq. 5.45, as in scipy): a negative value would be a poor direction, zero restarts.
    """
    denom = torch.dot(g_prev, g_prev)
    if beta == "fletcher-reeves":
        return (torch.dot(g, g) / denom).item()
    return max((torch.dot(g - g_prev, g) / denom).item(), 0.0)


def conjugate_gradient(
    f: Fn,
    x0: torch.Tensor,
    *,
    beta: str = "polak-ribiere",
    restart_every: int | None = None,
    line_search: str = "wolfe",
    gtol: float = 1e-5,
    max_iter: int = 1000,
    c1: float = 1e-4,
    c2: float = 0.1,
) -> OptimizeResult:
    r"""Minimise ``f`` from ``x0`` by nonlinear conjugate gradients (the book's Algorithm 8.9).

    Each direction mixes the new gradient with the previous direction (eq. 8.29),

    .. math::

        d_t = -g_t + \beta_t d_{t-1}, \qquad \theta_{t+1} = \theta_t + \epsilon^* d_t,

    with :math:`\beta_t` from :func:`cg_beta` (``beta``) and :math:`\epsilon^*` from the line
    search (strong Wolfe with :math:`c_2 = 0.1` by default, which keeps Fletcher–Reeves
    directions descending: Nocedal & Wright Lemma 5.6). The book writes eq. 8.29 with
    :math:`+\nabla J`; we use :math:`-g` so that :math:`d` itself points downhill.

    Restarts (:math:`\beta_t = 0`, a steepest-descent step): every ``restart_every`` iterations
    (default ``n``, Algorithm 8.9's "reset every k"), and whenever :math:`g_t^\top d_t \ge 0`.
    The first trial step is :math:`\min(1, 1.01 \cdot 2(J_t - J_{t-1})/g_t^\top d_t)` (Nocedal &
    Wright eq. 3.60), as in scipy. On a quadratic with exact line searches this is linear CG
    (:func:`linear_conjugate_gradient`). ``line_search="armijo"`` is there to be compared, not
    used: without the curvature condition the directions stop being conjugate (on 2-D
    Rosenbrock, Polak–Ribière with backtracking has not converged after 1000 iterations, with
    strong Wolfe it takes 33). Symbol map: :math:`d` = search direction (Algorithm 8.9's
    :math:`\rho`), :math:`\beta` = :func:`cg_beta`, :math:`\epsilon^*` = the line-search step.
    """
    x0 = check_problem(f, x0)
    gtol, max_iter, c1, c2 = check_common(gtol, max_iter, line_search, c1, c2)
    check_choice("beta", beta, BETAS)
    n = x0.numel()
    restart_every = n if restart_every is None else check_int("restart_every", restart_every, low=1)

    obj = Objective(f)
    p = first_point(obj, x0)
    trace = Trace(p)
    d = -p.g
    f_prev = p.f + 0.5 * p.g.norm().item()  # so the first trial step has length about 1
    since_restart = 0
    for _ in range(max_iter):
        if max_abs(p.g) <= gtol:
            return trace.result(p, obj, True, CONVERGED)
        dphi0 = torch.dot(p.g, d).item()
        if dphi0 >= 0:  # not a descent direction: restart
            d, dphi0, since_restart = -p.g, -torch.dot(p.g, p.g).item(), 0
        step0 = interpolated_step0(p.f, f_prev, dphi0)
        ls, q = line_step(obj, p, d, step0, line_search=line_search, c1=c1, c2=c2)
        if q is None:
            return trace.result(p, obj, False, line_search_failed(ls))
        since_restart += 1
        if since_restart >= restart_every:
            d, since_restart = -q.g, 0
        else:
            d = -q.g + cg_beta(q.g, p.g, beta) * d
        f_prev, p = p.f, q
        trace.append(p)
    if max_abs(p.g) <= gtol:
        return trace.result(p, obj, True, CONVERGED)
    return trace.result(p, obj, False, MAX_ITER)
