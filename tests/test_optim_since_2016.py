"""The optimisers of §8.8 (AdamW, Lion, Muon, SAM, RAdam) and the warm-up + cosine schedule:
against torch.optim where torch has them, against the papers' algorithm boxes written out
literally, and their errors."""

import copy
import math
import re

import pytest
import torch

from optbook.optim import (
    SAM,
    SGD,
    Adam,
    AdamW,
    Lion,
    Muon,
    RAdam,
    WarmupCosineLR,
    global_norm,
    muon_lr_scale,
    newton_schulz,
    newton_schulz_polynomial,
    radam_rectification,
    radam_rho,
    sam_perturbation,
    warmup_cosine,
)

torch.set_default_dtype(torch.float64)

TOL = dict(rtol=1e-12, atol=1e-13)


def _problem(seed=0, n=40, shape=(7,)):
    """Least squares plus a wiggle, with per-step minibatches from a seeded generator. ``shape``
    is the parameter's shape (a matrix for Muon); the model is A @ theta.flatten()."""
    gen = torch.Generator().manual_seed(seed)
    d = math.prod(shape)
    A = torch.randn(n, d, generator=gen)
    b = torch.randn(n, generator=gen)
    batches = [torch.randint(0, n, (8,), generator=gen) for _ in range(60)]

    def loss(theta, k):
        idx = batches[k % len(batches)]
        flat = theta.reshape(-1).to(A.dtype)  # a float32 theta gets a float32 gradient
        return 0.5 * ((A[idx] @ flat - b[idx]) ** 2).mean() + 0.1 * torch.sin(flat).sum()

    theta0 = torch.randn(shape, generator=gen)
    return loss, theta0


def _grad(loss, theta, k):
    theta = theta.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(theta, k), theta)
    return g


def _trajectory(make_opt, steps=60, shape=(7,), dtype=torch.float64, lr_change=None):
    loss, theta0 = _problem(shape=shape)
    theta = theta0.to(dtype).requires_grad_(True)
    opt = make_opt([theta])
    path = [theta.detach().clone()]
    for k in range(steps):
        if lr_change is not None and k == lr_change[0]:
            for group in opt.param_groups:
                group["lr"] = lr_change[1]
        opt.zero_grad()
        loss(theta, k).backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


def _escape(s):
    return re.escape(s)


# --- AdamW ----------------------------------------------------------------------------------

ADAMW_VS_TORCH = {
    "defaults": (lambda p: AdamW(p), lambda p: torch.optim.AdamW(p)),
    "strong-decay": (
        lambda p: AdamW(p, lr=0.02, weight_decay=0.5),
        lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.5),
    ),
    "betas-eps": (
        lambda p: AdamW(p, lr=0.05, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1),
    ),
    "no-decay": (
        lambda p: AdamW(p, lr=0.01, weight_decay=0.0),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.0),
    ),
}


@pytest.mark.parametrize("name", ADAMW_VS_TORCH)
def test_adamw_trajectory_equals_torch(name):
    ours_factory, torch_factory = ADAMW_VS_TORCH[name]
    ours = _trajectory(ours_factory)
    ref = _trajectory(torch_factory)
    assert (ours[0] - ours[-1]).abs().max() > 1e-2  # it moved
    torch.testing.assert_close(ours, ref, **TOL)


def test_adamw_follows_a_changed_lr_like_torch():
    """The decay is lr·λ with the *current* lr, as in torch (a schedule scales both)."""
    ours = _trajectory(lambda p: AdamW(p, lr=0.02, weight_decay=0.3), lr_change=(20, 0.005))
    ref = _trajectory(
        lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.3), lr_change=(20, 0.005)
    )
    torch.testing.assert_close(ours, ref, **TOL)


def _loshchilov_hutter_algorithm_2(lr, rho1, rho2, delta, lam, steps):
    """AdamW as in the paper's Algorithm 2 with schedule multiplier η_t = 1 and the decay written
    ε λ θ (torch's convention; the paper's λ is ours times ε)."""
    loss, theta = _problem()
    s, r = torch.zeros_like(theta), torch.zeros_like(theta)
    path = [theta.clone()]
    for t in range(1, steps + 1):
        g = _grad(loss, theta, t - 1)  # no penalty in g
        s = rho1 * s + (1 - rho1) * g
        r = rho2 * r + (1 - rho2) * g * g
        s_hat, r_hat = s / (1 - rho1**t), r / (1 - rho2**t)
        theta = theta - (lr * s_hat / (torch.sqrt(r_hat) + delta) + lr * lam * theta)
        path.append(theta.clone())
    return torch.stack(path)


def test_adamw_is_the_papers_algorithm():
    ours = _trajectory(lambda p: AdamW(p, lr=0.03, weight_decay=0.2))
    ref = _loshchilov_hutter_algorithm_2(0.03, 0.9, 0.999, 1e-8, 0.2, 60)
    torch.testing.assert_close(ours, ref, **TOL)


def test_adamw_without_decay_is_adam_bit_for_bit():
    adamw = _trajectory(lambda p: AdamW(p, lr=0.01, weight_decay=0.0))
    adam = _trajectory(lambda p: Adam(p, lr=0.01))
    assert torch.equal(adamw, adam)


