"""optbook.experiments.ch08_7.smoothing: Gauss–Hermite smoothing against closed forms (polynomials, cosines,
Gaussian wells) and Monte Carlo; continuation against a literal gradient-descent loop."""

import math

import numpy as np
import pytest
import torch

from optbook.experiments.ch08_7.smoothing import continuation, descents_per_blur, gaussian_smoothing
from optbook.problems.landscapes import rosenbrock

torch.set_default_dtype(torch.float64)


def wiggly(x):
    return 0.1 * x**2 - torch.cos(3.0 * x) + 0.5 * torch.sin(1.3 * x + 0.2)


def wiggly_smoothed(x, s):
    """E f(x + s u), u ~ N(0, 1): E cos(ω(x + su)) = e^{−ω²s²/2} cos(ωx), E (x + su)² = x² + s²."""
    return (0.1 * (x**2 + s**2) - math.exp(-4.5 * s**2) * torch.cos(3.0 * x)
            + 0.5 * math.exp(-0.5 * 1.69 * s**2) * torch.sin(1.3 * x + 0.2))


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 2.5])
def test_1d_matches_the_closed_form(sigma):
    x = torch.linspace(-6, 6, 101)
    got = gaussian_smoothing(wiggly, sigma, n_nodes=60)(x)
    torch.testing.assert_close(got, wiggly_smoothed(x, sigma), rtol=0, atol=1e-12)


def test_polynomials_are_exact_and_sigma_zero_is_f():
    f = lambda x: x**4 - 2 * x**3 + x  # E (x+su)^4 = x⁴ + 6x²s² + 3s⁴, E (x+su)^3 = x³ + 3xs²  # noqa: E731
    x, s = torch.linspace(-2, 2, 9), 0.7
    want = x**4 + 6 * x**2 * s**2 + 3 * s**4 - 2 * (x**3 + 3 * x * s**2) + x
    torch.testing.assert_close(gaussian_smoothing(f, s, n_nodes=3)(x), want, rtol=1e-13, atol=1e-13)
    assert gaussian_smoothing(f, 0.0) is f


@pytest.mark.parametrize("w,n_nodes,atol", [(0.3, 100, 1e-9), (0.1, 300, 1e-3)])
def test_narrow_well_closed_form(w, n_nodes, atol):
    # A Gaussian well of width w smoothed by N(0, s²) is a Gaussian well of width √(w² + s²):
    # spread out and shallow. Narrow features need many nodes (node spacing ≈ 2.2 s / √n).
    c, s = -3.0, 0.8
    well = lambda x: -torch.exp(-((x - c) ** 2) / (2 * w**2)) / w  # noqa: E731
    x = torch.linspace(-5, 0, 51)
    v = w**2 + s**2
    want = -torch.exp(-((x - c) ** 2) / (2 * v)) / math.sqrt(v)
    torch.testing.assert_close(gaussian_smoothing(well, s, n_nodes=n_nodes)(x), want, rtol=0, atol=atol)
    if w < 0.2:
        assert (gaussian_smoothing(well, s, n_nodes=40)(x) - want).abs().max() > 0.1  # too few nodes


def test_2d_landscape_matches_monte_carlo_and_the_closed_form():
    land = rosenbrock()
    s = 0.3
    J = gaussian_smoothing(land.f, s, dim=2, n_nodes=6)  # a quartic: 6 nodes are exact
    pts = torch.tensor([[-1.5, 1.5], [0.0, 0.0], [1.0, 1.0]])
    # closed form: E (1 − x − su)² + 100 E (y + sv − (x + su)²)²
    x, y = pts[:, 0], pts[:, 1]
    e1 = (1 - x) ** 2 + s**2
    e2 = (y - x**2) ** 2 + s**2 + 2 * (y - x**2) * (-(s**2)) + 4 * x**2 * s**2 + 3 * s**4
    torch.testing.assert_close(J(pts), e1 + 100 * e2, rtol=1e-12, atol=1e-12)
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(400_000, 2, generator=gen)
    mc = torch.stack([land.f(p + s * u).mean() for p in pts])
    torch.testing.assert_close(J(pts), mc, rtol=2e-2, atol=0.0)


def test_gradient_flows_through():
    x = torch.tensor([0.4, -1.0], requires_grad=True)
    J = gaussian_smoothing(wiggly, 0.5, n_nodes=60)
    (g,) = torch.autograd.grad(J(x).sum(), x)
    xr = x.detach().clone().requires_grad_(True)
    (want,) = torch.autograd.grad(wiggly_smoothed(xr, 0.5).sum(), xr)
    torch.testing.assert_close(g, want, rtol=1e-10, atol=1e-12)


