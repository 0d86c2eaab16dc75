"""optbook.nn.architectures: mlp_bn against a hand-assembled torch.nn stack with
torch.nn.BatchNorm1d, ResidualMLP against a literal transcription of its equations, and the
gradient norms against autograd."""

import pytest
import torch
from torch import nn

from optbook.nn.architectures import ResidualMLP, linear_gradient_norms, mlp_bn
from optbook.nn.batchnorm import BatchNorm1d

torch.set_default_dtype(torch.float64)


def _x(n=16, d=8, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("init_std", [None, 0.7])
def test_mlp_bn_matches_torch_and_shares_weights_with_the_plain_net(activation, init_std):
    sizes = [8, 6, 5, 3]
    with_bn = mlp_bn(sizes, activation, True, init_std=init_std, seed=3, dtype=torch.float64)
    plain = mlp_bn(sizes, activation, False, init_std=init_std, seed=3, dtype=torch.float64)
    lin_bn = [m for m in with_bn if isinstance(m, nn.Linear)]
    lin = [m for m in plain if isinstance(m, nn.Linear)]
    for a, b in zip(lin_bn, lin, strict=True):
        torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
    assert [m.bias is None for m in lin_bn] == [True, True, False]
    assert all(m.bias is not None for m in lin)
    assert sum(isinstance(m, BatchNorm1d) for m in with_bn) == 2
    if init_std is not None:
        assert all((m.bias == 0).all() for m in lin)
    # the same stack from torch.nn's own modules
    act = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    ref = nn.Sequential(nn.Linear(8, 6, bias=False), nn.BatchNorm1d(6), act(),
                        nn.Linear(6, 5, bias=False), nn.BatchNorm1d(5), act(), nn.Linear(5, 3))
    ref.load_state_dict(with_bn.state_dict())
    x = _x()
    for mode in ("train", "eval"):
        getattr(with_bn, mode)(), getattr(ref, mode)()
        torch.testing.assert_close(with_bn(x), ref(x), rtol=1e-12, atol=1e-12)


def test_mlp_bn_default_init_is_torchs_distribution():
    net = mlp_bn([200, 300, 10], "tanh", False, seed=0, dtype=torch.float64)
    w = net[0].weight
    bound = 200 ** -0.5
    assert w.abs().max() <= bound and w.std().item() == pytest.approx(bound / 3**0.5, rel=0.02)
    assert net[0].weight.dtype == torch.float64
    assert not torch.equal(mlp_bn([4, 3, 2], seed=0)[0].weight, mlp_bn([4, 3, 2], seed=1)[0].weight)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("skip", [True, False])
def test_residual_mlp_is_its_equations(activation, skip):
    model = ResidualMLP(8, 5, 4, 3, activation=activation, skip=skip, seed=2, dtype=torch.float64)
    phi = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[activation]
    x = _x()
    h = phi(x @ model.stem.weight.T + model.stem.bias)
    for blk in model.blocks:
        z = phi(h @ blk.weight.T + blk.bias)
        h = h + z if skip else z
    torch.testing.assert_close(model(x), h @ model.head.weight.T + model.head.bias, rtol=1e-13, atol=1e-13)


def test_plain_residual_mlp_is_a_sequential_with_the_same_weights():
    res = ResidualMLP(8, 5, 3, 2, skip=True, seed=4, dtype=torch.float64)
    plain = ResidualMLP(8, 5, 3, 2, skip=False, seed=4, dtype=torch.float64)
    torch.testing.assert_close(dict(res.state_dict()), dict(plain.state_dict()), rtol=0, atol=0)
    seq = nn.Sequential(plain.stem, nn.Tanh(), *[m for b in plain.blocks for m in (b, nn.Tanh())], plain.head)
    x = _x()
    torch.testing.assert_close(plain(x), seq(x), rtol=0, atol=0)
    assert not torch.allclose(res(x), plain(x))


def test_gradient_norms_follow_the_layers():
    model = ResidualMLP(8, 5, 3, 2, seed=0, dtype=torch.float64)
    assert all(n != n for n in linear_gradient_norms(model))  # NaN before any backward pass
    model(_x()).pow(2).sum().backward()
    got = linear_gradient_norms(model)
    want = [m.weight.grad.norm().item() for m in (model.stem, *model.blocks, model.head)]
    assert got == want and len(got) == 5


def test_deep_plain_tanh_net_loses_its_gradient_and_the_residual_one_does_not():
    x, y = _x(64, 8), torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(1))
    ratio = {}
    for skip in (True, False):
        model = ResidualMLP(8, 32, 20, 3, skip=skip, seed=0, dtype=torch.float64)
        nn.functional.cross_entropy(model(x), y).backward()
        g = linear_gradient_norms(model)
        ratio[skip] = g[1] / g[-2]  # first block against last block
    assert ratio[False] < 1e-3 < 0.1 < ratio[True]


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: mlp_bn([4]), ValueError, "sizes"),
        (lambda: mlp_bn([4, 0, 2]), ValueError, "layer size"),
        (lambda: mlp_bn([4, 2], "gelu"), ValueError, "activation"),
        (lambda: mlp_bn([4, 2], batch_norm=1), TypeError, "batch_norm"),
        (lambda: mlp_bn([4, 2], init_std=0.0), ValueError, "init_std"),
        (lambda: mlp_bn([4, 2], seed=-1), ValueError, "seed"),
        (lambda: ResidualMLP(4, 3, -1, 2), ValueError, "depth"),
        (lambda: ResidualMLP(4, 3, 2, 2, activation="elu"), ValueError, "activation"),
        (lambda: ResidualMLP(4, 3, 2, 2, skip="yes"), TypeError, "skip"),
        (lambda: linear_gradient_norms("model"), TypeError, "nn.Module"),
        (lambda: linear_gradient_norms(nn.ReLU()), ValueError, "no nn.Linear"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
