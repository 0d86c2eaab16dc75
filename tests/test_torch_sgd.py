"""§8.7's TorchSGD: torch.optim.SGD's numbers to the last bit, without importing torch._dynamo."""

import subprocess
import sys

import pytest
import torch

from optbook.experiments.ch08_7.torch_sgd import TorchSGD
from optbook.optim._eager import EagerOptimizer


def _train(cls, momentum, steps=25):
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    opt = cls([p for p in net.parameters()], lr=0.05, momentum=momentum)
    X, y = torch.randn(40, 5, generator=gen), torch.randint(3, (40,), generator=gen)
    losses = []
    for k in range(steps):
        idx = torch.randint(40, (8,), generator=gen)
        loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        if k == 3:
            net[0].bias.grad = None  # a parameter without a gradient is skipped
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in net.parameters()], opt


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_torch_sgd_is_torch_optim_sgd_to_the_last_bit(momentum):
    ours, theirs = _train(TorchSGD, momentum), _train(torch.optim.SGD, momentum)
    assert ours[0] == theirs[0]
    assert all(torch.equal(a, b) for a, b in zip(ours[1], theirs[1], strict=True))
    if momentum:
        for p, q in zip(ours[2].param_groups[0]["params"], theirs[2].param_groups[0]["params"], strict=True):
            assert torch.equal(ours[2].state[p]["momentum_buffer"], theirs[2].state[q]["momentum_buffer"])
    assert isinstance(ours[2], EagerOptimizer)


def test_torch_sgd_checks_its_arguments_and_runs_a_closure():
    p = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError):
        TorchSGD([p], lr=0.0)
    with pytest.raises(ValueError):
        TorchSGD([p], lr=0.1, momentum=1.0)
    opt = TorchSGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 2.0
    assert torch.equal(p.detach(), torch.zeros(2))  # 1 - 0.5 * 2


def test_torch_sgd_does_not_import_torch_dynamo():
    code = (
        "import sys, torch\n"
        "from optbook.experiments.ch08_7.torch_sgd import TorchSGD\n"
        "p = torch.nn.Parameter(torch.ones(3))\n"
        "opt = TorchSGD([p], lr=0.1, momentum=0.9)\n"
        "for _ in range(2):\n"
        "    opt.zero_grad(); (p**2).sum().backward(); opt.step()\n"
        "assert 'torch._dynamo' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
