"""Asynchronous SGD: the stale-gradient simulation and Hogwild! (one 2-process run)."""

import numpy as np
import pytest

from optbook.distributed import (
    hogwild_sgd,
    sparse_least_squares,
    stale_gradient_descent,
    stale_stability_threshold,
)

# ---------------------------------------------------------------------------- stale gradients


def literal_delayed_gd(H, theta0, lr, tau, steps, star):
    """theta_{t+1} = theta_t - lr H (theta_{t-tau} - star), theta_s = theta_0 for s < 0: a plain loop."""
    hist = [np.array(theta0, dtype=np.float64)]
    for t in range(steps):
        stale = hist[max(t - tau, 0)]
        hist.append(hist[t] - lr * H @ (stale - star))
    return np.array(hist)


def test_batched_runs_equal_the_literal_recursion():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    H = A @ A.T + np.eye(3)
    theta0, star = rng.standard_normal(3), rng.standard_normal(3)
    taus = [0, 1, 2, 5, 9]
    runs = stale_gradient_descent(H, theta0, lr=0.05, taus=taus, steps=40, theta_star=star)
    assert runs.thetas.shape == (5, 41, 3) and runs.losses.shape == (5, 41)
    for j, tau in enumerate(taus):
        ref = literal_delayed_gd(H, theta0, 0.05, tau, 40, star)
        np.testing.assert_allclose(runs.thetas[j], ref, rtol=1e-13, atol=1e-15)
        ref_losses = [0.5 * (t - star) @ H @ (t - star) for t in ref]
        np.testing.assert_allclose(runs.losses[j], ref_losses, rtol=1e-12)
    np.testing.assert_array_equal(runs.taus, taus)


def spectral_radius(a, tau):
    """Largest |root| of z^{tau+1} - z^tau + a (characteristic polynomial of e_{t+1} = e_t - a e_{t-tau})."""
    c = np.zeros(tau + 2)
    c[0], c[1] = 1.0, -1.0
    c[-1] += a
    return np.abs(np.roots(c)).max()


@pytest.mark.parametrize("tau", [0, 1, 2, 3, 5, 8, 12])
def test_threshold_is_where_the_characteristic_roots_leave_the_unit_circle(tau):
    a_star = stale_stability_threshold(tau)
    for a in np.linspace(0.02, 0.98, 25) * a_star:  # stable all the way below the threshold
        assert spectral_radius(a, tau) < 1.0 - 1e-9, (tau, a)
    assert spectral_radius(1.02 * a_star, tau) > 1.0 + 1e-6  # and unstable past it
    assert abs(spectral_radius(a_star, tau) - 1.0) < 1e-9  # a root on the circle at the threshold


def test_threshold_known_values():
    np.testing.assert_allclose(stale_stability_threshold([0, 1, 2]), [2.0, 1.0, 2 * np.sin(np.pi / 10)],
                               rtol=1e-15)
    big = stale_stability_threshold(np.array([100, 1000]))
    np.testing.assert_allclose(big * 2 * np.array([100, 1000]), np.pi, rtol=2e-2)  # about pi / (2 tau)


def test_simulation_decays_below_and_diverges_above_the_threshold():
    h, taus = 2.0, np.arange(0, 9)
    crit = stale_stability_threshold(taus) / h  # the critical learning rate of each delay
    below = stale_gradient_descent(h, 1.0, lr=1.0, taus=taus, steps=1, theta_star=0.0)  # shapes only
    assert below.thetas.shape == (9, 2, 1)
    for tau, eps in zip(taus, crit, strict=True):
        ok = stale_gradient_descent(h, 1.0, lr=0.9 * eps, taus=[tau], steps=3000)
        bad = stale_gradient_descent(h, 1.0, lr=1.1 * eps, taus=[tau], steps=3000)
        assert ok.losses[0, -1] < 1e-6 * ok.losses[0, 0], tau
        assert bad.losses[0, -1] > 1e6 * bad.losses[0, 0], tau
    # The same learning rate, 0.4 / h, is fine without delay and diverges from tau = 4 on
    # (thresholds 2, 1, 0.618, 0.445, 0.347 for tau = 0..4).
    runs = stale_gradient_descent(h, 1.0, lr=0.4 / h, taus=taus, steps=2000)
    diverged = ~(runs.losses[:, -1] < runs.losses[:, 0])
    np.testing.assert_array_equal(diverged, taus >= 4)


