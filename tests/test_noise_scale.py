"""optbook.noise_scale: McCandlish et al.'s (2018) B_simple = tr(Σ)/|G|², on problems where Σ and G
are known exactly (per-example gradients of linear regression in closed form)."""

import itertools
import math
import re

import pytest
import torch

from optbook.noise_scale import (
    NoiseScale,
    estimate_noise_scale,
    minibatch_gradient_fn,
    noise_coefficient,
    noise_scale_from_norms,
)

torch.set_default_dtype(torch.float64)


def _regression(n=200, d=5, seed=0):
    """Per-example gradients g_i = x_i (x_iᵀw − y_i) of ½(x_iᵀw − y_i)² at a fixed w, and the exact
    G = mean g_i and tr Σ = mean |g_i − G|² (population covariance)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen) * torch.linspace(0.5, 2.0, d)
    w_true = torch.randn(d, generator=gen)
    y = X @ w_true + 0.5 * torch.randn(n, generator=gen)
    w = w_true + 0.1 * torch.randn(d, generator=gen)  # near the optimum: B_simple ≈ 18
    per_example = X * (X @ w - y)[:, None]
    G = per_example.mean(0)
    trace_sigma = ((per_example - G) ** 2).sum(1).mean()
    return X, y, w, per_example, G, trace_sigma


# --- exact: the estimators are unbiased (expectations by enumerating every batch) -------------


@pytest.mark.parametrize("b_small,b_big", [(1, 2), (1, 3), (2, 3)])
def test_estimators_are_unbiased_with_replacement(b_small, b_big):
    _, _, _, g, G, trace_sigma = _regression(n=5, d=3)
    expected = {}
    for b in (b_small, b_big):
        batches = list(itertools.product(range(5), repeat=b))  # every ordered batch, equally likely
        sq = torch.stack([g[list(idx)].mean(0).pow(2).sum() for idx in batches])
        expected[b] = sq.mean()
        # the identity the estimators rest on: E|G_B|² = |G|² + tr(Σ)/B
        torch.testing.assert_close(expected[b], G @ G + trace_sigma / b, rtol=1e-13, atol=0)
    G2, S = noise_scale_from_norms(expected[b_small], expected[b_big], b_small, b_big)
    torch.testing.assert_close(G2, G @ G, rtol=1e-12, atol=0)
    torch.testing.assert_close(S, trace_sigma, rtol=1e-12, atol=0)
    # the paper's form (Appendix A.1) written out
    paper_G2 = (b_big * expected[b_big] - b_small * expected[b_small]) / (b_big - b_small)
    paper_S = (expected[b_small] - expected[b_big]) / (1 / b_small - 1 / b_big)
    torch.testing.assert_close(G2, paper_G2, rtol=1e-12, atol=0)
    torch.testing.assert_close(S, paper_S, rtol=1e-12, atol=0)


@pytest.mark.parametrize("b_small,b_big", [(1, 2), (2, 4), (1, 6)])
def test_estimators_are_unbiased_without_replacement(b_small, b_big):
    n = 6
    _, _, _, g, G, trace_sigma = _regression(n=n, d=3, seed=1)
    expected = {}
    for b in (b_small, b_big):
        sq = torch.stack([g[list(c)].mean(0).pow(2).sum() for c in itertools.combinations(range(n), b)])
        expected[b] = sq.mean()
        c_b = noise_coefficient(b, n)
        assert c_b == pytest.approx((n - b) / (b * (n - 1)), rel=1e-15)
        torch.testing.assert_close(expected[b], G @ G + c_b * trace_sigma, rtol=1e-13, atol=0)
    G2, S = noise_scale_from_norms(expected[b_small], expected[b_big], b_small, b_big, n=n)
    torch.testing.assert_close(G2, G @ G, rtol=1e-12, atol=0)
    torch.testing.assert_close(S, trace_sigma, rtol=1e-12, atol=0)
    if b_big == n:  # the full batch is G itself
        assert noise_coefficient(n, n) == 0.0


# --- Monte Carlo: many seeded draws land within their standard error ------------------------


@pytest.mark.parametrize("replace", [True, False])
@pytest.mark.parametrize("b_small,b_big", [(4, 32), (8, 64)])
def test_estimate_noise_scale_on_linear_regression(replace, b_small, b_big):
    """The averages of the unbiased per-draw estimates are within 4 standard errors (computed
    from the draws) of the exact |G|² and tr Σ; the standard errors are a few per cent, so
    the test can fail. B_simple gets the sum of both relative margins (first-order error of a
    ratio)."""
    X, y, w, g, G, trace_sigma = _regression()
    grad_fn = lambda idx: g[idx].mean(0)  # noqa: E731  (closed form)
    est = estimate_noise_scale(grad_fn, len(X), b_small, b_big, draws=4000, seed=1, replace=replace)
    assert isinstance(est, NoiseScale) and est.draws == 4000 and est.per_draw.shape == (4000, 2)
    exact_G2, exact_S = (G @ G).item(), trace_sigma.item()
    assert abs(est.grad_sq_norm - exact_G2) < 4 * est.grad_sq_norm_se
    assert abs(est.trace_sigma - exact_S) < 4 * est.trace_sigma_se
    assert est.grad_sq_norm_se < 0.05 * exact_G2 and est.trace_sigma_se < 0.05 * exact_S
    margin = 4 * (est.grad_sq_norm_se / exact_G2 + est.trace_sigma_se / exact_S)
    assert est.b_simple == pytest.approx(exact_S / exact_G2, rel=margin)
    assert 10 < exact_S / exact_G2 < 30  # between the batch sizes tried: an informative case


def test_same_seed_same_estimate_and_autograd_grad_fn():
    """minibatch_gradient_fn's autograd gradient is the closed-form one, so the estimates agree."""
    X, y, w, g, G, trace_sigma = _regression(n=50)
    model = torch.nn.Linear(5, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(w[None, :])
    loss = lambda out, target: 0.5 * ((out[:, 0] - target) ** 2).mean()  # noqa: E731
    grad_fn = minibatch_gradient_fn(model, loss, X, y)
    idx = torch.tensor([3, 3, 7, 10])
    torch.testing.assert_close(grad_fn(idx), g[idx].mean(0), rtol=1e-13, atol=1e-14)
    assert model.weight.grad is None
    a = estimate_noise_scale(grad_fn, 50, 2, 10, draws=20, seed=3)
    b = estimate_noise_scale(lambda i: g[i].mean(0), 50, 2, 10, draws=20, seed=3)
    assert a.b_simple == pytest.approx(b.b_simple, rel=1e-10)
    torch.testing.assert_close(a.per_draw, b.per_draw, rtol=1e-10, atol=1e-12)


def _e(s):
    return re.escape(s)


def test_errors():
    g = lambda idx: torch.zeros(3)  # noqa: E731
    with pytest.raises(ValueError, match="b_big must be > b_small, got b_small=4, b_big=4"):
        estimate_noise_scale(g, 10, 4, 4)
    with pytest.raises(ValueError, match="b_big must be > b_small, got b_small=5, b_big=2"):
        noise_scale_from_norms(1.0, 1.0, 5, 2)
    with pytest.raises(ValueError, match="b_big=20 cannot be drawn without replacement from n=10"):
        estimate_noise_scale(g, 10, 4, 20, replace=False)
    with pytest.raises(ValueError, match="a batch of b=7 cannot be drawn without replacement from n=5"):
        noise_coefficient(7, 5)
    with pytest.raises(ValueError, match="draws must be >= 2, got 1"):
        estimate_noise_scale(g, 10, 1, 2, draws=1)
    with pytest.raises(ValueError, match="b_small must be >= 1, got 0"):
        estimate_noise_scale(g, 10, 0, 2)
    with pytest.raises(TypeError, match="replace must be True or False, got 1"):
        estimate_noise_scale(g, 10, 1, 2, replace=1)
    with pytest.raises(TypeError, match="grad_fn must be callable"):
        estimate_noise_scale(None, 10, 1, 2)
    msg = "grad_fn must return a 1-D tensor (the flat gradient), got (3, 1)"
    with pytest.raises(ValueError, match=_e(msg)):
        estimate_noise_scale(lambda idx: torch.zeros(3, 1), 10, 1, 2)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        minibatch_gradient_fn(g, g, torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match="X and y must have as many rows, got 2 and 3"):
        minibatch_gradient_fn(torch.nn.Linear(1, 1), g, torch.zeros(2, 1), torch.zeros(3))
    assert math.isinf(estimate_noise_scale(lambda idx: torch.zeros(3), 10, 1, 2).b_simple)
