"""optbook.rbm.training: the loop against the same updates made by hand, its exact
log-likelihood records against optbook.rbm, and from_sklearn against scikit-learn's own
free energy and hidden probabilities; optbook.rbm.plotting's mosaic layout."""

import math
import re

import matplotlib
import numpy as np
import pytest
import torch

from optbook.data import Split, minibatches
from optbook.rbm import RBM, log_likelihood
from optbook.rbm.diagnostics import reconstruction_error
from optbook.rbm.plotting import draw_bipartite, draw_images, tile_images
from optbook.rbm.training import from_sklearn, train

matplotlib.use("Agg")
torch.set_default_dtype(torch.float64)


def _data(n=30, D=6, seed=0):
    proto = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1.0]])[:, :D]
    flips = torch.bernoulli(torch.full((n, D), 0.1), generator=torch.Generator().manual_seed(seed))
    return (proto[torch.arange(n) % 2] + flips) % 2


@pytest.mark.parametrize("method,n_chains", [("cd", None), ("pcd", None), ("pcd", 7), ("exact", None)])
def test_train_makes_the_same_updates_as_a_hand_written_loop(method, n_chains):
    X = _data()
    ours, ref = RBM(6, 3, seed=1), RBM(6, 3, seed=1)
    rates = [0.3, 0.2, 0.1]
    hist = train(ours, X, method=method, k=2, lr=lambda e: rates[e], epochs=3, batch_size=8,
                 seed=4, n_chains=n_chains)
    gen = torch.Generator().manual_seed(4)
    if n_chains is not None:
        ref.chains = X[torch.randperm(len(X), generator=gen)[:n_chains]]
    split = Split(X, torch.zeros(len(X), dtype=torch.int64))
    lls = [ref.log_likelihood(X).mean().item()]
    for e in range(3):
        for v, _ in minibatches(split, 8, gen):
            {"cd": ref.cd_step, "pcd": ref.pcd_step, "exact": ref.exact_step}[method](v, k=2, lr=rates[e])
        lls.append(ref.log_likelihood(X).mean().item())
    for a, b in zip(ours.params, ref.params, strict=True):
        assert torch.equal(a, b)
    np.testing.assert_allclose(hist.log_likelihood["train"], lls, rtol=0, atol=1e-12)
    assert hist.epochs.tolist() == [0, 1, 2, 3]
    assert hist.updates.tolist() == [0, 4, 8, 12]
    assert hist.gibbs_steps.tolist() == ([0, 0, 0, 0] if method == "exact" else [0, 8, 16, 24])
    assert math.isclose(hist.log_partition[-1], ref.log_partition().item(), abs_tol=1e-12)
    assert math.isclose(hist.reconstruction_error[-1],
                        reconstruction_error(X, *ref.params).item(), abs_tol=1e-12)


def test_exact_step_follows_autograd_through_the_exact_log_likelihood():
    # The control of the RBM chapter: θ + ε ∇ (1/m) Σ log p(v), the gradient taken by autograd
    # through log Z (an independent route from exact_gradient's two phases).
    X = _data(8)
    rbm = RBM(6, 3, seed=2, init_std=0.5)
    W, b, c = (p.clone().requires_grad_(True) for p in rbm.params)
    log_likelihood(X, W, b, c).mean().backward()
    grad = rbm.exact_step(X, lr=0.3)
    for new, old, g_step, g_auto in zip(rbm.params, (W, b, c), grad, (W.grad, b.grad, c.grad), strict=True):
        torch.testing.assert_close(g_step, g_auto, rtol=0, atol=1e-12)
        torch.testing.assert_close(new, old.detach() + 0.3 * g_auto, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=re.escape("lr must be > 0.0, got 0.0")):
        rbm.exact_step(X, lr=0.0)
    with pytest.raises(ValueError, match=re.escape("k must be >= 1, got 0")):
        rbm.exact_step(X, k=0)


def test_eval_sets_eval_every_and_callback():
    X, Y = _data(), _data(seed=1)
    seen = []
    hist = train(RBM(6, 2, seed=0), X, epochs=5, eval_every=2, eval_sets={"a": X, "b": Y},
                 callback=lambda epoch, rbm: seen.append((epoch, rbm.n_hidden)))
    assert hist.epochs.tolist() == [0, 2, 4, 5]
    assert set(hist.log_likelihood) == {"a", "b"} and len(hist.log_likelihood["b"]) == 4
    assert seen == [(e, 2) for e in range(1, 6)]


