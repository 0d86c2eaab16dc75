r"""Gradient clipping (§8.2.4 and §10.11.1 of the book): by norm and by value.

Let :math:`\boldsymbol g` be the gradient (all parameters' gradients, concatenated) and
:math:`v` the threshold. **Clipping by norm** (Pascanu et al., 2013) rescales the whole
gradient when its norm is too large, keeping its direction:

.. math::

    \text{if } \lVert\boldsymbol g\rVert > v:\quad
    \boldsymbol g \leftarrow \frac{\boldsymbol g\, v}{\lVert\boldsymbol g\rVert}
    \qquad\text{(the book's eqs. 10.48–10.49).}

**Clipping by value** (Mikolov, 2012) clips each component to :math:`[-v, v]`,
:math:`g_i \leftarrow \max(-v, \min(v, g_i))`, which changes the direction of
:math:`\boldsymbol g` whenever some but not all components are clipped.

Symbol map: :math:`\boldsymbol g` = ``g`` or the parameters' ``.grad``, :math:`v` =
``max_norm`` / ``clip_value``.

* :func:`clip_by_norm` and :func:`clip_by_value` are pure: they take one array (NumPy or torch)
  and return a new one.
* :func:`clip_grad_norm_` and :func:`clip_grad_value_` act in place on the ``.grad`` of
  parameters, with the signatures of :func:`torch.nn.utils.clip_grad_norm_` and
  :func:`torch.nn.utils.clip_grad_value_`.
* :func:`clipped_gradient_descent` runs plain gradient descent, optionally clipped, on a 2-D
  :class:`~optbook.problems.landscapes.Landscape` (the cliff figures of §8.2.4);
  :func:`clipped_gradient_descent_many` runs it from many start points at once.

*Differs from* PyTorch: :func:`torch.nn.utils.clip_grad_norm_` multiplies by
:math:`\min(1, v / (\lVert\boldsymbol g\rVert + 10^{-6}))`; the book's formula has no
:math:`10^{-6}`. Our ``eps`` defaults to 0 (the book); pass ``eps=1e-6`` to reproduce PyTorch
bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from optbook._validation import check_bool, check_int, check_real
from optbook.problems.landscapes import Landscape, Trajectory

__all__ = [
    "clip_by_norm",
    "clip_by_value",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clipped_gradient_descent",
    "clipped_gradient_descent_many",
]


def _check_norm_type(norm_type) -> float:
    if isinstance(norm_type, str) and norm_type == "inf":
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, int | float):
        raise TypeError(f"norm_type must be a real number >= 1 or inf, got {norm_type!r}")
    norm_type = float(norm_type)
    if math.isnan(norm_type) or norm_type < 1.0:
        raise ValueError(f"norm_type must be >= 1 or inf, got {norm_type!r}")
    return norm_type


def _check_array(g):
    if isinstance(g, torch.Tensor):
        if not g.is_floating_point():
            raise TypeError(f"g must be a floating-point tensor, got dtype {g.dtype}")
        return g
    if isinstance(g, np.ndarray):
        if not np.issubdtype(g.dtype, np.floating):
            raise TypeError(f"g must be a floating-point array, got dtype {g.dtype}")
        return g
    raise TypeError(f"g must be a torch.Tensor or numpy.ndarray, got {type(g).__name__}")


def clip_by_norm(g, max_norm: float, *, norm_type: float = 2.0, eps: float = 0.0, axis: int | None = None):
    r""":math:`\boldsymbol g\,\min\bigl(1, v / (\lVert\boldsymbol g\rVert_p + \text{eps})\bigr)`, a new
    array of the same type as ``g`` (``torch.Tensor`` or ``numpy.ndarray``).

    With ``eps = 0`` this is the book's eqs. 10.48–10.49: ``g`` is returned unchanged (as a
    copy) when :math:`\lVert\boldsymbol g\rVert_p \le v`, and rescaled to norm :math:`v`
    otherwise, direction kept. ``norm_type`` :math:`p` may be any real :math:`\ge 1` or
    ``math.inf``. With ``axis=None`` the norm is over all of ``g``; with an integer ``axis``
    each slice along that axis is clipped separately (e.g. ``axis=-1`` clips every row of a
    batch of gradients on its own). A non-finite norm gives a non-finite result (as in
    PyTorch); check for it if it matters.
    """
    g = _check_array(g)
    max_norm = check_real("max_norm", max_norm, low=0.0, low_open=True)
    norm_type = _check_norm_type(norm_type)
    eps = check_real("eps", eps, low=0.0)
    if axis is not None:
        axis = check_int("axis", axis, low=-g.ndim, high=g.ndim - 1)
    if isinstance(g, torch.Tensor):
        if axis is None:
            total = torch.linalg.vector_norm(g, norm_type)
        else:
            total = torch.linalg.vector_norm(g, norm_type, dim=axis, keepdim=True)
        return g * torch.clamp(max_norm / (total + eps), max=1.0)
    if axis is None:
        total = np.linalg.norm(g.ravel(), norm_type) if g.size else 0.0
    else:
        total = np.linalg.norm(g, norm_type, axis=axis, keepdims=True)
    # min(1, v / (||g|| + eps)); for ||g|| = 0 and eps = 0 the ratio is +inf and the min is 1.
    with np.errstate(divide="ignore"):
        coef = np.minimum(1.0, max_norm / (np.asarray(total, dtype=np.float64) + eps))
    return g * coef


def clip_by_value(g, clip_value: float):
    r"""Each component clipped to :math:`[-v, v]`, a new array of the same type as ``g``.

    Unlike :func:`clip_by_norm` this changes the direction of :math:`\boldsymbol g` as soon as
    some, but not all, components exceed :math:`v`.
    """
    g = _check_array(g)
    clip_value = check_real("clip_value", clip_value, low=0.0, low_open=True)
    if isinstance(g, torch.Tensor):
        return g.clamp(-clip_value, clip_value)
    return np.clip(g, -clip_value, clip_value)


def _grads(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    if not isinstance(parameters, Iterable):
        raise TypeError(f"parameters must be a tensor or an iterable of tensors, got {parameters!r}")
    params = list(parameters)
    for p in params:
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"parameters must hold tensors, got {p!r}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    *,
    eps: float = 0.0,
    error_if_nonfinite: bool = False,
) -> torch.Tensor:
    r"""Clip, in place, the gradients of ``parameters`` by their *joint* norm; return that norm.

    The norm is over all gradients concatenated,
    :math:`\lVert\boldsymbol g\rVert_p = \bigl\lVert(\lVert\boldsymbol g_1\rVert_p, \dots,
    \lVert\boldsymbol g_n\rVert_p)\bigr\rVert_p`, and every gradient is multiplied by the same
    :math:`\min(1, v/(\lVert\boldsymbol g\rVert_p + \text{eps}))`, so the update keeps its
    direction (Pascanu et al., 2013). Parameters without a gradient are skipped.

    Returns the norm *before* clipping, as a 0-d tensor, like
    :func:`torch.nn.utils.clip_grad_norm_`. With ``error_if_nonfinite`` a NaN or infinite norm
    raises :class:`RuntimeError`; otherwise the gradients become non-finite, as in PyTorch.
    """
    max_norm = check_real("max_norm", max_norm, low=0.0, low_open=True)
    norm_type = _check_norm_type(norm_type)
    eps = check_real("eps", eps, low=0.0)
    error_if_nonfinite = check_bool("error_if_nonfinite", error_if_nonfinite)
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g.detach(), norm_type) for g in grads])
    total = torch.linalg.vector_norm(norms, norm_type)
    if error_if_nonfinite and not torch.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total.item()}")
    coef = torch.clamp(max_norm / (total + eps), max=1.0)
    for g in grads:
        g.detach().mul_(coef.to(g.dtype))
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    r"""Clip, in place, every component of the gradients of ``parameters`` to :math:`[-v, v]`."""
    clip_value = check_real("clip_value", clip_value, low=0.0, low_open=True)
    for g in _grads(parameters):
        g.detach().clamp_(-clip_value, clip_value)


def clipped_gradient_descent(
    landscape: Landscape,
    lr: float,
    steps: int,
    x0: tuple[float, float] | None = None,
    *,
    max_norm: float | None = None,
    clip_value: float | None = None,
    escape_radius: float = 1e3,
) -> Trajectory:
    r"""Gradient descent :math:`\boldsymbol\theta \leftarrow \boldsymbol\theta - \epsilon\,
    \mathrm{clip}(\boldsymbol g)` on a 2-D landscape, in float64 NumPy (fast enough for sliders).

    ``max_norm`` clips by norm (:func:`clip_by_norm`), ``clip_value`` by value
    (:func:`clip_by_value`); give at most one, or neither for plain gradient descent. Like
    :func:`optbook.problems.landscapes.run_trajectory`, the run stops early, with ``diverged_at`` set,
    when the iterate or the loss stops being finite, or the iterate runs farther than
    ``escape_radius`` window sizes from the window's centre.
    """
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {landscape!r}")
    lr = check_real("lr", lr, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=0)
    escape_radius = check_real("escape_radius", escape_radius, low=0.0, low_open=True)
    if max_norm is not None and clip_value is not None:
        raise ValueError(f"give max_norm or clip_value, not both (got {max_norm!r} and {clip_value!r})")
    if max_norm is not None:
        max_norm = check_real("max_norm", max_norm, low=0.0, low_open=True)
    if clip_value is not None:
        clip_value = check_real("clip_value", clip_value, low=0.0, low_open=True)
    start = landscape.x0 if x0 is None else x0
    theta = np.asarray(start, dtype=np.float64)
    if theta.shape != (2,) or not np.isfinite(theta).all():
        raise ValueError(f"x0 must be a finite point (x, y), got {start!r}")

    cx, cy = sum(landscape.xlim) / 2, sum(landscape.ylim) / 2
    size = max(landscape.xlim[1] - landscape.xlim[0], landscape.ylim[1] - landscape.ylim[0])
    limit = escape_radius * size
    vg = landscape.value_and_grad
    path = np.empty((steps + 1, 2))
    losses = np.empty(steps + 1)
    path[0] = theta
    diverged_at = None
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps + 1):
            f, gx, gy = vg(float(theta[0]), float(theta[1]))
            losses[k] = f
            if not math.isfinite(f):
                diverged_at = k
                break
            if k == steps:
                break
            g = np.array((gx, gy))
            if max_norm is not None:
                g = clip_by_norm(g, max_norm)
            elif clip_value is not None:
                g = clip_by_value(g, clip_value)
            theta = theta - lr * g
            if not np.isfinite(theta).all() or math.hypot(theta[0] - cx, theta[1] - cy) > limit:
                diverged_at = k + 1
                break
            path[k + 1] = theta
    n = diverged_at if diverged_at is not None else steps + 1
    return Trajectory(path=path[:n].copy(), losses=losses[:n].copy(), diverged_at=diverged_at)


def clipped_gradient_descent_many(
    landscape: Landscape,
    lr: float,
    steps: int,
    starts,
    *,
    max_norm: float | None = None,
    clip_value: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r""":func:`clipped_gradient_descent` from many start points at once, vectorised over runs.

    ``starts`` has shape ``(n, 2)``. Returns ``paths`` of shape ``(steps + 1, n, 2)`` and
    ``losses`` of shape ``(steps + 1, n)``; clipping by norm acts on each run's own gradient.
    A run whose iterate or loss stops being finite is frozen there: its later entries are NaN.
    No escape test: every finite run takes all ``steps`` steps.
    """
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {landscape!r}")
    lr = check_real("lr", lr, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=0)
    if max_norm is not None and clip_value is not None:
        raise ValueError(f"give max_norm or clip_value, not both (got {max_norm!r} and {clip_value!r})")
    theta = np.array(starts, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[1] != 2 or not np.isfinite(theta).all():
        raise ValueError(f"starts must be finite points of shape (n, 2), got shape {theta.shape}")
    if max_norm is not None:
        max_norm = check_real("max_norm", max_norm, low=0.0, low_open=True)
    if clip_value is not None:
        clip_value = check_real("clip_value", clip_value, low=0.0, low_open=True)
    vg = landscape.value_and_grad
    paths = np.full((steps + 1, len(theta), 2), np.nan)
    losses = np.full((steps + 1, len(theta)), np.nan)
    alive = np.ones(len(theta), dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps + 1):
            f, gx, gy = vg(theta[:, 0], theta[:, 1])
            alive &= np.isfinite(f) & np.isfinite(theta).all(axis=1)
            paths[k, alive] = theta[alive]
            losses[k, alive] = f[alive]
            if k == steps or not alive.any():
                break
            g = np.stack([gx, gy], axis=1)
            if max_norm is not None:
                g = clip_by_norm(g, max_norm, axis=1)
            elif clip_value is not None:
                g = clip_by_value(g, clip_value)
            theta = np.where(alive[:, None], theta - lr * g, theta)
    return paths, losses
