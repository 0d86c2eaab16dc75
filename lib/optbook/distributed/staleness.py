r"""Stale gradients: gradient descent on a quadratic when each gradient is :math:`\tau` steps old.

In asynchronous SGD (Downpour, Dean et al. 2012) a worker reads the parameters, computes a
gradient, and by the time it is applied the server has taken the other workers' steps: with
:math:`p` workers taking turns the gradient is :math:`\tau = p - 1` steps stale. On the quadratic
:math:`f(\theta) = \tfrac12 (\theta - \theta^*)^\top H (\theta - \theta^*)` this is

.. math::

    \theta_{t+1} = \theta_t - \epsilon H (\theta_{t-\tau} - \theta^*), \qquad
    \theta_s = \theta_0 \text{ for } s < 0.

Along an eigenvector of :math:`H` with eigenvalue :math:`h` the error obeys the scalar
recursion :math:`e_{t+1} = e_t - \epsilon h\, e_{t-\tau}`, whose characteristic polynomial is
:math:`z^{\tau+1} - z^\tau + \epsilon h`. All its roots lie inside the unit circle exactly when

.. math::

    0 < \epsilon h < 2 \sin\!\Big(\frac{\pi}{2(2\tau + 1)}\Big)

(:func:`stale_stability_threshold`; 2 for :math:`\tau = 0`, 1 for :math:`\tau = 1`, and about
:math:`\pi / (2\tau)` for large :math:`\tau`): staleness shrinks the usable learning rate
roughly in proportion to :math:`1/\tau`. At the threshold a pair of roots crosses the unit circle
at :math:`z = e^{\pm i\pi/(2\tau+1)}`, so a run just past it oscillates with a period of
:math:`2(2\tau+1)` steps while it grows.

Symbol map: :math:`\epsilon` = ``lr``, :math:`\tau` = ``taus``, :math:`H` = ``hessian``,
:math:`\theta^*` = ``theta_star``, :math:`\theta_0` = ``theta0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_real

__all__ = ["StaleRuns", "stale_gradient_descent", "stale_stability_threshold"]


def stale_stability_threshold(tau) -> np.ndarray:
    r"""The largest stable :math:`\epsilon h` for delay :math:`\tau`: :math:`2\sin(\pi / (2(2\tau+1)))`.

    ``tau`` may be an array of non-negative integers; the result has its shape.
    """
    tau = np.asarray(tau)
    if not np.issubdtype(tau.dtype, np.integer) or (tau < 0).any():
        raise ValueError(f"tau must be non-negative integers, got {tau!r}")
    return 2.0 * np.sin(np.pi / (2.0 * (2.0 * tau + 1.0)))


@dataclass(frozen=True)
class StaleRuns:
    """Trajectories of :func:`stale_gradient_descent`, one per delay.

    Attributes:
        taus: the delays, shape ``(k,)``.
        thetas: ``thetas[j, t]`` is :math:`\\theta_t` for delay ``taus[j]``, shape ``(k, steps + 1, d)``.
        losses: :math:`f(\\theta_t)`, shape ``(k, steps + 1)`` (``inf`` once a run overflows).
        lr: the learning rate.
    """

    taus: np.ndarray
    thetas: np.ndarray
    losses: np.ndarray
    lr: float


def stale_gradient_descent(hessian, theta0, *, lr: float, taus, steps: int, theta_star=None) -> StaleRuns:
    r"""Run :math:`\theta_{t+1} = \theta_t - \epsilon H(\theta_{t-\tau} - \theta^*)` for every delay at once.

    All delays in ``taus`` advance together, one vectorised step at a time (a slider over
    :math:`\tau` only looks up). ``hessian`` is a symmetric ``(d, d)`` array (or a scalar for
    :math:`d = 1`), ``theta0`` the start (shape ``(d,)`` or a scalar), ``theta_star`` the minimiser
    (zero by default). Computed in float64 with numpy; a run that overflows stays at ``inf``/``nan``
    without warnings.
    """
    H = np.atleast_2d(np.asarray(hessian, dtype=np.float64))
    d = H.shape[0]
    if H.shape != (d, d) or not np.isfinite(H).all() or not np.allclose(H, H.T, rtol=1e-12, atol=0):
        raise ValueError(f"hessian must be a finite symmetric (d, d) matrix, got {hessian!r}")
    theta0 = np.atleast_1d(np.asarray(theta0, dtype=np.float64))
    if theta0.shape != (d,) or not np.isfinite(theta0).all():
        raise ValueError(f"theta0 must be finite with shape ({d},), got {theta0!r}")
    star = np.zeros(d) if theta_star is None else np.atleast_1d(np.asarray(theta_star, dtype=np.float64))
    if star.shape != (d,) or not np.isfinite(star).all():
        raise ValueError(f"theta_star must be finite with shape ({d},), got {theta_star!r}")
    lr = check_real("lr", lr, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=0)
    taus_arr = np.atleast_1d(np.asarray(taus))
    if taus_arr.ndim != 1 or taus_arr.size == 0 or not np.issubdtype(taus_arr.dtype, np.integer) \
            or (taus_arr < 0).any():
        raise ValueError(f"taus must be a non-empty list of non-negative integers, got {taus!r}")
    k = taus_arr.size
    thetas = np.empty((k, steps + 1, d))
    thetas[:, 0] = theta0
    rows = np.arange(k)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            stale = thetas[rows, np.maximum(t - taus_arr, 0)]  # theta_{t - tau}, theta_0 before the start
            thetas[:, t + 1] = thetas[:, t] - lr * (stale - star) @ H
        err = thetas - star
        losses = 0.5 * np.einsum("kti,ij,ktj->kt", err, H, err)
    losses = np.where(np.isfinite(losses), losses, np.inf)
    return StaleRuns(taus_arr.astype(np.int64), thetas, losses, lr)
