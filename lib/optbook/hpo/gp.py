r"""The Gaussian-process surrogate and expected improvement behind model-based search (§11.4.5).

Symbol map (numpy float64 throughout): :math:`X` = ``X`` (the :math:`n` trials so far, rows in
the unit cube), :math:`y` = ``y`` (their validation errors), :math:`m` = ``mean`` (the constant
prior mean), :math:`\sigma_f^2` = ``signal_var``, :math:`\ell_d` = ``length_scales``,
:math:`\sigma_n^2` = ``noise_var``, :math:`f^*` = ``best`` and :math:`\xi` = ``xi``.

* Prior :math:`f \sim \mathcal{GP}(m, k)` with the ARD Matérn-5/2 kernel

  .. math::

      k(x, x') = \sigma_f^2 \bigl(1 + \sqrt5\, r + \tfrac53 r^2\bigr) e^{-\sqrt5\, r},
      \qquad r^2 = \sum_d \frac{(x_d - x'_d)^2}{\ell_d^2},

  and observations :math:`y_i = f(x_i) + \varepsilon_i`, :math:`\varepsilon_i \sim
  \mathcal N(0, \sigma_n^2)`. Write :math:`K_y = K(X, X) + \sigma_n^2 I` and
  :math:`k_* = K(X, x_*)`.
* Posterior of :math:`f(x_*)` (Rasmussen & Williams 2006, eqs. 2.25–2.26):

  .. math::

      \mu(x_*) = m + k_*^\top K_y^{-1} (y - m), \qquad
      \sigma^2(x_*) = k(x_*, x_*) - k_*^\top K_y^{-1} k_*.

* Log marginal likelihood, maximised over :math:`\theta = (\log\sigma_f^2, \log\ell_1, \dots,
  \log\ell_d, \log\sigma_n^2)` to fit the kernel (R&W eq. 2.30):

  .. math::

      \log p(y \mid X, \theta) = -\tfrac12 (y - m)^\top K_y^{-1} (y - m)
      - \tfrac12 \log\lvert K_y\rvert - \tfrac n2 \log 2\pi .

* Expected improvement below the best value so far, for minimisation (Jones et al. 1998):

  .. math::

      \mathrm{EI}(x) = \mathbb E\bigl[\max(f^* - \xi - f(x), 0)\bigr]
      = (f^* - \xi - \mu)\,\Phi(z) + \sigma\,\varphi(z),
      \qquad z = \frac{f^* - \xi - \mu}{\sigma}.

The parameter vector :math:`\theta` is ordered like scikit-learn's
``ConstantKernel() * Matern(nu=2.5) + WhiteKernel()``, so the tests compare values and
gradients with ``GaussianProcessRegressor`` directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.special

from .._validation import check_int, check_real

__all__ = [
    "GaussianProcess",
    "matern52",
    "log_marginal_likelihood",
    "fit_gp",
    "gp_posterior",
    "expected_improvement",
    "THETA_BOUNDS",
]

_SQRT5 = math.sqrt(5.0)

#: Bounds used by :func:`fit_gp`, for targets standardised to mean 0 and variance 1 and inputs
#: in the unit cube: (signal variance, length scale, noise variance). The noise floor of 1e-6
#: keeps :math:`K_y` well conditioned when two trials nearly coincide.
THETA_BOUNDS = {"signal_var": (1e-2, 1e2), "length_scale": (1e-2, 1e1), "noise_var": (1e-6, 1.0)}


def _scaled_sq_diffs(X1: np.ndarray, X2: np.ndarray, length_scales: np.ndarray) -> np.ndarray:
    """The array of :math:`(x_d - x'_d)^2 / \\ell_d^2`, shape ``(n1, n2, d)``."""
    D = (X1[:, None, :] - X2[None, :, :]) / length_scales
    return D * D


def matern52(X1, X2, length_scales, signal_var: float) -> np.ndarray:
    r"""The Matérn-5/2 kernel matrix :math:`K_{ij} = k(x_i, x'_j)` between the rows of ``X1``
    and ``X2``."""
    S = _scaled_sq_diffs(np.atleast_2d(X1), np.atleast_2d(X2), np.asarray(length_scales))
    r = np.sqrt(S.sum(-1))
    return signal_var * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)


def log_marginal_likelihood(theta, X, y, mean: float = 0.0) -> tuple[float, np.ndarray]:
    r"""The log marginal likelihood and its gradient with respect to ``theta``.

    ``theta`` is :math:`(\log\sigma_f^2, \log\ell_1, \dots, \log\ell_d, \log\sigma_n^2)`. The
    gradient is R&W eq. 5.9, :math:`\tfrac12 \operatorname{tr}\bigl((\alpha\alpha^\top -
    K_y^{-1})\, \partial K_y/\partial\theta_j\bigr)` with :math:`\alpha = K_y^{-1}(y - m)`, using
    :math:`\partial k/\partial \log\ell_d = \tfrac53 \sigma_f^2 (1 + \sqrt5 r) e^{-\sqrt5 r}
    (x_d - x'_d)^2/\ell_d^2`. Returns ``(-inf, nan)`` when :math:`K_y` is not numerically
    positive definite.
    """
    X = np.asarray(X, dtype=np.float64)
    r_y = np.asarray(y, dtype=np.float64) - mean
    n, d = X.shape
    theta = np.asarray(theta, dtype=np.float64)
    sf2, ls, sn2 = math.exp(theta[0]), np.exp(theta[1 : 1 + d]), math.exp(theta[-1])

    S = _scaled_sq_diffs(X, X, ls)
    r = np.sqrt(S.sum(-1))
    e = np.exp(-_SQRT5 * r)
    K = sf2 * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * e
    try:
        L = scipy.linalg.cholesky(K + sn2 * np.eye(n), lower=True)
    except np.linalg.LinAlgError:
        return -math.inf, np.full(theta.shape, np.nan)
    alpha = scipy.linalg.cho_solve((L, True), r_y)
    value = -0.5 * r_y @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * math.log(2.0 * math.pi)

    A = np.outer(alpha, alpha) - scipy.linalg.cho_solve((L, True), np.eye(n))
    grad = np.empty_like(theta)
    grad[0] = 0.5 * np.sum(A * K)
    dK_common = sf2 * (5.0 / 3.0) * (1.0 + _SQRT5 * r) * e
    grad[1 : 1 + d] = 0.5 * np.einsum("ij,ij,ijd->d", A, dK_common, S)
    grad[-1] = 0.5 * sn2 * np.trace(A)
    return float(value), grad


@dataclass(frozen=True)
class GaussianProcess:
    """A Gaussian process conditioned on data: the training points and fixed hyperparameters.

    Nothing is fitted here; :func:`fit_gp` chooses the hyperparameters and
    :func:`gp_posterior` evaluates the posterior. ``log_ml`` records the log marginal likelihood
    the hyperparameters reached (``nan`` when they were given, not fitted).
    """

    X: np.ndarray
    y: np.ndarray
    length_scales: np.ndarray
    signal_var: float
    noise_var: float
    mean: float = 0.0
    log_ml: float = math.nan

    @property
    def theta(self) -> np.ndarray:
        """The log-hyperparameters in the order of :func:`log_marginal_likelihood`."""
        return np.log(np.concatenate([[self.signal_var], self.length_scales, [self.noise_var]]))

    @cached_property
    def _factor(self) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`L` with :math:`LL^\top = K_y` and :math:`\alpha = K_y^{-1}(y - m)`, computed
        once per process."""
        K = matern52(self.X, self.X, self.length_scales, self.signal_var)
        L = scipy.linalg.cholesky(K + self.noise_var * np.eye(len(self.X)), lower=True)
        return L, scipy.linalg.cho_solve((L, True), self.y - self.mean)