def test_l2_in_adam_is_not_weight_decay():
    """The docstring's argument, checked on one step from s = r = 0 with a gradient that is large
    in one coordinate and zero in the other. With the penalty (λ/2)|θ|² in the loss, Adam's first
    step is ≈ ε sign(g + λθ) (bias correction makes it sign-like): the coordinate without a
    gradient is pulled back by ε, whatever λ is, because the penalty is divided by its own size.
    AdamW shrinks every weight by the same factor 1 − ελ."""
    lam, lr = 0.1, 0.01
    theta0 = torch.tensor([1.0, 1.0])
    g = torch.tensor([10.0, 0.0])
    l2 = theta0.clone().requires_grad_(True)
    opt = Adam([l2], lr=lr)
    l2.grad = g + lam * theta0  # gradient of the L2-penalised loss
    opt.step()
    dec = theta0.clone().requires_grad_(True)
    opt = AdamW([dec], lr=lr, weight_decay=lam)
    dec.grad = g.clone()
    opt.step()
    # Adam + L2: both coordinates move by ≈ ε, whatever λ is (penalty divided by √r).
    torch.testing.assert_close(theta0 - l2.detach(), torch.full((2,), lr), rtol=1e-6, atol=0)
    # AdamW: the first coordinate shrinks and moves by ≈ ε; the second only shrinks, by ε λ θ.
    expected = theta0 * (1 - lr * lam) - lr * g / (g.abs() + 1e-8)
    torch.testing.assert_close(dec.detach(), expected, rtol=1e-14, atol=0)
    assert (theta0 - dec.detach())[1] < 0.2 * (theta0 - l2.detach())[1]


def test_adamw_decay_never_enters_the_moments():
    p = torch.tensor([2.0, -3.0], requires_grad=True)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    g = torch.tensor([0.3, 0.0])
    p.grad = g.clone()
    opt.step()
    torch.testing.assert_close(opt.state[p]["s"], 0.1 * g, rtol=1e-15, atol=0)
    torch.testing.assert_close(opt.state[p]["r"], 0.001 * g * g, rtol=1e-15, atol=0)
    # zero gradient: only the decay moves the coordinate
    assert p.detach()[1].item() == -3.0 * (1 - 0.1 * 0.5)


def test_adamw_state_dict_round_trip_and_groups():
    loss, theta0 = _problem()
    p = theta0.clone().requires_grad_(True)
    opt = AdamW([p], lr=0.01, weight_decay=0.1)
    for k in range(5):
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
    q = p.detach().clone().requires_grad_(True)
    opt2 = AdamW([q])
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.param_groups[0]["weight_decay"] == 0.1
    for o, t in ((opt, p), (opt2, q)):
        o.zero_grad()
        loss(t, 5).backward()
        o.step()
    assert torch.equal(p.detach(), q.detach())
    a, b = torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    opt = AdamW([{"params": [a]}, {"params": [b], "weight_decay": 0.0}], lr=0.1, weight_decay=1.0)
    a.grad, b.grad = torch.zeros(1), torch.zeros(1)
    opt.step()
    assert a.item() == 0.9 and b.item() == 1.0


ADAMW_BAD = [
    (dict(weight_decay=-0.1), ValueError, "weight_decay must be >= 0.0, got -0.1"),
    (dict(weight_decay=float("nan")), ValueError, "weight_decay must be finite, got nan"),
    (dict(weight_decay="0.1"), TypeError, "weight_decay must be a real number, got '0.1'"),
    (
        dict(lr=0.5, weight_decay=3.0),
        ValueError,
        "lr * weight_decay must be <= 1 (the weights are multiplied by 1 - lr * weight_decay "
        "each step), got lr=0.5, weight_decay=3.0",
    ),
    (dict(lr=0.0), ValueError, "lr must be > 0.0, got 0.0"),
    (dict(betas=(0.9, 1.0)), ValueError, "betas[1] must be < 1.0, got 1.0"),
    (dict(eps=0.0), ValueError, "eps must be > 0.0, got 0.0"),
]


@pytest.mark.parametrize("kw,exc,match", ADAMW_BAD)
def test_adamw_bad_arguments(kw, exc, match):
    p, q = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(exc, match=_escape(match)):
        AdamW([p], **kw)
    opt = AdamW([p])
    with pytest.raises(exc, match=_escape(match)):
        opt.add_param_group({"params": [q], **kw})
    assert len(opt.param_groups) == 1


# --- warm-up + cosine decay -------------------------------------------------------------------


def _literal_warmup_cosine(k, peak, W, T, floor):
    """The schedule written out: W+1 equal steps up to the peak, half a cosine down to the floor."""
    if k < W:
        return peak * (k + 1) / (W + 1)
    if k <= T:
        return floor + (peak - floor) * (1 + math.cos(math.pi * (k - W) / (T - W))) / 2
    return floor


SCHEDULES = [(0.1, 5, 50, 0.0), (1.0, 0, 20, 0.01), (0.3, 10, 11, 0.05), (2e-3, 100, 1000, 1e-5)]


@pytest.mark.parametrize("peak,W,T,floor", SCHEDULES)
def test_warmup_cosine_is_the_formula(peak, W, T, floor):
    for k in range(T + 20):
        ours = warmup_cosine(k, base_lr=peak, warmup_steps=W, total_steps=T, min_lr=floor)
        assert ours == pytest.approx(_literal_warmup_cosine(k, peak, W, T, floor), rel=1e-15)
    assert warmup_cosine(W, base_lr=peak, warmup_steps=W, total_steps=T) == peak
    assert warmup_cosine(T, base_lr=peak, warmup_steps=W, total_steps=T, min_lr=floor) == floor


def _lrs(opt, sched, steps):
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return torch.tensor(out)


