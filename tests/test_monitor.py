"""ActivationMonitor against a manual forward pass and torch.autograd; its hooks come off on exit;
the summary numbers and the update/weight ratio against direct computation; the drawing helpers."""

import math

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from optbook.monitor import (
    ActivationMonitor,
    parameter_snapshot,
    saturation_fraction,
    update_ratios,
    zero_fraction,
)
from optbook.viz.monitor import draw_histograms, draw_layer_statistic

torch.set_default_dtype(torch.float64)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3), nn.Sigmoid()
    )


def _data(seed=1, n=16):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=gen), torch.rand(n, 3, generator=gen)


def _manual(net, x, y):
    """The forward pass layer by layer, keeping every intermediate, and autograd's gradients
    of the loss with respect to each of them."""
    hs, h = [], x
    for layer in net:
        h = layer(h)
        h.retain_grad()
        hs.append(h)
    loss = ((h - y) ** 2).sum()
    loss.backward()
    return hs, [h.grad for h in hs]


def test_records_equal_manual_forward_and_autograd():
    net, (x, y) = _net(), _data()
    with ActivationMonitor(net) as mon:
        loss = ((net(x) - y) ** 2).sum()
        loss.backward()
    assert mon.names == ("0", "1", "2", "3", "4", "5")
    hs, grads = _manual(_net(), x, y)
    for i, name in enumerate(mon.names):
        assert len(mon.outputs[name]) == 1 and len(mon.grads[name]) == 1
        torch.testing.assert_close(mon.outputs[name][0], hs[i], rtol=1e-14, atol=0)
        torch.testing.assert_close(mon.grads[name][0], grads[i], rtol=1e-14, atol=1e-300)
        assert not mon.outputs[name][0].requires_grad


def test_records_are_copies_per_call():
    net, (x, _) = _net(), _data()
    expected = torch.tanh(net[0](x)).detach()
    with ActivationMonitor(net, modules=["1"]) as mon:
        net(x)
        net(x)
        with torch.no_grad():
            net[0].weight.mul_(2)  # later changes must not reach earlier records
            net(x)
    assert len(mon.outputs["1"]) == 3 and mon.grads["1"] == []
    assert torch.equal(mon.outputs["1"][0], expected) and torch.equal(mon.outputs["1"][1], expected)
    assert not torch.equal(mon.outputs["1"][1], mon.outputs["1"][2])


def test_hooks_removed_on_exit_even_on_error():
    net, (x, _) = _net(), _data()
    mon = ActivationMonitor(net)
    with mon:
        assert mon.active
        assert all(len(m._forward_hooks) == 1 for m in net)
    assert not mon.active
    assert all(len(m._forward_hooks) == 0 and len(m._backward_hooks) == 0 for m in net)
    net(x)
    assert len(mon.outputs["0"]) == 0  # nothing recorded outside `with`
    with mon:
        loss = net(x).sum()
    loss.backward()  # after exit: the tensor hooks are gone too
    assert len(mon.outputs["0"]) == 1 and mon.grads["0"] == []
    mon.clear()
    with pytest.raises(ZeroDivisionError), mon:
        net(x)
        raise ZeroDivisionError
    assert all(len(m._forward_hooks) == 0 and len(m._backward_hooks) == 0 for m in net)
    assert len(mon.outputs["0"]) == 1  # records persist; clear() drops them
    mon.clear()
    assert mon.outputs["0"] == [] and mon.grads["0"] == []


def test_cannot_enter_twice():
    mon = ActivationMonitor(_net())
    with mon, pytest.raises(RuntimeError, match="already active"), mon:
        pass
    assert not mon.active


def test_named_modules_in_a_nested_model():
    net = nn.Sequential(nn.Sequential(nn.Linear(5, 4), nn.Tanh()), nn.Linear(4, 2))
    assert ActivationMonitor(net).names == ("0.0", "0.1", "1")
    x, _ = _data()
    with ActivationMonitor(net, modules=["0", "1"]) as mon:  # a container is fine too
        out = net(x)
        out.sum().backward()
    torch.testing.assert_close(mon.outputs["0"][0], torch.tanh(net[0][0](x)).detach())
    torch.testing.assert_close(mon.grads["1"][0], torch.ones_like(out))


