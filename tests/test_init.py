"""optbook.nn.init against torch.nn.init: the same draws where the recipe is the same, the right
bounds and variances on large seeded tensors, orthogonality, and exactly k non-zeros per unit."""

import functools
import math

import pytest
import torch
from torch import nn

from optbook.nn import init

torch.set_default_dtype(torch.float64)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(3, 5), (7, 2), (4, 3, 2, 2), (6, 2, 5)])
def test_fans_are_torchs(shape):
    w = torch.empty(shape)
    assert init.fans(w) == nn.init._calculate_fan_in_and_fan_out(w)


# --- the same draws as torch.nn.init, given the same generator state ---------------------------

SAME_AS_TORCH = {
    "fan_in_uniform": (
        lambda w, g: init.fan_in_uniform_(w, generator=g),
        lambda w, g: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g),  # nn.Linear's
    ),
    "glorot_uniform": (
        lambda w, g: init.glorot_uniform_(w, generator=g),
        lambda w, g: nn.init.xavier_uniform_(w, generator=g),
    ),
    "glorot_uniform_gain": (
        lambda w, g: init.glorot_uniform_(w, generator=g, gain=5 / 3),
        lambda w, g: nn.init.xavier_uniform_(w, gain=5 / 3, generator=g),
    ),
    "glorot_normal": (
        lambda w, g: init.glorot_normal_(w, generator=g, gain=2.0),
        lambda w, g: nn.init.xavier_normal_(w, gain=2.0, generator=g),
    ),
    "he_normal": (
        lambda w, g: init.he_normal_(w, generator=g),
        lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g),
    ),
    "he_normal_fan_out_leaky": (
        lambda w, g: init.he_normal_(w, generator=g, mode="fan_out", negative_slope=0.1),
        lambda w, g: nn.init.kaiming_normal_(w, a=0.1, mode="fan_out", generator=g),
    ),
    "he_uniform": (
        lambda w, g: init.he_uniform_(w, generator=g),
        lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g),
    ),
    "orthogonal": (
        lambda w, g: init.orthogonal_(w, generator=g, gain=1.5),
        lambda w, g: nn.init.orthogonal_(w, gain=1.5, generator=g),
    ),
}


@pytest.mark.parametrize("shape", [(30, 20), (8, 3, 3, 3)])
@pytest.mark.parametrize("name", SAME_AS_TORCH)
def test_same_draws_as_torch(name, shape):
    ours_fn, torch_fn = SAME_AS_TORCH[name]
    ours = ours_fn(torch.empty(shape), gen(3))
    ref = torch_fn(torch.empty(shape), gen(3))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)


# --- distributions, checked on large seeded tensors ---------------------------------------------

N_OUT, N_IN = 400, 500  # 200 000 draws: the sample variance is within ~0.3 % (one s.e.)
M, N = N_IN, N_OUT

DISTRIBUTIONS = {
    # name: (initialiser, "uniform" bound or None, variance)
    "fan_in_uniform": (init.fan_in_uniform_, 1 / math.sqrt(M), 1 / (3 * M)),
    "glorot_uniform": (init.glorot_uniform_, math.sqrt(6 / (M + N)), 2 / (M + N)),
    "glorot_normal": (init.glorot_normal_, None, 2 / (M + N)),
    "he_normal": (init.he_normal_, None, 2 / M),
    "he_uniform": (init.he_uniform_, math.sqrt(6 / M), 2 / M),
}


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_bounds_and_variance(name):
    fn, bound, var = DISTRIBUTIONS[name]
    w = fn(torch.empty(N_OUT, N_IN), generator=gen(1))
    assert abs(w.mean().item()) < 5 * math.sqrt(var / w.numel())
    assert w.var().item() == pytest.approx(var, rel=0.02)
    if bound is not None:
        assert w.abs().max().item() <= bound
        assert w.abs().max().item() > 0.999 * bound
    else:  # Gaussian: some draws beyond 4σ among 200 000 (expected ~13)
        assert (w.abs() > 4 * math.sqrt(var)).sum() > 0