@pytest.mark.parametrize("peak,W,T,floor", [s for s in SCHEDULES if s[1] > 0])
def test_warmup_cosine_lr_equals_torch_sequential_lr_up_to_total_steps(peak, W, T, floor):
    """Torch's LinearLR + CosineAnnealingLR in SequentialLR give the same rates for k <= T, on
    two parameter groups with different peaks; after T torch's cosine turns back up."""
    p, q = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    groups = lambda: [{"params": [p]}, {"params": [q], "lr": 2 * peak}]  # noqa: E731
    opt = torch.optim.SGD(groups(), lr=peak)
    ours = _lrs(opt, WarmupCosineLR(opt, W, T, min_lr=floor), T + 5)
    opt = torch.optim.SGD(groups(), lr=peak)
    seq = torch.optim.lr_scheduler.SequentialLR(
        opt,
        [
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / (W + 1), total_iters=W),
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T - W, eta_min=floor),
        ],
        milestones=[W],
    )
    ref = _lrs(opt, seq, T + 5)
    torch.testing.assert_close(ours[: T + 1], ref[: T + 1], rtol=1e-10, atol=1e-15)
    expected = [[_literal_warmup_cosine(k, c * peak, W, T, floor) for c in (1, 2)] for k in range(T + 5)]
    torch.testing.assert_close(ours, torch.tensor(expected), rtol=1e-13, atol=1e-16)
    assert (ref[T + 1] > ours[T + 1]).all()  # torch's cosine is periodic, ours holds the floor


def test_warmup_cosine_lr_drives_optbook_optimisers_and_resumes():
    """Usable with any optimiser: here optbook's AdamW; the state dict resumes the schedule."""
    p = torch.zeros(3, requires_grad=True)
    opt = AdamW([p], lr=0.1)
    sched = WarmupCosineLR(opt, warmup_steps=3, total_steps=10)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(3)
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.025, 0.05, 0.075, 0.1, _literal_warmup_cosine(4, 0.1, 3, 10, 0)] + [
        _literal_warmup_cosine(5, 0.1, 3, 10, 0)
    ], rel=1e-15)
    q = torch.zeros(3, requires_grad=True)
    opt2 = AdamW([q], lr=0.1)
    sched2 = WarmupCosineLR(opt2, warmup_steps=3, total_steps=10)
    sched2.load_state_dict(sched.state_dict())
    sched2.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(
        _literal_warmup_cosine(7, 0.1, 3, 10, 0), rel=1e-15
    )


WARMUP_BAD = [
    (dict(warmup_steps=-1, total_steps=10), ValueError, "warmup_steps must be >= 0, got -1"),
    (dict(warmup_steps=2.0, total_steps=10), TypeError, "warmup_steps must be an integer, got 2.0"),
    (
        dict(warmup_steps=10, total_steps=10),
        ValueError,
        "total_steps must be > warmup_steps, got total_steps=10, warmup_steps=10",
    ),
    (dict(warmup_steps=0, total_steps=0), ValueError, "total_steps must be >= 1, got 0"),
    (dict(warmup_steps=1, total_steps=5, min_lr=-0.1), ValueError, "min_lr must be >= 0.0, got -0.1"),
    (
        dict(warmup_steps=1, total_steps=5, min_lr=0.5),
        ValueError,
        "min_lr must be <= every group's lr, got min_lr=0.5 and param_groups[0]['lr']=0.1",
    ),
]


@pytest.mark.parametrize("kw,exc,match", WARMUP_BAD)
def test_warmup_cosine_lr_bad_arguments(kw, exc, match):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(exc, match=_escape(match)):
        WarmupCosineLR(opt, **kw)


def test_warmup_cosine_bad_arguments():
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer, got list"):
        WarmupCosineLR([torch.zeros(1)], 1, 5)
    with pytest.raises(ValueError, match="k must be >= 0, got -1"):
        warmup_cosine(-1, base_lr=0.1, warmup_steps=1, total_steps=5)
    with pytest.raises(ValueError, match=_escape("min_lr must be <= 0.1, got 0.2")):
        warmup_cosine(0, base_lr=0.1, warmup_steps=1, total_steps=5, min_lr=0.2)
    with pytest.raises(ValueError, match="base_lr must be > 0.0, got 0.0"):
        warmup_cosine(0, base_lr=0.0, warmup_steps=1, total_steps=5)


# --- Lion -------------------------------------------------------------------------------------


def _lion_algorithm_2(lr, beta1, beta2, lam, steps):
    """Chen et al. (2023), Algorithm 2 ("Lion Optimizer"), line by line:

        given β1, β2, λ, η, f
        initialize θ0, m0 ← 0
        while θt not converged do
            gt ← ∇θ f(θt−1)
            update model parameters
                ct ← β1 mt−1 + (1 − β1) gt
                θt ← θt−1 − ηt (sign(ct) + λ θt−1)
            update EMA of gt
                mt ← β2 mt−1 + (1 − β2) gt
        end while
        return θt
    """
    loss, theta = _problem()
    m = torch.zeros_like(theta)
    path = [theta.clone()]
    for t in range(1, steps + 1):
        g = _grad(loss, theta, t - 1)
        c = beta1 * m + (1 - beta1) * g
        theta = theta - lr * (torch.sign(c) + lam * theta)
        m = beta2 * m + (1 - beta2) * g
        path.append(theta.clone())
    return torch.stack(path)


LION_CASES = [
    (1e-4, 0.9, 0.99, 0.0),  # the defaults
    (0.01, 0.9, 0.99, 1.0),
    (0.03, 0.5, 0.9, 0.1),
    (0.02, 0.0, 0.0, 0.0),  # signSGD
]


