"""optbook.nn.batchnorm.BatchNorm1d against torch.nn.BatchNorm1d, and its hand-written backward
against autograd's numerical gradient check."""

import math

import pytest
import torch
from torch import nn

from optbook.nn.batchnorm import BatchNorm1d, BatchNormFunction, batch_norm

torch.set_default_dtype(torch.float64)

TOL = dict(rtol=1e-12, atol=1e-12)


def _pair(C, seed=0, **kw):
    """Ours and torch's, with the same random γ and β."""
    gen = torch.Generator().manual_seed(seed)
    ours, ref = BatchNorm1d(C, **kw), nn.BatchNorm1d(C, **kw)
    with torch.no_grad():
        for m in (ours, ref):
            m.weight.copy_(torch.randn(C, generator=torch.Generator().manual_seed(seed)) + 1.0)
            m.bias.copy_(torch.randn(C, generator=torch.Generator().manual_seed(seed + 1)))
    return ours, ref, gen


def _batch(N, C, gen):
    # Features with different means and scales, as a previous layer's outputs would have.
    return 3.0 * torch.randn(N, C, generator=gen) * torch.linspace(0.1, 5.0, C) + torch.arange(C)


def _forward_backward(module, x, dy):
    x = x.clone().requires_grad_(True)
    module.zero_grad()
    y = module(x)
    y.backward(dy)
    return y.detach(), x.grad, module.weight.grad.clone(), module.bias.grad.clone()


@pytest.mark.parametrize(
    "N,C,kw",
    [
        (2, 1, {}),  # the smallest batch training allows
        (16, 5, {}),
        (64, 3, dict(eps=1e-3, momentum=0.3)),
        (7, 12, dict(momentum=0.0)),  # running statistics frozen
        (5, 4, dict(momentum=1.0)),  # running statistics = the last batch's
    ],
)
def test_matches_torch_in_training_and_eval(N, C, kw):
    ours, ref, gen = _pair(C, **kw)
    for _ in range(4):  # several steps: the running statistics accumulate
        x, dy = _batch(N, C, gen), torch.randn(N, C, generator=gen)
        got, want = _forward_backward(ours, x, dy), _forward_backward(ref, x, dy)
        for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), got, want, strict=True):
            torch.testing.assert_close(a, b, **TOL, msg=lambda m, name=name: f"{name}: {m}")
        torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)
        torch.testing.assert_close(ours.running_var, ref.running_var, **TOL)
    assert ours.num_batches_tracked.item() == ref.num_batches_tracked.item() == 4

    ours.eval(), ref.eval()
    x, dy = _batch(3, C, gen), torch.randn(3, C, generator=gen)
    for a, b in zip(_forward_backward(ours, x, dy), _forward_backward(ref, x, dy), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    before = ours.running_mean.clone()
    ours(_batch(1, C, gen))  # eval mode: a single example is fine and changes nothing
    assert torch.equal(ours.running_mean, before)


def test_training_output_is_normalised_and_running_var_unbiased():
    ours, _, gen = _pair(4)
    with torch.no_grad():
        ours.weight.fill_(1.0), ours.bias.zero_()
    x = _batch(10, 4, gen)
    y = ours(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(4), rtol=0, atol=1e-14)
    eps = ours.eps
    torch.testing.assert_close(
        y.var(0, unbiased=False), x.var(0, unbiased=False) / (x.var(0, unbiased=False) + eps), **TOL
    )  # noqa: E501
    # running_var uses the unbiased (N − 1) batch variance; the normalisation the biased one.
    torch.testing.assert_close(ours.running_var, 0.9 + 0.1 * x.var(0, unbiased=True), **TOL)
    torch.testing.assert_close(ours.running_mean, 0.1 * x.mean(0), **TOL)


def test_backward_is_the_closed_form_and_removes_mean_and_xhat_components():
    gen = torch.Generator().manual_seed(3)
    x = _batch(9, 3, gen).requires_grad_(True)
    gamma = torch.tensor([0.5, 2.0, -1.0], requires_grad=True)
    beta = torch.tensor([0.1, 0.0, 3.0], requires_grad=True)
    dy = torch.randn(9, 3, generator=gen)
    y, mu, sigma2 = batch_norm(x, gamma, beta, 1e-5)
    assert not mu.requires_grad and not sigma2.requires_grad
    dx, dgamma, dbeta = torch.autograd.grad(y, (x, gamma, beta), dy)
    # The same maths written with autograd from the definition, step by step.
    xd = x.detach().clone().requires_grad_(True)
    m = xd.mean(0)
    v = ((xd - m) ** 2).mean(0)
    x_hat = (xd - m) / torch.sqrt(v + 1e-5)
    (dx_ref,) = torch.autograd.grad(gamma.detach() * x_hat + beta.detach(), xd, dy)
    torch.testing.assert_close(dx, dx_ref, **TOL)
    torch.testing.assert_close(dgamma, (dy * x_hat).sum(0).detach(), **TOL)
    torch.testing.assert_close(dbeta, dy.sum(0), **TOL)
    torch.testing.assert_close(dx.sum(0), torch.zeros(3), rtol=0, atol=1e-12)
    # Orthogonal to x̂ but for the δ in the variance: Σ dx x̂ = γ/√(σ²+δ) · δ/(σ²+δ) · dγ.
    s2 = sigma2 + 1e-5
    torch.testing.assert_close(
        (dx * x_hat.detach()).sum(0), gamma.detach() / s2.sqrt() * 1e-5 / s2 * dgamma, **TOL
    )


@pytest.mark.parametrize("N,C,eps", [(2, 1, 1e-5), (6, 4, 1e-5), (11, 3, 0.5)])
def test_gradcheck_hand_written_function(N, C, eps):
    gen = torch.Generator().manual_seed(N)
    x = _batch(N, C, gen).requires_grad_(True)
    gamma = torch.randn(C, generator=gen).requires_grad_(True)
    beta = torch.randn(C, generator=gen).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, g, b: BatchNormFunction.apply(x, g, b, eps)[0], (x, gamma, beta)
    )


