"""AdaGrad, RMSProp, AdaDelta and Adam against torch.optim, against the book's algorithm boxes
written out literally, and against each other where the maths says they coincide."""

import copy
import math

import pytest
import torch

from optbook.optim import AdaDelta, AdaGrad, Adam, RMSProp

torch.set_default_dtype(torch.float64)

TOL = dict(rtol=1e-12, atol=1e-13)


def _problem(seed=0, n=40, d=7):
    """A least-squares problem plus a wiggle, with per-step minibatches from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=gen)
    b = torch.randn(n, generator=gen)
    batches = [torch.randint(0, n, (8,), generator=gen) for _ in range(60)]

    def loss(theta, k):
        idx = batches[k % len(batches)]
        return 0.5 * ((A[idx] @ theta - b[idx]) ** 2).mean() + 0.1 * torch.sin(theta).sum()

    theta0 = torch.randn(d, generator=gen)
    return loss, theta0


def _grad(loss, theta, k):
    theta = theta.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(theta, k), theta)
    return g


def _trajectory(make_opt, steps=60):
    loss, theta0 = _problem()
    theta = theta0.clone().requires_grad_(True)
    opt = make_opt([theta])
    path = [theta.detach().clone()]
    for k in range(steps):
        opt.zero_grad()
        loss(theta, k).backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


# --- where the maths is torch's, the trajectories are torch's --------------------------------

SAME_AS_TORCH = {
    "adagrad": (
        lambda p: AdaGrad(p, lr=0.1, eps=1e-7),
        lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-7),  # initial_accumulator_value=0
    ),
    "adagrad-default-lr": (
        lambda p: AdaGrad(p),
        lambda p: torch.optim.Adagrad(p, lr=0.01, eps=1e-7),
    ),
    "rmsprop-eps-outside": (
        lambda p: RMSProp(p, lr=0.01, rho=0.9, eps=1e-6, eps_in_sqrt=False),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6),
    ),
    "rmsprop-momentum": (
        lambda p: RMSProp(p, lr=0.003, rho=0.95, eps=1e-6, momentum=0.9, eps_in_sqrt=False),
        lambda p: torch.optim.RMSprop(p, lr=0.003, alpha=0.95, eps=1e-6, momentum=0.9),
    ),
    "adadelta": (
        lambda p: AdaDelta(p),
        lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6),
    ),
    "adadelta-lr": (
        lambda p: AdaDelta(p, lr=0.5, rho=0.95, eps=1e-5),
        lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.95, eps=1e-5),
    ),
    "adam": (
        lambda p: Adam(p, lr=0.01),
        lambda p: torch.optim.Adam(p, lr=0.01),
    ),
    "adam-betas": (
        lambda p: Adam(p, lr=0.05, betas=(0.5, 0.9), eps=1e-6),
        lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.5, 0.9), eps=1e-6),
    ),
}


@pytest.mark.parametrize("name", SAME_AS_TORCH)
def test_trajectory_equals_torch(name):
    ours_factory, torch_factory = SAME_AS_TORCH[name]
    ours = _trajectory(ours_factory)
    ref = _trajectory(torch_factory)
    assert ours.dtype == torch.float64
    assert (ours[0] - ours[-1]).abs().max() > 1e-2  # it moved
    torch.testing.assert_close(ours, ref, **TOL)


# --- the book's algorithm boxes, written out literally ----------------------------------------


def _algorithm_8_4(lr, delta, steps):
    """AdaGrad."""
    loss, theta = _problem()
    r = torch.zeros_like(theta)
    path = [theta.clone()]
    for k in range(steps):
        g = _grad(loss, theta, k)
        r = r + g * g
        theta = theta - lr / (delta + torch.sqrt(r)) * g
        path.append(theta.clone())
    return torch.stack(path)


def _algorithm_8_5(lr, rho, delta, steps):
    """RMSProp: δ inside the square root."""
    loss, theta = _problem()
    r = torch.zeros_like(theta)
    path = [theta.clone()]
    for k in range(steps):
        g = _grad(loss, theta, k)
        r = rho * r + (1 - rho) * g * g
        theta = theta - lr / torch.sqrt(delta + r) * g
        path.append(theta.clone())
    return torch.stack(path)


def _algorithm_8_6(lr, rho, alpha, delta, steps):
    """RMSProp with Nesterov momentum. The printed box has v ← αv − ε/√r ⊙ g with no δ; like the
    library we put Algorithm 8.5's δ back inside the root (stated difference)."""
    loss, theta = _problem()
    r, v = torch.zeros_like(theta), torch.zeros_like(theta)
    thetas, vs = [theta.clone()], [v.clone()]
    for k in range(steps):
        g = _grad(loss, theta + alpha * v, k)  # interim point
        r = rho * r + (1 - rho) * g * g
        v = alpha * v - lr / torch.sqrt(delta + r) * g
        theta = theta + v
        thetas.append(theta.clone())
        vs.append(v.clone())
    return torch.stack(thetas), torch.stack(vs)


