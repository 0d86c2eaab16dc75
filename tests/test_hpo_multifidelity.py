"""Successive halving and Hyperband against the papers' brackets and a literal run."""

import math

import numpy as np
import pytest

from optbook.hpo import (
    MultiFidelityResult,
    SearchResult,
    hyperband,
    hyperband_brackets,
    random_search,
    schedule_cost,
    successive_halving,
)
from optbook.hpo.space import from_unit, parse_space

SPACE = {"lr": (1e-3, 1.0, "log"), "width": (8.0, 64.0)}


def toy_objective(params, resource):
    """A loss that falls with the resource towards a floor set by the params (lr near 0.1 is best)."""
    floor = (math.log10(params["lr"]) + 1.0) ** 2 + 0.001 * params["width"]
    return floor + 1.0 / resource


class Recorder:
    def __init__(self, fn=toy_objective):
        self.calls, self.fn = [], fn

    def __call__(self, params, resource):
        self.calls.append((dict(params), resource))
        return self.fn(params, resource)


# Li et al. (2018), Table 1: R = 81, eta = 3; for each bracket s = 4..0 the rungs (n_i, r_i).
PAPER_TABLE_R81 = [
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    [(34, 3), (11, 9), (3, 27), (1, 81)],
    [(15, 9), (5, 27), (1, 81)],
    [(8, 27), (2, 81)],
    [(5, 81)],
]


def test_brackets_are_the_papers_table():
    assert hyperband_brackets(81, eta=3) == PAPER_TABLE_R81
    for rungs in hyperband_brackets(81, 3):
        assert all(isinstance(r, int) for _, r in rungs)  # whole epochs stay integers
    # The same schedule counted in other units, and eta = 2 with R = 8 (s_max = 3).
    in_tens = [[(n, 10 * r) for n, r in b] for b in PAPER_TABLE_R81]
    assert hyperband_brackets(810, 3, min_resource=10) == in_tens
    assert hyperband_brackets(8, eta=2) == [
        [(8, 1), (4, 2), (2, 4), (1, 8)],
        [(6, 2), (3, 4), (1, 8)],
        [(4, 4), (2, 8)],
        [(4, 8)],
    ]
    # R = 80 < 3^4: s_max = 3, and the rungs are fractions of 80 (passed on as floats).
    assert hyperband_brackets(80, 3)[0] == [(27, 80 / 27), (9, 80 / 9), (3, 80 / 3), (1, 80)]
    assert schedule_cost(PAPER_TABLE_R81) == 81 * 5 + (34 * 3 + 11 * 9 + 81 + 81) + (15 * 9 + 5 * 27 + 81) \
        + (8 * 27 + 2 * 81) + 5 * 81


def test_hyperband_runs_every_bracket_of_the_table():
    obj = Recorder()
    res = hyperband(obj, SPACE, max_resource=81, eta=3, seed=0)
    assert isinstance(res, MultiFidelityResult) and isinstance(res, SearchResult)
    got = []
    for s in range(4, -1, -1):
        in_s = res.brackets == s
        got.append([(int(np.sum(in_s & (res.rungs == i))), int(res.resources[in_s & (res.rungs == i)][0]))
                    for i in range(s + 1)])
    assert got == PAPER_TABLE_R81
    assert len(res.history) == len(obj.calls) == sum(n for b in PAPER_TABLE_R81 for n, _ in b)
    assert [r for _, r in obj.calls] == list(res.resources)
    assert res.budget_used[-1] == schedule_cost(PAPER_TABLE_R81)
    assert res.configs.max() + 1 == 81 + 34 + 15 + 8 + 5  # fresh configurations per bracket
    # Bracket by bracket the configurations are consecutive rows of one seeded generator.
    rng = np.random.default_rng(0)
    rows = [from_unit(parse_space(SPACE), rng.random(2)) for _ in range(143)]
    for (params, _), c in zip(res.history, res.configs, strict=True):
        assert params == rows[c]
    best = int(np.argmin(res.values))
    assert res.best_value == res.values[best] and res.best_params == res.history[best][0]


