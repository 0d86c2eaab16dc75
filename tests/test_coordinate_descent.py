"""optbook.experiments.ch08_7.coordinate_descent against a literal Gauss–Seidel transcription,
numpy.linalg.solve,
and the exact ρ² contraction per sweep on the correlated 2-D quadratic."""

import numpy as np
import pytest
import torch

from optbook.experiments.ch08_7.coordinate_descent import coordinate_descent, correlated_quadratic


def _spd(n, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    return M @ M.T + n * np.eye(n), rng.standard_normal(n)


def gauss_seidel(A, b, x, sweeps):
    """The textbook Gauss–Seidel iteration, written out element by element."""
    x = list(x)
    n = len(b)
    for _ in range(sweeps):
        for i in range(n):
            s = sum(A[i][j] * x[j] for j in range(n) if j != i)
            x[i] = (b[i] - s) / A[i][i]
    return np.array(x)


@pytest.mark.parametrize("n,sweeps", [(2, 3), (5, 10), (12, 40)])
def test_cyclic_is_gauss_seidel_and_converges(n, sweeps):
    A, b = _spd(n)
    x0 = np.ones(n)
    res = coordinate_descent(A, b, x0, sweeps)
    assert res.path.shape == (sweeps * n + 1, n)
    np.testing.assert_allclose(res.sweep_ends()[-1], gauss_seidel(A, b, x0, sweeps), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.path[-1], np.linalg.solve(A, b), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(res.coords, np.tile(np.arange(n), sweeps))
    # each update changes one coordinate, minimises along it (zero partial derivative), never increases J
    changed = np.diff(res.path, axis=0) != 0
    assert (changed.sum(1) <= 1).all()
    g = res.path[1:] @ A - b
    np.testing.assert_allclose(g[np.arange(g.shape[0]), res.coords], 0.0, atol=1e-12)
    assert (np.diff(res.losses) <= 1e-12).all()
    want = [0.5 * x @ A @ x - b @ x for x in res.path]
    np.testing.assert_allclose(res.losses, want, rtol=1e-12, atol=1e-12)


def test_diagonal_quadratic_is_solved_in_one_sweep():
    A, b = np.diag([1.0, 10.0, 100.0]), np.array([1.0, 2.0, 3.0])
    res = coordinate_descent(A, b, np.zeros(3), 1)
    np.testing.assert_allclose(res.path[-1], b / np.diag(A), rtol=1e-15)


@pytest.mark.parametrize("rho", [-0.95, -0.5, 0.0, 0.3, 0.9, 0.99])
def test_each_sweep_multiplies_the_error_by_rho_squared(rho):
    A, b = correlated_quadratic(rho)
    np.testing.assert_array_equal(A, [[1.0, rho], [rho, 1.0]])
    res = coordinate_descent(A, b, np.array([1.0, 2.0]), 6)
    ends = res.sweep_ends()
    # after the first sweep θ = (−ρ c, ρ² c) · ρ^{2(k−1)} for some c: the error shrinks by ρ² per sweep
    np.testing.assert_allclose(ends[2:], ends[1:-1] * rho**2, rtol=1e-12, atol=1e-300)


def test_book_example_is_the_correlated_quadratic():
    alpha = 0.1
    A = np.array([[2 + 2 * alpha, -2.0], [-2.0, 2 + 2 * alpha]])  # Hessian of (x1 − x2)² + α(x1² + x2²)
    A_rho, _ = correlated_quadratic(-1 / (1 + alpha))
    np.testing.assert_allclose(A, 2 * (1 + alpha) * A_rho, rtol=1e-15)


def test_random_order_is_seeded_and_converges():
    A, b = _spd(6, seed=3)
    a = coordinate_descent(A, b, np.zeros(6), 30, order="random", generator=torch.Generator().manual_seed(1))
    c = coordinate_descent(A, b, np.zeros(6), 30, order="random", generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(a.path, c.path)
    for k in range(30):
        assert sorted(a.coords[6 * k : 6 * k + 6]) == list(range(6))
    np.testing.assert_allclose(a.path[-1], np.linalg.solve(A, b), rtol=1e-8)


I2, Z2 = np.eye(2), np.zeros(2)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: correlated_quadratic(1.0), ValueError, "rho"),
        (lambda: coordinate_descent(I2, np.zeros(3), np.zeros(3), 1), ValueError, "shape"),
        (lambda: coordinate_descent(I2, Z2, np.zeros(3), 1), ValueError, "x0"),
        (lambda: coordinate_descent([[1, 2], [0, 1]], Z2, Z2, 1), ValueError, "symmetric"),
        (lambda: coordinate_descent([[1, 2], [2, 1]], Z2, Z2, 1), ValueError, "positive definite"),
        (lambda: coordinate_descent(I2, [np.nan, 0], Z2, 1), ValueError, "finite"),
        (lambda: coordinate_descent(I2, Z2, Z2, -1), ValueError, "sweeps"),
        (lambda: coordinate_descent(I2, Z2, Z2, 1, order="greedy"), ValueError, "order"),
        (lambda: coordinate_descent(I2, Z2, Z2, 1, order="random"), TypeError, "Generator"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
