"""optbook.optim.SGD against torch.optim.SGD and against the book's Algorithms 8.1–8.3."""

import copy
import math

import pytest
import torch

from optbook.optim import SGD

torch.set_default_dtype(torch.float64)


def _problem(seed=0, n=40, d=7):
    """A least-squares problem with per-step minibatches drawn from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=gen)
    b = torch.randn(n, generator=gen)
    batches = [torch.randint(0, n, (8,), generator=gen) for _ in range(60)]

    def loss(theta, k):
        idx = batches[k % len(batches)]
        return 0.5 * ((A[idx] @ theta - b[idx]) ** 2).mean() + 0.1 * torch.sin(theta).sum()

    theta0 = torch.randn(d, generator=gen)
    return loss, theta0


def _trajectory(opt_cls, steps=60, **kw):
    loss, theta0 = _problem()
    theta = theta0.clone().requires_grad_(True)
    opt = opt_cls([theta], **kw)
    path = [theta.detach().clone()]
    for k in range(steps):
        opt.zero_grad()
        loss(theta, k).backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.1),
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.3, momentum=0.5),
        dict(lr=0.05, momentum=0.9, nesterov=True),
        dict(lr=0.2, momentum=0.3, nesterov=True),
    ],
)
def test_trajectory_equals_torch(kw):
    ours = _trajectory(SGD, **kw)
    ref = _trajectory(torch.optim.SGD, **kw)
    assert ours.dtype == torch.float64
    assert not torch.equal(ours[0], ours[-1])  # it moved
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-13)


def _algorithm_8_3(lr, momentum, steps):
    """Algorithm 8.3 written literally: the gradient is taken at the interim point θ + αv."""
    loss, theta0 = _problem()
    theta, v = theta0.clone(), torch.zeros_like(theta0)
    thetas, vs = [theta.clone()], [v.clone()]
    for k in range(steps):
        interim = (theta + momentum * v).requires_grad_(True)
        (g,) = torch.autograd.grad(loss(interim, k), interim)
        v = momentum * v - lr * g
        theta = theta + v
        thetas.append(theta.clone())
        vs.append(v.clone())
    return torch.stack(thetas), torch.stack(vs)


@pytest.mark.parametrize("lr,momentum", [(0.05, 0.9), (0.2, 0.5)])
def test_nesterov_reproduces_algorithm_8_3(lr, momentum):
    steps = 50
    thetas, vs = _algorithm_8_3(lr, momentum, steps)
    loss, theta0 = _problem()
    p = theta0.clone().requires_grad_(True)
    opt = SGD([p], lr=lr, momentum=momentum, nesterov=True)
    for k in range(steps):
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
        v = opt.state[p]["velocity"]
        # The parameters hold the look-ahead point; the book's θ is p − αv, its v is our v.
        torch.testing.assert_close(v, vs[k + 1], rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(p.detach(), thetas[k + 1] + momentum * vs[k + 1], rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(p.detach() - momentum * v, thetas[k + 1], rtol=1e-12, atol=1e-13)


def test_momentum_is_algorithm_8_2():
    lr, alpha, steps = 0.05, 0.8, 30
    loss, theta0 = _problem()
    theta, v = theta0.clone(), torch.zeros_like(theta0)
    p = theta0.clone().requires_grad_(True)
    opt = SGD([p], lr=lr, momentum=alpha)
    for k in range(steps):
        t = theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(t, k), t)
        v = alpha * v - lr * g
        theta = theta + v
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
        torch.testing.assert_close(p.detach(), theta, rtol=1e-13, atol=1e-14)
        torch.testing.assert_close(opt.state[p]["velocity"], v, rtol=1e-13, atol=1e-14)


def test_velocity_differs_from_torch_when_lr_changes():
    """Stated difference: the book's v keeps past step sizes; torch rescales its buffer."""
    kw = dict(momentum=0.9)
    paths = {}
    for cls in (SGD, torch.optim.SGD):
        loss, theta0 = _problem()
        p = theta0.clone().requires_grad_(True)
        opt = cls([p], lr=0.1, **kw)
        for k in range(20):
            if k == 10:
                opt.param_groups[0]["lr"] = 0.01
            opt.zero_grad()
            loss(p, k).backward()
            opt.step()
            if k == 9:
                before = p.detach().clone()
        paths[cls] = (before, p.detach().clone())
    torch.testing.assert_close(paths[SGD][0], paths[torch.optim.SGD][0], rtol=1e-12, atol=1e-13)
    assert (paths[SGD][1] - paths[torch.optim.SGD][1]).abs().max() > 1e-3


