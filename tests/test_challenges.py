"""optbook.experiments.ch08_2.challenges: analytic gradients against torch.autograd, the
single-unit RNN against a
literal unrolled transcription of Pascanu et al. (2013), and the properties the chapter uses."""

import math

import numpy as np
import pytest
import torch

from optbook.experiments.ch08_2.challenges import (
    rnn_cliff,
    saddle_with_minima,
    sigmoid,
    tanh,
    wrong_side_of_mountain,
)

torch.set_default_dtype(torch.float64)


def _points(landscape, n=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lo = torch.tensor([landscape.xlim[0], landscape.ylim[0]])
    hi = torch.tensor([landscape.xlim[1], landscape.ylim[1]])
    return lo + (hi - lo) * torch.rand(n, 2, generator=gen)


@pytest.mark.parametrize(
    "make", [rnn_cliff, saddle_with_minima, lambda: rnn_cliff(steps=7, x0=-0.3, target=0.2)]
)
def test_gradient_matches_autograd(make):
    land = make()
    for theta in _points(land):
        theta = theta.clone().requires_grad_(True)
        f = land.f(theta)
        (auto,) = torch.autograd.grad(f, theta)
        torch.testing.assert_close(land.grad(theta.detach()), auto, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("make", [rnn_cliff, saddle_with_minima])
def test_float_numpy_torch_agree(make):
    land = make()
    pts = _points(land, n=15, seed=1)
    arr = land.value_and_grad(pts[:, 0].numpy(), pts[:, 1].numpy())
    for i, (x, y) in enumerate(pts.tolist()):
        one = land.value_and_grad(x, y)
        ten = land.value_and_grad(torch.tensor(x), torch.tensor(y))
        for a, b, c in zip(one, arr, ten, strict=True):
            assert isinstance(a, float)
            assert abs(a - b[i]) <= 1e-13 * max(1.0, abs(a))
            assert abs(a - c.item()) <= 1e-13 * max(1.0, abs(a))


def test_rnn_cliff_is_the_paper_model():
    """x_t = w sigma(x_{t-1}) + b, x_0 = 0.5, cost (sigma(x_50) - 0.7)^2: a literal loop."""
    land = rnn_cliff()
    for w, b in [(1.0, 0.0), (6.0, -2.0), (-3.0, 1.5), (12.0, -6.0)]:
        x = torch.tensor(0.5)
        for _ in range(50):
            x = w * torch.sigmoid(x) + b
        expected = (torch.sigmoid(x) - 0.7) ** 2
        assert abs(land.value_and_grad(w, b)[0] - expected.item()) < 1e-14


def test_rnn_cliff_has_a_cliff():
    """Crossing the line between the two attractors, the cost jumps between its plateaus, and on
    the wall the gradient is astronomically larger than on the plateaus."""
    land = rnn_cliff()
    w = 8.0
    b = np.linspace(-5.0, -1.0, 4001)
    f, gw, gb = land.value_and_grad(np.full_like(b, w), b)
    assert f[0] > 0.48 and f[-1] > 0.085  # both ends sit on flat plateaus ...
    assert np.hypot(gw, gb)[[0, -1]].max() < 0.05  # ... with small gradients
    jump = np.argmax(np.abs(np.diff(f)))
    assert abs(f[jump + 1] - f[jump]) > 0.2  # a jump over 1e-3 in b
    lo, hi = b[jump], b[jump + 1]  # bisect to the wall
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if land.value_and_grad(w, mid)[0] > 0.3 else (lo, mid)
    assert math.hypot(*land.value_and_grad(w, lo)[1:]) > 1e6


def test_saddle_with_minima():
    land = saddle_with_minima()
    f, gx, gy = land.value_and_grad(0.0, 0.0)
    assert (f, gx, gy) == (0.0, 0.0, 0.0)
    f, gx, gy = land.value_and_grad(0.0, 1.0)
    assert (f, gx, gy) == (-0.25, 0.0, 0.0)
    H = torch.autograd.functional.hessian(land.f, torch.zeros(2))
    torch.testing.assert_close(H, torch.diag(torch.tensor([1.0, -1.0])))


def test_wrong_side_of_mountain():
    theta = torch.linspace(-6, 8, 1401, requires_grad=True)
    J, dJ = wrong_side_of_mountain(theta)
    (auto,) = torch.autograd.grad(J.sum(), theta)
    torch.testing.assert_close(dJ, auto, rtol=1e-12, atol=1e-14)
    d = dJ.detach().numpy()
    crossings = np.flatnonzero(np.diff(np.sign(d)) != 0)
    assert len(crossings) == 1  # one critical point ...
    top = theta[crossings[0]].item()
    assert 0.2 < top < 0.35 and d[0] > 0 and d[-1] < 0  # ... a maximum
    assert wrong_side_of_mountain(-20.0)[0] < -0.999 and 0 < wrong_side_of_mountain(20.0)[0] < 1e-6
    a = wrong_side_of_mountain(np.array([0.5]))[0][0]
    assert a == pytest.approx(wrong_side_of_mountain(0.5)[0], rel=1e-15)


def test_sigmoid_and_tanh_dispatch():
    for x in [-800.0, -3.0, 0.0, 2.5, 800.0]:
        ref = torch.sigmoid(torch.tensor(x)).item()
        assert sigmoid(x) == pytest.approx(ref, rel=1e-14, abs=1e-300)
        assert math.isfinite(sigmoid(x))
    assert isinstance(tanh(np.zeros(2)), np.ndarray) and isinstance(tanh(torch.zeros(2)), torch.Tensor)


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        rnn_cliff(steps=0)
    with pytest.raises(ValueError, match="target must be < 1.0, got 1.0"):
        rnn_cliff(target=1.0)
    with pytest.raises(TypeError, match="x0 must be a real number"):
        rnn_cliff(x0="0.5")


def test_saddle_with_minima_is_the_double_well_turned_and_scaled():
    """§8.2's surface is §8.6's double well D (c = 0, b = 2): f(x, y) = D(y, x)/4 - 1/4, written out."""
    from optbook.problems.landscapes import double_well

    gen = torch.Generator().manual_seed(3)
    x, y = (3 * torch.randn(2, 100, generator=gen, dtype=torch.float64)).unbind()
    f, fx, fy = saddle_with_minima().value_and_grad(x, y)
    torch.testing.assert_close(f, 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(fx, x, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(fy, y**3 - y, rtol=1e-14, atol=1e-14)
    d, _, _ = double_well(0.0, 2.0).value_and_grad(y, x)
    torch.testing.assert_close(f, 0.25 * d - 0.25, rtol=0, atol=0)
