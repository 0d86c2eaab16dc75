r"""Multi-fidelity search: successive halving and Hyperband (Jamieson & Talwalkar 2016; Li et al. 2018).

Random search (§11.4.4) spends the full training budget on every configuration, including the
hopeless ones. A *resource* :math:`r` (epochs, say) lets a search look at many configurations
cheaply and train only the promising ones for long. The objective is ``objective(params, r)``:
the validation loss after :math:`r` units of the resource.

**Successive halving** with :math:`n` configurations, maximum resource :math:`R` and ratio
:math:`\eta` runs rungs :math:`i = 0, \dots, s`:

.. math::

    n_i = \lfloor n \eta^{-i} \rfloor, \qquad r_i = R \eta^{i - s},

evaluating :math:`n_i` configurations at resource :math:`r_i` and keeping the best
:math:`\lfloor n_i / \eta \rfloor` for the next rung. **Hyperband** hedges over the unknown
trade-off between :math:`n` and :math:`r`: with :math:`s_{\max} = \lfloor \log_\eta(R / r_{\min})
\rfloor` and :math:`B = (s_{\max} + 1) R`, it runs one successive-halving *bracket* for each
:math:`s = s_{\max}, \dots, 0` with

.. math::

    n = \Big\lceil \frac{B}{R} \frac{\eta^s}{s + 1} \Big\rceil, \qquad r = R \eta^{-s},

so every bracket spends about the same budget, from the most exploratory (:math:`s = s_{\max}`:
many configurations, one unit each) to plain random search (:math:`s = 0`: :math:`s_{\max} + 1`
configurations at :math:`R`).

Symbol map: :math:`n` = ``n_configs``, :math:`R` = ``max_resource``, :math:`r_{\min}` =
``min_resource``, :math:`\eta` = ``eta``, :math:`s` = ``brackets[t]``, :math:`i` = ``rungs[t]``.

Differs from the papers: each call ``objective(params, r)`` is independent (train from scratch
for :math:`r` units); an objective may resume from its own checkpoint keyed by ``params``, which
the papers allow but the search does not need to know. The best configuration is the one of
lowest loss seen at any resource, as Li et al.'s Algorithm 1 returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._validation import check_int, check_real
from .search import SearchResult, _check_objective, _result
from .space import from_unit, parse_space

__all__ = ["MultiFidelityResult", "successive_halving", "hyperband", "hyperband_brackets", "schedule_cost"]

Objective = Callable[[dict, float], float]


@dataclass(frozen=True)
class MultiFidelityResult(SearchResult):
    """A :class:`~optbook.hpo.search.SearchResult` whose trials ran at different resources.

    Attributes (besides those of ``SearchResult``):
        resources: the resource of each trial, in history order.
        rungs: the rung :math:`i` of each trial within its bracket.
        brackets: the bracket :math:`s` of each trial (for successive halving alone, its :math:`s`).
        configs: which configuration (its index in sampling order) each trial evaluated.
    """

    resources: np.ndarray = None
    rungs: np.ndarray = None
    brackets: np.ndarray = None
    configs: np.ndarray = None

    @property
    def budget_used(self) -> np.ndarray:
        """The cumulative resource after each trial: the x axis to compare searches at equal budget."""
        return np.cumsum(self.resources)


def _as_number(q: Fraction):
    return int(q) if q.denominator == 1 else float(q)


def _check_eta(eta) -> int:
    return check_int("eta", eta, low=2)


def _exact(name, value) -> Fraction:
    return Fraction(check_real(name, value, low=0.0, low_open=True))


def _rungs_below(max_r: Fraction, min_r: Fraction, eta: int) -> int:
    """The largest s with max_r / eta**s >= min_r, computed exactly."""
    s = 0
    while max_r / eta ** (s + 1) >= min_r:
        s += 1
    return s


def _evaluate(objective, params, resource) -> float:
    value = objective(dict(params), resource)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"objective must return a real number, got {value!r} for params {params!r} "
            f"at resource {resource!r}"
        ) from None


def _bracket(objective, dims, units, first_config, n, s, max_r, eta, bracket, log):
    """One successive-halving run over the configurations ``units`` (rows), appending to ``log``."""
    alive = list(range(n))
    for i in range(s + 1):
        r = _as_number(max_r / Fraction(eta) ** (s - i))
        values = []
        for c in alive:
            params = from_unit(dims, units[c])
            v = _evaluate(objective, params, r)
            values.append(v)
            log.append((params, v, units[c], r, i, bracket, first_config + c))
        if i == s:
            break
        keep = max(len(alive) // eta, 1)
        key = np.where(np.isnan(values), np.inf, values)  # a diverged run ranks last
        best = np.argsort(key, kind="stable")[:keep]
        alive = [alive[j] for j in sorted(best)]  # survivors keep their sampling order


def _pack(dims, log) -> MultiFidelityResult:
    history = [(p, v) for p, v, *_ in log]
    base = _result(dims, history, [u for _, _, u, *_ in log])
    cols = list(zip(*[entry[3:] for entry in log], strict=True))
    return MultiFidelityResult(
        base.best_params, base.best_value, base.history, base.units, base.space, (),
        np.array(cols[0]), np.array(cols[1], dtype=np.int64), np.array(cols[2], dtype=np.int64),
        np.array(cols[3], dtype=np.int64),
    )


def successive_halving(
    objective: Objective,
    space,
    *,
    n_configs: int,
    min_resource: float,
    max_resource: float,
    eta: int = 3,
    seed: int = 0,
) -> MultiFidelityResult:
    r"""Successive halving: :math:`n` random configurations, the best :math:`1/\eta` promoted each rung.

    The rungs are :math:`r_i = R\eta^{i-s}` for :math:`i = 0, \dots, s` with
    :math:`s = \lfloor\log_\eta(R / r_{\min})\rfloor` (so the first rung is at least
    ``min_resource``, equal to it when :math:`R / r_{\min}` is a power of :math:`\eta`, and the
    survivors get the full ``max_resource``). Rung :math:`i` evaluates :math:`n_i` configurations,
    :math:`n_0 = n` and :math:`n_{i+1} = \max(\lfloor n_i/\eta \rfloor, 1)`; ties go to the
    configuration sampled first, NaN losses rank last. The configurations are the first ``n_configs``
    points :func:`~optbook.hpo.random_search` draws with the same ``seed``. A resource is passed to
    ``objective`` as an ``int`` when it is a whole number, else as a ``float``.
    """
    _check_objective(objective)
    dims = parse_space(space)
    n_configs = check_int("n_configs", n_configs, low=1)
    min_r, max_r = _exact("min_resource", min_resource), _exact("max_resource", max_resource)
    if min_r > max_r:
        raise ValueError(f"min_resource={min_resource!r} must be <= max_resource={max_resource!r}")
    eta = _check_eta(eta)
    seed = check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    units = [rng.random(len(dims)) for _ in range(n_configs)]
    s = _rungs_below(max_r, min_r, eta)
    log: list = []
    _bracket(objective, dims, units, 0, n_configs, s, max_r, eta, s, log)
    return _pack(dims, log)


def hyperband_brackets(max_resource: float, eta: int = 3, min_resource: float = 1) -> list[list[tuple]]:
    r"""Hyperband's schedule: for each bracket :math:`s = s_{\max}, \dots, 0`, its rungs ``(n_i, r_i)``.

    For ``max_resource=81, eta=3`` this is Table 1 of Li et al. (2018): brackets starting at
    (81, 1), (34, 3), (15, 9), (8, 27) and (5, 81).
    """
    max_r, min_r = _exact("max_resource", max_resource), _exact("min_resource", min_resource)
    if min_r > max_r:
        raise ValueError(f"min_resource={min_resource!r} must be <= max_resource={max_resource!r}")
    eta = _check_eta(eta)
    s_max = _rungs_below(max_r, min_r, eta)
    out = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta**s // (s + 1))  # ceil((B/R) eta^s / (s+1)) with B = (s_max+1) R
        rungs, n_i = [], n
        for i in range(s + 1):
            rungs.append((n_i, _as_number(max_r / Fraction(eta) ** (s - i))))
            n_i = max(n_i // eta, 1)
        out.append(rungs)
    return out


def hyperband(
    objective: Objective,
    space,
    *,
    max_resource: float,
    eta: int = 3,
    seed: int = 0,
    min_resource: float = 1,
) -> MultiFidelityResult:
    r"""Hyperband (Li et al. 2018, Algorithm 1): one successive-halving bracket per :math:`s`.

    Brackets run from the most exploratory, :math:`s = s_{\max}`, to :math:`s = 0`, as listed by
    :func:`hyperband_brackets`; bracket :math:`s` draws its :math:`n` configurations fresh (one
    ``numpy.random.default_rng(seed)`` for the whole run, rows of the unit cube as in
    :func:`~optbook.hpo.random_search`) and runs :func:`successive_halving` on them with
    :math:`r = R\eta^{-s}`. ``min_resource`` (:math:`r_{\min}`, 1 in the paper) is the unit in which
    :math:`R` is counted. The whole run costs about :math:`(s_{\max}+1)^2 R` units of resource.
    """
    _check_objective(objective)
    dims = parse_space(space)
    schedule = hyperband_brackets(max_resource, eta, min_resource)
    seed = check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    max_r = _exact("max_resource", max_resource)
    log: list = []
    first = 0
    for rungs in schedule:
        s, n = len(rungs) - 1, rungs[0][0]
        units = [rng.random(len(dims)) for _ in range(n)]
        _bracket(objective, dims, units, first, n, s, max_r, eta, s, log)
        first += n
    return _pack(dims, log)


def schedule_cost(schedule: list[list[tuple]]) -> float:
    """Total resource of a :func:`hyperband_brackets` schedule: :math:`\\sum n_i r_i`."""
    return math.fsum(n * r for rungs in schedule for n, r in rungs)