@pytest.mark.parametrize("lr,beta1,beta2,lam", LION_CASES)
def test_lion_is_algorithm_2(lr, beta1, beta2, lam):
    ours = _trajectory(lambda p: Lion(p, lr=lr, betas=(beta1, beta2), weight_decay=lam))
    torch.testing.assert_close(ours, _lion_algorithm_2(lr, beta1, beta2, lam, 60), **TOL)
    assert (ours[0] - ours[-1]).abs().max() > 50 * lr * 0.5  # it moved


def test_lion_defaults_and_sign_steps():
    """Without decay every coordinate moves by exactly ε (or 0 where c = 0), whatever |g|."""
    p = torch.tensor([0.0, 0.0, 0.0], requires_grad=True)
    opt = Lion([p])
    assert opt.defaults == dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
    p.grad = torch.tensor([1e3, -1e-9, 0.0])
    opt.step()
    assert p.detach().tolist() == [-1e-4, 1e-4, 0.0]
    torch.testing.assert_close(opt.state[p]["m"], 0.01 * torch.tensor([1e3, -1e-9, 0.0]))


LION_BAD = [
    (dict(lr=0.0), ValueError, "lr must be > 0.0, got 0.0"),
    (dict(betas=(1.0, 0.99)), ValueError, "betas[0] must be < 1.0, got 1.0"),
    (dict(betas=0.9), TypeError, "betas must be a pair (rho1, rho2), got 0.9"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay must be >= 0.0, got -1.0"),
    (dict(lr=0.1, weight_decay=20.0), ValueError, "lr * weight_decay must be <= 1"),
]


@pytest.mark.parametrize("kw,exc,match", LION_BAD)
def test_lion_bad_arguments(kw, exc, match):
    p, q = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(exc, match=_escape(match)):
        Lion([p], **kw)
    opt = Lion([p])
    with pytest.raises(exc, match=_escape(match)):
        opt.add_param_group({"params": [q], **kw})
    p.grad = torch.zeros(2).to_sparse()
    with pytest.raises(TypeError, match="optbook.optim.Lion does not support sparse gradients"):
        opt.step()


# --- SAM --------------------------------------------------------------------------------------


def _two_tensor_problem(seed=1, n=40, d=6):
    """Two parameter tensors (weights and a bias), so that the global norm matters."""
    gen = torch.Generator().manual_seed(seed)
    A, y = torch.randn(n, d, generator=gen), torch.randn(n, generator=gen)
    batches = [torch.randint(0, n, (8,), generator=gen) for _ in range(30)]

    def loss(w, b, k):
        idx = batches[k % len(batches)]
        return 0.5 * ((A[idx] @ w + b - y[idx]) ** 2).mean() + 0.1 * torch.sin(w).sum()

    return loss, torch.randn(d, generator=gen), torch.randn(1, generator=gen)


def _foret_algorithm_1(rho, lr, momentum, steps):
    """SAM's two-step update written out, with SGD (+ the book's momentum, Algorithm 8.2) as
    the base: g = ∇J_B(θ); ε̂ = ρ g/‖g‖ (one norm over w and b); g_SAM = ∇J_B(θ + ε̂);
    v ← αv − ε g_SAM; θ ← θ + v. Returns the path and the losses at θ."""
    loss, w, b = _two_tensor_problem()
    vw, vb = torch.zeros_like(w), torch.zeros_like(b)
    path, losses = [torch.cat([w, b])], []
    for k in range(steps):
        w_, b_ = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
        J = loss(w_, b_, k)
        gw, gb = torch.autograd.grad(J, (w_, b_))
        norm = torch.sqrt((gw**2).sum() + (gb**2).sum())
        ew, eb = rho * gw / norm, rho * gb / norm
        w_, b_ = (w + ew).requires_grad_(True), (b + eb).requires_grad_(True)
        sw, sb = torch.autograd.grad(loss(w_, b_, k), (w_, b_))
        vw, vb = momentum * vw - lr * sw, momentum * vb - lr * sb
        w, b = w + vw, b + vb
        path.append(torch.cat([w, b]))
        losses.append(J.item())
    return torch.stack(path), losses


def _sam_run(make, steps):
    loss, w0, b0 = _two_tensor_problem()
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = make([w, b])
    path, losses = [torch.cat([w, b]).detach()], []
    for k in range(steps):

        def closure(k=k):
            J = loss(w, b, k)
            J.backward()
            return J

        losses.append(opt.step(closure).item())
        path.append(torch.cat([w, b]).detach())
    return torch.stack(path), losses, opt


SAM_CASES = {
    "optbook-sgd": (0.05, 0.1, 0.0, lambda p: SAM(p, SGD, rho=0.05, lr=0.1)),
    "optbook-momentum": (
        0.2,
        0.05,
        0.9,
        lambda p: SAM(p, SGD, rho=0.2, lr=0.05, momentum=0.9),
    ),
    "torch-sgd": (0.1, 0.1, 0.0, lambda p: SAM(p, torch.optim.SGD, rho=0.1, lr=0.1)),
    "torch-momentum": (  # with a constant lr torch's momentum buffer is the book's v = −εb
        0.05,
        0.02,
        0.5,
        lambda p: SAM(p, torch.optim.SGD, rho=0.05, lr=0.02, momentum=0.5),
    ),
}


@pytest.mark.parametrize("name", SAM_CASES)
def test_sam_is_the_two_step_update(name):
    rho, lr, momentum, make = SAM_CASES[name]
    ours, losses, _ = _sam_run(make, 30)
    ref, ref_losses = _foret_algorithm_1(rho, lr, momentum, 30)
    torch.testing.assert_close(ours, ref, **TOL)
    assert losses == pytest.approx(ref_losses, rel=1e-12)  # the loss at θ, not at θ + ε̂
    assert (ours[0] - ours[-1]).abs().max() > 1e-2
    plain, _, _ = _sam_run(lambda p: SGD(p, lr=lr, momentum=momentum, nesterov=False), 30)
    assert (plain - ours).abs().max() > 1e-3  # the perturbation matters


def test_sam_perturbation_has_length_rho_and_restores_exactly():
    g = [torch.tensor([3.0, 0.0]), torch.tensor([[4.0]])]
    e = sam_perturbation(g, 0.5)
    torch.testing.assert_close(e[0], torch.tensor([0.3, 0.0]), rtol=1e-15, atol=0)
    torch.testing.assert_close(e[1], torch.tensor([[0.4]]), rtol=1e-15, atol=0)
    assert global_norm(e) == pytest.approx(0.5, rel=1e-15)
    zeros = sam_perturbation([0 * t for t in g], 0.5)
    assert all(torch.equal(z, torch.zeros_like(t)) for z, t in zip(zeros, g, strict=True))
    # With a base optimiser that does nothing (lr tiny), the weights come back bit for bit.
    w = torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
    w0 = w.detach().clone()
    seen = []

    def closure():
        seen.append(w.detach().clone())
        J = (w**3).sum()
        J.backward()
        return J

    opt = SAM([w], SGD, rho=0.7, lr=1e-300)
    opt.step(closure)
    assert torch.equal(w.detach(), w0)
    g0 = 3 * w0**2
    torch.testing.assert_close(seen[1], w0 + 0.7 * g0 / g0.norm(), rtol=1e-15, atol=0)
    torch.testing.assert_close(w.grad, 3 * seen[1] ** 2, rtol=1e-15, atol=0)  # g_SAM


def test_sam_zero_gradient_skips_the_second_evaluation():
    w = torch.ones(2, requires_grad=True)
    calls = []

    def closure():
        calls.append(1)
        J = (0 * w).sum()
        J.backward()
        return J

    SAM([w], SGD, lr=0.1).step(closure)
    assert len(calls) == 1 and torch.equal(w.detach(), torch.ones(2))


def test_sam_shares_groups_with_its_base_scheduler_and_state():
    """A scheduler on SAM schedules the base optimiser; per-group radii; state round trip."""
    loss, w0, b0 = _two_tensor_problem()
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = SAM([{"params": [w]}, {"params": [b], "sam_rho": 1e-3}], AdamW, rho=0.1, lr=0.01)
    assert isinstance(opt.base_optimizer, AdamW)
    assert opt.param_groups is opt.base_optimizer.param_groups
    assert [g["sam_rho"] for g in opt.param_groups] == [0.1, 1e-3]
    sched = WarmupCosineLR(opt, warmup_steps=2, total_steps=10)
    assert opt.base_optimizer.param_groups[0]["lr"] == pytest.approx(0.01 / 3, rel=1e-15)
    for k in range(4):
        opt.step(lambda k=k: loss(w, b, k).backward() or loss(w, b, k))
        sched.step()
    assert opt.base_optimizer.state[w]["t"] == 4
    w2, b2 = w.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
    opt2 = SAM([{"params": [w2]}, {"params": [b2]}], AdamW, rho=0.1, lr=0.01)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.param_groups is opt2.base_optimizer.param_groups
    assert [g["sam_rho"] for g in opt2.param_groups] == [0.1, 1e-3]
    for o, (x, y) in ((opt, (w, b)), (opt2, (w2, b2))):
        o.step(lambda x=x, y=y: loss(x, y, 4).backward() or loss(x, y, 4))
    assert torch.equal(w.detach(), w2.detach()) and torch.equal(b.detach(), b2.detach())


def test_sam_errors():
    w = torch.ones(2, requires_grad=True)
    opt = SAM([w], SGD, lr=0.1)
    with pytest.raises(TypeError, match="SAM.step needs a closure that re-computes the loss"):
        opt.step()
    with pytest.raises(TypeError, match="base_optimizer must be a torch.optim.Optimizer subclass"):
        SAM([w], SGD(params=[w], lr=0.1), lr=0.1)
    with pytest.raises(TypeError, match="base_optimizer cannot be SAM itself"):
        SAM([w], SAM, lr=0.1)
    with pytest.raises(ValueError, match="rho must be > 0.0, got 0.0"):
        SAM([w], SGD, rho=0.0, lr=0.1)
    with pytest.raises(ValueError, match="rho must be finite, got inf"):
        SAM([w], SGD, rho=float("inf"), lr=0.1)
    with pytest.raises(ValueError, match="rho must be > 0.0, got -1.0"):
        opt.add_param_group({"params": [torch.ones(1, requires_grad=True)], "sam_rho": -1.0})
    with pytest.raises(ValueError, match="lr must be > 0.0, got -0.1"):  # the base's own check
        SAM([w], SGD, lr=-0.1)
    q = torch.ones(1, requires_grad=True)
    opt.add_param_group({"params": [q], "lr": 0.5})
    assert opt.param_groups[-1]["sam_rho"] == 0.05 and opt.param_groups[-1]["lr"] == 0.5
    assert opt.param_groups is opt.base_optimizer.param_groups


# --- Muon -------------------------------------------------------------------------------------

A_NS, B_NS, C_NS = 3.4445, -4.7750, 2.0315


def _ns_literal(G, steps, a=A_NS, b=B_NS, c=C_NS, eps=1e-7):
    """torch.optim.Muon's Newton–Schulz (torch/optim/_muon.py, _zeropower_via_newtonschulz)
    transcribed without its conversion to bfloat16."""
    X = G.T if G.shape[0] > G.shape[1] else G
    X = X / torch.clamp(torch.linalg.matrix_norm(X), min=eps)  # Frobenius
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if G.shape[0] > G.shape[1] else X


def _muon_literal(shape, lr, lam, mu, nesterov, k, steps):
    """torch.optim.Muon's algorithm box with the buffer as torch computes it (B ← μB + (1−μ)g)."""
    loss, theta = _problem(shape=shape)
    B = torch.zeros_like(theta)
    path = [theta.clone()]
    for t in range(steps):
        g = _grad(loss, theta, t)
        B = mu * B + (1 - mu) * g
        B_tilde = (1 - mu) * g + mu * B if nesterov else B
        O = _ns_literal(B_tilde, k)
        theta = theta - lr * lam * theta - lr * math.sqrt(max(1, shape[0] / shape[1])) * O
        path.append(theta.clone())
    return torch.stack(path)


MUON_CASES = [
    ((5, 3), 0.02, 0.1, 0.95, True, 5),  # the defaults' shape of update, a tall matrix
    ((3, 5), 0.02, 0.0, 0.9, False, 5),  # a wide one, heavy-ball buffer
    ((4, 4), 0.01, 0.5, 0.5, True, 3),
    ((6, 2), 0.05, 0.1, 0.0, False, 8),  # no momentum
]


@pytest.mark.parametrize("shape,lr,lam,mu,nesterov,k", MUON_CASES)
def test_muon_float64_is_the_algorithm_transcribed(shape, lr, lam, mu, nesterov, k):
    ours = _trajectory(
        lambda p: Muon(p, lr=lr, weight_decay=lam, momentum=mu, nesterov=nesterov, ns_steps=k),
        steps=40,
        shape=shape,
    )
    ref = _muon_literal(shape, lr, lam, mu, nesterov, k, 40)
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, rtol=1e-11, atol=1e-12)
    assert (ours[0] - ours[-1]).abs().max() > 0.05


