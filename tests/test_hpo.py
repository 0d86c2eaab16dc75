"""optbook.hpo: grid and random search, the Gaussian process against closed forms and
scikit-learn, expected improvement against quadrature and Monte Carlo, and model-based search
against random search on Branin's function."""

import itertools
import math
import re

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from scipy.spatial.distance import cdist
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from optbook.hpo import (
    THETA_BOUNDS,
    GaussianProcess,
    bayes_opt,
    expected_improvement,
    fit_gp,
    from_unit,
    gp_posterior,
    grid_search,
    log_marginal_likelihood,
    matern52,
    parse_space,
    random_search,
    to_unit,
)

BRANIN_MIN = 0.397887357729739  # at (-π, 12.275), (π, 2.275), (9.42478, 2.475)
BRANIN_SPACE = {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def _data(n=12, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 + 0.05 * rng.standard_normal(n)
    return X, y


# ---------------------------------------------------------------- grid and random search


def test_grid_is_the_cartesian_product_with_log_spacing():
    space = {"a": (-1.0, 2.0), "lr": (1e-4, 1.0, "log"), "m": (0.5, 0.9)}
    calls = []
    res = grid_search(lambda p: calls.append(p) or p["a"] ** 2, space, {"a": 3, "lr": 5, "m": 2})
    expected = list(
        itertools.product(np.linspace(-1, 2, 3), np.geomspace(1e-4, 1, 5), np.linspace(0.5, 0.9, 2))
    )
    assert len(res.history) == len(calls) == 3 * 5 * 2
    got = np.array([[p["a"], p["lr"], p["m"]] for p, _ in res.history])
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-12, atol=0)
    assert [p for p, _ in res.history] == calls  # in the order run; last dimension fastest
    # the bounds themselves are tried, exactly
    assert {p["lr"] for p, _ in res.history} >= {1e-4, 1.0}
    assert res.best_value == 0.25 and res.best_params["a"] == 0.5  # the first of the ties


def test_grid_single_point_is_the_midpoint_of_the_scale():
    res = grid_search(lambda p: 0.0, {"x": (2.0, 4.0), "lr": (1e-4, 1e-2, "log")}, 1)
    ((params, _),) = res.history
    assert params["x"] == 3.0
    assert math.isclose(params["lr"], 1e-3, rel_tol=1e-12)  # the geometric mean


def test_grid_best_is_the_grid_minimum():
    res = grid_search(branin, BRANIN_SPACE, 21)
    values = [branin(p) for p, _ in res.history]
    assert res.best_value == min(values)
    assert res.best_params == res.history[int(np.argmin(values))][0]
    np.testing.assert_array_equal(res.best_so_far(), np.minimum.accumulate(values))


def test_random_search_is_reproducible_and_inside_the_box():
    space = {"lr": (1e-5, 1.0, "log"), "m": (0.0, 0.99)}

    def objective(p):
        return p["m"] - math.log(p["lr"])

    a = random_search(objective, space, 50, seed=3)
    b = random_search(objective, space, 50, seed=3)
    c = random_search(objective, space, 50, seed=4)
    assert a.history == b.history
    assert a.history != c.history
    for p, _ in a.history:
        assert 1e-5 <= p["lr"] <= 1.0 and 0.0 <= p["m"] <= 0.99
    # units and params agree
    for u, (p, _) in zip(a.units, a.history, strict=True):
        np.testing.assert_allclose(to_unit(space, p), u, rtol=0, atol=1e-12)


def test_random_search_samples_log_uniformly():
    space = {"lr": (1e-6, 1e-1, "log"), "w": (10.0, 20.0)}
    res = random_search(lambda p: 0.0, space, 2000, seed=0)
    lr = np.array([p["lr"] for p, _ in res.history])
    w = np.array([p["w"] for p, _ in res.history])
    log_u = (np.log10(lr) + 6) / 5
    assert scipy.stats.kstest(log_u, "uniform").pvalue > 0.01
    assert scipy.stats.kstest((w - 10) / 10, "uniform").pvalue > 0.01
    # ...and not uniformly in lr itself: then ~90% of draws would lie above 1e-2
    assert scipy.stats.kstest((lr - 1e-6) / (1e-1 - 1e-6), "uniform").pvalue < 1e-12
    assert abs(np.mean(lr > 1e-2) - 0.2) < 0.03


def test_unit_cube_round_trip():
    dims = parse_space({"lr": (1e-4, 1.0, "log"), "x": (-3.0, 5.0)})
    u = np.array([0.25, 0.75])
    p = from_unit(dims, u)
    assert math.isclose(p["lr"], 1e-3, rel_tol=1e-12) and p["x"] == 3.0
    np.testing.assert_allclose(to_unit(dims, p), u, rtol=1e-12)


def test_nan_trials_are_recorded_and_never_best():
    def objective(p):
        return math.nan if p["lr"] > 0.1 else (math.log10(p["lr"]) + 2) ** 2

    space = {"lr": (1e-4, 1.0, "log")}
    for res in (
        grid_search(objective, space, 9),
        random_search(objective, space, 20, seed=1),
        bayes_opt(objective, space, 12, seed=1, n_initial=4),
    ):
        assert any(math.isnan(v) for _, v in res.history)
        assert math.isfinite(res.best_value) and res.best_params["lr"] <= 0.1
    everything_fails = random_search(lambda p: math.nan, space, 3, seed=0)
    assert everything_fails.best_params is None and math.isnan(everything_fails.best_value)


# ---------------------------------------------------------------- the Gaussian process


def _closed_form_posterior(X, y, Xs, ls, sf2, sn2, m):
    """R&W eqs. 2.25–2.26 with explicit inverses and scipy's distances: a separate route."""

    def k(A, B):
        r = cdist(A / ls, B / ls)
        return sf2 * (1 + math.sqrt(5) * r + 5 / 3 * r**2) * np.exp(-math.sqrt(5) * r)

    Ky_inv = np.linalg.inv(k(X, X) + sn2 * np.eye(len(X)))
    Ks = k(Xs, X)
    mean = m + Ks @ Ky_inv @ (y - m)
    var = sf2 - np.einsum("ij,jk,ik->i", Ks, Ky_inv, Ks)
    return mean, np.sqrt(var)


def test_posterior_matches_closed_form_and_sklearn():
    X, y = _data()
    Xs = np.random.default_rng(1).random((40, 2))
    ls, sf2, sn2, m = np.array([0.3, 0.7]), 1.7, 1e-3, 0.4
    gp = GaussianProcess(X, y, ls, sf2, sn2, mean=m)
    mu, sd = gp_posterior(gp, Xs)
    mu_ref, sd_ref = _closed_form_posterior(X, y, Xs, ls, sf2, sn2, m)
    np.testing.assert_allclose(mu, mu_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sd, sd_ref, rtol=0, atol=1e-8)

    # sklearn: zero prior mean (so we give it y - m), noise as alpha (so predict's std is the
    # latent f's, as ours is), kernel fixed.
    kernel = ConstantKernel(sf2, "fixed") * Matern(ls, "fixed", nu=2.5)
    sk = GaussianProcessRegressor(kernel, alpha=sn2, optimizer=None, normalize_y=False)
    sk.fit(X, y - m)
    mu_sk, sd_sk = sk.predict(Xs, return_std=True)
    np.testing.assert_allclose(mu, mu_sk + m, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sd, sd_sk, rtol=0, atol=1e-8)
    np.testing.assert_allclose(matern52(X, Xs, ls, sf2), kernel(X, Xs), rtol=1e-12, atol=1e-14)


def test_posterior_interpolates_with_little_noise():
    X, y = _data()
    gp = GaussianProcess(X, y, np.array([0.3, 0.5]), 1.0, 1e-10, mean=float(y.mean()))
    mu, sd = gp_posterior(gp, X)
    np.testing.assert_allclose(mu, y, atol=1e-6)
    assert sd.max() < 1e-4


def test_log_marginal_likelihood_and_gradient_match_sklearn():
    X, y = _data(n=15, d=3, seed=2)
    kernel = ConstantKernel(1.0) * Matern(np.ones(3), nu=2.5) + WhiteKernel(1.0)
    sk = GaussianProcessRegressor(kernel, alpha=0.0, optimizer=None).fit(X, y)
    assert len(sk.kernel_.theta) == 5  # (log σ_f², log ℓ_1..3, log σ_n²): our order
    for theta in (np.log([1.0, 0.3, 0.5, 2.0, 1e-2]), np.log([3.0, 0.05, 1.0, 0.2, 1e-5])):
        value, grad = log_marginal_likelihood(theta, X, y)
        ref, ref_grad = sk.log_marginal_likelihood(theta, eval_gradient=True)
        assert math.isclose(value, ref, rel_tol=1e-10, abs_tol=1e-9)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-8)


