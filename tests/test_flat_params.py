"""optbook.nn.flat_params: the flat objective equals the module's loss, its autograd gradient equals
the parameters' gradients concatenated (torch.nn.utils.parameters_to_vector order)."""

import pytest
import torch
from torch import nn

from optbook.nn.flat_params import flat_objective, flatten_parameters, load_flat, unflatten
from optbook.second_order import lbfgs

torch.set_default_dtype(torch.float64)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def _data(seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(20, 5, generator=gen), torch.randint(0, 3, (20,), generator=gen)


def test_value_and_gradient_match_the_module():
    model, (X, y) = _net(), _data()
    f, theta0 = flat_objective(model, nn.functional.cross_entropy, X, y)
    torch.testing.assert_close(theta0, nn.utils.parameters_to_vector(model.parameters()), rtol=0, atol=0)
    theta = theta0.clone().requires_grad_(True)
    J = f(theta)
    (g,) = torch.autograd.grad(J, theta)
    loss = nn.functional.cross_entropy(model(X), y)
    loss.backward()
    torch.testing.assert_close(J, loss.detach(), rtol=1e-15, atol=0)
    want = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(g, want, rtol=1e-13, atol=1e-15)


def test_f_does_not_touch_the_model_and_load_flat_writes_back():
    model, (X, y) = _net(), _data()
    before = flatten_parameters(model)
    f, theta0 = flat_objective(model, nn.functional.cross_entropy, X, y)
    theta = theta0 + 0.1
    f(theta)
    torch.testing.assert_close(flatten_parameters(model), before, rtol=0, atol=0)
    load_flat(model, theta)
    torch.testing.assert_close(flatten_parameters(model), theta, rtol=0, atol=0)
    torch.testing.assert_close(nn.functional.cross_entropy(model(X), y), f(theta), rtol=1e-15, atol=0)
    views = unflatten(model, theta)
    assert [tuple(v.shape) for v in views.values()] == [tuple(p.shape) for p in model.parameters()]


def test_frozen_parameters_are_left_out():
    model, (X, y) = _net(), _data()
    model[0].weight.requires_grad_(False)
    f, theta0 = flat_objective(model, nn.functional.cross_entropy, X, y)
    assert theta0.numel() == 7 + 7 * 3 + 3
    torch.testing.assert_close(f(theta0), nn.functional.cross_entropy(model(X), y), rtol=1e-15, atol=0)


def test_a_second_order_method_trains_a_net_through_it():
    model, (X, y) = _net(), _data()
    f, theta0 = flat_objective(model, nn.functional.cross_entropy, X, y)
    res = lbfgs(f, theta0, max_iter=300, gtol=1e-6)
    assert res.success and res.fun < 0.1 * res.losses[0]


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: flatten_parameters("net"), TypeError, "nn.Module"),
        (lambda: flatten_parameters(nn.ReLU()), ValueError, "no trainable"),
        (lambda: unflatten(_net(), torch.zeros(3)), ValueError, "entries"),
        (lambda: unflatten(_net(), torch.zeros(2, 31)), ValueError, "1-D"),
        (lambda: flat_objective(_net(), "ce", *_data()), TypeError, "loss_fn"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
