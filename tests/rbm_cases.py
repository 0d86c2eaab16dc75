"""Small RBMs and data shared by the RBM test files (imported by them; holds no tests)."""

import torch

from optbook.rbm import RBM


def all_states(m):
    """Every binary vector of length m, as the rows of a (2^m, m) float64 tensor."""
    idx = torch.arange(2**m)
    return ((idx[:, None] >> torch.arange(m)) & 1).to(torch.float64)


def tiny_rbm(n_visible=5, n_hidden=4, scale=1.0, seed=0):
    """An RBM with weights and biases large enough that nothing is near uniform."""
    rbm = RBM(n_visible, n_hidden, seed=seed, init_std=scale)
    gen = torch.Generator().manual_seed(seed + 100)
    rbm.b = 0.5 * torch.randn(n_visible, generator=gen, dtype=torch.float64)
    rbm.c = 0.5 * torch.randn(n_hidden, generator=gen, dtype=torch.float64)
    return rbm


def random_data(n_visible, n=8, seed=7):
    """n random binary vectors, seeded."""
    return torch.bernoulli(
        torch.full((n, n_visible), 0.5, dtype=torch.float64), generator=torch.Generator().manual_seed(seed)
    )