def test_fit_gp_reaches_sklearns_optimum_or_better():
    X, y = _data(n=20, seed=3)
    gp = fit_gp(X, y, seed=0)
    # log_ml is the raw-scale log marginal likelihood of the returned process
    value, _ = log_marginal_likelihood(gp.theta, X, y, mean=gp.mean)
    assert math.isclose(gp.log_ml, value, rel_tol=1e-10, abs_tol=1e-9)

    z = (y - y.mean()) / y.std()
    (sf_lo, sf_hi), (ls_lo, ls_hi), (sn_lo, sn_hi) = THETA_BOUNDS.values()
    kernel = ConstantKernel(1.0, (sf_lo, sf_hi)) * Matern(
        [1.0, 1.0], (ls_lo, ls_hi), nu=2.5
    ) + WhiteKernel(1e-3, (sn_lo, sn_hi))
    sk = GaussianProcessRegressor(kernel, alpha=0.0, n_restarts_optimizer=5, random_state=0)
    sk.fit(X, z)
    ours = value + len(y) * math.log(y.std())  # the same likelihood on the standardised scale
    assert ours >= sk.log_marginal_likelihood_value_ - 1e-6


# ---------------------------------------------------------------- expected improvement


@pytest.mark.parametrize(
    "mu,sigma,best,xi",
    [(0.3, 0.5, 0.0, 0.0), (-1.0, 0.2, 0.0, 0.1), (2.0, 0.4, 0.5, 0.0), (0.0, 1e-3, 0.0, 0.0)],
)
def test_expected_improvement_matches_quadrature_and_monte_carlo(mu, sigma, best, xi):
    ei = float(expected_improvement(mu, sigma, best, xi))
    quad, _ = scipy.integrate.quad(
        lambda f: (best - xi - f) * scipy.stats.norm.pdf(f, mu, sigma),
        -np.inf,
        best - xi,
        epsabs=1e-13,
        epsrel=1e-12,
    )
    assert math.isclose(ei, quad, rel_tol=1e-8, abs_tol=1e-12)
    f = np.random.default_rng(0).normal(mu, sigma, 1_000_000)
    samples = np.maximum(best - xi - f, 0.0)
    assert abs(ei - samples.mean()) < 5 * samples.std() / 1000 + 1e-15


