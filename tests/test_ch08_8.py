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


# ---------------------------------------------------------------- batched training runs
from optbook.data import Split  # noqa: E402
from optbook.experiments.ch08_8.batch_size import (  # noqa: E402
    fit_critical_batch,
    geometric_steps,
    steps_to_target,
)
from optbook.experiments.ch08_8.decoupling import weight_decay_grid  # noqa: E402
from optbook.experiments.ch08_8.single import muon_groups, train_network  # noqa: E402
from optbook.experiments.ch08_8.stacked import train_stacked  # noqa: E402
from optbook.optim import SGD, Adam, WarmupCosineLR  # noqa: E402


def _split(n=30, d=6, c=3, seed=0):
    x, y = _data(n=n, d=d, c=c, seed=seed)
    return Split(x, y)


def _one_by_one(sizes, seed, make_opt, train, steps, batch_size, make_sched=None, l2=0.0):
    """Reference: one network, torch's loop, the minibatches train_stacked draws for `seed`."""
    net = training.mlp(sizes, "relu", seed=seed, dtype=torch.float64)
    opt = make_opt(net.parameters())
    sched = make_sched(opt) if make_sched else None
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(train), (batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(net(train.X[idx]), train.y[idx])
        pen = 0.5 * l2 * sum((p**2).sum() for p in net.parameters())
        opt.zero_grad()
        (loss + pen).backward()
        opt.step()
        if sched:
            sched.step()
        losses.append(loss.item())
    return net, np.array(losses)


def test_train_stacked_equals_torch_optimisers_one_network_at_a_time():
    train, val = _split(), _split(n=12, seed=1)
    sizes, steps, B = [6, 5, 3], 15, 4
    settings = [{"lr": 0.01}, {"lr": 0.05}]
    run = train_stacked(settings, Adam, train, val, sizes, steps, B, seeds=(0, 3),
                        make_scheduler=lambda o: WarmupCosineLR(o, 3, steps), l2=[0.0, 0.1])
    for c, (setting, l2) in enumerate(zip(settings, [0.0, 0.1], strict=True)):
        for s, seed in enumerate((0, 3)):
            net, losses = _one_by_one(
                sizes, seed, lambda p, lr=setting["lr"], l2=l2: torch.optim.Adam(p, lr=lr, weight_decay=l2),
                train, steps, B, make_sched=lambda o: WarmupCosineLR(o, 3, steps))
            np.testing.assert_allclose(run.batch_loss[:, c, s], losses, rtol=1e-10)
            vl, ve = training.evaluate(net, val)
            assert math.isclose(run.val_loss[c, s], vl, rel_tol=1e-9) and run.val_error[c, s] == ve
            assert math.isclose(run.train_loss[c, s], training.evaluate(net, train)[0], rel_tol=1e-9)


def test_train_stacked_evaluations_and_stop():
    train, val = _split(), _split(n=12, seed=1)
    evals = [0, 1, 2, 4, 8, 16, 32]
    run = train_stacked([{"lr": 0.5}, {"lr": 1e-4}], lambda g: SGD(g, lr=1.0), train, val, [6, 5, 3], 32, 8,
                        seeds=(0,), eval_at=evals)
    np.testing.assert_array_equal(run.eval_steps, evals)
    net, _ = _one_by_one([6, 5, 3], 0, lambda p: torch.optim.SGD(p, lr=0.5), train, 8, 8)
    assert math.isclose(run.eval_loss[4, 0, 0], training.evaluate(net, train)[0], rel_tol=1e-9)
    target = float(run.eval_loss[5, 0, 0]) + 1e-9  # reached by the fast setting at step 16
    stopped = train_stacked([{"lr": 0.5}, {"lr": 1e-4}], lambda g: SGD(g, lr=1.0), train, val, [6, 5, 3], 32,
                            8, seeds=(0,), eval_at=evals, stop_below=target)
    assert stopped.eval_steps[-1] <= 16 and np.all(np.isnan(stopped.batch_loss[16:]))
    with pytest.raises(ValueError, match="l2 must give one coefficient per setting"):
        train_stacked([{"lr": 0.1}], lambda g: SGD(g, lr=1.0), train, val, [6, 3], 2, 4, l2=[0.1, 0.2])
    with pytest.raises(ValueError, match="eval_at step must be <= 2, got 5"):
        train_stacked([{"lr": 0.1}], lambda g: SGD(g, lr=1.0), train, val, [6, 3], 2, 4, eval_at=[5])


def test_weight_decay_grid_cells_equal_adamw_and_adam_with_l2():
    train, val = _split(), _split(n=12, seed=1)
    steps = 12
    for decoupled, ref in ((True, torch.optim.AdamW), (False, torch.optim.Adam)):
        grid = weight_decay_grid([0.01, 0.03], [0.0, 0.5], decoupled, train, val, sizes=(6, 5, 3),
                                 steps=steps, batch_size=4, seeds=(1,))
        assert grid.val_loss.shape == (2, 2, 1)
        for i, lr in enumerate((0.01, 0.03)):
            for j, lam in enumerate((0.0, 0.5)):
                def make(p, lr=lr, lam=lam, ref=ref):
                    return ref(p, lr=lr, weight_decay=lam)

                net, _ = _one_by_one((6, 5, 3), 1, make, train, steps, 4,
                                     make_sched=lambda o: WarmupCosineLR(o, 0, steps))
                assert math.isclose(grid.val_loss[i, j, 0], training.evaluate(net, val)[0], rel_tol=1e-9)
    with pytest.raises(ValueError, match="decay must be >= 0.0, got -1"):
        weight_decay_grid([0.01], [-1], True, train, val)
    with pytest.raises(ValueError, match="lr \\* weight_decay must be <= 1"):
        weight_decay_grid([0.5], [3.0], True, train, val, steps=1)


def test_train_network_matches_stacked_run_and_muon_groups():
    train, val = _split(), _split(n=12, seed=1)
    net = training.mlp([6, 5, 3], "relu", seed=2, dtype=torch.float64)
    res = train_network(net, torch.optim.SGD(net.parameters(), lr=0.1), train, val, 10, 4, seed=2)
    stacked = train_stacked([{"lr": 0.1}], lambda g: torch.optim.SGD(g, lr=0.1), train, val, [6, 5, 3], 10, 4,
                            seeds=(2,))
    np.testing.assert_allclose(res.batch_loss, stacked.batch_loss[:, 0, 0], rtol=1e-10)
    assert math.isclose(res.val_loss, stacked.val_loss[0, 0], rel_tol=1e-9)
    deep = training.mlp([6, 5, 4, 3], "relu", seed=0)
    matrices, others = muon_groups(deep)
    assert [tuple(m.shape) for m in matrices] == [(5, 6), (4, 5)]
    assert {id(p) for p in matrices} | {id(p) for p in others} == {id(p) for p in deep.parameters()}
    assert len(others) == 4 and not {id(p) for p in matrices} & {id(p) for p in others}
    with pytest.raises(TypeError, match="optimizers must be a torch.optim.Optimizer"):
        train_network(net, [], train, val, 1, 4)


def test_geometric_steps_and_critical_batch_fit():
    s = geometric_steps(100, 1.5)
    assert s[:4] == [0, 1, 2, 3] and s[-1] == 100 and all(b > a for a, b in zip(s, s[1:], strict=False))
    assert all(b <= 1.5 * a + 1 for a, b in zip(s[1:-2], s[2:-1], strict=True))  # the ratio, up to rounding
    B = np.array([4, 8, 16, 64, 256])
    S = 50 * (1 + 20 / B)
    s_min, b_crit = fit_critical_batch(B, S)
    assert math.isclose(s_min, 50, rel_tol=1e-12) and math.isclose(b_crit, 20, rel_tol=1e-12)
    with pytest.raises(ValueError, match="finite and positive"):
        fit_critical_batch([4, 8], [10, np.inf])
    with pytest.raises(ValueError, match="ratio must be > 1.0"):
        geometric_steps(10, 1.0)


def test_steps_to_target_equals_first_evaluation_below_target():
    train, val = _split(n=40), _split(n=12, seed=1)
    lrs, target = [0.05, 0.5], 0.9
    sweep = steps_to_target([4, 16], lrs, target, train, val, sizes=(6, 5, 3), max_steps=200, seeds=(0, 1),
                            warmup_steps=3, ratio=1.2)
    evals = geometric_steps(200, 1.2)
    for b, B in enumerate((4, 16)):
        ref = train_stacked([{"lr": lr} for lr in lrs], lambda g: SGD(g, lr=1.0), train, val, (6, 5, 3),
                            200, B, (0, 1), eval_at=evals,
                            make_scheduler=lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 3))
        for c in range(2):
            for s in range(2):
                below = np.nonzero(ref.eval_loss[:, c, s] < target)[0]
                expected = ref.eval_steps[below[0]] if len(below) else np.inf
                got = sweep.hits[b, c, s]
                assert got == expected or (np.isinf(got) and expected > sweep.best_steps[b])
    assert np.all(np.isfinite(sweep.best_steps))
    np.testing.assert_array_equal(sweep.best_lr, np.array(lrs)[np.argmin(sweep.mean_hits, axis=1)])


def test_stacked_top_eigenvalues_match_optbook_sharpness():
    from optbook.sharpness import top_hessian_eigenvalue

    x, y = _data(n=10, d=4, c=3, seed=3)
    targets = nn.functional.one_hot(y, 3).double()
    model = StackedMLP([4, 6, 3], "tanh", seeds=[5, 6], dtype=torch.float64)
    lam, _ = stacked_top_eigenvalues(lambda: squared_losses(model, x, targets), list(model.parameters()),
                                     iters=300, generator=torch.Generator().manual_seed(1))
    for k in range(2):
        net = model.network(k)
        ref = top_hessian_eigenvalue(lambda net=net: 0.5 * ((net(x) - targets) ** 2).sum(-1).mean(),
                                     list(net.parameters()), iters=200, tol=1e-12)
        assert math.isclose(lam[k].item(), ref, rel_tol=1e-6)
