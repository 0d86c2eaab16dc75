"""optbook.nn.lsuv.lsuv_ against a literal transcription of LSUV (a manual layer-by-layer forward
pass that rescales each weight by target / std), in float64; its convergence with biases, what
it leaves alone, and its errors."""

import functools

import pytest
import torch
from torch import nn

from optbook.nn import init
from optbook.nn.lsuv import lsuv_

torch.set_default_dtype(torch.float64)


def _net(act=nn.ReLU, widths=(6, 9, 7, 5), bias=0.0, seed=0):
    layers = []
    for i, (m, n) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(m, n))
        if i < len(widths) - 2:
            layers.append(act())
    net = nn.Sequential(*layers)
    init.initialise_(net, init.fan_in_uniform_, generator=torch.Generator().manual_seed(seed), bias=bias)
    return net


def _x(n=40, d=6, seed=1):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _reference(net, x, target):
    """LSUV written out: walk the layers in order, rescale each Linear so that its output has
    standard deviation `target` (one step is exact when the bias is zero)."""
    h = x
    for layer in net:
        if isinstance(layer, nn.Linear):
            with torch.no_grad():
                layer.weight.mul_(target / layer(h).std())
        h = layer(h).detach()
    return net


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Identity])
@pytest.mark.parametrize("target", [1.0, 0.3])
def test_equals_literal_transcription_with_zero_bias(act, target):
    x = _x()
    ours, ref = _net(act), _reference(_net(act), x, target)
    hist = lsuv_(ours, x, target_std=target)
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-13, atol=0)
    # one rescaling per layer suffices without a bias: the second measurement is on target
    assert list(hist) == ["0", "2", "4"]
    for stds in hist.values():
        assert len(stds) == 2
        assert abs(stds[1] - target) < 1e-12 * target


def test_every_layer_on_target_afterwards():
    x = _x()
    net = _net(nn.Tanh, widths=(6, 20, 20, 20, 20, 3))
    lsuv_(net, x)
    h = x
    for layer in net:
        h = layer(h)
        if isinstance(layer, nn.Linear):
            assert abs(h.std().item() - 1.0) < 1e-12


def _random_biases(net, seed=3):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.bias.uniform_(-1.0, 1.0, generator=gen)
    return net


def test_a_constant_bias_needs_one_rescaling():
    hist = lsuv_(_net(nn.ReLU, bias=0.3), _x(), tol=1e-12)
    assert all(len(stds) == 2 and abs(stds[1] - 1.0) < 1e-12 for stds in hist.values())


def test_converges_with_varied_biases_by_iterating():
    x = _x()
    net = _random_biases(_net(nn.ReLU))
    hist = lsuv_(net, x, tol=1e-6, max_iter=50)
    for stds in hist.values():
        assert abs(stds[-1] - 1.0) <= 1e-6
    assert any(len(stds) > 2 for stds in hist.values())  # the bias made it iterate


def test_stops_after_max_iter_and_reports_it():
    net = _random_biases(_net(nn.ReLU))
    hist = lsuv_(net, _x(), tol=1e-12, max_iter=1)
    assert all(len(stds) == 2 for stds in hist.values())
    assert any(abs(stds[-1] - 1.0) > 1e-12 for stds in hist.values())


def test_leaves_biases_and_unselected_layers_alone_and_keeps_pattern():
    net = _net(nn.ReLU, bias=0.2)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    lsuv_(net, _x(), modules=["2"])
    for n, p in net.named_parameters():
        if n == "2.weight":
            ratio = p / before[n]
            torch.testing.assert_close(ratio, torch.full_like(ratio, ratio[0, 0].item()))
            assert ratio[0, 0] != 1.0
        else:
            assert torch.equal(p, before[n])
        assert p.requires_grad and p.grad is None


def test_sparse_weights_stay_sparse_and_modes_are_kept():
    net = _net(nn.ReLU)
    init.initialise_(net, functools.partial(init.sparse_, k=3), generator=torch.Generator().manual_seed(2))
    zeros = [(layer.weight == 0) for layer in net if isinstance(layer, nn.Linear)]
    net.train()
    lsuv_(net, _x())
    assert net.training
    for z, layer in zip(zeros, [m for m in net if isinstance(m, nn.Linear)], strict=True):
        assert torch.equal(layer.weight == 0, z)


def test_float32_and_hooks_removed():
    net = _net(nn.ReLU).float()
    lsuv_(net, _x().float())
    assert all(not m._forward_hooks for m in net.modules())
    assert net[0].weight.dtype == torch.float32


def test_zero_output_is_an_error():
    net = _net(nn.ReLU)
    with torch.no_grad():
        net[2].weight.zero_()
    with pytest.raises(ValueError, match="layer '2' has standard deviation 0.0"):
        lsuv_(net, _x())


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(model="net"), TypeError, "model must be a torch.nn.Module, got str"),
        (dict(x=[1.0]), TypeError, "x must be a torch.Tensor"),
        (dict(target_std=0.0), ValueError, "target_std must be > 0.0, got 0.0"),
        (dict(tol=1.0), ValueError, "tol must be < 1.0, got 1.0"),
        (dict(max_iter=0), ValueError, "max_iter must be >= 1, got 0"),
        (dict(modules="0"), TypeError, "got the string '0'"),
        (dict(modules=["9"]), ValueError, "no module named '9'"),
        (dict(modules=["1"]), ValueError, "module '1' has no weight"),
        (dict(modules=["0", "0"]), ValueError, "must not repeat"),
        (dict(modules=[0]), TypeError, "module names must be strings, got 0"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    args = dict(model=_net(), x=_x())
    args.update(kwargs)
    model, x = args.pop("model"), args.pop("x")
    with pytest.raises(exc, match=match):
        lsuv_(model, x, **args)


def test_model_without_weights():
    with pytest.raises(ValueError, match="no layer with a weight"):
        lsuv_(nn.Sequential(nn.ReLU()), _x())