def test_expected_improvement_without_uncertainty_is_the_plain_improvement():
    ei = expected_improvement(np.array([-1.0, 0.0, 2.0]), np.zeros(3), best=0.5, xi=0.25)
    np.testing.assert_array_equal(ei, [1.25, 0.25, 0.0])


# ---------------------------------------------------------------- model-based search


def _trials_to_reach(res, target):
    hit = np.flatnonzero(res.best_so_far() <= target)
    return int(hit[0]) + 1 if hit.size else math.inf


def test_bayes_opt_starts_with_random_searchs_trials():
    bo = bayes_opt(branin, BRANIN_SPACE, 7, seed=5, n_initial=4)
    rs = random_search(branin, BRANIN_SPACE, 4, seed=5)
    assert bo.history[:4] == rs.history
    assert bo.models[:4] == (None,) * 4
    assert all(isinstance(g, GaussianProcess) for g in bo.models[4:])
    # the model that chose trial t saw exactly the trials before it
    np.testing.assert_array_equal(bo.models[6].X, bo.units[:6])


def test_bayes_opt_beats_random_search_on_branin():
    """Trials until the best value is within 0.1 of Branin's minimum, median over 5 seeds."""
    target = BRANIN_MIN + 0.1
    bo, rs, bo_best, rs_best = [], [], [], []
    for seed in range(5):
        b = bayes_opt(branin, BRANIN_SPACE, 30, seed=seed)
        r = random_search(branin, BRANIN_SPACE, 1000, seed=seed)
        bo.append(_trials_to_reach(b, target))
        rs.append(_trials_to_reach(r, target))
        bo_best.append(b.best_value)
        rs_best.append(r.best_so_far()[29])
    assert np.median(bo) <= 30 and np.median(rs) > 100
    assert np.median(bo) * 5 < np.median(rs)
    # at an equal budget of 30 trials
    assert np.median(bo_best) < BRANIN_MIN + 0.05 < np.median(rs_best)


def test_bayes_opt_works_in_log_coordinates():
    """The optimum 1e-3 sits at 3/5 of the way along a log axis over [1e-6, 1e-1]."""

    def objective(p):
        return (math.log10(p["lr"]) + 3) ** 2

    res = bayes_opt(objective, {"lr": (1e-6, 1e-1, "log")}, 12, seed=0)
    assert abs(math.log10(res.best_params["lr"]) + 3) < 0.05


