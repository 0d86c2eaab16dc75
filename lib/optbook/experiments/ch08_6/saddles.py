r"""Where Newton's method goes (§8.6.1): a surface with two minima and a saddle, Newton's
iteration run from thousands of starts at once, and the stationary point each run reaches.

The test surface is :func:`optbook.problems.landscapes.double_well`. :func:`newton_paths` runs
the pure, damped or saddle-free Newton step of :func:`optbook.second_order.newton_directions`
from a whole batch of 2-D starts in one set of tensor operations (gradients and Hessians by autograd), so a
basin-of-attraction map or a slider costs milliseconds. :func:`nearest_stationary` labels the
end points. Computation only: drawing is left to the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from optbook._validation import check_bool, check_int, check_real
from optbook.problems.landscapes import Landscape
from optbook.second_order.newton import newton_directions

__all__ = ["StationaryPoint", "double_well_points", "newton_paths", "nearest_stationary"]


@dataclass(frozen=True)
class StationaryPoint:
    """A point where :math:`\\nabla f = 0`, and its kind ("minimum", "saddle" or "maximum")."""

    x: float
    y: float
    kind: str


def double_well_points(coupling: float = 0.5) -> list[StationaryPoint]:
    """The stationary points of :func:`double_well` (for any ``stiffness``): the two minima, then
    the saddle."""
    c = check_real("coupling", coupling)
    return [StationaryPoint(-1.0, -c, "minimum"), StationaryPoint(1.0, c, "minimum"),
            StationaryPoint(0.0, 0.0, "saddle")]


def _gradient_and_hessian(landscape: Landscape, pts: torch.Tensor):
    """:math:`g` (N, 2) and :math:`H` (N, 2, 2) at each row of ``pts``, by autograd.

    ``f`` acts row by row, so the gradient of the *sum* over rows is each row's gradient, and
    differentiating its two columns once more gives the Hessians' two rows."""
    with torch.enable_grad():
        x = pts.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(landscape.f(x).sum(), x, create_graph=True)
        rows = []
        for i in range(2):
            if g.requires_grad:
                (h,) = torch.autograd.grad(g[:, i].sum(), x, retain_graph=i == 0, allow_unused=True)
            else:
                h = None
            rows.append(torch.zeros_like(x) if h is None else h)
    return g.detach(), torch.stack(rows, dim=1)


def newton_paths(
    landscape: Landscape,
    starts,
    steps: int,
    *,
    damping=0.0,
    saddle_free: bool = False,
    escape_radius: float = 1e3,
) -> np.ndarray:
    r"""Newton's iteration :math:`\theta \leftarrow \theta - (B + \alpha I)^{-1} g` from every start.

    The step is :func:`optbook.second_order.newton_directions`, on every start at once;
    :math:`B = H` (pure Newton when :math:`\alpha` = ``damping`` is 0, the book's eq. 8.27;
    damped Newton, eq. 8.28, otherwise) or :math:`B = |H| = V|\Lambda|V^\top` when
    ``saddle_free`` (Dauphin et al., 2014). The step length is always 1: no line search, which
    is what makes pure Newton jump to *any* stationary point of its quadratic model. Each row
    is the same iteration as :func:`optbook.second_order.newton` with ``line_search=None``.

    Args:
        landscape: a 2-D :class:`~optbook.problems.landscapes.Landscape`.
        starts: shape ``(N, 2)`` (or ``(2,)`` for one start).
        steps: iterations.
        damping: :math:`\alpha \ge 0`, one number for every start or one per start (shape
            ``(N,)``), so that a whole slider's range of damping values runs in one call.
        saddle_free: use :math:`|H|`.
        escape_radius: a run stops (its remaining entries are NaN) when :math:`B + \alpha I` is
            singular, the step is not finite, or the iterate is farther than this many window
            sizes from the window's centre.

    Returns:
        the iterates, shape ``(steps + 1, N, 2)`` (float64); ``[0]`` holds the starts. A run
        whose step has become negligible (:math:`\lVert d\rVert \le 10^{-15}(1 +
        \lVert\theta\rVert)`, i.e. it has converged to rounding level) is not iterated further:
        its remaining entries repeat its last point, which saves the work once most runs have
        converged.
    """
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {landscape!r}")
    pts = torch.as_tensor(np.asarray(starts, dtype=np.float64))
    if pts.ndim == 1:
        pts = pts[None]
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise ValueError(f"starts must have shape (N, 2), got {tuple(pts.shape)}")
    if not torch.isfinite(pts).all():
        raise ValueError("starts must be finite")
    steps = check_int("steps", steps, low=0)
    alpha = _check_damping(damping, pts.shape[0])
    saddle_free = check_bool("saddle_free", saddle_free)
    escape_radius = check_real("escape_radius", escape_radius, low=0.0, low_open=True)

    centre = torch.tensor([sum(landscape.xlim) / 2, sum(landscape.ylim) / 2], dtype=torch.float64)
    size = max(landscape.xlim[1] - landscape.xlim[0], landscape.ylim[1] - landscape.ylim[0])
    out = torch.full((steps + 1, *pts.shape), torch.nan, dtype=torch.float64)
    out[0] = pts
    alive = torch.ones(pts.shape[0], dtype=torch.bool)
    for k in range(1, steps + 1):
        if not alive.any():
            break
        x = out[k - 1][alive]
        g, H = _gradient_and_hessian(landscape, x)
        d, ok = newton_directions(g, H, damping=alpha[alive], saddle_free=saddle_free)
        x_new = x + d
        near = (x_new - centre).norm(dim=1) <= escape_radius * size
        ok = ok & torch.isfinite(x_new).all(1) & near
        idx = alive.nonzero().squeeze(1)
        out[k, idx[ok]] = x_new[ok]
        done = ok & (d.norm(dim=1) <= 1e-15 * (1.0 + x.norm(dim=1)))
        out[k + 1 :, idx[done]] = x_new[done]
        alive[idx[~ok | done]] = False
    return out.numpy()


def _check_damping(damping, n: int) -> torch.Tensor:
    """The damping as a tensor of shape ``(n,)``: one number broadcast, or one per start."""
    if np.ndim(damping) == 0:
        return torch.full((n,), check_real("damping", damping, low=0.0), dtype=torch.float64)
    try:
        alpha = np.asarray(damping, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"damping must be a number or an array of numbers, got {damping!r}") from err
    if alpha.shape != (n,):
        raise ValueError(
            f"damping must be one number or one per start, shape ({n},); got shape {alpha.shape}")
    bad = ~np.isfinite(alpha) | (alpha < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"damping must be finite and >= 0, got {float(alpha[i])!r} at index {i}")
    return torch.from_numpy(alpha.copy())


def nearest_stationary(ends, points: list[StationaryPoint], radius: float = 1e-3) -> np.ndarray:
    """For each end point (shape ``(N, 2)``), the index in ``points`` of the stationary point
    within ``radius`` of it, or -1 (still on its way, or stopped: NaN)."""
    ends = np.asarray(ends, dtype=np.float64)
    if ends.ndim != 2 or ends.shape[1] != 2:
        raise ValueError(f"ends must have shape (N, 2), got {ends.shape}")
    radius = check_real("radius", radius, low=0.0, low_open=True)
    if not points:
        raise ValueError("points must name at least one stationary point")
    P = np.array([(p.x, p.y) for p in points])
    dist = np.linalg.norm(ends[:, None, :] - P[None], axis=2)
    dist = np.where(np.isnan(dist), np.inf, dist)
    label = dist.argmin(1)
    return np.where(dist.min(1) <= radius, label, -1)