def _algorithm_8_7(lr, rho1, rho2, delta, steps, bias_correction=True):
    """Adam (lines 9–10 skipped when bias_correction is False)."""
    loss, theta = _problem()
    s, r = torch.zeros_like(theta), torch.zeros_like(theta)
    path = [theta.clone()]
    for t in range(1, steps + 1):
        g = _grad(loss, theta, t - 1)
        s = rho1 * s + (1 - rho1) * g
        r = rho2 * r + (1 - rho2) * g * g
        s_hat, r_hat = (s / (1 - rho1**t), r / (1 - rho2**t)) if bias_correction else (s, r)
        theta = theta - lr * s_hat / (torch.sqrt(r_hat) + delta)
        path.append(theta.clone())
    return torch.stack(path)


def _zeiler_algorithm_1(rho, eps, steps):
    """AdaDelta as in Zeiler (2012): the numerator uses E[Δx²] at t − 1."""
    loss, x = _problem()
    Eg2, Edx2 = torch.zeros_like(x), torch.zeros_like(x)
    path = [x.clone()]
    for k in range(steps):
        g = _grad(loss, x, k)
        Eg2 = rho * Eg2 + (1 - rho) * g**2
        dx = -torch.sqrt(Edx2 + eps) / torch.sqrt(Eg2 + eps) * g
        Edx2 = rho * Edx2 + (1 - rho) * dx**2
        x = x + dx
        path.append(x.clone())
    return torch.stack(path)


def test_adagrad_is_algorithm_8_4():
    ours = _trajectory(lambda p: AdaGrad(p, lr=0.2, eps=1e-7))
    torch.testing.assert_close(ours, _algorithm_8_4(0.2, 1e-7, 60), **TOL)


@pytest.mark.parametrize("lr,rho,delta", [(0.01, 0.9, 1e-6), (0.05, 0.5, 1e-3)])
def test_rmsprop_is_algorithm_8_5(lr, rho, delta):
    ours = _trajectory(lambda p: RMSProp(p, lr=lr, rho=rho, eps=delta))
    torch.testing.assert_close(ours, _algorithm_8_5(lr, rho, delta, 60), **TOL)


@pytest.mark.parametrize("lr,rho,alpha", [(0.01, 0.9, 0.9), (0.03, 0.99, 0.5)])
def test_rmsprop_nesterov_is_algorithm_8_6(lr, rho, alpha):
    steps, delta = 50, 1e-6
    thetas, vs = _algorithm_8_6(lr, rho, alpha, delta, steps)
    loss, theta0 = _problem()
    p = theta0.clone().requires_grad_(True)
    opt = RMSProp([p], lr=lr, rho=rho, eps=delta, momentum=alpha, nesterov=True)
    for k in range(steps):
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
        v = opt.state[p]["velocity"]
        # As for SGD: the parameters hold the look-ahead point θ + αv.
        torch.testing.assert_close(v, vs[k + 1], **TOL)
        torch.testing.assert_close(p.detach() - alpha * v, thetas[k + 1], **TOL)
    assert (thetas[0] - thetas[-1]).abs().max() > 1e-2


@pytest.mark.parametrize("bias_correction", [True, False])
def test_adam_is_algorithm_8_7(bias_correction):
    ours = _trajectory(lambda p: Adam(p, lr=0.02, bias_correction=bias_correction))
    ref = _algorithm_8_7(0.02, 0.9, 0.999, 1e-8, 60, bias_correction=bias_correction)
    torch.testing.assert_close(ours, ref, **TOL)


def test_adadelta_is_zeiler_algorithm_1():
    ours = _trajectory(lambda p: AdaDelta(p, lr=1.0, rho=0.95, eps=1e-6))
    torch.testing.assert_close(ours, _zeiler_algorithm_1(0.95, 1e-6, 60), **TOL)


