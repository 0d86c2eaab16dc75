"""optbook.experiments.ch08_6.saddles: the double well's stationary points (by autograd), and the
batched Newton iteration against optbook.second_order.newton run one start at a time."""

import numpy as np
import pytest
import torch

from optbook.experiments.ch08_6.saddles import (
    double_well_points,
    nearest_stationary,
    newton_paths,
)
from optbook.problems.landscapes import double_well, quadratic, saddle
from optbook.second_order import newton

torch.set_default_dtype(torch.float64)


@pytest.mark.parametrize("coupling,stiffness", [(0.5, 1.0), (0.0, 2.0), (-1.3, 0.4)])
def test_double_well_gradient_and_stationary_points(coupling, stiffness):
    land = double_well(coupling, stiffness)
    gen = torch.Generator().manual_seed(0)
    pts = 3 * torch.randn(50, 2, generator=gen)
    x = pts.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(land.f(x).sum(), x)
    torch.testing.assert_close(land.grad(pts), g, rtol=1e-12, atol=1e-12)
    for p in double_well_points(coupling):
        theta = torch.tensor([p.x, p.y])
        assert land.grad(theta).abs().max() < 1e-12
        eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(land.f, theta))
        assert p.kind == ("minimum" if eig.min() > 0 else "saddle")
        if p.kind == "minimum":
            assert land.f(theta).item() == 0.0
            assert eig.max().item() == pytest.approx(land.lipschitz, rel=1e-12)


@pytest.mark.parametrize(
    "kw", [{}, dict(damping=0.7), dict(saddle_free=True), dict(damping=0.3, saddle_free=True)]
)
def test_newton_paths_match_second_order_newton(kw):
    land = double_well()
    starts = np.array([[0.3, 1.5], [-0.2, 0.4], [1.7, -1.2], [-1.9, 1.9], [0.05, -0.6]])
    paths = newton_paths(land, starts, 8, **kw)
    assert paths.shape == (9, 5, 2)
    np.testing.assert_array_equal(paths[0], starts)
    for j, s in enumerate(starts):
        res = newton(land.f, torch.tensor(s), line_search=None, gtol=1e-300, max_iter=8, **kw)
        k = res.nit + 1
        np.testing.assert_allclose(paths[:k, j], res.path, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("saddle_free", [False, True])
def test_one_damping_per_start_equals_one_run_per_damping(saddle_free):
    land = double_well()
    starts = np.array([[0.3, 1.5], [0.3, 1.5], [-0.2, 0.4], [1.7, -1.2], [0.05, -0.6]])
    alphas = np.array([0.0, 2.5, 0.7, 6.0, 0.25])
    batched = newton_paths(land, starts, 12, damping=alphas, saddle_free=saddle_free)
    for j, (s, a) in enumerate(zip(starts, alphas, strict=True)):
        one = newton_paths(land, [s], 12, damping=float(a), saddle_free=saddle_free)[:, 0]
        np.testing.assert_allclose(batched[:, j], one, rtol=1e-13, atol=1e-15)
    assert not np.allclose(batched[:, 0], batched[:, 1])  # the damping did change the path


def test_pure_newton_jumps_onto_the_saddle_saddle_free_newton_does_not():
    land = saddle()  # x² − y²: the quadratic model is exact
    paths = newton_paths(land, [[0.7, -0.3], [-1.0, 1.5]], 3)
    np.testing.assert_array_equal(paths[1:], 0.0)  # one step, straight onto the saddle
    free = newton_paths(land, [[0.7, -0.3]], 3, saddle_free=True)
    np.testing.assert_allclose(free[:, 0], [[0.7, -0.3], [0.0, -0.6], [0.0, -1.2], [0.0, -2.4]])


def test_a_quadratic_is_solved_in_one_step_and_singular_runs_stop():
    np.testing.assert_allclose(newton_paths(quadratic(10.0), [[-9.0, 2.0]], 2)[1:], 0.0, atol=1e-15)
    land = double_well(0.0, 1.0)  # H = diag(12x² − 4, 2): singular on x = ±1/√3
    x = 1 / np.sqrt(3)
    paths = newton_paths(land, [[x, 0.5], [0.9, 0.5]], 4)
    assert np.isnan(paths[1:, 0]).all()  # a (numerically) singular H stops that run ...
    assert np.isfinite(paths[:, 1]).all()  # ... and only that one


def test_runs_that_escape_stop_with_nan():
    land = saddle()
    paths = newton_paths(land, [[0.0, 1.0]], 40, saddle_free=True, escape_radius=10.0)
    assert np.isfinite(paths[:5]).all() and np.isnan(paths[-1]).all()


def test_nearest_stationary_labels():
    pts = double_well_points(0.5)
    ends = np.array([[-1.0, -0.5], [1.0, 0.5 + 1e-9], [1e-5, 0.0], [0.5, 0.5], [np.nan, np.nan]])
    np.testing.assert_array_equal(nearest_stationary(ends, pts, 1e-6), [0, 1, -1, -1, -1])
    np.testing.assert_array_equal(nearest_stationary(ends, pts, 1e-3), [0, 1, 2, -1, -1])


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: double_well(stiffness=0.0), ValueError, "stiffness"),
        (lambda: double_well(coupling=float("nan")), ValueError, "coupling"),
        (lambda: newton_paths("no", [[0, 0]], 1), TypeError, "Landscape"),
        (lambda: newton_paths(double_well(), [[0, 0, 0]], 1), ValueError, r"\(N, 2\)"),
        (lambda: newton_paths(double_well(), [[0, np.inf]], 1), ValueError, "finite"),
        (lambda: newton_paths(double_well(), [[0, 0]], -1), ValueError, "steps"),
        (lambda: newton_paths(double_well(), [[0, 0]], 1, damping=-1.0), ValueError, "damping"),
        (lambda: newton_paths(double_well(), [[0, 0], [1, 1]], 1, damping=[0.0, np.nan]), ValueError,
         r"nan at index 1"),
        (lambda: newton_paths(double_well(), [[0, 0], [1, 1]], 1, damping=[0.0, -2.0]), ValueError,
         r"-2\.0 at index 1"),
        (lambda: newton_paths(double_well(), [[0, 0], [1, 1]], 1, damping=[0.0, 1.0, 2.0]), ValueError,
         r"shape \(2,\)"),
        (lambda: newton_paths(double_well(), [[0, 0]], 1, damping=["a"]), TypeError, "damping"),
        (lambda: newton_paths(double_well(), [[0, 0]], 1, saddle_free=1), TypeError, "saddle_free"),
        (lambda: nearest_stationary(np.zeros(3), double_well_points()), ValueError, "ends"),
        (lambda: nearest_stationary(np.zeros((1, 2)), []), ValueError, "at least one"),
        (lambda: nearest_stationary(np.zeros((1, 2)), double_well_points(), 0.0), ValueError, "radius"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