def test_glorot_keeps_forward_and_backward_variance_in_between():
    """Var 2/(m+n) is the harmonic compromise between 1/m (forward) and 1/n (backward)."""
    w = init.glorot_normal_(torch.empty(100, 400), generator=gen())
    v = w.var().item()
    assert 1 / 400 < v < 1 / 100


@pytest.mark.parametrize("shape", [(50, 30), (30, 50), (40, 40), (8, 3, 3, 3), (27, 2, 2)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(torch.empty(shape), generator=gen(), gain=gain)
    W = w.reshape(shape[0], -1)
    small = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
    torch.testing.assert_close(small, gain**2 * torch.eye(small.shape[0]), rtol=0, atol=1e-12)
    sv = torch.linalg.svdvals(W)
    torch.testing.assert_close(sv, torch.full_like(sv, gain), rtol=0, atol=1e-12)


def test_orthogonal_is_not_always_the_same_matrix():
    a = init.orthogonal_(torch.empty(5, 5), generator=gen(0))
    b = init.orthogonal_(torch.empty(5, 5), generator=gen(1))
    assert (a - b).abs().max() > 0.1


@pytest.mark.parametrize("shape,k", [((50, 200), 15), ((10, 4, 3, 3), 5), ((6, 6), 6), ((3, 9), 1)])
def test_sparse_has_exactly_k_nonzeros_per_unit(shape, k):
    w = init.sparse_(torch.empty(shape), k, generator=gen())
    per_unit = (w.reshape(shape[0], -1) != 0).sum(dim=1)
    assert (per_unit == k).all()


def test_sparse_positions_uniform_and_values_gaussian():
    n, m, k = 4000, 20, 5
    w = init.sparse_(torch.empty(n, m), k, generator=gen(2), std=0.5)
    counts = (w != 0).sum(dim=0).double()  # each ~ Binomial(4000, 1/4): mean 1000, s.d. 27
    assert (counts - n * k / m).abs().max() < 5 * math.sqrt(n * k / m * (1 - k / m))
    nonzero = w[w != 0]
    assert nonzero.std().item() == pytest.approx(0.5, rel=0.03)
    assert abs(nonzero.mean().item()) < 5 * 0.5 / math.sqrt(nonzero.numel())


def test_torch_sparse_differs():
    """Stated difference: torch zeroes a fraction of each column (an input's outgoing weights),
    so the number of inputs per unit varies; and its positions ignore the generator."""
    w = nn.init.sparse_(torch.empty(50, 200), sparsity=0.9, generator=gen())
    assert ((w == 0).sum(dim=0) == 45).all()  # per column
    assert len(set((w != 0).sum(dim=1).tolist())) > 1  # not per unit
    again = nn.init.sparse_(torch.empty(50, 200), sparsity=0.9, generator=gen())
    assert not torch.equal(w != 0, again != 0)  # same generator, different positions
    ours = [init.sparse_(torch.empty(50, 200), 20, generator=gen()) for _ in range(2)]
    assert torch.equal(ours[0], ours[1])


@pytest.mark.parametrize("name", [*DISTRIBUTIONS, "orthogonal", "sparse"])
def test_reproducible_in_place_and_keeps_requires_grad(name):
    fn = {"orthogonal": init.orthogonal_, "sparse": functools.partial(init.sparse_, k=3)}.get(
        name, DISTRIBUTIONS.get(name, (None,))[0]
    )
    layer = nn.Linear(6, 4)
    out = fn(layer.weight, generator=gen(7))
    assert out is layer.weight and layer.weight.requires_grad
    again = fn(torch.empty(4, 6), generator=gen(7))
    assert torch.equal(layer.weight.detach(), again)
    other = fn(torch.empty(4, 6), generator=gen(8))
    assert not torch.equal(again, other)


def test_float32_stays_float32():
    w = init.glorot_uniform_(torch.empty(3, 4, dtype=torch.float32), generator=gen())
    assert w.dtype == torch.float32


def test_initialise_model():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), nn.BatchNorm1d(3))
    init.initialise_(model, init.glorot_uniform_, generator=gen(5), bias=0.1)
    g = gen(5)
    expected = [init.glorot_uniform_(torch.empty(8, 4), generator=g)]
    expected.append(init.glorot_uniform_(torch.empty(3, 8), generator=g))
    assert torch.equal(model[0].weight.detach(), expected[0])
    assert torch.equal(model[2].weight.detach(), expected[1])
    assert (model[0].bias == 0.1).all() and (model[2].bias == 0.1).all()
    assert (model[3].weight == 1).all() and (model[3].bias == 0).all()  # batch norm untouched
    sparse = functools.partial(init.sparse_, k=2)
    init.initialise_(model, sparse, generator=gen())
    assert ((model[2].weight != 0).sum(dim=1) == 2).all()


