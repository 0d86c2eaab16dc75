"""optbook.experiments.ch08_7.pretraining.add_hidden_layer: keeps the learned hidden layers, adds
fresh ones."""

import pytest
import torch
from torch import nn

from optbook.experiments.ch08_7.pretraining import add_hidden_layer
from optbook.training import mlp

torch.set_default_dtype(torch.float64)


def test_growing_keeps_hidden_layers_and_replaces_the_output():
    small = mlp([6, 5, 3], "tanh", seed=0, dtype=torch.float64)
    big = add_hidden_layer(small, 4, "tanh", seed=1)
    assert [type(m) for m in big] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert (big[2].in_features, big[2].out_features, big[4].in_features, big[4].out_features) == (5, 4, 4, 3)
    torch.testing.assert_close(big[0].weight, small[0].weight, rtol=0, atol=0)
    assert big[0].weight is not small[0].weight  # a copy: training big leaves small alone
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(big[:2](x), small[:2](x), rtol=0, atol=0)
    assert big[4].weight.dtype == torch.float64
    # fresh layers: torch's default initialisation from the given seed, reproducibly
    again = add_hidden_layer(small, 4, "tanh", seed=1)
    torch.testing.assert_close(big[2].weight, again[2].weight, rtol=0, atol=0)
    torch.manual_seed(1)
    torch.testing.assert_close(big[2].weight, nn.Linear(5, 4).weight, rtol=0, atol=0)


def test_global_rng_is_left_alone_and_freezing():
    small = mlp([6, 5, 3], seed=0)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    big = add_hidden_layer(small, 4, "relu", freeze_old=True, seed=7)
    assert torch.equal(torch.rand(1), before)
    assert [p.requires_grad for p in big.parameters()] == [False, False, True, True, True, True]
    assert all(p.requires_grad for p in small.parameters())
    deeper = add_hidden_layer(big, 2, "sigmoid")
    assert len(deeper) == 7 and isinstance(deeper[5], nn.Sigmoid)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: add_hidden_layer(nn.Linear(3, 2), 4), TypeError, "nn.Sequential"),
        (lambda: add_hidden_layer(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), 4), TypeError, "output layer"),
        (lambda: add_hidden_layer(mlp([3, 2]), 0), ValueError, "width"),
        (lambda: add_hidden_layer(mlp([3, 2]), 2, "gelu"), ValueError, "activation"),
        (lambda: add_hidden_layer(mlp([3, 2]), 2, freeze_old=0), TypeError, "freeze_old"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