def test_gradcheck_module_in_train_and_eval_mode():
    gen = torch.Generator().manual_seed(1)
    bn = BatchNorm1d(3)
    x = _batch(5, 3, gen).requires_grad_(True)
    assert torch.autograd.gradcheck(bn, (x,))
    bn.eval()
    assert torch.autograd.gradcheck(bn, (x,))


def test_no_double_backward():
    x = torch.randn(4, 2, requires_grad=True)
    y = BatchNorm1d(2)(x)
    (dx,) = torch.autograd.grad((y**3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|twice"):
        dx.sum().backward()


def test_training_a_network_matches_torch():
    """Linear → BN → tanh → Linear, ten SGD steps: every parameter and buffer agrees."""
    torch.manual_seed(0)
    nets = []
    for bn_cls in (BatchNorm1d, nn.BatchNorm1d):
        torch.manual_seed(0)
        nets.append(nn.Sequential(nn.Linear(5, 8), bn_cls(8), nn.Tanh(), nn.Linear(8, 2)))
    gen = torch.Generator().manual_seed(1)
    data = [
        (torch.randn(16, 5, generator=gen), torch.randn(16, 2, generator=gen)) for _ in range(10)
    ]
    for net in nets:
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for x, t in data:
            opt.zero_grad()
            ((net(x) - t) ** 2).mean().backward()
            opt.step()
    ours, ref = (dict(net.state_dict()) for net in nets)
    assert ours.keys() == ref.keys()
    for k in ours:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-11, atol=1e-12, msg=k)


def test_state_dict_loads_both_ways():
    ours, ref, gen = _pair(3)
    for _ in range(2):
        ref(_batch(8, 3, gen))
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()
    x = _batch(4, 3, gen)
    torch.testing.assert_close(ours(x), ref(x), **TOL)
    nn.BatchNorm1d(3).load_state_dict(ours.state_dict())
    assert "BatchNorm1d(3, eps=1e-05, momentum=0.1)" == repr(ours)


def test_reset():
    bn = BatchNorm1d(2)
    with torch.no_grad():
        bn.weight.fill_(3.0)
    bn(torch.randn(5, 2))
    bn.reset_parameters()
    assert torch.equal(bn.running_mean, torch.zeros(2)) and torch.equal(
        bn.running_var, torch.ones(2)
    )
    assert torch.equal(bn.weight.detach(), torch.ones(2)) and bn.num_batches_tracked.item() == 0


@pytest.mark.parametrize(
    "make,x,exc,match",
    [
        (
            lambda: BatchNorm1d(3),
            torch.zeros(4),
            ValueError,
            r"expected 2-D input \(N, C\), got 1-D input of shape \(4,\)",
        ),
        (
            lambda: BatchNorm1d(3),
            torch.zeros(4, 3, 5),
            ValueError,
            r"got 3-D input of shape \(4, 3, 5\)",
        ),
        (
            lambda: BatchNorm1d(3),
            torch.zeros(4, 2),
            ValueError,
            r"expected input with 3 features \(N, 3\), got shape \(4, 2\)",
        ),
        (
            lambda: BatchNorm1d(3),
            torch.zeros(1, 3),
            ValueError,
            r"batch size must be > 1 in training mode .* got input of shape \(1, 3\)",
        ),
        (
            lambda: BatchNorm1d(3),
            [[1.0, 2.0, 3.0]],
            TypeError,
            "input must be a torch.Tensor, got list",
        ),
        (lambda: BatchNorm1d(0), None, ValueError, "num_features must be >= 1, got 0"),
        (lambda: BatchNorm1d(2.0), None, TypeError, "num_features must be an integer, got 2.0"),
        (lambda: BatchNorm1d(3, eps=0.0), None, ValueError, "eps must be > 0.0, got 0.0"),
        (lambda: BatchNorm1d(3, eps=-1e-5), None, ValueError, "eps must be > 0.0, got -1e-05"),
        (lambda: BatchNorm1d(3, eps=math.nan), None, ValueError, "eps must be finite, got nan"),
        (
            lambda: BatchNorm1d(3, momentum=1.5),
            None,
            ValueError,
            "momentum must be <= 1.0, got 1.5",
        ),
        (
            lambda: BatchNorm1d(3, momentum=-0.1),
            None,
            ValueError,
            "momentum must be >= 0.0, got -0.1",
        ),
        (
            lambda: BatchNorm1d(3, momentum=None),
            None,
            TypeError,
            "momentum must be a real number, got None",
        ),
    ],
)
def test_bad_arguments_raise(make, x, exc, match):
    with pytest.raises(exc, match=match):
        make()(x)


def test_torch_raises_too_on_a_batch_of_one():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(torch.zeros(1, 3))