@pytest.mark.parametrize("shape", [(7, 3), (3, 7), (5, 5), (1, 4)])
@pytest.mark.parametrize("steps", [0, 1, 5])
def test_newton_schulz_is_the_transcription_and_the_singular_value_map(shape, steps):
    gen = torch.Generator().manual_seed(steps)
    G = torch.randn(shape, generator=gen)
    X = newton_schulz(G, steps)
    torch.testing.assert_close(X, _ns_literal(G, steps), rtol=1e-12, atol=1e-13)
    # U φ^(k)(Σ/|G|_F) Vᵀ: the same singular vectors, each singular value mapped by the quintic
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    mapped = newton_schulz_polynomial(S / S.norm(), steps)
    torch.testing.assert_close(X, U @ torch.diag(mapped) @ Vh, rtol=1e-11, atol=1e-12)
    assert X.shape == G.shape and X.dtype == G.dtype


def test_newton_schulz_polynomial_bands():
    """The docstring's numbers: five steps take [1e-3, 1] into [0.47, 1.21]; with many steps
    (0, 1] ends in [0.68, 1.21] and stays (the band is invariant)."""
    x = torch.logspace(-3, 0, 20001)
    y = newton_schulz_polynomial(x, 5)
    assert 0.47 <= y.min() < 0.48 and 1.20 < y.max() <= 1.21
    x = torch.logspace(-7, 0, 20001)
    for k in (30, 31):
        y = newton_schulz_polynomial(x, k)
        assert 0.68 <= y.min() and y.max() <= 1.21
    band = torch.linspace(0.68, 1.21, 10001)
    y = newton_schulz_polynomial(band, 1)
    assert 0.68 <= y.min() and y.max() <= 1.21
    assert newton_schulz_polynomial(0.5, 1, (1.5, -0.5, 0.0)) == 1.5 * 0.5 - 0.5 * 0.125  # cubic


