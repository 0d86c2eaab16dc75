"""optbook.second_order against scipy.optimize, numpy.linalg and the algorithms' defining
properties (quadratic termination, conjugacy, the secant condition, the strong Wolfe conditions)."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

from optbook.second_order import (
    backtracking,
    bfgs,
    bfgs_update,
    cg_beta,
    conjugate_gradient,
    cubic_minimizer,
    lbfgs,
    linear_conjugate_gradient,
    newton,
    newton_direction,
    newton_directions,
    strong_wolfe,
    two_loop_recursion,
)

torch.set_default_dtype(torch.float64)


def rosenbrock(x):
    """The n-D Rosenbrock function, as scipy.optimize.rosen defines it."""
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def spd(n, eigenvalues, seed=0):
    gen = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(n, n, generator=gen))[0]
    A = Q @ torch.diag(torch.as_tensor(eigenvalues, dtype=torch.float64)) @ Q.T
    return 0.5 * (A + A.T), torch.randn(n, generator=gen)


def quadratic(A, b):
    return lambda x: 0.5 * x @ A @ x - b @ x


def grad(f, x):
    x = torch.as_tensor(x).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


def test_rosenbrock_is_scipys():
    x = np.random.default_rng(0).normal(size=6)
    t = torch.tensor(x)
    assert math.isclose(rosenbrock(t).item(), rosen(x), rel_tol=1e-14)
    np.testing.assert_allclose(grad(rosenbrock, t).numpy(), rosen_der(x), rtol=1e-13)
    H = torch.autograd.functional.hessian(rosenbrock, t)
    np.testing.assert_allclose(H.numpy(), rosen_hess(x), rtol=1e-13, atol=1e-12)


# ------------------------------------------------------------------ against scipy.optimize

METHODS = {
    # ours, scipy's method, scipy's options for the same stopping test (max |g| <= 1e-8)
    "newton": (newton, "Newton-CG", dict(xtol=1e-12)),
    "cg-pr": (lambda f, x, **kw: conjugate_gradient(f, x, **kw), "CG", dict(gtol=1e-8)),
    "cg-fr": (
        lambda f, x, **kw: conjugate_gradient(f, x, beta="fletcher-reeves", **kw),
        "CG",
        dict(gtol=1e-8),
    ),
    "bfgs": (bfgs, "BFGS", dict(gtol=1e-8)),
    "lbfgs": (lbfgs, "L-BFGS-B", dict(gtol=1e-8, ftol=1e-15)),
}
STARTS = {
    "rosen-2": [-1.2, 1.0],
    "rosen-5": [1.3, 0.7, 0.8, 1.9, 1.2],  # scipy's tutorial start
    "rosen-10": np.linspace(0.0, 2.0, 10).tolist(),
}


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("method", METHODS)
def test_rosenbrock_matches_scipy(method, start):
    ours, scipy_method, options = METHODS[method]
    x0 = np.array(STARTS[start])
    extra = dict(hess=rosen_hess) if scipy_method == "Newton-CG" else {}
    ref = minimize(rosen, x0, jac=rosen_der, method=scipy_method, options=options, **extra)
    res = ours(rosenbrock, torch.tensor(x0), gtol=1e-8)
    assert ref.success and res.success, (ref.message, res.message)
    # Same minimum (the global one, (1, ..., 1)), tightly.
    np.testing.assert_allclose(res.x.numpy(), np.ones_like(x0), rtol=0, atol=1e-7)
    np.testing.assert_allclose(res.x.numpy(), ref.x, rtol=0, atol=1e-7)
    assert res.fun < 1e-14 and abs(res.jac).max() <= 1e-8
    # Comparable cost: at most twice scipy's function evaluations. (Measured: 0.8-1.45x for
    # CG, BFGS and L-BFGS; 0.3-0.7x for our exact Newton against scipy's truncated Newton-CG.)
    assert res.nfev <= 2 * ref.nfev, (res.nfev, ref.nfev)


@pytest.mark.parametrize("method", METHODS)
def test_quadratic_matches_numpy_and_scipy(method):
    """J(θ) = ½(θ − θ*)ᵀA(θ − θ*), written with its minimum value 0 so that J's decrease stays
    above rounding down to ‖g‖ = 1e-10 (see the line-search docstring on precision loss)."""
    ours, scipy_method, options = METHODS[method]
    A, b = spd(8, torch.linspace(1.0, 20.0, 8))
    theta_star = torch.linalg.solve(A, b)
    x0 = torch.ones(8)
    res = ours(lambda x: 0.5 * (x - theta_star) @ A @ (x - theta_star), x0, gtol=1e-10)
    An, bn = A.numpy(), b.numpy()
    ref = minimize(
        lambda x: 0.5 * x @ An @ x - bn @ x,
        x0.numpy(),
        jac=lambda x: An @ x - bn,
        hess=(lambda x: An) if scipy_method == "Newton-CG" else None,
        method=scipy_method,
        options=options,
    )
    solution = np.linalg.solve(An, bn)
    assert res.success, res.message
    np.testing.assert_allclose(res.x.numpy(), solution, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ref.x, solution, rtol=1e-6)
    assert res.nfev <= 2 * ref.nfev, (res.nfev, ref.nfev)


# ------------------------------------------------------------------ the result object


@pytest.mark.parametrize("method", METHODS)
def test_result_records_path_and_counts_calls(method):
    ours = METHODS[method][0]
    calls = []

    def f(x):
        calls.append(x.detach().clone())
        return rosenbrock(x)

    x0 = torch.tensor([-1.2, 1.0])
    res = ours(f, x0)
    assert res.nfev == len(calls) == res.njev  # one call = one value and one gradient
    assert res.path.shape == (res.nit + 1, 2) and res.losses.shape == (res.nit + 1,)
    np.testing.assert_array_equal(res.path[0], x0.numpy())
    np.testing.assert_array_equal(res.path[-1], res.x.numpy())
    np.testing.assert_allclose(res.losses, [rosenbrock(torch.tensor(p)).item() for p in res.path])
    assert res.fun == res.losses[-1]
    assert np.all(np.diff(res.losses) < 0)  # every method here descends monotonically
    assert res.nhev == (res.nit if method == "newton" else 0)  # none at the final point
    assert res.x.dtype == torch.float64 and "max_iter" not in res.message


def test_max_iter_reported():
    res = bfgs(rosenbrock, torch.tensor([-1.2, 1.0]), max_iter=3)
    assert not res.success and res.nit == 3 and res.message == "stopped: max_iter reached"


def test_float32_start_keeps_its_dtype():
    res = lbfgs(rosenbrock, torch.tensor([-1.2, 1.0], dtype=torch.float32), gtol=1e-3)
    assert res.x.dtype == torch.float32 and res.success
    assert abs(res.x - 1).max() < 1e-2


# ------------------------------------------------------------------ Newton's method


@pytest.mark.parametrize("line_search", [None, "wolfe", "armijo"])
def test_newton_solves_a_quadratic_in_one_step(line_search):
    A, b = spd(6, [0.5, 1.0, 2.0, 5.0, 10.0, 50.0], seed=3)
    res = newton(quadratic(A, b), torch.randn(6), line_search=line_search, gtol=1e-9)
    assert res.success and res.nit == 1
    np.testing.assert_allclose(res.x.numpy(), np.linalg.solve(A.numpy(), b.numpy()), rtol=1e-12)


def saddle(x):
    return x[0] ** 2 - x[1] ** 2


def saddle_with_minima(x):
    """x² − y² + y⁴/4: a saddle at 0, minima at (0, ±√2)."""
    return x[0] ** 2 - x[1] ** 2 + 0.25 * x[1] ** 4


def test_pure_newton_is_attracted_to_the_saddle_gradient_descent_is_not():
    x0 = torch.tensor([0.7, -0.3])
    res = newton(saddle, x0, line_search=None)
    assert res.success and res.nit == 1  # the quadratic model's stationary point *is* the saddle
    np.testing.assert_array_equal(res.x.numpy(), [0.0, 0.0])

    res = newton(saddle_with_minima, x0, line_search=None, gtol=1e-12)
    assert res.success and abs(res.x).max() < 1e-12  # converges to the saddle, not a minimum
    H = torch.autograd.functional.hessian(saddle_with_minima, res.x)
    assert torch.linalg.eigvalsh(H).min() < 0

    theta = x0.clone()
    for _ in range(100):  # gradient descent, ε = 0.1: the y-coordinate grows by 1.2 per step
        theta = theta - 0.1 * grad(saddle_with_minima, theta)
    np.testing.assert_allclose(theta.numpy(), [0.0, -math.sqrt(2)], atol=1e-8)

    res = newton(saddle_with_minima, x0, gtol=1e-10)  # line search + modified Hessian
    assert res.success
    np.testing.assert_allclose(res.x.numpy(), [0.0, -math.sqrt(2)], atol=1e-10)


def test_saddle_free_newton_is_repelled_by_the_saddle():
    res = newton(saddle, torch.tensor([0.7, -0.3]), line_search=None, saddle_free=True, max_iter=3)
    # |H| = 2I: x is solved for, y is pushed away and doubles each step.
    np.testing.assert_allclose(res.path, [[0.7, -0.3], [0.0, -0.6], [0.0, -1.2], [0.0, -2.4]])
    assert np.all(np.diff(res.losses) < 0)


def test_newton_direction_variants():
    g = torch.tensor([1.0, -2.0, 0.5])
    H = torch.tensor([[2.0, 0.3, 0.0], [0.3, -1.0, 0.2], [0.0, 0.2, 0.5]])
    np.testing.assert_allclose(newton_direction(g, H), -np.linalg.solve(H.numpy(), g.numpy()))
    damped = newton_direction(g, H, damping=3.0)
    np.testing.assert_allclose(damped, -np.linalg.solve(H.numpy() + 3 * np.eye(3), g.numpy()))
    lam, V = np.linalg.eigh(H.numpy())
    abs_H = V @ np.diag(np.abs(lam)) @ V.T
    sf = newton_direction(g, H, saddle_free=True)
    np.testing.assert_allclose(sf, -np.linalg.solve(abs_H, g.numpy()), rtol=1e-12)
    assert torch.dot(newton_direction(g, H), g) > 0  # uphill: H is indefinite
    assert torch.dot(newton_direction(g, H, make_positive_definite=True), g) < 0
    assert newton_direction(g, torch.zeros(3, 3)) is None  # singular


def test_newton_directions_batch_equals_one_at_a_time():
    """The batched step (per-row damping, saddle-free, singular and non-finite rows) against
    numpy's solve of each problem alone."""
    gen = torch.Generator().manual_seed(1)
    A = torch.randn(6, 3, 3, generator=gen, dtype=torch.float64)
    H = A + A.transpose(1, 2)
    H[3] = 0.0  # singular
    H[4, 0, 0] = float("inf")  # not finite
    g = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    alpha = torch.tensor([0.0, 0.5, 2.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    for saddle_free in (False, True):
        d, ok = newton_directions(g, H, damping=alpha, saddle_free=saddle_free)
        assert ok.tolist() == [True, True, True, False, False, True]
        for i in (0, 1, 2, 5):
            lam, V = np.linalg.eigh(H[i].numpy())
            B = V @ np.diag(np.abs(lam)) @ V.T if saddle_free else H[i].numpy()
            expected = -np.linalg.solve(B + alpha[i].item() * np.eye(3), g[i].numpy())
            np.testing.assert_allclose(d[i].numpy(), expected, rtol=1e-10, atol=1e-12)
            single = newton_direction(g[i], H[i], damping=alpha[i].item(), saddle_free=saddle_free)
            np.testing.assert_allclose(single.numpy(), d[i].numpy(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ conjugate gradients


@pytest.mark.parametrize(
    "n,eigenvalues",
    [
        (10, torch.linspace(1.0, 1e3, 10)),
        (20, torch.linspace(1.0, 1e3, 20)),
        (50, torch.linspace(1.0, 1e2, 50)),
        (100, torch.linspace(1.0, 1e2, 100)),
        (30, torch.logspace(0, 1, 30)),
    ],
)
def test_linear_cg_solves_in_at_most_n_steps(n, eigenvalues):
    A, b = spd(n, eigenvalues, seed=n)
    res = linear_conjugate_gradient(A, b)
    assert res.success and res.nit <= n
    assert res.residuals[-1] <= 1e-10 * b.norm().item()
    r = (A @ res.x - b).norm() / b.norm()  # the recurrence's residual is the true one
    assert r <= 2e-10
    np.testing.assert_allclose(res.x.numpy(), np.linalg.solve(A.numpy(), b.numpy()), rtol=1e-8)
    f = quadratic(A, b)
    np.testing.assert_allclose(res.losses, [f(torch.tensor(p)).item() for p in res.path])


def test_linear_cg_steps_equal_distinct_eigenvalues():
    """With k distinct eigenvalues CG terminates in k steps (Nocedal & Wright Theorem 5.4)."""
    A, b = spd(60, [1.0] * 20 + [4.0] * 20 + [9.0] * 20, seed=1)
    res = linear_conjugate_gradient(A, b)
    assert res.success and res.nit == 3


def test_linear_cg_directions_are_conjugate_and_residuals_orthogonal():
    A, b = spd(12, torch.linspace(1.0, 30.0, 12), seed=2)
    res = linear_conjugate_gradient(A, b, x0=torch.ones(12))
    S = torch.tensor(np.diff(res.path, axis=0))  # steps ε_k d_k
    C = S @ A @ S.T
    off = C - torch.diag(C.diagonal())
    assert off.abs().max() <= 1e-10 * C.diagonal().abs().max()


def test_linear_cg_accepts_a_matvec_and_refuses_indefinite_matrices():
    A, b = spd(15, torch.linspace(1.0, 10.0, 15))
    dense = linear_conjugate_gradient(A, b)
    matvec = linear_conjugate_gradient(lambda v: A @ v, b)
    np.testing.assert_array_equal(dense.path, matvec.path)
    res = linear_conjugate_gradient(torch.diag(torch.tensor([1.0, -1.0, 2.0])), torch.ones(3))
    assert not res.success and "not positive definite" in res.message


@pytest.mark.parametrize("beta", ["fletcher-reeves", "polak-ribiere"])
def test_nonlinear_cg_with_exact_line_search_is_linear_cg(beta):
    """On a quadratic, with (near) exact line searches, both β formulas reduce to linear CG."""
    A, b = spd(12, torch.linspace(1.0, 10.0, 12), seed=4)
    ref = linear_conjugate_gradient(A, b)
    res = conjugate_gradient(
        quadratic(A, b),
        torch.zeros(12),
        beta=beta,
        c1=1e-10,
        c2=1e-7,
        restart_every=100,
        gtol=1e-6,
    )
    assert res.success
    k = res.nit + 1
    np.testing.assert_allclose(res.path, ref.path[:k], rtol=0, atol=1e-9)


def test_cg_beta_formulas():
    g_prev, g = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    assert cg_beta(g, g_prev, "fletcher-reeves") == pytest.approx(1.25 / 5.0, rel=1e-15)
    # PR: (g - g_prev)·g / |g_prev|² = (−0.25 + 3) / 5; clipped at 0 when negative.
    assert cg_beta(g, g_prev, "polak-ribiere") == pytest.approx(2.75 / 5.0, rel=1e-15)
    assert cg_beta(torch.tensor([1.0, 1.9]), g_prev, "polak-ribiere") == 0.0


def test_conjugate_directions_beat_steepest_descent():
    """Restarting every step (β = 0) is steepest descent with the same line search: on an
    ill-conditioned quadratic it zig-zags, while CG finishes in about n steps."""
    A, b = spd(10, torch.logspace(0, 2, 10), seed=6)
    theta_star = torch.linalg.solve(A, b)
    f = lambda x: 0.5 * (x - theta_star) @ A @ (x - theta_star)  # noqa: E731
    sd = conjugate_gradient(f, torch.zeros(10), restart_every=1, max_iter=5000)
    cg = conjugate_gradient(f, torch.zeros(10), restart_every=10**9)
    assert sd.success and cg.success
    assert cg.nit <= 15 and sd.nit > 10 * cg.nit
    # Steepest descent with exact steps turns by 90°: consecutive steps are orthogonal.
    S = np.diff(sd.path[:20], axis=0)
    cos = (
        np.sum(S[1:] * S[:-1], axis=1)
        / np.linalg.norm(S[1:], axis=1)
        / np.linalg.norm(S[:-1], axis=1)
    )
    assert np.abs(cos).max() < 0.2


# ------------------------------------------------------------------ BFGS and L-BFGS


def _pairs(n, k, seed=5):
    A, _ = spd(n, torch.linspace(1.0, 10.0, n), seed=seed)
    gen = torch.Generator().manual_seed(seed)
    S = [torch.randn(n, generator=gen) for _ in range(k)]
    return S, [A @ s for s in S]  # y = A s: the pairs a quadratic would give


def test_bfgs_update_satisfies_the_secant_condition():
    S, Y = _pairs(7, 5)
    M = torch.eye(7)
    for s, y in zip(S, Y, strict=True):
        M = bfgs_update(M, s, y)
        torch.testing.assert_close(M @ y, s, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(M, M.T, rtol=0, atol=1e-12)
        assert torch.linalg.eigvalsh(M).min() > 0
    # The expanded rank-one form equals the textbook product form (Nocedal & Wright 6.17).
    s, y = S[0], Y[0]
    rho = 1 / (y @ s)
    V = torch.eye(7) - rho * torch.outer(y, s)
    torch.testing.assert_close(bfgs_update(M, s, y), V.T @ M @ V + rho * torch.outer(s, s))


@pytest.mark.parametrize("k", [1, 3, 6])
def test_two_loop_recursion_equals_dense_bfgs(k):
    """L-BFGS's two loops apply exactly the matrix that k BFGS updates of γI would build."""
    S, Y = _pairs(9, k)
    gamma = 0.37
    M = gamma * torch.eye(9)
    for s, y in zip(S, Y, strict=True):
        M = bfgs_update(M, s, y)
    g = torch.randn(9, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(two_loop_recursion(g, S, Y, gamma), M @ g, rtol=1e-12, atol=1e-12)


def test_bfgs_inverse_hessian_approaches_the_true_one():
    res = bfgs(rosenbrock, torch.tensor([1.3, 0.7, 0.8, 1.9, 1.2]), gtol=1e-9)
    H = torch.tensor(rosen_hess(np.ones(5)))
    # M H ≈ I near the minimiser: its eigenvalues cluster at 1.
    ev = torch.linalg.eigvals(res.hess_inv @ H).real
    assert ev.min() > 0.5 and ev.max() < 2.0


def test_lbfgs_memory_trade_off():
    x0 = torch.tensor(np.linspace(-0.5, 1.5, 10))
    its = {m: lbfgs(rosenbrock, x0, m=m).nit for m in (1, 3, 10)}
    assert its[10] < its[1]


# ------------------------------------------------------------------ line search


def _phi(fn):
    """(φ, φ') from a 1-D torch function via autograd."""

    def phi(t):
        a = torch.tensor(float(t), requires_grad=True)
        v = fn(a)
        (d,) = torch.autograd.grad(v, a)
        return v.item(), d.item()

    return phi


PHIS = {
    # Moré & Thuente (1994) functions 1 and 2, a quadratic and a line through Rosenbrock.
    "more-thuente-1": lambda a: -a / (a * a + 2.0),
    "more-thuente-2": lambda a: (a + 0.004) ** 5 - 2.0 * (a + 0.004) ** 4,
    "quadratic": lambda a: (a - 3.0) ** 2,
    "rosenbrock": lambda a: rosenbrock(torch.stack([-1.2 + a * 0.2, 1.0 + a * 0.9])),
}


@pytest.mark.parametrize("c2", [0.1, 0.9])
@pytest.mark.parametrize("step0", [1e-3, 0.1, 1.0, 10.0, 1e3])
@pytest.mark.parametrize("name", PHIS)
def test_strong_wolfe_conditions_hold(name, step0, c2):
    phi = _phi(PHIS[name])
    phi0, dphi0 = phi(0.0)
    if dphi0 > 0:  # search in the downhill direction
        phi = _phi(lambda a, fn=PHIS[name]: fn(-a))
        phi0, dphi0 = phi(0.0)
    c1 = 1e-4
    ls = strong_wolfe(phi, phi0, dphi0, step0, c1=c1, c2=c2)
    assert ls.success, ls.message
    assert ls.phi <= phi0 + c1 * ls.step * dphi0
    assert abs(ls.dphi) <= c2 * abs(dphi0)
    assert (ls.phi, ls.dphi) == phi(ls.step)
    assert ls.nfev <= 15


def test_cubic_minimizer_is_exact_on_quadratics_and_cubics():
    q = lambda t: (2.0 * (t - 1.7) ** 2, 4.0 * (t - 1.7))  # noqa: E731
    assert cubic_minimizer(0.0, *q(0.0), 5.0, *q(5.0)) == pytest.approx(1.7, rel=1e-14)
    c = lambda t: (t**3 - 3 * t, 3 * t**2 - 3)  # noqa: E731  local minimum at 1
    assert cubic_minimizer(-0.5, *c(-0.5), 3.0, *c(3.0)) == pytest.approx(1.0, rel=1e-12)
    assert cubic_minimizer(0.0, 0.0, -1.0, 0.0, 0.0, -1.0) is None  # no cubic with a minimum


def test_backtracking_takes_the_first_armijo_step():
    phi = _phi(PHIS["rosenbrock"])
    phi0, dphi0 = phi(0.0)
    ls = backtracking(phi, phi0, dphi0, 8.0, c1=1e-4, shrink=0.5)
    assert ls.success and ls.phi <= phi0 + 1e-4 * ls.step * dphi0
    bigger = 2.0 * ls.step
    assert phi(bigger)[0] > phi0 + 1e-4 * bigger * dphi0
    assert ls.nfev == round(math.log2(8.0 / ls.step)) + 1


def test_non_finite_trials_are_rejected_not_accepted():
    phi = lambda t: (math.nan, math.nan) if t > 0.5 else ((t - 0.4) ** 2, 2 * (t - 0.4))  # noqa: E731
    ls = strong_wolfe(phi, 0.16, -0.8, 1.0)
    assert ls.success and ls.step <= 0.5


@pytest.mark.parametrize("method", ["newton", "cg-pr", "cg-fr", "bfgs", "lbfgs"])
def test_every_accepted_step_satisfies_strong_wolfe(method):
    """Checked from the path alone: with s = θ_{k+1} − θ_k both conditions are invariant to
    how s splits into a step and a direction."""
    ours = METHODS[method][0]
    c1, c2 = 1e-4, (0.9 if method in ("newton", "bfgs", "lbfgs") else 0.1)
    res = ours(rosenbrock, torch.tensor([1.3, 0.7, 0.8, 1.9, 1.2]))
    P = torch.tensor(res.path)
    for k in range(res.nit):
        s = P[k + 1] - P[k]
        g0, g1 = grad(rosenbrock, P[k]) @ s, grad(rosenbrock, P[k + 1]) @ s
        assert g0 < 0
        assert rosenbrock(P[k + 1]) <= rosenbrock(P[k]) + c1 * g0
        assert abs(g1) <= c2 * abs(g0) * (1 + 1e-12)


def test_every_method_also_runs_with_armijo_backtracking():
    for fn in (newton, bfgs, lbfgs):
        res = fn(rosenbrock, torch.tensor([-1.2, 1.0]), line_search="armijo", gtol=1e-8)
        assert res.success
        np.testing.assert_allclose(res.x.numpy(), [1.0, 1.0], atol=1e-7)


# ------------------------------------------------------------------ errors at the door

X0 = torch.tensor([-1.2, 1.0])


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: bfgs("rosen", X0), TypeError, "f must be callable, got 'rosen'"),
        (
            lambda: bfgs(rosenbrock, [1.0, 2.0]),
            TypeError,
            r"x0 must be a torch.Tensor, got \[1.0, 2.0\]",
        ),
        (
            lambda: lbfgs(rosenbrock, torch.ones(2, 2)),
            ValueError,
            r"x0 must be a non-empty 1-D tensor, got shape \(2, 2\)",
        ),
        (lambda: lbfgs(rosenbrock, torch.ones(0)), ValueError, r"got shape \(0,\)"),
        (
            lambda: newton(rosenbrock, torch.tensor([1, 2])),
            TypeError,
            "x0 must be a floating-point tensor, got dtype torch.int64",
        ),
        (
            lambda: newton(rosenbrock, torch.tensor([1.0, math.nan])),
            ValueError,
            "x0 must be finite",
        ),
        (lambda: bfgs(rosenbrock, X0, gtol=0.0), ValueError, "gtol must be > 0.0, got 0.0"),
        (lambda: bfgs(rosenbrock, X0, gtol=-1e-5), ValueError, "gtol must be > 0.0, got -1e-05"),
        (lambda: bfgs(rosenbrock, X0, gtol=math.nan), ValueError, "gtol must be finite, got nan"),
        (
            lambda: conjugate_gradient(rosenbrock, X0, max_iter=0),
            ValueError,
            "max_iter must be >= 1, got 0",
        ),
        (
            lambda: conjugate_gradient(rosenbrock, X0, max_iter=2.5),
            TypeError,
            "max_iter must be an integer, got 2.5",
        ),
        (
            lambda: conjugate_gradient(rosenbrock, X0, beta="hestenes"),
            ValueError,
            "beta must be one of .*, got 'hestenes'",
        ),
        (
            lambda: conjugate_gradient(rosenbrock, X0, restart_every=0),
            ValueError,
            "restart_every must be >= 1, got 0",
        ),
        (
            lambda: bfgs(rosenbrock, X0, line_search=None),
            ValueError,
            "line_search must be one of .*, got None",
        ),
        (
            lambda: newton(rosenbrock, X0, line_search="exact"),
            ValueError,
            "line_search must be one of .*, got 'exact'",
        ),
        (
            lambda: bfgs(rosenbrock, X0, c1=0.5, c2=0.4),
            ValueError,
            "need 0 < c1 < c2 < 1, got c1=0.5, c2=0.4",
        ),
        (lambda: bfgs(rosenbrock, X0, c2=1.0), ValueError, "c2 must be < 1.0, got 1.0"),
        (
            lambda: bfgs(rosenbrock, X0, scale_initial=1),
            TypeError,
            "scale_initial must be True or False, got 1",
        ),
        (lambda: lbfgs(rosenbrock, X0, m=0), ValueError, "m must be >= 1, got 0"),
        (
            lambda: newton(rosenbrock, X0, damping=-1.0),
            ValueError,
            "damping must be >= 0.0, got -1.0",
        ),
        (
            lambda: newton(rosenbrock, X0, saddle_free="yes"),
            TypeError,
            "saddle_free must be True or False, got 'yes'",
        ),
        (
            lambda: bfgs(lambda x: x * 2, X0),
            ValueError,
            r"f must return a scalar \(0-d\) tensor, got \(2,\)",
        ),
        (
            lambda: bfgs(lambda x: 1.0, X0),
            ValueError,
            r"f must return a scalar \(0-d\) tensor, got float",
        ),
        (
            lambda: bfgs(lambda x: torch.tensor(x.sum().item()), X0),
            ValueError,
            "f must be differentiable by autograd in its argument",
        ),
        (
            lambda: bfgs(lambda x: x.sum() / 0.0 * 0.0, X0),
            ValueError,
            r"finite at x0, got f\(x0\) = nan",
        ),
        (
            lambda: linear_conjugate_gradient(torch.eye(3), torch.ones(2)),
            ValueError,
            r"A must have shape \(2, 2\) to match b, got \(3, 3\)",
        ),
        (
            lambda: linear_conjugate_gradient(torch.triu(torch.ones(2, 2)), torch.ones(2)),
            ValueError,
            "A must be symmetric",
        ),
        (
            lambda: linear_conjugate_gradient(torch.eye(2), torch.ones(2), x0=torch.ones(3)),
            ValueError,
            "x0 must have 2 entries",
        ),
        (
            lambda: linear_conjugate_gradient(torch.eye(2), torch.ones(2), tol=0.0),
            ValueError,
            "tol must be > 0.0, got 0.0",
        ),
        (
            lambda: linear_conjugate_gradient("A", torch.ones(2)),
            TypeError,
            "A must be a tensor or a callable",
        ),
        (
            lambda: strong_wolfe(lambda t: (0.0, 0.0), 0.0, 1.0),
            ValueError,
            r"descent direction, got phi'\(0\) = 1.0",
        ),
        (
            lambda: strong_wolfe(lambda t: (0.0, 0.0), 0.0, -1.0, 0.0),
            ValueError,
            "step0 must be > 0.0, got 0.0",
        ),
        (
            lambda: backtracking(lambda t: (0.0, 0.0), 0.0, -1.0, shrink=1.0),
            ValueError,
            "shrink must be < 1.0, got 1.0",
        ),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
