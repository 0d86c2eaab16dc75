r"""What a per-coordinate learning rate can and cannot fix (§8.5).

AdaGrad, RMSProp and Adam divide each coordinate of the gradient by its own running scale: a
*diagonal* rescaling of the problem. Written as a change of variables
:math:`\boldsymbol\theta = D^{-1/2}\boldsymbol u` with :math:`D` diagonal and positive, a quadratic
with Hessian :math:`H` becomes one with Hessian :math:`D^{-1/2} H D^{-1/2}`. When the
ill-conditioning lies along the coordinate axes (:math:`H` diagonal), the right :math:`D` removes
it entirely; when the long axis of the valley is diagonal, no diagonal :math:`D` can.

:func:`rotated_quadratic` is the test surface (a :class:`~optbook.problems.landscapes.Landscape`, so it
runs with :func:`~optbook.problems.landscapes.run_trajectory` and the race figures), and
:func:`jacobi_condition_number` measures the condition number left after the natural diagonal
rescaling, :math:`D = \operatorname{diag}(H)`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from optbook._validation import check_real
from optbook.problems.landscapes import Landscape

__all__ = ["rotated_quadratic", "rotated_quadratic_hessian", "jacobi_condition_number"]


def rotated_quadratic_hessian(kappa: float = 100.0, angle: float = 45.0) -> np.ndarray:
    r"""The Hessian :math:`H = R\,\operatorname{diag}(1/\kappa, 1)\,R^\top` of
    :func:`rotated_quadratic`, with :math:`R` the rotation by ``angle`` degrees."""
    kappa = check_real("kappa", kappa, low=1.0)
    angle = check_real("angle", angle)
    phi = math.radians(angle)
    c, s = math.cos(phi), math.sin(phi)
    R = np.array([[c, -s], [s, c]])
    return R @ np.diag([1.0 / kappa, 1.0]) @ R.T


def rotated_quadratic(kappa: float = 100.0, angle: float = 45.0) -> Landscape:
    r"""The quadratic :math:`f(\boldsymbol\theta) = \tfrac12 \boldsymbol\theta^\top H
    \boldsymbol\theta` with eigenvalues :math:`1/\kappa` and 1, its long axis turned by
    ``angle`` degrees from the :math:`x` axis.

    With :math:`u = x\cos\varphi + y\sin\varphi` and :math:`v = -x\sin\varphi + y\cos\varphi`,
    :math:`f = \tfrac12 (u^2/\kappa + v^2)`. ``angle=0`` is
    :func:`optbook.problems.landscapes.quadratic` (same function, start and window); any other angle
    has the same condition number :math:`\kappa` and the same largest curvature
    :math:`L = 1`, but a valley that no per-coordinate rescaling straightens. The start point is
    the quadratic's :math:`(-9, 2)` expressed in the rotated axes, :math:`(u, v) = (-9, 2)`, so
    every angle starts at the same distance and height.
    """
    kappa = check_real("kappa", kappa, low=1.0)
    angle = check_real("angle", angle)
    phi = math.radians(angle)
    c, s = math.cos(phi), math.sin(phi)
    ik = 1.0 / kappa

    def value_and_grad(x, y):
        u = c * x + s * y
        v = -s * x + c * y
        du, dv = ik * u, 1.0 * v  # ∂f/∂u, ∂f/∂v
        return 0.5 * (ik * u * u + v * v), c * du - s * dv, s * du + c * dv

    x0 = (c * -9.0 - s * 2.0, s * -9.0 + c * 2.0)  # (u, v) = (-9, 2) in the x, y axes
    if angle == 0.0:
        xlim, ylim = (-10.0, 10.0), (-4.0, 4.0)
    else:  # a square window around the start point and the minimum
        r = max(10.0, 1.1 * max(abs(x0[0]), abs(x0[1])))
        xlim = ylim = (-r, r)
    return Landscape(
        name=f"quadratic, κ = {kappa:g}, turned {angle:g}°",
        value_and_grad=value_and_grad,
        x0=x0,
        xlim=xlim,
        ylim=ylim,
        minimiser=(0.0, 0.0),
        lipschitz=1.0,
    )


def jacobi_condition_number(H) -> float:
    r"""The condition number of :math:`D^{-1/2} H D^{-1/2}` with :math:`D = \operatorname{diag}(H)`:
    what is left of :math:`\kappa(H)` after each coordinate is rescaled by its own curvature.

    ``H`` must be a symmetric positive definite matrix (NumPy array or tensor). For a diagonal
    :math:`H` the answer is 1; for :func:`rotated_quadratic_hessian` at 45° it is
    :math:`\kappa` itself, since both diagonal entries are equal.
    """
    if isinstance(H, torch.Tensor):
        H = H.detach().cpu().numpy()
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise ValueError(f"H must be a square matrix, got shape {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ValueError("H must be finite")
    if not np.allclose(H, H.T, rtol=1e-12, atol=1e-12 * np.abs(H).max()):
        raise ValueError("H must be symmetric")
    d = np.diag(H)
    if np.any(d <= 0):
        raise ValueError(f"H must be positive definite; its diagonal has {d[d <= 0].tolist()}")
    scaled = H / np.sqrt(np.outer(d, d))
    eig = np.linalg.eigvalsh(scaled)
    if eig[0] <= 0:
        raise ValueError(f"H must be positive definite; its smallest eigenvalue is {eig[0]:.3g}")
    return float(eig[-1] / eig[0])
