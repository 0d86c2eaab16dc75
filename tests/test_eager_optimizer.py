"""The book's optimisers use torch's Optimizer methods without the torch._dynamo wrapper
(optbook.optim._eager): the same functions, so the same behaviour, minus a second of import."""

import torch

from optbook.optim import SAM, SGD, Adam
from optbook.optim._eager import EagerOptimizer


def test_eager_optimizer_methods_are_torchs_unwrapped():
    for name in ("zero_grad", "add_param_group", "state_dict", "load_state_dict"):
        torch_method = getattr(torch.optim.Optimizer, name)
        assert getattr(EagerOptimizer, name) is getattr(torch_method, "__wrapped__", torch_method)
    for cls in (SGD, Adam, SAM):
        assert issubclass(cls, EagerOptimizer)
    p = torch.nn.Parameter(torch.ones(2))
    opt = Adam([p], lr=0.1)
    p.grad = torch.ones(2)
    opt.step()
    opt.zero_grad()
    assert p.grad is None
    state = opt.state_dict()
    fresh = Adam([p], lr=0.5)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.state[p]["t"] == 1