def test_training_raises_the_exact_log_likelihood():
    hist = train(RBM(6, 3, seed=0), _data(), lr=0.2, epochs=100, batch_size=5)
    ll = hist.log_likelihood["train"]
    assert abs(ll[0] + 6 * math.log(2)) < 0.01  # tiny weights: nearly uniform
    assert ll[-1] > ll[0] + 1.0


def test_from_sklearn_matches_sklearn():
    sk = pytest.importorskip("sklearn.neural_network")
    X = _data(40).numpy()
    model = sk.BernoulliRBM(n_components=4, n_iter=5, batch_size=10, random_state=0).fit(X)
    rbm = from_sklearn(model)
    assert (rbm.n_visible, rbm.n_hidden) == (6, 4)
    v = torch.tensor(X)
    np.testing.assert_allclose(rbm.free_energy(v).numpy(), model._free_energy(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(rbm.p_h_given_v(v).numpy(), model.transform(X), rtol=0, atol=1e-12)
    rbm.W[0, 0] += 1.0  # an independent copy
    assert model.components_[0, 0] != rbm.W[0, 0].item()


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(method="sgd"), ValueError, "method must be one of ('cd', 'pcd', 'exact'), got 'sgd'"),
        (dict(k=0), ValueError, "k must be >= 1, got 0"),
        (dict(lr=0.0), ValueError, "lr must be > 0.0, got 0.0"),
        (dict(lr=lambda e: -1.0), ValueError, "lr at epoch 0 must be > 0.0, got -1.0"),
        (dict(epochs=-1), ValueError, "epochs must be >= 0, got -1"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
        (dict(n_chains=5), ValueError, "n_chains is only used by method='pcd', got method='cd'"),
        (dict(method="pcd", n_chains=31), ValueError, "n_chains must be <= 30, got 31"),
        (dict(eval_sets={}), ValueError, "eval_sets must name at least one data set"),
        (dict(eval_sets={"x": torch.ones(2, 5)}), ValueError, "eval_sets['x'] must have shape (n, 6)"),
        (dict(callback=3), TypeError, "callback must be callable, got 3"),
    ],
)
def test_bad_arguments_raise(kwargs, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        train(RBM(6, 2), _data(), epochs=kwargs.pop("epochs", 1), **kwargs)


def test_bad_data_and_models_raise():
    with pytest.raises(ValueError, match=re.escape("X must be binary (0 or 1)")):
        train(RBM(6, 2), torch.full((3, 6), 0.5))
    with pytest.raises(ValueError, match=re.escape("X must have shape (n, 6) with n >= 1, got (3, 5)")):
        train(RBM(6, 2), torch.ones(3, 5))
    with pytest.raises(TypeError, match="rbm must be an optbook.rbm.RBM"):
        train("rbm", _data())
    with pytest.raises(ValueError, match="it has no components_, intercept_hidden_"):
        from_sklearn(object())


# ---------------------------------------------------------------- plotting_rbm


def test_tile_images_layout():
    images = np.arange(3 * 4).reshape(3, 4).astype(float)  # three 2 × 2 images
    out = tile_images(images, 2, 2, shape=(2, 2), pad=1)
    assert out.shape == (5, 5)
    np.testing.assert_array_equal(out[:2, :2], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(out[:2, 3:], [[4, 5], [6, 7]])
    np.testing.assert_array_equal(out[3:, :2], [[8, 9], [10, 11]])
    assert np.isnan(out[2]).all() and np.isnan(out[3:, 3:]).all()  # padding and the missing image
    with pytest.raises(ValueError, match=re.escape("images must have shape (n, 4), got (3, 5)")):
        tile_images(np.ones((3, 5)), 1, 1, shape=(2, 2))
    with pytest.raises(ValueError, match="n_rows must be >= 1, got 0"):
        tile_images(images, 0, 1, shape=(2, 2))


def test_draw_images_and_bipartite():
    from matplotlib.figure import Figure

    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    im = draw_images(ax1, torch.randn(6, 64), 2, 3, cmap="RdBu_r", symmetric=True)
    lo, hi = im.get_clim()
    assert lo == -hi and hi > 0
    draw_bipartite(ax2, 5, 3)
    assert len(ax2.lines) == 15  # every visible unit joined to every hidden unit