def test_adadelta_lr_scales_the_step_not_the_average():
    """Stated choice (torch's): lr multiplies the applied step; E[Δθ²] sees the unscaled one."""
    g = torch.tensor([0.5, -2.0])
    rho, eps, lr = 0.9, 1e-6, 0.25
    p = torch.zeros(2, requires_grad=True)
    opt = AdaDelta([p], lr=lr, rho=rho, eps=eps)
    p.grad = g.clone()
    opt.step()
    dx = -math.sqrt(eps) / torch.sqrt((1 - rho) * g**2 + eps) * g  # Zeiler's first step
    torch.testing.assert_close(p.detach(), lr * dx, rtol=1e-14, atol=0)
    torch.testing.assert_close(opt.state[p]["r_delta"], (1 - rho) * dx**2, rtol=1e-14, atol=0)


# --- stated differences from torch --------------------------------------------------------------


def test_rmsprop_eps_placement_differs_from_torch():
    """Algorithm 8.5 has √(δ + r); torch has δ + √r. On the first step r = (1 − ρ)g², so a
    coordinate with a tiny gradient moves by ε g/√(δ + (1−ρ)g²) here, ε g/(δ + √(1−ρ)|g|) there."""
    lr, rho, delta = 0.01, 0.9, 1e-6
    g = torch.tensor([1.0, 1e-4, 1e-8])
    steps = {}
    for name, opt_cls, kw in [
        ("book", RMSProp, dict(rho=rho)),
        ("torch", torch.optim.RMSprop, dict(alpha=rho)),
    ]:
        p = torch.zeros(3, requires_grad=True)
        opt = opt_cls([p], lr=lr, eps=delta, **kw)
        p.grad = g.clone()
        opt.step()
        steps[name] = -p.detach()
    r = (1 - rho) * g**2
    torch.testing.assert_close(steps["book"], lr * g / torch.sqrt(delta + r), rtol=1e-14, atol=0)
    torch.testing.assert_close(steps["torch"], lr * g / (delta + torch.sqrt(r)), rtol=1e-14, atol=0)
    ratio = steps["book"] / steps["torch"]
    assert abs(ratio[0] - 1) < 1e-5  # large gradients: the same step
    assert ratio[2] < 1e-2  # tiny gradients: √δ = 1e-3 acts like a much bigger δ


def test_rmsprop_momentum_differs_from_torch_when_lr_changes():
    """As for SGD: our v keeps past step sizes; torch's buffer b (v = −εb) is rescaled."""
    paths = {}
    for name, make in {
        "ours": lambda p: RMSProp(p, lr=0.01, momentum=0.9, eps_in_sqrt=False),
        "torch": lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, momentum=0.9),
    }.items():
        loss, theta0 = _problem()
        p = theta0.clone().requires_grad_(True)
        opt = make([p])
        for k in range(20):
            if k == 10:
                opt.param_groups[0]["lr"] = 0.001
            opt.zero_grad()
            loss(p, k).backward()
            opt.step()
            if k == 9:
                before = p.detach().clone()
        paths[name] = (before, p.detach().clone())
    torch.testing.assert_close(paths["ours"][0], paths["torch"][0], **TOL)
    assert (paths["ours"][1] - paths["torch"][1]).abs().max() > 1e-3


def test_torch_adagrad_initial_accumulator_is_a_different_algorithm():
    """Keras-style r₀ = 0.1 damps the first steps; the book's r₀ = 0 makes step 1 ≈ ε·sign(g)."""
    g = torch.tensor([3.0, -0.01])
    out = {}
    for name, make in {
        "book": lambda p: AdaGrad(p, lr=0.1),
        "r0=0.1": lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-7, initial_accumulator_value=0.1),
    }.items():
        p = torch.zeros(2, requires_grad=True)
        opt = make([p])
        p.grad = g.clone()
        opt.step()
        out[name] = p.detach()
    torch.testing.assert_close(out["book"], -0.1 * g / (1e-7 + g.abs()), rtol=1e-14, atol=0)
    assert out["r0=0.1"][1].abs() < 0.1 * out["book"][1].abs()