# ---------------------------------------------------------------- errors


def _f(p):
    return 0.0


@pytest.mark.parametrize(
    "space,exc,match",
    [
        ({}, ValueError, "space must have at least one hyperparameter, got {}"),
        ([("lr", (0, 1))], TypeError, "space must be a dict"),
        (
            {"lr": [1e-3, 1.0]},
            TypeError,
            "space['lr'] must be a tuple (low, high) or (low, high, 'log'), got [0.001, 1.0]",
        ),
        ({"lr": (1.0,)}, TypeError, "space['lr'] must be a tuple"),
        ({"lr": (0.0, 1.0, "log", 3)}, TypeError, "space['lr'] must be a tuple"),
        ({"x": (1.0, 1.0)}, ValueError, "space['x'] needs low < high, got low=1.0, high=1.0"),
        ({"x": (2.0, 1.0)}, ValueError, "space['x'] needs low < high, got low=2.0, high=1.0"),
        (
            {"lr": (0.0, 1.0, "log")},
            ValueError,
            "space['lr'] is on a log scale, so it needs low > 0, got low=0.0",
        ),
        ({"lr": (-1.0, 1.0, "log")}, ValueError, "needs low > 0, got low=-1.0"),
        ({"lr": (1e-3, 1.0, "logs")}, ValueError, "space['lr'] has unknown scale 'logs'"),
        ({"x": (0.0, math.inf)}, ValueError, "space['x'] high must be finite, got inf"),
        ({"x": (math.nan, 1.0)}, ValueError, "space['x'] low must be finite, got nan"),
        ({"x": ("0", 1.0)}, TypeError, "space['x'] low must be a real number, got '0'"),
        ({3: (0.0, 1.0)}, TypeError, "space keys must be hyperparameter names (str), got 3"),
    ],
)
@pytest.mark.parametrize("search", ["grid", "random", "bayes"])
def test_bad_spaces_raise_naming_the_entry(space, exc, match, search):
    run = {
        "grid": lambda: grid_search(_f, space, 2),
        "random": lambda: random_search(_f, space, 3, seed=0),
        "bayes": lambda: bayes_opt(_f, space, 3, seed=0),
    }[search]
    with pytest.raises(exc, match=re.escape(match)):
        run()


GOOD = {"x": (0.0, 1.0)}


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: random_search(_f, GOOD, 0), ValueError, "n_trials must be >= 1, got 0"),
        (lambda: bayes_opt(_f, GOOD, -2), ValueError, "n_trials must be >= 1, got -2"),
        (lambda: random_search(_f, GOOD, 2.5), TypeError, "n_trials must be an integer, got 2.5"),
        (lambda: random_search(_f, GOOD, 3, seed=-1), ValueError, "seed must be >= 0, got -1"),
        (lambda: bayes_opt(_f, GOOD, 3, n_initial=0), ValueError, "n_initial must be >= 1, got 0"),
        (lambda: bayes_opt(_f, GOOD, 3, xi=-0.1), ValueError, "xi must be >= 0.0, got -0.1"),
        (lambda: grid_search(_f, GOOD, 0), ValueError, "points_per_dim must be >= 1, got 0"),
        (lambda: grid_search(_f, GOOD, {"y": 2}), ValueError, "unknown ['y'], missing ['x']"),
        (lambda: grid_search(_f, GOOD, {"x": 0}), ValueError, "points_per_dim['x'] must be >= 1"),
        (lambda: grid_search("f", GOOD), TypeError, "objective must be callable, got 'f'"),
        (lambda: random_search(None, GOOD, 3), TypeError, "objective must be callable, got None"),
        (lambda: bayes_opt(42, GOOD, 3), TypeError, "objective must be callable, got 42"),
        (
            lambda: random_search(lambda p: "bad", GOOD, 1),
            TypeError,
            "objective must return a real number, got 'bad' for params {'x': ",
        ),
        (lambda: from_unit(GOOD, [0.1, 0.2]), ValueError, "u must have shape (1,) for this space"),
        (lambda: fit_gp(np.zeros((2, 1)), [0.0, math.nan]), ValueError, "y must be finite"),
        (lambda: expected_improvement(0.0, 1.0, 0.0, xi=-1.0), ValueError, "xi must be >= 0.0"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        call()
