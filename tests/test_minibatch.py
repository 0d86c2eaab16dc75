"""optbook.experiments.ch08_1.minibatch: per-example gradients against one autograd call per
example; the standard
error formula against exact enumeration of every minibatch of a small set; the batch orders."""

import itertools
import math

import numpy as np
import pytest
import torch

from optbook.data import minibatches
from optbook.experiments.ch08_1.minibatch import (
    SCHEMES,
    batch_indices,
    minibatch_means,
    per_example_gradients,
    standard_error,
)
from optbook.training import mlp

torch.set_default_dtype(torch.float64)


def _data(n=13, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def test_per_example_gradients_match_autograd():
    model = mlp([5, 4, 3], activation="tanh", seed=1, dtype=torch.float64)
    X, y = _data()
    G = per_example_gradients(model, torch.nn.functional.cross_entropy, X, y)
    n_params = sum(p.numel() for p in model.parameters())
    assert G.shape == (len(X), n_params)
    for i in range(len(X)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X[i : i + 1]), y[i : i + 1]).backward()
        ref = torch.cat([p.grad.flatten() for p in model.parameters()])
        torch.testing.assert_close(G[i], ref, rtol=1e-12, atol=1e-14)
    # and their mean is the full-batch gradient of the mean loss
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(X), y).backward()
    full = torch.cat([p.grad.flatten() for p in model.parameters()])
    torch.testing.assert_close(G.mean(0), full, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("m", [1, 2, 3, 5, 6])
def test_standard_error_is_exact_without_replacement(m):
    """Average ||mean of B - g||^2 over every subset B of size m: a literal enumeration."""
    gen = torch.Generator().manual_seed(2)
    G = torch.randn(6, 4, generator=gen) * torch.tensor([1.0, 3.0, 0.1, 2.0])
    g = G.mean(0)
    errs = [(G[list(B)].mean(0) - g).pow(2).sum().item() for B in itertools.combinations(range(6), m)]
    exact = math.sqrt(sum(errs) / len(errs))
    assert abs(standard_error(G, m) - exact) < 1e-13
    if m == 6:
        assert standard_error(G, 6) == 0.0


def test_standard_error_of_many_sizes_at_once():
    gen = torch.Generator().manual_seed(8)
    G = torch.randn(30, 5, generator=gen)
    sizes = [1, 3, 10, 30]
    many = standard_error(G, sizes)
    assert isinstance(many, np.ndarray) and many.shape == (4,)
    np.testing.assert_allclose(many, [standard_error(G, m) for m in sizes], rtol=1e-15)
    np.testing.assert_allclose(standard_error(G, np.array(sizes), replace=True),
                               standard_error(G, 1, replace=True) / np.sqrt(sizes), rtol=1e-14)
    with pytest.raises(ValueError, match="non-empty"):
        standard_error(G, [])
    with pytest.raises(ValueError, match="m must be <= 30, got 31"):
        standard_error(G, [1, 31])


@pytest.mark.parametrize("m", [1, 2, 3])
def test_standard_error_is_exact_with_replacement(m):
    gen = torch.Generator().manual_seed(3)
    G = torch.randn(4, 3, generator=gen)
    g = G.mean(0)
    errs = [(G[list(B)].mean(0) - g).pow(2).sum().item() for B in itertools.product(range(4), repeat=m)]
    assert abs(standard_error(G, m, replace=True) - math.sqrt(sum(errs) / len(errs))) < 1e-13


@pytest.mark.parametrize("replace", [False, True])
def test_minibatch_means_sample_the_right_estimator(replace):
    gen = torch.Generator().manual_seed(4)
    G = torch.randn(40, 3, generator=gen)
    means = minibatch_means(G, 8, 20_000, torch.Generator().manual_seed(5), replace=replace)
    assert means.shape == (20_000, 3)
    err = (means - G.mean(0)).pow(2).sum(1).mean().sqrt().item()
    assert abs(err / standard_error(G, 8, replace=replace) - 1) < 0.02  # Monte Carlo, 20,000 draws
    torch.testing.assert_close(means.mean(0), G.mean(0), rtol=0, atol=0.01)  # unbiased
    # with rows of the identity, a mean of m rows shows how often each example was drawn
    counts = 8 * minibatch_means(torch.eye(40), 8, 500, torch.Generator().manual_seed(6), replace=replace)
    assert counts.sum(1).round().eq(8).all()
    assert (counts.round().max() == 1) != replace  # repeats only with replacement


def test_batch_indices_schemes():
    n, bs = 10, 4

    def epochs_of(scheme, seed=0, epochs=3):
        batches = list(batch_indices(n, bs, epochs, scheme, torch.Generator().manual_seed(seed)))
        per = math.ceil(n / bs)
        assert len(batches) == per * epochs
        return [torch.cat(batches[e * per : (e + 1) * per]) for e in range(epochs)]

    seq = epochs_of("sequential")
    assert all(torch.equal(e, torch.arange(n)) for e in seq)
    once = epochs_of("shuffle_once")
    assert all(torch.equal(e, once[0]) for e in once) and not torch.equal(once[0], torch.arange(n))
    assert sorted(once[0].tolist()) == list(range(n))
    re = epochs_of("reshuffle")
    assert all(sorted(e.tolist()) == list(range(n)) for e in re) and not torch.equal(re[0], re[1])
    wr = list(batch_indices(n, bs, 50, "with_replacement", torch.Generator().manual_seed(0)))
    assert all(len(b) == bs for b in wr)
    assert any(len(set(b.tolist())) < bs for b in wr)  # repeats happen with replacement


def test_reshuffle_is_data_minibatches():
    """Same generator, same order as optbook.data.minibatches (the training loop's scheme)."""
    X, y = _data(n=11)
    from optbook.data import Split

    ours = list(batch_indices(11, 3, 1, "reshuffle", torch.Generator().manual_seed(7)))
    ref = list(minibatches(Split(X, y), 3, torch.Generator().manual_seed(7)))
    for idx, (xb, _) in zip(ours, ref, strict=True):
        torch.testing.assert_close(X[idx], xb)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: standard_error(torch.ones(5, 2), 6), ValueError, "m must be <= 5, got 6"),
        (lambda: standard_error(torch.ones(5, 2), 0), ValueError, "m must be >= 1, got 0"),
        (lambda: standard_error(torch.ones(1, 2), 1), ValueError, "at least two rows"),
        (lambda: standard_error(torch.ones(5), 1), ValueError, "shape \\(N, P\\)"),
        (lambda: standard_error(torch.ones(5, 2), 2, replace=1), TypeError, "replace"),
        (lambda: minibatch_means(torch.ones(5, 2), 2, 0, torch.Generator()), ValueError, "draws"),
        (lambda: minibatch_means(torch.ones(5, 2), 2, 3, 0), TypeError, "generator"),
        (lambda: list(batch_indices(5, 2, 1, "random", torch.Generator())), ValueError, "scheme must be"),
        (lambda: list(batch_indices(5, 0, 1, "reshuffle", torch.Generator())), ValueError, "batch_size"),
        (lambda: per_example_gradients(lambda x: x, sum, torch.ones(2), torch.ones(2)), TypeError, "Module"),
        (lambda: per_example_gradients(torch.nn.Linear(2, 2), sum, torch.ones(3, 2), torch.ones(2)),
         ValueError, "same length"),
    ],
)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_schemes_constant():
    assert set(SCHEMES) == {"reshuffle", "shuffle_once", "with_replacement", "sequential"}