# --- equivalences -------------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_with_bias_correction_is_adam_with_rho1_zero(momentum):
    """optax's test_rms_match_adam: RMSProp(δ outside, r bias-corrected) = Adam(ρ₁ = 0). The
    arithmetic is shared, so without momentum they agree bit for bit."""
    rho, lr, eps = 0.99, 0.02, 1e-8
    rms = _trajectory(
        lambda p: RMSProp(p, lr=lr, rho=rho, eps=eps, eps_in_sqrt=False, bias_correction=True)
    )
    adam = _trajectory(lambda p: Adam(p, lr=lr, betas=(0.0, rho), eps=eps))
    assert torch.equal(rms, adam)
    # With momentum, RMSProp's v and Adam's s are different things: only ρ₁ = 0 matches.
    if momentum:
        with_momentum = _trajectory(
            lambda p: RMSProp(
                p,
                lr=lr,
                rho=rho,
                eps=eps,
                momentum=momentum,
                eps_in_sqrt=False,
                bias_correction=True,
            )
        )
        assert (with_momentum - adam).abs().max() > 1e-3


def test_adam_without_bias_correction_and_rho1_zero_is_torch_rmsprop():
    adam = _trajectory(
        lambda p: Adam(p, lr=0.01, betas=(0.0, 0.9), eps=1e-6, bias_correction=False)
    )
    ref = _trajectory(lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6))
    torch.testing.assert_close(adam, ref, **TOL)


def test_bias_correction_makes_the_first_step_sign_like():
    """With r̂₁ = g₁², the first bias-corrected step is ε g/(|g| + δ) ≈ ε·sign(g)."""
    g = torch.tensor([5.0, -1e-3])
    for make in (
        lambda p: Adam(p, lr=0.1),
        lambda p: RMSProp(p, lr=0.1, eps=1e-8, eps_in_sqrt=False, bias_correction=True),
    ):
        p = torch.zeros(2, requires_grad=True)
        opt = make([p])
        p.grad = g.clone()
        opt.step()
        torch.testing.assert_close(p.detach(), -0.1 * g / (g.abs() + 1e-8), rtol=1e-14, atol=0)


def test_adagrad_effective_rate_only_decays():
    """§8.5.1: ε/(δ + √r) never grows, whatever the gradients do."""
    loss, theta0 = _problem()
    p = theta0.clone().requires_grad_(True)
    opt = AdaGrad([p], lr=0.1)
    rates = []
    for k in range(40):
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
        rates.append(0.1 / (1e-7 + opt.state[p]["r"].sqrt()))
    rates = torch.stack(rates)
    assert (rates[1:] <= rates[:-1]).all()


# --- properties every optimiser shares ------------------------------------------------------

ALL = {
    "adagrad": lambda p, **kw: AdaGrad(p, lr=0.1, **kw),
    "rmsprop": lambda p, **kw: RMSProp(p, lr=0.01, **kw),
    "rmsprop-nesterov": lambda p, **kw: RMSProp(p, lr=0.01, momentum=0.9, nesterov=True, **kw),
    "adadelta": lambda p, **kw: AdaDelta(p, **kw),
    "adam": lambda p, **kw: Adam(p, lr=0.01, **kw),
}


