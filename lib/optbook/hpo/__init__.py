r"""Hyperparameter search (§11.4, §12.1): grid, random, model-based and multi-fidelity.

* :mod:`~optbook.hpo.space` validates search spaces and maps them onto the unit cube.
* :mod:`~optbook.hpo.search` holds :func:`grid_search`, :func:`random_search` and
  :func:`bayes_opt`, each returning a :class:`SearchResult`.
* :mod:`~optbook.hpo.multifidelity` holds :func:`successive_halving` and :func:`hyperband`,
  which evaluate ``objective(params, resource)`` at growing resources (epochs, say) and return a
  :class:`MultiFidelityResult` (a ``SearchResult`` with the resource of each trial).
* :mod:`~optbook.hpo.parallel` (import it by name; it loads Optuna) runs a search on worker
  processes or machines that share an Optuna study in a database (``optbook.hpo.parallel.run_study``).
* :mod:`~optbook.hpo.gp` holds the surrogate: :func:`fit_gp`, :func:`gp_posterior` and
  :func:`expected_improvement`, exposed so a notebook can redraw the posterior and the
  acquisition function trial by trial from ``SearchResult.models``.

Example::

    space = {"lr": (1e-4, 1.0, "log"), "weight_decay": (1e-6, 1e-2, "log"), "width": (16, 256)}
    result = bayes_opt(objective, space, n_trials=30, seed=0)
    result.best_params, result.best_value

Every hyperparameter is continuous; an integer one such as ``width`` is rounded inside the
objective (``int(round(params["width"]))``), so the surrogate still sees a smooth axis.
"""

from .gp import (
    THETA_BOUNDS,
    GaussianProcess,
    expected_improvement,
    fit_gp,
    gp_posterior,
    log_marginal_likelihood,
    matern52,
)
from .multifidelity import (
    MultiFidelityResult,
    hyperband,
    hyperband_brackets,
    schedule_cost,
    successive_halving,
)
from .search import SearchResult, bayes_opt, grid_search, random_search
from .space import Dimension, from_unit, parse_space, to_unit

__all__ = [
    "SearchResult",
    "grid_search",
    "random_search",
    "bayes_opt",
    "MultiFidelityResult",
    "successive_halving",
    "hyperband",
    "hyperband_brackets",
    "schedule_cost",
    "Dimension",
    "parse_space",
    "to_unit",
    "from_unit",
    "GaussianProcess",
    "matern52",
    "log_marginal_likelihood",
    "fit_gp",
    "gp_posterior",
    "expected_improvement",
    "THETA_BOUNDS",
]
