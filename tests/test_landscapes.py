"""Landscapes: analytic gradients against autograd; the trajectory runner against a hand loop."""

import functools

import numpy as np
import pytest
import torch

from optbook.optim import SGD
from optbook.problems import landscapes
from optbook.problems.landscapes import run_trajectory

ALL = [
    landscapes.quadratic(1.0),
    landscapes.quadratic(50.0),
    landscapes.rosenbrock(),
    landscapes.rosenbrock(a=0.5, b=10.0),
    landscapes.saddle(),
    landscapes.monkey_saddle(),
]


@pytest.mark.parametrize("land", ALL, ids=lambda land: land.name)
def test_gradient_matches_autograd(land):
    gen = torch.Generator().manual_seed(0)
    pts = (torch.rand(50, 2, generator=gen, dtype=torch.float64) * 4 - 2).requires_grad_(True)
    (auto,) = torch.autograd.grad(land.f(pts).sum(), pts)
    torch.testing.assert_close(land.grad(pts.detach()), auto, rtol=1e-13, atol=1e-12)
    # and the float path used by the runner agrees with the tensor path
    x, y = 0.3, -1.1
    f, gx, gy = land.value_and_grad(x, y)
    t = torch.tensor([x, y], dtype=torch.float64)
    assert f == pytest.approx(land.f(t).item(), rel=1e-15)
    assert [gx, gy] == pytest.approx(land.grad(t).tolist(), rel=1e-15)


@pytest.mark.parametrize("land", [landscapes.quadratic(7.0), landscapes.rosenbrock()],
                         ids=lambda land: land.name)
def test_lipschitz_is_largest_hessian_eigenvalue_at_minimiser(land):
    x = torch.tensor(land.minimiser, dtype=torch.float64)
    H = torch.autograd.functional.hessian(land.f, x)
    assert land.f(x).item() == pytest.approx(0.0, abs=1e-15)
    assert land.lipschitz == pytest.approx(torch.linalg.eigvalsh(H).max().item(), rel=1e-12)


def test_grid_shapes_and_values():
    land = landscapes.rosenbrock()
    X, Y, Z = land.grid(31)
    assert X.shape == Y.shape == Z.shape == (31, 31)
    assert X[0, 0] == land.xlim[0] and X[0, -1] == land.xlim[1]
    assert Y[0, 0] == land.ylim[0] and Y[-1, 0] == land.ylim[1]
    i, j = 17, 5
    expected = land.f(torch.tensor([X[i, j], Y[i, j]], dtype=torch.float64)).item()
    assert Z[i, j] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_runner_matches_a_hand_written_loop(momentum, nesterov):
    land = landscapes.rosenbrock()
    make = functools.partial(SGD, lr=5e-4, momentum=momentum, nesterov=nesterov)
    traj = run_trajectory(land, make, 100)
    theta = torch.tensor(land.x0, dtype=torch.float64, requires_grad=True)
    opt = make([theta])
    expected = [theta.detach().clone()]
    for _ in range(100):
        opt.zero_grad()
        land.f(theta).backward()
        opt.step()
        expected.append(theta.detach().clone())
    expected = torch.stack(expected).numpy()
    np.testing.assert_allclose(traj.path, expected, rtol=1e-12, atol=1e-13)
    losses = land.f(torch.from_numpy(expected)).numpy()
    np.testing.assert_allclose(traj.losses, losses, rtol=1e-12, atol=1e-15)
    assert not traj.diverged and traj.path.shape == (101, 2)


def test_runner_works_with_torch_optimisers_including_lbfgs():
    land = landscapes.rosenbrock()
    adam = run_trajectory(land, functools.partial(torch.optim.Adam, lr=0.05), 300)
    assert adam.losses[-1] < adam.losses[0] / 10
    lbfgs = run_trajectory(land, functools.partial(torch.optim.LBFGS, lr=1.0, max_iter=20), 10)
    assert lbfgs.losses[-1] < 1e-8


def test_divergence_stops_cleanly():
    land = landscapes.quadratic(10.0)
    traj = run_trajectory(land, lambda p: SGD(p, lr=2.5), 500)  # unstable: εL = 2.5 > 2
    assert traj.diverged
    assert 1 < traj.diverged_at < 500
    assert len(traj.path) == len(traj.losses) == traj.diverged_at
    assert np.isfinite(traj.path).all() and np.isfinite(traj.losses).all()
    stable = run_trajectory(land, lambda p: SGD(p, lr=1.9), 500)
    assert not stable.diverged


def test_steps_to():
    traj = run_trajectory(landscapes.quadratic(1.0), lambda p: SGD(p, lr=0.5), 60)
    k = traj.steps_to(1e-6)
    assert traj.losses[k] <= 1e-6 < traj.losses[k - 1]
    assert traj.steps_to(-1.0) is None


@pytest.mark.parametrize("land,momentum,tol", [
    (landscapes.quadratic(100.0), 0.0, 1e-6),
    (landscapes.rosenbrock(), 0.9, 1e-6),
    (landscapes.quadratic(10.0), 0.5, 1e-9),
])
def test_stop_below_cuts_the_run_where_steps_to_would_look(land, momentum, tol):
    make = functools.partial(SGD, lr=1.0 / land.lipschitz, momentum=momentum)
    full = run_trajectory(land, make, 3000)
    cut = run_trajectory(land, make, 3000, stop_below=tol)
    k = full.steps_to(tol)
    assert k is not None and cut.steps_to(tol) == k and not cut.diverged
    assert len(cut.path) == len(cut.losses) == k + 1
    np.testing.assert_array_equal(cut.path, full.path[: k + 1])  # the same steps, bit for bit
    np.testing.assert_array_equal(cut.losses, full.losses[: k + 1])
    assert len(run_trajectory(land, make, 3000, stop_below=-1.0).path) == 3001  # never reached
    start = run_trajectory(land, make, 3000, stop_below=float(full.losses[0]))
    assert len(start.path) == 1 and start.steps_to(full.losses[0]) == 0  # already there


def test_runner_bad_arguments():
    land = landscapes.quadratic()
    with pytest.raises(ValueError, match="steps must be >= 0, got -1"):
        run_trajectory(land, lambda p: SGD(p, lr=0.1), -1)
    with pytest.raises(TypeError, match="make_optimizer must be callable"):
        run_trajectory(land, "sgd", 10)
    with pytest.raises(TypeError, match="must return a torch.optim.Optimizer"):
        run_trajectory(land, lambda p: None, 10)
    with pytest.raises(ValueError, match="stop_below must be finite"):
        run_trajectory(land, lambda p: SGD(p, lr=0.1), 10, stop_below=float("nan"))
    with pytest.raises(ValueError, match=r"x0 must be a point \(x, y\)"):
        run_trajectory(land, lambda p: SGD(p, lr=0.1), 10, x0=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="kappa must be >= 1.0, got 0.5"):
        landscapes.quadratic(0.5)
    with pytest.raises(ValueError, match="b must be > 0.0, got 0.0"):
        landscapes.rosenbrock(b=0.0)