def test_overflow_is_quiet_and_reported_as_inf():
    with np.errstate(all="raise"):  # the function must not warn or raise on its own overflow
        runs = stale_gradient_descent(np.eye(2), [1.0, -1.0], lr=5.0, taus=[0, 3], steps=4000)
    assert np.isinf(runs.losses[:, -1]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(taus=[-1]), "taus must be a non-empty list of non-negative integers"),
        (dict(taus=[1.5]), "taus must be a non-empty list"),
        (dict(taus=[]), "taus must be a non-empty list"),
        (dict(lr=0.0), "lr must be > 0.0, got 0.0"),
        (dict(hessian=[[1.0, 2.0], [0.0, 1.0]]), "hessian must be a finite symmetric"),
        (dict(theta0=[1.0, 2.0, 3.0]), r"theta0 must be finite with shape \(2,\)"),
        (dict(theta_star=[np.nan, 0.0]), "theta_star must be finite"),
        (dict(steps=-1), "steps must be >= 0, got -1"),
    ],
)
def test_stale_validation(kwargs, match):
    args = dict(hessian=np.eye(2), theta0=[1.0, 1.0], lr=0.1, taus=[0, 1], steps=5) | kwargs
    with pytest.raises(ValueError, match=match):
        stale_gradient_descent(args.pop("hessian"), args.pop("theta0"), **args)
    with pytest.raises(ValueError, match="tau must be non-negative integers"):
        stale_stability_threshold(-1)


# ---------------------------------------------------------------------------- Hogwild!


@pytest.fixture(scope="module")
def problem():
    return sparse_least_squares(2000, 300, 5, seed=0)


def test_sparse_problem_is_consistent_and_sparse(problem):
    X = problem.dense()
    assert X.shape == (2000, 300)
    assert ((X != 0).sum(1) == 5).all()
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(X @ problem.w_star, problem.y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.linalg.lstsq(X, problem.y, rcond=None)[0], problem.w_star, atol=1e-10)
    assert problem.loss(problem.w_star) < 1e-28
    np.testing.assert_allclose(problem.loss(np.zeros(300)), 0.5 * np.mean(problem.y**2), rtol=1e-13)
    counts = (X != 0).sum(0)
    assert problem.conflict_degree() == counts.max() / 2000 and problem.conflict_degree() < 0.05


def literal_sgd(problem, lr, n_updates, seed):
    """Sequential SGD on f_i = (x_i.w - y_i)^2 / 2 with dense rows, examples from default_rng([seed, 0])."""
    X = problem.dense()
    w = np.zeros(problem.d)
    for i in np.random.default_rng([seed, 0]).integers(0, problem.n, size=n_updates):
        w = w - lr * (X[i] @ w - problem.y[i]) * X[i]
    return w


def test_one_worker_is_sequential_sgd(problem):
    res = hogwild_sgd(problem, n_workers=1, lr=0.5, epochs=3, seed=2, snapshots=6)
    np.testing.assert_allclose(res.w, literal_sgd(problem, 0.5, 6000, 2), rtol=1e-12, atol=1e-14)
    assert res.updates == 6000 and res.n_workers == 1
    assert res.snapshots.shape == (7, 300)
    np.testing.assert_array_equal(res.snapshot_updates, np.arange(0, 6001, 1000))
    np.testing.assert_array_equal(res.snapshots[0], np.zeros(300))
    np.testing.assert_array_equal(res.snapshots[-1], res.w)


def test_hogwild_on_two_processes_converges_to_the_solution(problem):
    # Sequential SGD with these settings ends at a relative error of 8e-10 to 4e-9 over seeds 0-4
    # (measured). The system is consistent, so w* is a fixed point of every example's update:
    # concurrency (stale reads, lost writes) can slow the descent but not move its limit.
    # 1e-6 leaves a factor > 200 for that slowdown; the start is at error 1.
    res = hogwild_sgd(problem, n_workers=2, lr=0.5, epochs=20, seed=0)
    rel = np.linalg.norm(res.w - problem.w_star) / np.linalg.norm(problem.w_star)
    assert rel < 1e-6, rel
    assert res.n_workers == 2 and res.updates == 40_000 and not res.lock
    losses = problem.loss(res.snapshots)
    np.testing.assert_array_equal(res.snapshots[0], np.zeros(300))
    assert losses[-1] < 1e-10 * losses[0]
    assert res.seconds > 0 and (np.diff(res.snapshot_seconds) >= 0).all()


def test_hogwild_validation(problem):
    with pytest.raises(TypeError, match="problem must be a SparseLeastSquares"):
        hogwild_sgd("data", n_workers=1, lr=0.1, epochs=1)
    with pytest.raises(ValueError, match="lr must be > 0.0"):
        hogwild_sgd(problem, n_workers=1, lr=0.0, epochs=1)
    with pytest.raises(ValueError, match="epochs must be > 0.0"):
        hogwild_sgd(problem, n_workers=1, lr=0.1, epochs=0)
    with pytest.raises(ValueError, match="n_workers=64 is more than"):
        hogwild_sgd(problem, n_workers=64, lr=0.1, epochs=1)
    with pytest.raises(ValueError, match="nnz must be <= 4, got 5"):
        sparse_least_squares(10, 4, 5)
    with pytest.raises(ValueError, match="does not have full column rank"):
        sparse_least_squares(5, 10, 2)