def _one_step(make, W0, G):
    p = W0.clone().requires_grad_(True)
    opt = make([p])
    p.grad = G.clone()
    opt.step()
    return p.detach()


@pytest.mark.parametrize("shape", [(20, 12), (12, 20), (16, 16)])
def test_muon_one_step_matches_torch_to_bfloat16_accuracy(shape):
    """Torch converts to bfloat16 (8 significant bits) for Newton–Schulz. With
    ns_dtype=torch.bfloat16 we do the same arithmetic and agree bit for bit; in float32 (our
    default for float32 parameters) the orthogonalised update O differs from torch's by bfloat16
    rounding: relative error below 2⁻⁵ (five iterations whose slope reaches a = 3.44 amplify the
    2⁻⁸ unit roundoff of each), and above 2⁻¹² (so the difference is bfloat16's, not a bug)."""
    gen = torch.Generator().manual_seed(1)
    W0 = torch.randn(shape, generator=gen, dtype=torch.float32)
    G = torch.randn(shape, generator=gen, dtype=torch.float32)
    ref = _one_step(lambda p: torch.optim.Muon(p, lr=0.02), W0, G)
    assert torch.equal(_one_step(lambda p: Muon(p, lr=0.02, ns_dtype=torch.bfloat16), W0, G), ref)
    ours = _one_step(lambda p: Muon(p, lr=0.02), W0, G)
    scale = -0.02 * math.sqrt(max(1, shape[0] / shape[1]))
    O_ref, O_ours = ((x.double() - (1 - 0.02 * 0.1) * W0.double()) / scale for x in (ref, ours))
    rel = (O_ours - O_ref).norm() / O_ref.norm()
    assert 2**-12 < rel < 2**-5
    torch.testing.assert_close(O_ours, _ns_literal(G.double(), 5), rtol=0, atol=1e-4)  # float32


