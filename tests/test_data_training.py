"""Digits loading, minibatching, the training loop and the linear-regression stream."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sk_digits

from optbook import data, training
from optbook.optim import SGD
from optbook.problems import LinearRegressionStream, streaming_sgd


def test_digits_split_sizes_stratified_and_seeded():
    train, val, test = data.load_digits(seed=3)
    assert len(train) + len(val) + len(test) == 1797
    assert len(test) == 360 and len(val) == 360
    for split in (train, val, test):
        counts = torch.bincount(split.y, minlength=10).double()
        assert counts.min() / counts.max() > 0.9  # stratified: classes stay balanced
        assert split.X.shape[1] == 64 and split.X.min() >= 0 and split.X.max() <= 1
    again = data.load_digits(seed=3)
    assert torch.equal(train.X, again[0].X) and torch.equal(test.y, again[2].y)
    other = data.load_digits(seed=4)
    assert not torch.equal(train.y, other[0].y)
    # every image comes from scikit-learn's bundled set, scaled by 1/16
    raw = torch.tensor(sk_digits().data / 16.0, dtype=torch.float32)
    all_x = torch.cat([train.X, val.X, test.X])
    assert torch.equal(all_x[torch.argsort(all_x.sum(1) * 1e4 + all_x[:, 20])].sum(0),
                       raw[torch.argsort(raw.sum(1) * 1e4 + raw[:, 20])].sum(0))


def test_minibatches_cover_an_epoch_once():
    train, _, _ = data.load_digits()
    gen = torch.Generator().manual_seed(0)
    seen = torch.cat([yb for _, yb in data.minibatches(train, 100, gen)])
    assert len(seen) == len(train)
    assert torch.equal(torch.sort(seen).values, torch.sort(train.y).values)


def test_data_bad_arguments():
    with pytest.raises(ValueError, match=r"val_fraction \+ test_fraction must be < 1, got 0.6 \+ 0.5"):
        data.load_digits(val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        data.load_digits(dtype=torch.int64)
    train, _, _ = data.load_digits()
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        next(data.minibatches(train, 0, torch.Generator()))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        next(data.minibatches(train, 8, 0))


def test_mlp_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = training.mlp([64, 16, 10], "tanh", seed=1)
    b = training.mlp([64, 16, 10], "tanh", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert [type(m).__name__ for m in a] == ["Linear", "Tanh", "Linear"]
    with pytest.raises(ValueError, match="activation must be one of"):
        training.mlp([4, 2], "gelu")
    with pytest.raises(ValueError, match="sizes needs an input and an output width"):
        training.mlp([4])


def test_train_is_reproducible_and_learns():
    train, val, _ = data.load_digits()
    hists = []
    for _ in range(2):
        model = training.mlp([64, 32, 10], seed=0)
        hists.append(training.train(model, SGD(model.parameters(), lr=0.05, momentum=0.9),
                                    train, val, epochs=3, batch_size=64, seed=0))
    assert hists[0].train_loss == hists[1].train_loss
    h = hists[0]
    assert len(h.train_loss) == len(h.val_error) == 4
    assert h.train_loss[-1] < h.train_loss[0] / 3
    assert h.val_error[-1] < 0.2
    assert h.train_loss[0] == pytest.approx(np.log(10), rel=0.05)  # chance level at initialisation


def test_excess_risk_matches_monte_carlo():
    problem = LinearRegressionStream(d=4, noise=0.7, cond=8.0, seed=2)
    theta = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64)
    X, y = problem.sample((400_000,), torch.Generator().manual_seed(0))
    empirical = 0.5 * ((X @ theta - y) ** 2).mean() - 0.5 * problem.noise**2
    assert problem.excess_risk(theta).item() == pytest.approx(empirical.item(), rel=1e-2)
    assert problem.excess_risk(problem.w_star).item() == 0.0
    assert problem.mu == pytest.approx(1 / 8.0)


def test_streaming_sgd_runs_are_independent_and_match_a_single_run():
    problem = LinearRegressionStream(d=3, seed=0)
    many = streaming_sgd(problem, lambda p: SGD(p, lr=0.05), steps=50, batch_size=2, runs=5, seed=7)
    assert many.shape == (51, 5)
    assert np.all(many[0] == problem.excess_risk(torch.zeros(3, dtype=torch.float64)).item())
    # Re-run run 0 by hand with the same random stream: sample shape (runs, batch, d).
    gen = torch.Generator().manual_seed(7)
    theta = torch.zeros(3, dtype=torch.float64)
    for k in range(50):
        X, y = problem.sample((5, 2), gen)
        grad = (X[0] * ((X[0] @ theta - y[0])[:, None])).mean(0)
        theta = theta - 0.05 * grad
        assert problem.excess_risk(theta).item() == pytest.approx(many[k + 1, 0], rel=1e-12)