def test_terminal_velocity():
    """Under a constant gradient g the step length tends to ε‖g‖/(1 − α) (§8.3.2)."""
    lr, alpha = 0.01, 0.9
    p = torch.zeros(3, requires_grad=True)
    g = torch.tensor([1.0, -2.0, 2.0])
    opt = SGD([p], lr=lr, momentum=alpha)
    for _ in range(400):
        p.grad = g.clone()
        opt.step()
    step = opt.state[p]["velocity"].norm().item()
    assert math.isclose(step, lr * g.norm().item() / (1 - alpha), rel_tol=1e-12)


def test_closure_and_param_groups():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(3, requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (a**2).sum() + (b**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 5.0
    torch.testing.assert_close(a.detach(), torch.full((2,), 0.8), rtol=0, atol=1e-15)
    torch.testing.assert_close(b.detach(), torch.zeros(3), rtol=0, atol=1e-15)


def test_skips_params_without_grad():
    a = torch.ones(2, requires_grad=True)
    opt = SGD([a], lr=0.1, momentum=0.9)
    opt.step()
    assert torch.equal(a.detach(), torch.ones(2))
    assert len(opt.state) == 0


def test_state_dict_round_trip():
    loss, theta0 = _problem()
    p = theta0.clone().requires_grad_(True)
    opt = SGD([p], lr=0.05, momentum=0.9)
    for k in range(5):
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
    q = p.detach().clone().requires_grad_(True)
    opt2 = SGD([q], lr=0.05, momentum=0.9)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # torch shares tensors otherwise
    for o, t in ((opt, p), (opt2, q)):
        o.zero_grad()
        loss(t, 5).backward()
        o.step()
    assert torch.equal(p.detach(), q.detach())


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        (dict(lr=-0.1), ValueError, "lr must be > 0.0, got -0.1"),
        (dict(lr=0.0), ValueError, "lr must be > 0.0, got 0.0"),
        (dict(lr=float("nan")), ValueError, "lr must be finite, got nan"),
        (dict(lr=float("inf")), ValueError, "lr must be finite, got inf"),
        (dict(lr="0.1"), TypeError, "lr must be a real number, got '0.1'"),
        (dict(lr=True), TypeError, "lr must be a real number, got True"),
        (dict(lr=0.1, momentum=1.0), ValueError, "momentum must be < 1.0, got 1.0"),
        (dict(lr=0.1, momentum=-0.5), ValueError, "momentum must be >= 0.0, got -0.5"),
        (dict(lr=0.1, momentum=float("nan")), ValueError, "momentum must be finite, got nan"),
        (dict(lr=0.1, nesterov=True), ValueError, "nesterov=True needs momentum > 0, got momentum=0.0"),
        (dict(lr=0.1, momentum=0.9, nesterov=1), TypeError, "nesterov must be True or False, got 1"),
    ],
)
def test_bad_arguments_raise_at_construction(kw, exc, match):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(exc, match=match.replace("(", r"\(").replace(")", r"\)")):
        SGD([p], **kw)


def test_torch_is_laxer_than_us():
    """The stated strictness: torch accepts these, we refuse them."""
    p = torch.zeros(2, requires_grad=True)
    torch.optim.SGD([p], lr=float("nan"))
    torch.optim.SGD([p], lr=0.1, momentum=1.5)
    for kw in (dict(lr=float("nan")), dict(lr=0.1, momentum=1.5)):
        with pytest.raises(ValueError):
            SGD([p], **kw)


def test_sparse_gradients_refused():
    p = torch.zeros(3, requires_grad=True)
    opt = SGD([p], lr=0.1)
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()


def test_nesterov_reference_is_the_literal_algorithm():
    """The library's teaching copy of Algorithm 8.3 equals the one written out in this file."""
    from optbook.optim.sgd import nesterov_reference

    loss, theta0 = _problem()

    def grad_fn(point, k):
        point = point.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(point, k), point)
        return g

    thetas, vs = nesterov_reference(grad_fn, theta0, 0.05, 0.9, 40)
    ref_thetas, ref_vs = _algorithm_8_3(0.05, 0.9, 40)
    torch.testing.assert_close(thetas, ref_thetas, rtol=0, atol=0)
    torch.testing.assert_close(vs, ref_vs, rtol=0, atol=0)
    with pytest.raises(ValueError, match="momentum must be < 1.0, got 1.0"):
        nesterov_reference(grad_fn, theta0, 0.05, 1.0, 3)