def literal_successive_halving(objective, space, n, r_min, R, eta, seed):
    """Successive halving written out: rungs R/eta^s, ..., R; the best floor(n_i/eta) go on."""
    dims = parse_space(space)
    rng = np.random.default_rng(seed)
    configs = [from_unit(dims, rng.random(len(dims))) for _ in range(n)]
    s = 0
    while R / eta ** (s + 1) >= r_min:
        s += 1
    trials, alive = [], list(range(n))
    for i in range(s + 1):
        r = R / eta ** (s - i)
        losses = {c: objective(configs[c], r) for c in alive}
        trials += [(configs[c], r, losses[c]) for c in alive]
        ranked = sorted(alive, key=lambda c: (losses[c], c))
        alive = sorted(ranked[: max(len(alive) // eta, 1)])
    return trials


@pytest.mark.parametrize("n, r_min, R, eta", [(27, 1, 27, 3), (20, 1, 16, 2), (10, 2, 50, 3), (5, 1, 81, 3)])
def test_successive_halving_equals_the_literal_run(n, r_min, R, eta):
    res = successive_halving(toy_objective, SPACE, n_configs=n, min_resource=r_min, max_resource=R, eta=eta,
                             seed=3)
    ref = literal_successive_halving(toy_objective, SPACE, n, r_min, R, eta, seed=3)
    assert [p for p, _ in res.history] == [p for p, _, _ in ref]
    np.testing.assert_allclose(res.resources, [r for _, r, _ in ref], rtol=1e-15)
    np.testing.assert_allclose(res.values, [v for *_, v in ref], rtol=1e-15)
    assert res.resources[-1] == R and res.resources.min() >= r_min


def test_successive_halving_keeps_the_best_third():
    res = successive_halving(toy_objective, SPACE, n_configs=27, min_resource=1, max_resource=27, seed=1)
    assert [int(np.sum(res.rungs == i)) for i in range(4)] == [27, 9, 3, 1]
    assert list(np.unique(res.resources)) == [1, 3, 9, 27]
    first = res.values[res.rungs == 0]
    promoted = res.configs[res.rungs == 1]
    np.testing.assert_array_equal(np.sort(promoted), np.sort(np.argsort(first, kind="stable")[:9]))
    # Its configurations are random search's first 27 with the same seed.
    rs = random_search(lambda p: 0.0, SPACE, n_trials=27, seed=1)
    np.testing.assert_array_equal(res.units[res.rungs == 0], rs.units)
    # The winner trained longest is the best configuration of the 27 at full resource.
    full = [toy_objective(p, 27) for p, _ in rs.history]
    assert res.history[-1][0] == rs.history[int(np.argmin(full))][0]


def test_nan_losses_rank_last_and_ties_go_to_the_first():
    def objective(params, resource):
        return math.nan if params["lr"] > 0.1 else 1.0  # every finite loss ties

    res = successive_halving(objective, SPACE, n_configs=9, min_resource=1, max_resource=9, seed=0)
    first = res.configs[res.rungs == 0]
    finite = [c for c, v in zip(first, res.values[res.rungs == 0], strict=True) if not math.isnan(v)]
    assert list(res.configs[res.rungs == 1]) == finite[:3]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda o: successive_halving(o, SPACE, n_configs=0, min_resource=1, max_resource=9), ValueError,
         "n_configs must be >= 1, got 0"),
        (lambda o: successive_halving(o, SPACE, n_configs=3, min_resource=10, max_resource=9), ValueError,
         "min_resource=10 must be <= max_resource=9"),
        (lambda o: successive_halving(o, SPACE, n_configs=3, min_resource=0, max_resource=9), ValueError,
         "min_resource must be > 0.0, got 0"),
        (lambda o: successive_halving(o, SPACE, n_configs=3, min_resource=1, max_resource=9, eta=1),
         ValueError, "eta must be >= 2, got 1"),
        (lambda o: hyperband(o, SPACE, max_resource=81, eta=2.5), TypeError, "eta must be an integer"),
        (lambda o: hyperband(o, SPACE, max_resource=math.inf), ValueError, "max_resource must be finite"),
        (lambda o: hyperband(o, SPACE, max_resource=81, seed=-1), ValueError, "seed must be >= 0"),
        (lambda o: hyperband("f", SPACE, max_resource=81), TypeError, "objective must be callable"),
        (lambda o: hyperband(o, {"lr": (1.0, 0.1)}, max_resource=81), ValueError, "needs low < high"),
    ],
)
def test_validation_at_the_door(call, error, match):
    obj = Recorder()
    with pytest.raises(error, match=match):
        call(obj)
    assert obj.calls == []  # nothing evaluated before the arguments were checked


def test_objective_must_return_a_number():
    with pytest.raises(TypeError, match="objective must return a real number, got 'bad' .* at resource 1"):
        successive_halving(lambda p, r: "bad", SPACE, n_configs=3, min_resource=1, max_resource=3)
