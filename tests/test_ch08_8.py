"""Experiments of §8.8 (optimisation since the book): stacked networks equal separate ones,
batched sharpness equals the full Hessian's top eigenvalue, and the experiment runners equal
their one-network-at-a-time definitions."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from optbook import training
from optbook.experiments.ch08_8.edge_of_stability import gd_sharpness, squared_losses, stacked_top_eigenvalues
from optbook.experiments.ch08_8.stacked import StackedMLP, minibatch_indices

torch.set_num_threads(1)


def _data(n=12, d=5, c=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(c, (n,), generator=g)


def test_stacked_forward_and_gradients_equal_separate_networks():
    x, y = _data()
    seeds = [0, 4, 4]
    stacked = StackedMLP([5, 7, 3], "tanh", seeds=seeds, dtype=torch.float64)
    stacked.losses(x, y).sum().backward()
    for k, s in enumerate(seeds):
        net = training.mlp([5, 7, 3], "tanh", seed=s, dtype=torch.float64)
        torch.testing.assert_close(stacked(x)[k], net(x), rtol=1e-13, atol=1e-15)
        nn.functional.cross_entropy(net(x), y).backward()
        lins = [m for m in net if isinstance(m, nn.Linear)]
        for lin, W, b in zip(lins, stacked.weights, stacked.biases, strict=True):
            torch.testing.assert_close(W.grad[k], lin.weight.grad.T, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(b.grad[k, 0], lin.bias.grad, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(stacked.network(k)(x), stacked(x)[k], rtol=1e-13, atol=1e-15)


def test_stacked_per_network_inputs_and_evaluate():
    x, y = _data(n=8)
    m = StackedMLP([5, 4, 3], "relu", seeds=[1, 2], dtype=torch.float64)
    xs = torch.stack([x, x.flip(0)])
    ys = torch.stack([y, y.flip(0)])
    out = m(xs)
    torch.testing.assert_close(out[1], m.network(1)(x.flip(0)), rtol=1e-13, atol=1e-15)
    loss, err = m.evaluate(x, y)
    for k in range(2):
        logits = m.network(k)(x)
        assert math.isclose(loss[k].item(), nn.functional.cross_entropy(logits, y).item(), rel_tol=1e-12)
        assert math.isclose(err[k].item(), (logits.argmax(1) != y).double().mean().item())
    torch.testing.assert_close(m.losses(xs, ys)[1], nn.functional.cross_entropy(out[1], ys[1]))


def test_stacked_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        StackedMLP([3, 2], "gelu")
    with pytest.raises(ValueError, match="seeds must name at least one network"):
        StackedMLP([3, 2], seeds=[])
    with pytest.raises(ValueError, match="k must be <= 1, got 2"):
        StackedMLP([3, 2], seeds=[0, 1]).network(2)


def test_minibatch_indices_shapes_and_sharing():
    g = torch.Generator().manual_seed(0)
    idx = minibatch_indices(3, 10, 4, g)
    assert idx.shape == (3, 4) and idx.max() < 10 and not torch.equal(idx[0], idx[1])
    shared = minibatch_indices(3, 10, 4, g, shared=True)
    assert torch.equal(shared[0], shared[2])
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        minibatch_indices(3, 10, 0, g)


def _full_hessian_top(model, k, x, targets):
    """Largest eigenvalue of network k's Hessian, from the dense Hessian (the reference)."""
    net = model.network(k)
    params = list(net.parameters())
    shapes = [p.shape for p in params]
    flat0 = torch.cat([p.detach().flatten() for p in params])

    def loss_of(flat):
        out, i = x, 0
        chunks = []
        for s in shapes:
            n = math.prod(s)
            chunks.append(flat[i:i + n].view(s))
            i += n
        for j in range(0, len(chunks), 2):
            out = out @ chunks[j].T + chunks[j + 1]
            if j + 2 < len(chunks):
                out = torch.tanh(out)
        return 0.5 * ((out - targets) ** 2).sum(-1).mean()

    H = torch.autograd.functional.hessian(loss_of, flat0)
    return torch.linalg.eigvalsh(H)


def test_stacked_top_eigenvalues_match_dense_hessian():
    x, y = _data(n=10, d=4, c=3)
    targets = nn.functional.one_hot(y, 3).double()
    model = StackedMLP([4, 5, 3], "tanh", seeds=[0, 1, 2], dtype=torch.float64)
    with torch.no_grad():  # make the three networks' sharpness differ clearly
        for i, W in enumerate(model.weights):
            W.mul_(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).view(3, 1, 1) ** (i == 1))
    lam, v = stacked_top_eigenvalues(lambda: squared_losses(model, x, targets), list(model.parameters()),
                                     iters=300, generator=torch.Generator().manual_seed(0))
    for k in range(3):
        eig = _full_hessian_top(model, k, x, targets)
        assert eig[-1] > abs(eig[0])  # the top eigenvalue is also the largest in magnitude
        assert math.isclose(lam[k].item(), eig[-1].item(), rel_tol=1e-6)
    # warm start from the converged vectors: one more iteration changes nothing
    lam2, _ = stacked_top_eigenvalues(lambda: squared_losses(model, x, targets), list(model.parameters()),
                                      iters=1, v0=v)
    torch.testing.assert_close(lam2, lam, rtol=1e-8, atol=0)


def test_gd_sharpness_equals_separate_gradient_descent():
    x, y = _data(n=10, d=4, c=3)
    targets = nn.functional.one_hot(y, 3).double()
    lrs = [0.05, 0.3]
    run = gd_sharpness(lrs, x, targets, [4, 5, 3], steps=20, every=10, power_iters=200,
                       first_power_iters=200)
    assert run.losses.shape == (21, 2) and run.sharpness.shape == (3, 2)
    np.testing.assert_array_equal(run.measured_at, [0, 10, 20])
    np.testing.assert_allclose(run.thresholds, [40.0, 2 / 0.3])
    for k, lr in enumerate(lrs):  # plain gradient descent on one network
        net = training.mlp([4, 5, 3], "tanh", seed=0, dtype=torch.float64)
        for t in range(21):
            loss = 0.5 * ((net(x) - targets) ** 2).sum(-1).mean()
            assert math.isclose(run.losses[t, k], loss.item(), rel_tol=1e-10)
            if t == 20:
                break
            net.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in net.parameters():
                    p -= lr * p.grad
        stacked = StackedMLP([4, 5, 3], "tanh", seeds=[0], dtype=torch.float64)
        with torch.no_grad():
            lins = [m for m in net if isinstance(m, nn.Linear)]
            for W, b, lin in zip(stacked.weights, stacked.biases, lins, strict=True):
                W[0] = lin.weight.T
                b[0, 0] = lin.bias
        assert math.isclose(run.sharpness[-1, k], _full_hessian_top(stacked, 0, x, targets)[-1].item(),
                            rel_tol=1e-5)


def test_gd_sharpness_rejects_bad_arguments():
    x, y = _data(n=4, d=3, c=2)
    t = nn.functional.one_hot(y, 2).double()
    with pytest.raises(ValueError, match="lr must be > 0.0, got -0.1"):
        gd_sharpness([-0.1], x, t, [3, 2], steps=2)
    with pytest.raises(ValueError, match="lrs must hold at least one"):
        gd_sharpness([], x, t, [3, 2], steps=2)
    with pytest.raises(ValueError, match="x and targets must be"):
        gd_sharpness([0.1], x, y, [3, 2], steps=2)
    with pytest.raises(ValueError, match="every must be >= 1, got 0"):
        gd_sharpness([0.1], x, t, [3, 2], steps=2, every=0)