def test_muon_trajectory_equals_torch_with_bfloat16_newton_schulz():
    kw = dict(lr=0.02, weight_decay=0.1, momentum=0.9, nesterov=False, ns_steps=4)
    ours = _trajectory(
        lambda p: Muon(p, **kw, ns_dtype=torch.bfloat16), steps=20, shape=(6, 4), dtype=torch.float32
    )
    ref = _trajectory(lambda p: torch.optim.Muon(p, **kw), steps=20, shape=(6, 4), dtype=torch.float32)
    assert torch.equal(ours, ref)


def test_muon_lr_scale_is_torchs_default_adjustment():
    from torch.optim._muon import _adjust_lr

    for shape in [(10, 3), (3, 10), (7, 7), (1000, 784), (784, 1000)]:
        assert muon_lr_scale(shape) == _adjust_lr(1.0, None, torch.Size(shape))
        assert muon_lr_scale(shape) == math.sqrt(max(1, shape[0] / shape[1]))


MUON_BAD = [
    (dict(lr=-1.0), ValueError, "lr must be > 0.0, got -1.0"),
    (dict(momentum=1.0), ValueError, "momentum must be < 1.0, got 1.0"),
    (dict(momentum=0.0), ValueError, "nesterov=True needs momentum > 0, got momentum=0.0"),
    (dict(nesterov="no"), TypeError, "nesterov must be True or False, got 'no'"),
    (dict(ns_steps=-1), ValueError, "ns_steps must be >= 0, got -1"),
    (dict(ns_steps=5.0), TypeError, "ns_steps must be an integer, got 5.0"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay must be >= 0.0, got -0.1"),
    (dict(ns_coefficients=(1.0, 2.0)), TypeError, "coefficients must be a triple (a, b, c)"),
    (dict(ns_coefficients=(1.0, 2.0, "c")), TypeError, "coefficients[2] must be a real number"),
    (dict(ns_dtype=torch.int32), TypeError, "ns_dtype must be None or a floating-point"),
    (dict(ns_dtype="bfloat16"), TypeError, "ns_dtype must be None or a floating-point"),
]


@pytest.mark.parametrize("kw,exc,match", MUON_BAD)
def test_muon_bad_arguments(kw, exc, match):
    p, q = torch.zeros(2, 2, requires_grad=True), torch.zeros(2, 2, requires_grad=True)
    with pytest.raises(exc, match=_escape(match)):
        Muon([p], **kw)
    opt = Muon([p])
    with pytest.raises(exc, match=_escape(match)):
        opt.add_param_group({"params": [q], **kw})
    assert len(opt.param_groups) == 1


def test_muon_refuses_non_matrices_naming_their_shape():
    W, b = torch.zeros(3, 2, requires_grad=True), torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=_escape("param_groups[0]['params'][1] has shape (3,)")):
        Muon([W, b])
    opt = Muon([W])
    with pytest.raises(ValueError, match=_escape("param_groups[1]['params'][0] has shape (2, 3, 4)")):
        opt.add_param_group({"params": torch.zeros(2, 3, 4, requires_grad=True)})
    with pytest.raises(ValueError, match=_escape("has shape (): give biases, gains")):
        Muon([torch.zeros((), requires_grad=True)])
    with pytest.raises(TypeError, match="Muon does not support complex parameters"):
        Muon([torch.zeros(2, 2, dtype=torch.complex128, requires_grad=True)])
    with pytest.raises(ValueError, match=_escape("G must be a matrix (2-D), got shape (3,)")):
        newton_schulz(torch.zeros(3))
    with pytest.raises(TypeError, match="G must have a floating-point dtype, got torch.int64"):
        newton_schulz(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="G must be a torch.Tensor, got list"):
        newton_schulz([[1.0]])


def test_muon_state_dict_round_trip():
    loss, theta0 = _problem(shape=(4, 3))
    p = theta0.clone().requires_grad_(True)
    opt = Muon([p], lr=0.02)
    for k in range(3):
        opt.zero_grad()
        loss(p, k).backward()
        opt.step()
    q = p.detach().clone().requires_grad_(True)
    opt2 = Muon([q])
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for o, t in ((opt, p), (opt2, q)):
        o.zero_grad()
        loss(t, 3).backward()
        o.step()
    assert torch.equal(p.detach(), q.detach())


# --- RAdam ------------------------------------------------------------------------------------

RADAM_VS_TORCH = {
    "defaults": (lambda p: RAdam(p), lambda p: torch.optim.RAdam(p)),
    "lr-betas": (
        lambda p: RAdam(p, lr=0.05, betas=(0.8, 0.99)),
        lambda p: torch.optim.RAdam(p, lr=0.05, betas=(0.8, 0.99)),
    ),
    "eps": (
        lambda p: RAdam(p, lr=0.02, eps=1e-3),
        lambda p: torch.optim.RAdam(p, lr=0.02, eps=1e-3),
    ),
}


@pytest.mark.parametrize("name", RADAM_VS_TORCH)
def test_radam_trajectory_equals_torch(name):
    ours_factory, torch_factory = RADAM_VS_TORCH[name]
    ours = _trajectory(ours_factory)
    ref = _trajectory(torch_factory)
    assert (ours[0] - ours[-1]).abs().max() > 1e-3
    torch.testing.assert_close(ours, ref, **TOL)


