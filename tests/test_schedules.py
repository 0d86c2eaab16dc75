"""optbook.optim.schedules against the book's formula and torch's LinearLR."""

import pytest
import torch

from optbook.optim import SGD
from optbook.optim.schedules import LinearDecayLR, linear_decay, robbins_monro_sums


def test_linear_decay_formula():
    lr0, lr_tau, tau = 0.1, 0.001, 50
    for k in range(80):
        a = min(k / tau, 1.0)
        assert linear_decay(k, lr0, lr_tau, tau) == pytest.approx((1 - a) * lr0 + a * lr_tau, abs=1e-17)
    assert linear_decay(0, lr0, lr_tau, tau) == lr0
    assert linear_decay(tau, lr0, lr_tau, tau) == lr_tau
    assert linear_decay(10 * tau, lr0, lr_tau, tau) == lr_tau


@pytest.mark.parametrize("lr0,lr_tau,tau", [(0.1, 0.001, 20), (1.0, 0.0, 7), (0.5, 0.5, 3)])
def test_scheduler_matches_torch_linear_lr(lr0, lr_tau, tau):
    p = torch.zeros(2, requires_grad=True)
    q = torch.zeros(2, requires_grad=True)
    ours = SGD([p], lr=lr0)
    ref = torch.optim.SGD([q], lr=lr0)
    s1 = LinearDecayLR(ours, tau=tau, lr_tau=lr_tau)
    s2 = torch.optim.lr_scheduler.LinearLR(ref, 1.0, lr_tau / lr0, tau)
    for k in range(tau + 5):
        assert ours.param_groups[0]["lr"] == pytest.approx(ref.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        assert ours.param_groups[0]["lr"] == pytest.approx(linear_decay(k, lr0, lr_tau, tau), abs=1e-16)
        ours.step(), ref.step()
        s1.step(), s2.step()


def test_scheduler_per_group_base_lrs():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = LinearDecayLR(opt, tau=4, lr_tau=0.0)
    for _ in range(2):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.5])


def test_robbins_monro_sums():
    k = torch.arange(1, 1001, dtype=torch.float64)
    s1, s2 = robbins_monro_sums(1.0 / k)
    assert s1[-1].item() == pytest.approx((1.0 / k).sum().item(), rel=1e-14)
    # sum 1/k^2 converges to pi^2/6; after 1000 terms the tail is about 1/1000.
    assert abs(s2[-1].item() - torch.pi**2 / 6) < 1.1e-3


@pytest.mark.parametrize(
    "args,exc,match",
    [
        ((-1, 0.1, 0.0, 10), ValueError, "k must be >= 0, got -1"),
        ((0, 0.0, 0.0, 10), ValueError, "lr0 must be > 0.0, got 0.0"),
        ((0, 0.1, -0.1, 10), ValueError, "lr_tau must be >= 0.0, got -0.1"),
        ((0, 0.1, 0.0, 0), ValueError, "tau must be >= 1, got 0"),
        ((0, 0.1, 0.0, 2.5), TypeError, "tau must be an integer, got 2.5"),
        ((0, float("nan"), 0.0, 10), ValueError, "lr0 must be finite, got nan"),
    ],
)
def test_linear_decay_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        linear_decay(*args)


def test_scheduler_bad_arguments():
    opt = SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="tau must be >= 1, got 0"):
        LinearDecayLR(opt, tau=0, lr_tau=0.0)
    with pytest.raises(ValueError, match="lr_tau must be >= 0.0, got -1.0"):
        LinearDecayLR(opt, tau=3, lr_tau=-1.0)
    with pytest.raises(ValueError, match="lrs must be a non-empty 1-D sequence"):
        robbins_monro_sums([])