def gp_posterior(gp: GaussianProcess, X_star) -> tuple[np.ndarray, np.ndarray]:
    r"""Posterior mean :math:`\mu(x_*)` and standard deviation :math:`\sigma(x_*)` of the latent
    :math:`f` (noise not included) at the rows of ``X_star``, shape ``(n_*, d)``."""
    X_star = np.atleast_2d(np.asarray(X_star, dtype=np.float64))
    L, alpha = gp._factor
    K_s = matern52(X_star, gp.X, gp.length_scales, gp.signal_var)
    mu = gp.mean + K_s @ alpha
    V = scipy.linalg.solve_triangular(L, K_s.T, lower=True)
    var = gp.signal_var - np.sum(V * V, axis=0)
    return mu, np.sqrt(np.maximum(var, 0.0))


def fit_gp(X, y, *, seed: int = 0, restarts: int = 3) -> GaussianProcess:
    """Fit the kernel hyperparameters to ``(X, y)`` by maximising the log marginal likelihood.

    The targets are first standardised (:math:`m` = their mean, scale :math:`s` = their
    standard deviation, or 1 when they are all equal); L-BFGS-B then maximises
    :func:`log_marginal_likelihood` over ``theta`` within :data:`THETA_BOUNDS`, from a fixed
    start and ``restarts`` starts drawn log-uniformly with ``seed``. The returned process is in
    the original units: :math:`\\sigma_f^2` and :math:`\\sigma_n^2` multiplied by :math:`s^2`.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise ValueError(f"X must be (n, d) and y (n,) with n >= 1, got {X.shape} and {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y must be finite, got {y!r}")
    seed = check_int("seed", seed, low=0)
    restarts = check_int("restarts", restarts, low=0)
    n, d = X.shape
    m = float(y.mean())
    s = float(y.std())
    if not s > 0.0:
        s = 1.0
    z = (y - m) / s

    (sf_lo, sf_hi), (ls_lo, ls_hi), (sn_lo, sn_hi) = THETA_BOUNDS.values()
    bounds = np.log([(sf_lo, sf_hi)] + [(ls_lo, ls_hi)] * d + [(sn_lo, sn_hi)])
    starts = [np.log([1.0] + [0.3] * d + [1e-3])]
    rng = np.random.default_rng(seed)
    starts += [rng.uniform(bounds[:, 0], bounds[:, 1]) for _ in range(restarts)]

    def neg(theta):
        value, grad = log_marginal_likelihood(theta, X, z)
        if not math.isfinite(value):  # not positive definite: steer the line search away
            return 1e25, np.zeros_like(theta)
        return -value, -grad

    best = None
    for theta0 in starts:
        res = scipy.optimize.minimize(neg, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best.fun:
            best = res
    theta = best.x
    return GaussianProcess(
        X=X,
        y=y,
        length_scales=np.exp(theta[1 : 1 + d]),
        signal_var=s * s * math.exp(theta[0]),
        noise_var=s * s * math.exp(theta[-1]),
        mean=m,
        # Rescaling y by s shifts the log density by -n log s.
        log_ml=-float(best.fun) - n * math.log(s),
    )


def expected_improvement(mean, std, best: float, xi: float = 0.0) -> np.ndarray:
    r"""Expected improvement :math:`\mathrm{EI} = (f^* - \xi - \mu)\Phi(z) + \sigma\varphi(z)`.

    ``mean`` and ``std`` are the posterior :math:`\mu`, :math:`\sigma` (arrays of the same
    shape), ``best`` the lowest value observed so far :math:`f^*` and ``xi`` a margin
    :math:`\xi \ge 0` that asks for a real improvement. Where :math:`\sigma = 0` it is
    :math:`\max(f^* - \xi - \mu, 0)`.
    """
    best = check_real("best", best)
    xi = check_real("xi", xi, low=0.0)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    gain = best - xi - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        z = gain / std
        ei = gain * scipy.special.ndtr(z) + std * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.where(std > 0.0, np.maximum(ei, 0.0), np.maximum(gain, 0.0))