def test_inplace_activation():
    """The tensor hook sees ∂J/∂h of a Linear output even when an in-place ReLU overwrites h."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(inplace=True), nn.Linear(4, 2))
    x, _ = _data()
    with ActivationMonitor(net) as mon:
        net(x).pow(2).sum().backward()
    h0 = net[0](x)
    h0.retain_grad()
    h1 = torch.relu(h0)
    h1.retain_grad()
    net[2](h1).pow(2).sum().backward()
    torch.testing.assert_close(mon.outputs["0"][0], h0.detach())  # recorded before the ReLU
    torch.testing.assert_close(mon.grads["0"][0], h0.grad)
    torch.testing.assert_close(mon.grads["1"][0], h1.grad)


def test_shared_module_called_twice():
    lin = nn.Linear(3, 3)
    net = nn.ModuleDict({"lin": lin})
    x = torch.randn(2, 3, requires_grad=True)
    with ActivationMonitor(net, modules=["lin"]) as mon:
        h1 = lin(x)
        h2 = lin(torch.tanh(h1))
        (h2**2).sum().backward()
    assert len(mon.outputs["lin"]) == 2 and len(mon.grads["lin"]) == 2
    torch.testing.assert_close(mon.grads["lin"][0], 2 * h2.detach())  # backward order


def test_summary_numbers():
    net, (x, y) = _net(), _data(n=64)
    with ActivationMonitor(net) as mon:
        ((net(x) - y) ** 2).sum().backward()
    s = mon.summary(threshold=0.9)
    hs, grads = _manual(_net(), x, y)
    for i, name in enumerate(mon.names):
        assert s[name]["mean"] == pytest.approx(hs[i].mean().item(), rel=1e-12)
        assert s[name]["std"] == pytest.approx(hs[i].std().item(), rel=1e-12)
        assert s[name]["grad_std"] == pytest.approx(grads[i].std().item(), rel=1e-12)
        assert s[name]["zeros"] == (hs[i] == 0).double().mean().item()
    assert s["1"]["saturated"] == (hs[1].abs() >= 0.9).double().mean().item()
    assert s["5"]["saturated"] == ((hs[5] >= 0.9) | (hs[5] <= 0.1)).double().mean().item()
    assert math.isnan(s["0"]["saturated"]) and math.isnan(s["3"]["saturated"])
    assert s["3"]["zeros"] > 0.2  # ReLU: about half off


def test_saturation_and_zeros():
    h = torch.tensor([-1.0, -0.995, 0.0, 0.5, 0.99, 1.0])
    assert saturation_fraction(h, "tanh") == 4 / 6
    assert saturation_fraction(h, "tanh", threshold=0.999) == 2 / 6
    p = torch.tensor([0.0, 0.005, 0.5, 0.7, 0.995])
    assert saturation_fraction(p, "sigmoid") == 3 / 5
    assert zero_fraction(torch.relu(torch.tensor([-1.0, 0.0, 2.0, 3.0]))) == 0.5
    # a saturated tanh net: big weights push |h| to 1
    big = nn.Sequential(nn.Linear(5, 50), nn.Tanh())
    with torch.no_grad():
        big[0].weight.mul_(100)
    with ActivationMonitor(big) as mon:
        big(_data()[0])
    assert mon.summary()["1"]["saturated"] > 0.8


def test_update_ratios():
    net, (x, y) = _net(), _data()
    with torch.no_grad():
        net[0].bias.zero_()
        net[2].bias.zero_()
    net[2].bias.requires_grad_(False)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    before = parameter_snapshot(net)
    ((net(x) - y) ** 2).sum().backward()
    opt.step()
    after = parameter_snapshot(net)
    ratios = update_ratios(before, after)
    assert set(ratios) == {name for name, _ in net.named_parameters()}
    w_before, w_after = before["0.weight"], net[0].weight.detach()
    assert ratios["0.weight"] == pytest.approx(
        ((w_after - w_before).norm() / w_before.norm()).item(), rel=1e-12
    )
    assert ratios["0.weight"] == pytest.approx(
        (0.1 * net[0].weight.grad.norm() / w_before.norm()).item(), rel=1e-12
    )
    assert ratios["0.bias"] == math.inf  # was zero, moved
    assert math.isnan(ratios["2.bias"])  # was zero, frozen
    assert before["0.weight"] is not net[0].weight


def test_draw_histograms_and_statistic():
    net, (x, y) = _net(), _data()
    with ActivationMonitor(net, modules=["1", "3", "5"]) as mon:
        ((net(x) - y) ** 2).sum().backward()
    arrays = {name: recs[-1] for name, recs in mon.outputs.items()}
    axes = Figure().subplots(1, 4)  # no pyplot: nothing global to close
    drawn = draw_histograms(axes[0], arrays, bins=20)  # overlaid
    assert len(drawn) == 3 and axes[0].get_legend() is not None
    drawn = draw_histograms(axes[1:], arrays, bins=10, value_range=(-1, 1), xlabel="h")
    heights = [sum(p.get_height() * p.get_width() for p in patches) for patches in drawn]
    assert heights == pytest.approx([1.0, 1.0, 1.0])  # densities on the shared bins
    assert [ax.get_title() for ax in axes[1:]] == ["1", "3", "5"]
    line = draw_layer_statistic(axes[0], mon.summary(), "std")
    assert list(line.get_ydata()) == [mon.summary()[n]["std"] for n in ("1", "3", "5")]
    with pytest.raises(ValueError, match="need one axes per layer: 3 layers, 2 axes"):
        draw_histograms(axes[:2], arrays)
    with pytest.raises(ValueError, match="key 'nope' missing"):
        draw_layer_statistic(axes[0], mon.summary(), "nope")


BAD = [
    (lambda: ActivationMonitor("net"), TypeError, "model must be a torch.nn.Module, got str"),
    (lambda: ActivationMonitor(_net(), modules="0"), TypeError, "got the string '0'"),
    (lambda: ActivationMonitor(_net(), modules=["9"]), ValueError, "no module named '9'"),
    (lambda: ActivationMonitor(_net(), modules=[0]), TypeError, "module names must be strings"),
    (lambda: ActivationMonitor(_net(), modules=["0", "0"]), ValueError, "must not repeat"),
    (lambda: ActivationMonitor(_net(), modules=[]), ValueError, "nothing to monitor"),
    (
        lambda: saturation_fraction(torch.zeros(2), "relu"),
        ValueError,
        "kind must be 'tanh' or 'sigmoid', got 'relu'",
    ),
    (
        lambda: saturation_fraction(torch.zeros(2), "sigmoid", threshold=0.3),
        ValueError,
        "threshold must be > 0.5, got 0.3",
    ),
    (
        lambda: saturation_fraction(torch.zeros(2), "tanh", threshold=1.0),
        ValueError,
        "threshold must be < 1.0, got 1.0",
    ),
    (
        lambda: ActivationMonitor(_net()).summary(call=0.5),
        TypeError,
        "call must be an integer, got 0.5",
    ),
    (
        lambda: update_ratios({"a": torch.ones(2)}, {"b": torch.ones(2)}),
        ValueError,
        r"only in before: \['a'\], only in after: \['b'\]",
    ),
    (
        lambda: update_ratios({"a": torch.ones(2)}, {"a": torch.ones(3)}),
        ValueError,
        r"parameter 'a' changed shape: \(2,\) before, \(3,\) after",
    ),
    (lambda: parameter_snapshot(None), TypeError, "model must be a torch.nn.Module, got NoneType"),
]


@pytest.mark.parametrize("call,exc,match", BAD)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_summary_call_out_of_range():
    net, (x, _) = _net(), _data()
    with ActivationMonitor(net, modules=["0"]) as mon:
        net(x)
    with pytest.raises(IndexError, match=r"call=3 is out of range: outputs\['0'\] has 1"):
        mon.summary(call=3)
    assert math.isnan(mon.summary()["0"]["grad_std"])  # no backward pass recorded


def test_non_tensor_output_is_refused():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    net = nn.Sequential(Pair())
    with ActivationMonitor(net) as mon, pytest.raises(TypeError, match="module '0' returned tuple"):
        net(torch.zeros(1))
    assert not mon.active