BAD = [
    (
        lambda: init.glorot_uniform_(torch.empty(3, 4), generator=None),
        TypeError,
        "generator must be a torch.Generator, got None",
    ),
    (lambda: init.glorot_uniform_(torch.empty(3, 4)), TypeError, "generator"),
    (
        lambda: init.he_normal_(torch.empty(5), generator=gen()),
        ValueError,
        "w must have at least 2 dimensions, none empty .*, got shape (5,)",
    ),
    (lambda: init.he_normal_(torch.empty(0, 3), generator=gen()), ValueError, "got shape (0, 3)"),
    (
        lambda: init.fan_in_uniform_(torch.zeros(3, 4, dtype=torch.int64), generator=gen()),
        TypeError,
        "w must be a floating-point tensor, got dtype torch.int64",
    ),
    (lambda: init.fans([[1.0, 2.0]]), TypeError, "w must be a torch.Tensor, got list"),
    (
        lambda: init.glorot_normal_(torch.empty(3, 4), generator=gen(), gain=0.0),
        ValueError,
        "gain must be > 0.0, got 0.0",
    ),
    (
        lambda: init.orthogonal_(torch.empty(3, 4), generator=gen(), gain=float("nan")),
        ValueError,
        "gain must be finite, got nan",
    ),
    (
        lambda: init.he_uniform_(torch.empty(3, 4), generator=gen(), mode="fan_avg"),
        ValueError,
        "mode must be 'fan_in' or 'fan_out', got 'fan_avg'",
    ),
    (
        lambda: init.he_normal_(torch.empty(3, 4), generator=gen(), negative_slope=-0.1),
        ValueError,
        "negative_slope must be >= 0.0, got -0.1",
    ),
    (
        lambda: init.sparse_(torch.empty(3, 4), 0, generator=gen()),
        ValueError,
        "k must be >= 1, got 0",
    ),
    (
        lambda: init.sparse_(torch.empty(3, 4), 5, generator=gen()),
        ValueError,
        "k must be <= 4, got 5",
    ),
    (
        lambda: init.sparse_(torch.empty(3, 4), 1.5, generator=gen()),
        TypeError,
        "k must be an integer, got 1.5",
    ),
    (
        lambda: init.sparse_(torch.empty(3, 4), 2, generator=gen(), std=-1),
        ValueError,
        "std must be > 0.0, got -1.0",
    ),
    (
        lambda: init.initialise_("net", init.he_normal_, generator=gen()),
        TypeError,
        "model must be a torch.nn.Module, got str",
    ),
    (
        lambda: init.initialise_(nn.Linear(2, 2), "he", generator=gen()),
        TypeError,
        "weight_init must be callable, got 'he'",
    ),
    (
        lambda: init.initialise_(nn.Linear(2, 2), init.he_normal_, generator=gen(), bias=None),
        TypeError,
        "bias must be a real number, got None",
    ),
]


@pytest.mark.parametrize("call,exc,match", BAD)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match.replace("(", r"\(").replace(")", r"\)")):
        call()