@pytest.mark.parametrize("name", ALL)
def test_goes_downhill_on_a_quadratic(name):
    torch.manual_seed(0)
    p = torch.tensor([3.0, -2.0], requires_grad=True)
    scale = torch.tensor([1.0, 10.0])
    opt = ALL[name]([p])
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = (scale * p**2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip(name):
    loss, theta0 = _problem()
    p = theta0.clone().requires_grad_(True)
    opt = ALL[name]([p])
    for k in range(5):
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
    assert opt.state[p]["t"] == 5
    q = p.detach().clone().requires_grad_(True)
    opt2 = ALL[name]([q])
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for o, t in ((opt, p), (opt2, q)):
        o.zero_grad()
        loss(t, 5).backward()
        o.step()
    assert torch.equal(p.detach(), q.detach())


@pytest.mark.parametrize("name", ALL)
def test_closure_skips_and_float32(name):
    a = torch.ones(2, dtype=torch.float32, requires_grad=True)
    b = torch.ones(3, dtype=torch.float32, requires_grad=True)
    opt = ALL[name]([a, b])

    def closure():
        opt.zero_grad()
        loss = (a**2).sum()  # b gets no gradient
        loss.backward()
        return loss

    assert opt.step(closure).item() == 2.0
    assert a.dtype == torch.float32 and (a.detach() < 1).all()
    assert torch.equal(b.detach(), torch.ones(3, dtype=torch.float32))
    assert b not in opt.state


@pytest.mark.parametrize("name", ALL)
def test_sparse_gradients_refused(name):
    p = torch.zeros(3, requires_grad=True)
    opt = ALL[name]([p])
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()


def test_param_groups_use_their_own_options():
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    for p in (a, b):
        p.grad = torch.ones(1)
    opt.step()
    torch.testing.assert_close(a.detach(), torch.tensor([-0.1]), rtol=1e-7, atol=0)
    torch.testing.assert_close(b.detach(), torch.tensor([-0.5]), rtol=1e-7, atol=0)


# --- validation at the door -----------------------------------------------------------------

BAD = [
    (AdaGrad, dict(lr=-0.1), ValueError, "lr must be > 0.0, got -0.1"),
    (AdaGrad, dict(lr=float("nan")), ValueError, "lr must be finite, got nan"),
    (AdaGrad, dict(eps=0.0), ValueError, "eps must be > 0.0, got 0.0"),
    (AdaGrad, dict(eps="1e-7"), TypeError, "eps must be a real number, got '1e-7'"),
    (RMSProp, dict(rho=1.0), ValueError, "rho must be < 1.0, got 1.0"),
    (RMSProp, dict(rho=-0.1), ValueError, "rho must be >= 0.0, got -0.1"),
    (RMSProp, dict(lr=float("inf")), ValueError, "lr must be finite, got inf"),
    (RMSProp, dict(momentum=1.0), ValueError, "momentum must be < 1.0, got 1.0"),
    (
        RMSProp,
        dict(nesterov=True),
        ValueError,
        "nesterov=True needs momentum > 0, got momentum=0.0",
    ),
    (RMSProp, dict(momentum=0.9, nesterov=1), TypeError, "nesterov must be True or False, got 1"),
    (RMSProp, dict(eps_in_sqrt=0), TypeError, "eps_in_sqrt must be True or False, got 0"),
    (RMSProp, dict(bias_correction="yes"), TypeError, "bias_correction must be True or False"),
    (AdaDelta, dict(rho=1.0), ValueError, "rho must be < 1.0, got 1.0"),
    (AdaDelta, dict(lr=0), ValueError, "lr must be > 0.0, got 0.0"),
    (AdaDelta, dict(eps=-1e-6), ValueError, "eps must be > 0.0, got -1e-06"),
    (Adam, dict(betas=(0.9, 1.0)), ValueError, "betas[1] must be < 1.0, got 1.0"),
    (Adam, dict(betas=(-0.1, 0.999)), ValueError, "betas[0] must be >= 0.0, got -0.1"),
    (Adam, dict(betas=(0.9,)), TypeError, "betas must be a pair (rho1, rho2), got (0.9,)"),
    (Adam, dict(betas=0.9), TypeError, "betas must be a pair (rho1, rho2), got 0.9"),
    (Adam, dict(betas=(0.9, True)), TypeError, "betas[1] must be a real number, got True"),
    (Adam, dict(eps=float("nan")), ValueError, "eps must be finite, got nan"),
    (Adam, dict(bias_correction=None), TypeError, "bias_correction must be True or False"),
]


@pytest.mark.parametrize("cls,kw,exc,match", BAD)
def test_bad_arguments_raise_at_construction(cls, kw, exc, match):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(exc, match=_escape(match)):
        cls([p], **kw)


@pytest.mark.parametrize("cls,kw,exc,match", BAD)
def test_bad_group_options_raise_too(cls, kw, exc, match):
    """A parameter group's own options are checked like the constructor's."""
    p, q = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(exc, match=_escape(match)):
        cls([{"params": [p]}, {"params": [q], **kw}])
    opt = cls([p])
    with pytest.raises(exc, match=_escape(match)):
        opt.add_param_group({"params": [q], **kw})
    assert len(opt.param_groups) == 1  # the bad group was not added


def test_torch_is_laxer_than_us():
    p = torch.zeros(2, requires_grad=True)
    torch.optim.Adam([p], lr=0.0)
    torch.optim.Adadelta([p], rho=1.0)
    torch.optim.RMSprop([p], eps=0.0)
    for cls, kw in ((Adam, dict(lr=0.0)), (AdaDelta, dict(rho=1.0)), (RMSProp, dict(eps=0.0))):
        with pytest.raises(ValueError):
            cls([p], **kw)


def _escape(s):
    return s.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