def _liu_algorithm_2(lr, beta1, beta2, eps, steps, threshold):
    """Liu et al. (2020), Algorithm 2, line by line (with torch's δ in l_t and a threshold
    argument: the paper's is 4):

        ρ∞ ← 2/(1 − β2) − 1
        for t = 1, 2, ...:
            gt ← ∇θ ft(θt−1)
            vt ← β2 vt−1 + (1 − β2) gt²
            mt ← β1 mt−1 + (1 − β1) gt
            m̂t ← mt/(1 − β1^t)
            ρt ← ρ∞ − 2tβ2^t/(1 − β2^t)
            if ρt > 4:
                lt ← √((1 − β2^t)/vt)
                rt ← √((ρt − 4)(ρt − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρt))
                θt ← θt−1 − αt rt m̂t lt
            else:
                θt ← θt−1 − αt m̂t
    """
    loss, theta = _problem()
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    rho_inf = 2 / (1 - beta2) - 1
    path = [theta.clone()]
    for t in range(1, steps + 1):
        g = _grad(loss, theta, t - 1)
        v = beta2 * v + (1 - beta2) * g**2
        m = beta1 * m + (1 - beta1) * g
        m_hat = m / (1 - beta1**t)
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > threshold:
            l_t = math.sqrt(1 - beta2**t) / (torch.sqrt(v) + eps)
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            theta = theta - lr * r_t * m_hat * l_t
        else:
            theta = theta - lr * m_hat
        path.append(theta.clone())
    return torch.stack(path)


@pytest.mark.parametrize("threshold", [4.0, 5.0])
@pytest.mark.parametrize("beta2", [0.999, 0.9])
def test_radam_is_algorithm_2(threshold, beta2):
    ours = _trajectory(lambda p: RAdam(p, lr=0.03, betas=(0.9, beta2), threshold=threshold))
    ref = _liu_algorithm_2(0.03, 0.9, beta2, 1e-8, 60, threshold)
    torch.testing.assert_close(ours, ref, **TOL)


def test_radam_threshold_4_differs_from_torch_at_step_5():
    """ρ_5 ≈ 4.996 for β2 = 0.999: the paper rectifies step 5, torch (threshold 5) does not."""
    assert 4 < radam_rho(5, 0.999) < 5
    paper = _trajectory(lambda p: RAdam(p, lr=0.03, threshold=4.0), steps=6)
    torch_like = _trajectory(lambda p: RAdam(p, lr=0.03), steps=6)
    assert torch.equal(paper[:5], torch_like[:5])
    assert (paper[5] - torch_like[5]).abs().max() > 1e-3


def test_radam_rectification_is_the_formula_and_rises_to_one():
    for beta2 in (0.999, 0.99, 0.9):
        rho_inf = 2 / (1 - beta2) - 1
        prev = 0.0
        for t in list(range(1, 200)) + [1000, 10_000, 100_000]:
            rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
            assert radam_rho(t, beta2) == pytest.approx(rho_t, rel=1e-13)
            r_t = radam_rectification(t, beta2)
            if rho_t <= 4:
                assert math.isnan(r_t)
                continue
            literal = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            assert r_t == pytest.approx(literal, rel=1e-13)
            assert prev < r_t <= 1 or r_t == prev == 1.0  # increasing to 1 (reached in rounding)
            prev = r_t
        assert radam_rectification(100_000, beta2) == pytest.approx(1.0, abs=1e-12)
    assert [t for t in range(1, 10) if math.isnan(radam_rectification(t, 0.999))] == [1, 2, 3, 4]
    # the docstring's numbers for β2 = 0.999
    assert radam_rectification(10, 0.999) == pytest.approx(0.05, abs=0.005)
    assert radam_rectification(100, 0.999) == pytest.approx(0.2, abs=0.02)
    assert radam_rectification(1000, 0.999) == pytest.approx(0.65, abs=0.01)
    assert radam_rho(1, 0.999) == pytest.approx(1.0, rel=1e-9)
    assert math.isnan(radam_rectification(50, 0.5))  # ρ∞ = 3: never rectified


def test_radam_first_step_is_plain_momentum():
    p = torch.tensor([1.0, 1.0], requires_grad=True)
    opt = RAdam([p], lr=0.1)
    p.grad = torch.tensor([5.0, -1e-3])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([1.0 - 0.5, 1.0 + 1e-4]), rtol=1e-15, atol=0)


RADAM_BAD = [
    (dict(lr=0.0), ValueError, "lr must be > 0.0, got 0.0"),
    (dict(eps=-1.0), ValueError, "eps must be > 0.0, got -1.0"),
    (dict(betas=(0.9, 1.0)), ValueError, "betas[1] must be < 1.0, got 1.0"),
    (dict(threshold=3.0), ValueError, "threshold must be >= 4.0, got 3.0"),
    (dict(threshold=None), TypeError, "threshold must be a real number, got None"),
]


@pytest.mark.parametrize("kw,exc,match", RADAM_BAD)
def test_radam_bad_arguments(kw, exc, match):
    p, q = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(exc, match=_escape(match)):
        RAdam([p], **kw)
    opt = RAdam([p])
    with pytest.raises(exc, match=_escape(match)):
        opt.add_param_group({"params": [q], **kw})


def test_radam_functions_bad_arguments():
    with pytest.raises(ValueError, match="t must be >= 1, got 0"):
        radam_rho(0, 0.999)
    with pytest.raises(ValueError, match="beta2 must be < 1.0, got 1.0"):
        radam_rectification(3, 1.0)
    with pytest.raises(TypeError, match="t must be an integer, got 2.5"):
        radam_rectification(2.5, 0.9)
