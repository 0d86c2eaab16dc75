r"""Grid, random and model-based hyperparameter search (§§11.4.3–11.4.5).

All three minimise ``objective(params) -> float`` (a validation error, say) over a space of
the form described in :mod:`optbook.hpo.space`, and return a :class:`SearchResult` whose
``history`` lists every trial in the order it was run.

* :func:`grid_search` tries the Cartesian product of a few values per hyperparameter, evenly
  spaced on each dimension's scale; its cost grows exponentially with the number of
  hyperparameters.
* :func:`random_search` draws each trial uniformly from the unit cube, i.e. uniformly or
  log-uniformly per dimension (Bergstra & Bengio 2012).
* :func:`bayes_opt` starts like random search, then fits a Gaussian process to the trials so
  far and runs next wherever the expected improvement is largest (see :mod:`optbook.hpo.gp`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from .._validation import check_int, check_real
from .gp import GaussianProcess, expected_improvement, fit_gp, gp_posterior
from .space import Dimension, from_unit, parse_space

__all__ = ["SearchResult", "grid_search", "random_search", "bayes_opt"]

Objective = Callable[[dict], float]


@dataclass(frozen=True)
class SearchResult:
    """What a search tried and what it found.

    Attributes:
        best_params: the params of the lowest value (the first of equals), or ``None`` when
            every trial returned NaN.
        best_value: that value (``nan`` when every trial returned NaN).
        history: ``[(params, value), ...]``, one entry per trial in the order run.
        units: the trials as rows of the unit cube, shape ``(n_trials, d)``.
        space: the parsed dimensions, for mapping unit-cube points back with
            :func:`~optbook.hpo.space.from_unit`.
        models: for :func:`bayes_opt`, ``models[t]`` is the Gaussian process that chose trial
            ``t`` (``None`` for the initial random trials); empty for the other searches.
    """

    best_params: dict | None
    best_value: float
    history: list[tuple[dict, float]]
    units: np.ndarray
    space: tuple[Dimension, ...]
    models: tuple[GaussianProcess | None, ...] = ()

    @property
    def values(self) -> np.ndarray:
        """The objective value of each trial, in order."""
        return np.array([v for _, v in self.history], dtype=np.float64)

    def best_so_far(self) -> np.ndarray:
        """The running minimum of :attr:`values` (NaNs skipped), to compare searches by."""
        return np.fmin.accumulate(self.values)


def _check_objective(objective) -> None:
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {objective!r}")


def _evaluate(objective: Objective, params: dict) -> float:
    value = objective(dict(params))  # a copy: the objective may not edit our history
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"objective must return a real number, got {value!r} for params {params!r}"
        ) from None


def _result(dims, history, units, models=()) -> SearchResult:
    values = np.array([v for _, v in history], dtype=np.float64)
    if np.all(np.isnan(values)):
        best_params, best_value = None, math.nan
    else:
        i = int(np.nanargmin(values))
        best_params, best_value = dict(history[i][0]), float(values[i])
    return SearchResult(best_params, best_value, history, np.asarray(units), dims, tuple(models))


def grid_search(objective: Objective, space, points_per_dim=5) -> SearchResult:
    """Evaluate ``objective`` on the Cartesian product of evenly spaced values per dimension.

    ``points_per_dim`` is one count for every dimension or a dict giving each name's count.
    The values of a dimension run from ``low`` to ``high`` inclusive, evenly spaced on its
    scale (a geometric progression on a log scale); a count of 1 takes the midpoint of the
    scale. Trials follow :func:`itertools.product` order: the last dimension varies fastest.
    """
    _check_objective(objective)
    dims = parse_space(space)
    if isinstance(points_per_dim, Mapping):
        names = {d.name for d in dims}
        extra = sorted(set(points_per_dim) - names, key=str)
        missing = sorted(names - set(points_per_dim))
        if extra or missing:
            raise ValueError(
                f"points_per_dim must give a count for exactly the space's names; "
                f"unknown {extra}, missing {missing}"
            )
        counts = [
            check_int(f"points_per_dim[{d.name!r}]", points_per_dim[d.name], low=1) for d in dims
        ]
    else:
        counts = [check_int("points_per_dim", points_per_dim, low=1)] * len(dims)
    axes = [np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5]) for n in counts]
    history, units = [], []
    for u in itertools.product(*axes):
        params = from_unit(dims, np.array(u))
        history.append((params, _evaluate(objective, params)))
        units.append(u)
    return _result(dims, history, units)


def random_search(objective: Objective, space, n_trials: int, seed: int = 0) -> SearchResult:
    """Evaluate ``objective`` at ``n_trials`` points drawn uniformly from the unit cube.

    Each dimension is therefore sampled uniformly, or log-uniformly on a log scale. The points
    come from ``numpy.random.default_rng(seed)``, one row of ``d`` numbers per trial, so the
    same seed gives the same trials (and :func:`bayes_opt` with that seed starts with them).
    """
    _check_objective(objective)
    dims = parse_space(space)
    n_trials = check_int("n_trials", n_trials, low=1)
    seed = check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    history, units = [], []
    for _ in range(n_trials):
        u = rng.random(len(dims))
        params = from_unit(dims, u)
        history.append((params, _evaluate(objective, params)))
        units.append(u)
    return _result(dims, history, units)


def _maximise_ei(gp: GaussianProcess, best: float, xi: float, rng: np.random.Generator):
    """The unit-cube point of largest expected improvement.

    A seeded scatter of candidates (uniform, plus Gaussian perturbations of the five best
    trials) is scored; the three highest are polished with L-BFGS-B inside the cube.
    """
    n, d = gp.X.shape
    top_trials = gp.X[np.argsort(gp.y)[:5]]
    local = top_trials[rng.integers(len(top_trials), size=256 * d)]
    local = local + 0.05 * rng.standard_normal(local.shape)
    cand = np.clip(np.vstack([rng.random((1024 * d, d)), local]), 0.0, 1.0)
    mu, sd = gp_posterior(gp, cand)
    ei = expected_improvement(mu, sd, best, xi)
    if not ei.max() > 0.0:  # EI underflowed everywhere: explore where the model knows least
        return cand[np.argmax(sd)]
    scale = ei.max()  # L-BFGS-B's stopping test is relative to max(|f|, 1): work near 1

    def neg_ei(u):
        m, s = gp_posterior(gp, u[None, :])
        return -expected_improvement(m, s, best, xi)[0] / scale

    best_u, best_score = cand[np.argmax(ei)], -1.0
    for i in np.argsort(-ei)[:3]:
        res = scipy.optimize.minimize(neg_ei, cand[i], method="L-BFGS-B", bounds=[(0.0, 1.0)] * d)
        if res.fun < best_score:
            best_u, best_score = np.clip(res.x, 0.0, 1.0), res.fun
    return best_u


def bayes_opt(
    objective: Objective,
    space,
    n_trials: int,
    seed: int = 0,
    *,
    n_initial: int = 5,
    xi: float = 0.0,
) -> SearchResult:
    r"""Model-based search: a Gaussian-process surrogate and expected improvement.

    The first ``min(n_initial, n_trials)`` trials are random (the very points
    :func:`random_search` draws with the same ``seed``). Before each later trial a Gaussian
    process is fitted to all trials so far (:func:`~optbook.hpo.gp.fit_gp`, Matérn-5/2 kernel,
    hyperparameters by maximum marginal likelihood, in unit-cube coordinates so log-scale
    dimensions are modelled in :math:`\log x`) and the next trial is the maximiser of
    :math:`\mathrm{EI}` with margin ``xi`` (:func:`~optbook.hpo.gp.expected_improvement`)
    below the best value so far.

    A trial whose value is not finite (a diverged run) is kept in ``history`` but shown to
    the surrogate as the worst finite value seen so far, so the search learns to avoid it
    without a NaN poisoning the fit.
    """
    _check_objective(objective)
    dims = parse_space(space)
    n_trials = check_int("n_trials", n_trials, low=1)
    seed = check_int("seed", seed, low=0)
    n_initial = check_int("n_initial", n_initial, low=1)
    xi = check_real("xi", xi, low=0.0)
    rng = np.random.default_rng(seed)
    history, units, models = [], [], []
    for t in range(n_trials):
        if t < n_initial:
            u, gp = rng.random(len(dims)), None
        else:
            y = np.array([v for _, v in history])
            finite = np.isfinite(y)
            y = np.where(finite, y, y[finite].max() if finite.any() else 0.0)
            gp = fit_gp(np.array(units), y, seed=int(rng.integers(2**32)))
            u = _maximise_ei(gp, float(y.min()), xi, rng)
        params = from_unit(dims, u)
        history.append((params, _evaluate(objective, params)))
        units.append(u)
        models.append(gp)
    return _result(dims, history, units, models)
