r"""Coordinate descent (§8.7.2): minimise over one coordinate at a time, holding the others fixed.

For the quadratic :math:`J(\theta) = \tfrac12 \theta^\top A \theta - b^\top \theta` with
symmetric positive definite :math:`A`, the exact minimum along coordinate :math:`i` is

.. math::

    \theta_i \leftarrow \frac{1}{A_{ii}} \Bigl( b_i - \sum_{j \ne i} A_{ij} \theta_j \Bigr),

and one cyclic sweep over :math:`i = 1, \dots, n` is a Gauss–Seidel iteration for
:math:`A\theta = b`. When :math:`A` is diagonal the coordinates decouple and one sweep solves
the problem; the more they are coupled, the smaller each move. For the 2-D quadratic with unit
curvatures and correlation :math:`\rho` (:func:`correlated_quadratic`) each sweep multiplies
the error by exactly :math:`\rho^2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from optbook._validation import check_int, check_real

__all__ = ["CoordinatePath", "coordinate_descent", "correlated_quadratic"]


@dataclass(frozen=True)
class CoordinatePath:
    """``path[k]`` is :math:`\\theta` after ``k`` single-coordinate updates (``path[0]`` the
    start), shape ``(sweeps * n + 1, n)``; ``losses`` is :math:`J` along it; ``coords[k - 1]``
    the coordinate changed by update ``k``."""

    path: np.ndarray
    losses: np.ndarray
    coords: np.ndarray

    def sweep_ends(self) -> np.ndarray:
        """The iterates after each full sweep, ``path[::n]``."""
        n = self.path.shape[1]
        return self.path[::n]


def correlated_quadratic(rho: float) -> tuple[np.ndarray, np.ndarray]:
    r"""``(A, b)`` for :math:`A = \begin{pmatrix} 1 & \rho \\ \rho & 1 \end{pmatrix}`,
    :math:`b = 0`: minimum at the origin, condition number :math:`(1 + |\rho|)/(1 - |\rho|)`.

    The book's example :math:`(x_1 - x_2)^2 + \alpha (x_1^2 + x_2^2)` is this quadratic scaled
    by :math:`2(1 + \alpha)`, with :math:`\rho = -1/(1 + \alpha)`."""
    rho = check_real("rho", rho, low=-1.0, high=1.0, low_open=True, high_open=True)
    return np.array([[1.0, rho], [rho, 1.0]]), np.zeros(2)


def coordinate_descent(
    A,
    b,
    x0,
    sweeps: int,
    *,
    order: str = "cyclic",
    generator: torch.Generator | None = None,
) -> CoordinatePath:
    """Exact coordinate minimisation of :math:`\\tfrac12\\theta^\\top A\\theta - b^\\top\\theta`.

    Args:
        A: symmetric positive definite ``(n, n)`` array (numpy or torch).
        b: ``(n,)``.
        x0: the start, ``(n,)``.
        sweeps: number of sweeps of ``n`` updates each.
        order: ``"cyclic"`` (:math:`1, \\dots, n` every sweep: Gauss–Seidel) or ``"random"``
            (a fresh random permutation per sweep, drawn from ``generator``).
        generator: a seeded :class:`torch.Generator`, required for ``order="random"``.
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    x = np.array(x0, dtype=np.float64)
    n = b.size
    if b.ndim != 1 or n == 0:
        raise ValueError(f"b must be a non-empty 1-D array, got shape {b.shape}")
    if A.shape != (n, n):
        raise ValueError(f"A must have shape ({n}, {n}) to match b, got {A.shape}")
    if x.shape != (n,):
        raise ValueError(f"x0 must have shape ({n},), got {x.shape}")
    if not (np.isfinite(A).all() and np.isfinite(b).all() and np.isfinite(x).all()):
        raise ValueError("A, b and x0 must be finite")
    if not np.allclose(A, A.T, rtol=1e-12, atol=0.0):
        raise ValueError(f"A must be symmetric, got max |A - A^T| = {np.abs(A - A.T).max():.3g}")
    lam_min = np.linalg.eigvalsh(A).min()
    if lam_min <= 0:
        raise ValueError(f"A must be positive definite, got smallest eigenvalue {lam_min:.3g}")
    sweeps = check_int("sweeps", sweeps, low=0)
    if order not in ("cyclic", "random"):
        raise ValueError(f"order must be 'cyclic' or 'random', got {order!r}")
    if order == "random" and not isinstance(generator, torch.Generator):
        raise TypeError(f"order='random' needs a torch.Generator, got {generator!r}")

    path = np.empty((sweeps * n + 1, n))
    path[0] = x
    coords = np.empty(sweeps * n, dtype=np.int64)
    k = 0
    for _ in range(sweeps):
        sweep = range(n) if order == "cyclic" else torch.randperm(n, generator=generator).tolist()
        for i in sweep:
            # b_i − Σ_{j≠i} A_ij θ_j = b_i − (Aθ)_i + A_ii θ_i
            x[i] = (b[i] - A[i] @ x + A[i, i] * x[i]) / A[i, i]
            k += 1
            path[k] = x
            coords[k - 1] = i
    losses = 0.5 * np.einsum("ki,ij,kj->k", path, A, path) - path @ b
    return CoordinatePath(path=path, losses=losses, coords=coords)
