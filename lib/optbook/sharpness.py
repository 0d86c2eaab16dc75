r"""Sharpness: the largest eigenvalue of the Hessian of the loss, from Hessian-vector products
(§8.8, the edge of stability).

Nothing here forms the Hessian. :func:`hessian_vector_product` differentiates the gradient
once more along a vector (Pearlmutter 1994: "double backprop"), which costs about two
gradient evaluations; :func:`top_hessian_eigenvalue` runs the Lanczos iteration on those
products. Symbols: :math:`J(\boldsymbol\theta)` the loss, :math:`\boldsymbol H =
\nabla^2_{\boldsymbol\theta} J` its Hessian, :math:`\lambda_{\max}` its largest eigenvalue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from ._validation import check_int, check_real

__all__ = ["hessian_vector_product", "top_hessian_eigenvalue", "top_hessian_eigenpair"]


def _check_params(params) -> list[torch.Tensor]:
    if isinstance(params, torch.Tensor):
        params = [params]
    if not isinstance(params, Iterable):
        raise TypeError(f"params must be a tensor or an iterable of tensors, got {params!r}")
    params = list(params)
    if not params:
        raise ValueError("params is empty: there is nothing to differentiate")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"params[{i}] must be a tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"params[{i}] (shape {tuple(p.shape)}) does not require grad")
    return params


def _gradient_with_graph(loss_fn, params):
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (returning the loss), got {loss_fn!r}")
    with torch.enable_grad():
        loss = loss_fn()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn() must return a scalar tensor, got {shape}")
    if not torch.isfinite(loss).all():
        raise ValueError(f"loss_fn() returned {loss.item()}: the Hessian of a non-finite loss is undefined")
    if not loss.requires_grad:
        return [None] * len(params)
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    return [g if g is not None and g.requires_grad else None for g in grads]


def _hvp_from_grads(grads, params, pieces, retain_graph=True):
    """H v from gradients built with ``create_graph=True``; ``pieces`` is v split like params."""
    live = [i for i, g in enumerate(grads) if g is not None]
    out = [torch.zeros_like(p) for p in params]
    if not live:
        return out  # the gradient is constant: H = 0
    hv = torch.autograd.grad(
        [grads[i] for i in live],
        params,
        grad_outputs=[pieces[i] for i in live],
        retain_graph=retain_graph,
        allow_unused=True,
    )
    return [h if h is not None else z for h, z in zip(hv, out, strict=True)]


def hessian_vector_product(loss_fn: Callable[[], torch.Tensor], params, v):
    r"""The Hessian of ``loss_fn()`` at ``params``, times ``v``: :math:`\boldsymbol H\boldsymbol v
    = \nabla_{\boldsymbol\theta}\bigl(\nabla_{\boldsymbol\theta} J \cdot \boldsymbol v\bigr)`.

    ``loss_fn()`` returns the scalar loss computed from ``params`` (tensors with
    ``requires_grad``). ``v`` is either one flat tensor with as many entries as all ``params``
    together (then a flat tensor is returned) or a sequence of tensors shaped like ``params``
    (then a tuple is returned). The parameters' ``.grad`` are not touched. Costs one gradient
    with ``create_graph=True`` and one more backward pass; to multiply many vectors at the same
    point, :func:`top_hessian_eigenvalue` keeps the first part.
    """
    params = _check_params(params)
    n = sum(p.numel() for p in params)
    flat = isinstance(v, torch.Tensor)
    if flat:
        if v.ndim != 1 or v.numel() != n:
            raise ValueError(
                f"v must have {n} entries (all params flattened), got shape {tuple(v.shape)}"
            )
        chunks = v.split([p.numel() for p in params])
        pieces = [piece.view_as(p) for piece, p in zip(chunks, params, strict=True)]
    else:
        pieces = list(v)
        shapes = [tuple(p.shape) for p in params]
        if len(pieces) != len(params) or any(
            not isinstance(x, torch.Tensor) or tuple(x.shape) != s
            for x, s in zip(pieces, shapes, strict=False)
        ):
            got = [tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__ for x in pieces]
            raise ValueError(f"v must be tensors shaped like params {shapes}, got {got}")
    grads = _gradient_with_graph(loss_fn, params)
    hv = _hvp_from_grads(grads, params, pieces, retain_graph=False)
    return torch.cat([h.reshape(-1) for h in hv]) if flat else tuple(hv)


def top_hessian_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params,
    iters: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
) -> float:
    r"""The largest eigenvalue :math:`\lambda_{\max}` of the Hessian of ``loss_fn()`` at
    ``params``, by the Lanczos iteration on Hessian-vector products.

    **Which eigenvalue.** The largest *algebraic* one, :math:`\lambda_{\max} = \max_i
    \lambda_i` (not the largest in absolute value). This is the sharpness of the edge of
    stability (Cohen et al. 2021): gradient descent with step :math:`\epsilon` is stable on a
    quadratic iff :math:`\lambda_{\max} < 2/\epsilon`. Near a minimum the Hessian is nearly
    positive semi-definite and the two notions agree; far from one, a large negative eigenvalue
    is *not* returned (the tests check this).

    **Method.** Lanczos builds an orthonormal basis :math:`q_1, \dots, q_j` of the Krylov space
    :math:`\mathrm{span}\{q_1, Hq_1, \dots, H^{j-1}q_1\}` from a seeded random start and the
    tridiagonal :math:`T_j = Q_j^\top H Q_j`; the largest eigenvalue :math:`\vartheta` of
    :math:`T_j` (a Ritz value) is :math:`\le \lambda_{\max}` and converges to it from below,
    typically in far fewer products than power iteration needs (and without the shift power
    iteration would need to avoid a negative eigenvalue of larger magnitude). Each new vector is
    re-orthogonalised against all previous ones (twice), so rounding cannot produce spurious
    copies of converged eigenvalues. The iteration stops when the residual
    :math:`\lVert H y - \vartheta y\rVert = \beta_j |s_j|` of the Ritz pair is at most
    ``tol`` :math:`\cdot|\vartheta|` (then :math:`\vartheta` is within that residual of an
    eigenvalue, and much closer when the top eigenvalue is well separated), when the Krylov
    space is exhausted (:math:`\beta_j = 0`: :math:`\vartheta` is exact), or after ``iters``
    products.

    The gradient is built once with ``create_graph=True`` and reused for every product, so a
    call costs one gradient plus one backward pass per iteration. Vectors live in the
    parameters' dtype; the small tridiagonal problem is solved in float64.

    Args:
        loss_fn: called once with no argument; returns the scalar loss computed from
            ``params`` (e.g. a full-batch loss of a model).
        params: a tensor or an iterable of tensors with ``requires_grad`` (e.g.
            ``model.parameters()``).
        iters: the most Hessian-vector products (Lanczos steps), :math:`\ge 1`; capped at the
            number of parameters.
        tol: relative residual at which to stop, :math:`> 0`.
        seed: seeds the random starting vector (a ``torch.Generator``; the global RNG is not
            touched).

    Returns:
        :math:`\lambda_{\max}` as a Python float (0.0 if the loss does not depend on ``params``
        or is linear in them).
    """
    return top_hessian_eigenpair(loss_fn, params, iters, tol, seed)[0]


def top_hessian_eigenpair(
    loss_fn: Callable[[], torch.Tensor],
    params,
    iters: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
    *,
    init: torch.Tensor | None = None,
) -> tuple[float, torch.Tensor]:
    r""":func:`top_hessian_eigenvalue` and its unit eigenvector (the Ritz vector, flat, in the
    parameters' dtype, ordered like ``torch.cat([p.reshape(-1) for p in params])``).

    ``init`` (optional) is the starting vector instead of a random one, e.g. the eigenvector
    returned a few training steps earlier: the top eigenvector moves slowly along a gradient
    descent trajectory, so a warm start converges in a few products instead of a dozen or more.
    ``seed`` is then unused.
    """
    params = _check_params(params)
    iters = check_int("iters", iters, low=1)
    tol = check_real("tol", tol, low=0.0, low_open=True)
    seed = check_int("seed", seed)
    sizes = [p.numel() for p in params]
    n = sum(sizes)
    dtype, device = params[0].dtype, params[0].device
    grads = _gradient_with_graph(loss_fn, params)
    if all(g is None for g in grads):
        q = torch.zeros(n, dtype=dtype, device=device)
        q[0] = 1.0
        return 0.0, q  # H = 0: every vector is an eigenvector

    def hvp(x: torch.Tensor) -> torch.Tensor:
        pieces = [piece.view_as(p).to(p.dtype) for piece, p in zip(x.split(sizes), params, strict=True)]
        hv = _hvp_from_grads(grads, params, pieces)
        return torch.cat([h.reshape(-1).to(dtype) for h in hv])

    if init is None:
        gen = torch.Generator().manual_seed(seed)
        q = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)
    else:
        if not isinstance(init, torch.Tensor) or init.ndim != 1 or init.numel() != n:
            got = tuple(init.shape) if isinstance(init, torch.Tensor) else type(init).__name__
            raise ValueError(f"init must be a flat tensor of {n} entries (all params), got {got}")
        q = init.detach().to(dtype=dtype, device=device, copy=True)
        if not torch.isfinite(q).all() or not q.any():
            raise ValueError("init must be finite and not zero")
    q /= torch.linalg.vector_norm(q)
    Q = torch.empty(min(iters, n) + 1, n, dtype=dtype, device=device)
    Q[0] = q
    alphas: list[float] = []
    betas: list[float] = []
    top, s_top = 0.0, None
    with torch.no_grad():
        for j in range(min(iters, n)):
            w = hvp(Q[j])
            alpha = float(torch.dot(w, Q[j]))
            if not math.isfinite(alpha):
                raise ValueError(
                    f"a Hessian-vector product is not finite (q^T H q = {alpha}); the loss is "
                    "finite but its curvature overflows (diverging weights?)"
                )
            w.sub_(Q[j], alpha=alpha)
            if j > 0:
                w.sub_(Q[j - 1], alpha=betas[-1])
            basis = Q[: j + 1]
            for _ in range(2):  # full re-orthogonalisation, twice ("twice is enough")
                w.sub_(basis.T @ (basis @ w))
            beta = float(torch.linalg.vector_norm(w))
            alphas.append(alpha)
            T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
            if betas:
                off = torch.tensor(betas, dtype=torch.float64)
                T += torch.diag(off, 1) + torch.diag(off, -1)
            ritz, vectors = torch.linalg.eigh(T)
            top, s_top = float(ritz[-1]), vectors[:, -1]
            residual = beta * abs(float(vectors[-1, -1]))
            scale = max(abs(top), float(ritz.abs().max()), math.ulp(1.0))
            exhausted = beta <= 10 * torch.finfo(dtype).eps * scale  # an invariant subspace
            if residual <= tol * max(abs(top), math.ulp(1.0)) or exhausted:
                break
            betas.append(beta)
            Q[j + 1] = w / beta
        y = s_top.to(dtype=dtype, device=device) @ Q[: len(alphas)]
        y /= torch.linalg.vector_norm(y)
    return top, y