def test_continuation_is_gradient_descent_stage_by_stage():
    sigmas, steps, lr = [2.0, 1.0, 0.0], [30, 20, 25], 0.2
    res = continuation(wiggly, -4.0, sigmas, steps, lr, n_nodes=60)
    x = torch.tensor(-4.0)
    want = [x.item()]
    for s, n in zip(sigmas, steps, strict=True):
        for _ in range(n):
            xr = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(wiggly_smoothed(xr, s) if s > 0 else wiggly(xr), xr)
            x = x - lr * g
            want.append(x.item())
    np.testing.assert_allclose(res.path, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(res.stage_ends, [30, 50, 75])
    np.testing.assert_array_equal(res.stage, [0] * 30 + [1] * 20 + [2] * 25)
    np.testing.assert_allclose(res.losses, wiggly(torch.tensor(want)).numpy(), rtol=1e-9, atol=1e-12)


def test_continuation_escapes_where_plain_descent_is_trapped():
    plain = continuation(wiggly, -4.0, [0.0], 300, 0.1)
    cont = continuation(wiggly, -4.0, [2.0, 1.0, 0.5, 0.0], 100, 0.1, n_nodes=60)
    grid = torch.linspace(-6, 6, 100_001)
    best = wiggly(grid).min().item()
    assert plain.losses[-1] > best + 0.5  # stuck in a local minimum
    assert cont.losses[-1] == pytest.approx(best, abs=1e-6)


def test_continuation_in_2d_and_divergence_stops():
    land = rosenbrock()
    res = continuation(land.f, (-1.5, 1.5), [0.2, 0.0], 50, 1e-3, dim=2, n_nodes=6)
    assert res.path.shape == (101, 2) and res.losses[-1] < res.losses[0]
    blow = continuation(lambda x: x**4, 10.0, [0.0], 50, 1.0)
    assert blow.path.shape[0] < 51 and np.isfinite(blow.path).all()


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: gaussian_smoothing("f", 1.0), TypeError, "callable"),
        (lambda: gaussian_smoothing(wiggly, -1.0), ValueError, "sigma"),
        (lambda: gaussian_smoothing(wiggly, 1.0, n_nodes=0), ValueError, "n_nodes"),
        (lambda: gaussian_smoothing(wiggly, 1.0, n_nodes=301), ValueError, "n_nodes"),
        (lambda: gaussian_smoothing(wiggly, 1.0, dim=4, n_nodes=40), ValueError, "exceeds"),
        (lambda: gaussian_smoothing(rosenbrock().f, 1.0, dim=2)(torch.zeros(3)), ValueError,
         r"\(\.\.\., 2\)"),
        (lambda: gaussian_smoothing(wiggly, 1.0)(1.0), TypeError, "torch.Tensor"),
        (lambda: continuation(wiggly, 0.0, [], 1, 0.1), ValueError, "at least one"),
        (lambda: continuation(wiggly, 0.0, [1.0, 0.0], [1], 0.1), ValueError, "one per sigma"),
        (lambda: continuation(wiggly, 0.0, [0.0], 1, 0.0), ValueError, "lr"),
        (lambda: continuation(wiggly, (0.0, 1.0), [0.0], 1, 0.1), ValueError, "scalar"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _wiggly(theta):
    return 0.1 * (theta - 1.0) ** 2 - torch.cos(3.0 * theta) + 0.5 * torch.sin(1.3 * theta + 0.2)


def test_descents_per_blur_equal_one_continuation_per_blur():
    sigmas = [0.0, 0.05, 0.4, 1.0, 2.5]
    paths = descents_per_blur(_wiggly, -6.0, sigmas, 200, 0.18, n_nodes=60)
    assert paths.shape == (201, 5)
    for i, s in enumerate(sigmas):
        one = continuation(_wiggly, -6.0, [s], 200, 0.18, n_nodes=60).path
        np.testing.assert_allclose(paths[:, i], one, rtol=1e-12, atol=1e-12)
    assert paths[-1, 0] < -4 < 0 < paths[-1, -1]  # σ = 0 is trapped in a ripple; a wide blur is not


def test_descents_per_blur_mark_a_diverging_run_and_refuse_bad_arguments():
    paths = descents_per_blur(lambda t: t**4, 3.0, [0.0, 0.5], 10, 1.0)  # unstable steps
    assert np.isnan(paths[-1]).all() and np.isfinite(paths[:2]).all()
    for call, exc, match in [
        (lambda: descents_per_blur("f", 0.0, [1.0], 5, 0.1), TypeError, "f must be callable"),
        (lambda: descents_per_blur(_wiggly, 0.0, [], 5, 0.1), ValueError, "at least one blur"),
        (lambda: descents_per_blur(_wiggly, 0.0, [-1.0], 5, 0.1), ValueError, "sigma must be >= 0"),
        (lambda: descents_per_blur(_wiggly, float("nan"), [1.0], 5, 0.1), ValueError, "x0"),
        (lambda: descents_per_blur(_wiggly, 0.0, [1.0], 5, 0.0), ValueError, "lr must be > 0"),
        (lambda: descents_per_blur(_wiggly, 0.0, [1.0], -1, 0.1), ValueError, "steps must be >= 0"),
    ]:
        with pytest.raises(exc, match=match):
            call()
