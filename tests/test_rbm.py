"""optbook.rbm: exact quantities against brute-force enumeration of every (v, h) and against
autograd, Gibbs sampling against the exact distribution, and CD-k against the exact gradient."""

import math
import re

import pytest
import torch
from rbm_cases import all_states, random_data, tiny_rbm

from optbook.rbm import (
    MAX_ENUMERATED_UNITS,
    RBM,
    cd_gradient,
    energy,
    exact_gradient,
    free_energy,
    log_likelihood,
    log_partition,
)

torch.set_default_dtype(torch.float64)





def _brute_force(rbm):
    """log Z and F(v) for every v, from the energies of all 2^(D+F) joint states."""
    V, H = all_states(rbm.n_visible), all_states(rbm.n_hidden)
    E = energy(V[:, None, :], H[None, :, :], rbm.W, rbm.b, rbm.c)  # (2^D, 2^F)
    return torch.logsumexp(-E.reshape(-1), 0), -torch.logsumexp(-E, 1), V


@pytest.mark.parametrize("n_visible,n_hidden", [(5, 4), (4, 5), (4, 4), (1, 3), (6, 1)])
def test_log_partition_and_free_energy_equal_brute_force(n_visible, n_hidden):
    rbm = tiny_rbm(n_visible, n_hidden)
    log_z, F, V = _brute_force(rbm)
    assert abs(rbm.log_partition().item() - log_z.item()) < 1e-10
    torch.testing.assert_close(rbm.free_energy(V), F, rtol=0, atol=1e-10)
    # and the likelihoods of all visible states sum to one
    assert abs(torch.logsumexp(rbm.log_likelihood(V), 0).item()) < 1e-10


def test_either_layer_can_be_enumerated():
    """Swapping the layers' roles (W -> Wᵀ, b <-> c) leaves Z unchanged; the two RBMs take
    the two branches of log_partition (enumerate h, enumerate v)."""
    rbm = tiny_rbm(12, 3, seed=3)
    z1 = log_partition(rbm.W, rbm.b, rbm.c)
    z2 = log_partition(rbm.W.T.contiguous(), rbm.c, rbm.b)
    assert abs(z1.item() - z2.item()) < 1e-10


def test_conditionals_match_the_joint():
    rbm = tiny_rbm()
    V, H = all_states(5), all_states(4)
    E = energy(V[:, None, :], H[None, :, :], rbm.W, rbm.b, rbm.c)
    p_h = torch.softmax(-E, dim=1)  # p(h | v) for every v, by enumeration
    torch.testing.assert_close(rbm.p_h_given_v(V), p_h @ H, rtol=0, atol=1e-12)
    p_v = torch.softmax(-E, dim=0)  # p(v | h) for every h
    torch.testing.assert_close(rbm.p_v_given_h(H), p_v.T @ V, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_visible,n_hidden", [(5, 4), (3, 6)])
def test_exact_gradient_matches_autograd(n_visible, n_hidden):
    rbm = tiny_rbm(n_visible, n_hidden, seed=1)
    data = random_data(n_visible)
    W, b, c = (p.clone().requires_grad_(True) for p in rbm.params)
    log_likelihood(data, W, b, c).mean().backward()
    grad = rbm.exact_gradient(data)
    for ours, ref in zip(grad, (W.grad, b.grad, c.grad), strict=True):
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


def test_gibbs_chains_sample_the_model():
    """After 30 steps, 20 000 chains' visible states follow p(v) (total variation ≲ 1/√n)."""
    rbm = tiny_rbm(5, 4, seed=2)
    V = all_states(5)
    p_exact = rbm.log_likelihood(V).exp()
    v0 = torch.zeros(20_000, 5)
    v = rbm.gibbs(v0, steps=30)
    index = (v * 2 ** torch.arange(5)).sum(1).long()
    p_emp = torch.bincount(index, minlength=32) / len(v)
    assert 0.5 * (p_emp - p_exact).abs().sum().item() < 0.03


def test_gibbs_chain_shapes_and_reproducibility():
    samples, means = RBM(6, 3, seed=4).gibbs_chain(torch.ones(2, 6), steps=5)
    assert samples.shape == means.shape == (6, 2, 6)
    assert torch.equal(samples[0], torch.ones(2, 6)) and torch.equal(means[0], samples[0])
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    again, _ = RBM(6, 3, seed=4).gibbs_chain(torch.ones(2, 6), steps=5)
    assert torch.equal(samples, again)


def _error(estimate, exact):
    return math.sqrt(sum(((e - x) ** 2).sum().item() for e, x in zip(estimate, exact, strict=True)))


def test_cd_k_approaches_the_exact_gradient_as_k_grows():
    """E[CD-k gradient], estimated with 8 × 5000 chains started at the data, converges to the
    exact gradient: the bias at least halves with each k in 1, 2, 3, 5, then sits at the
    Monte-Carlo noise floor (about 0.002 of the gradient's norm here)."""
    rbm = tiny_rbm(6, 4, scale=2.0, seed=1)
    data = random_data(6)
    exact = rbm.exact_gradient(data)
    norm = _error(exact, [torch.zeros_like(x) for x in exact])
    chains = data.repeat(5000, 1)
    rel = {}
    for k in (1, 2, 3, 5, 20, 50):
        est, _ = cd_gradient(chains, *rbm.params, k, torch.Generator().manual_seed(k))
        rel[k] = _error(est, exact) / norm
    assert rel[1] > 0.2  # CD-1 is far off on this RBM
    assert rel[2] < rel[1] / 2 and rel[3] < rel[2] / 2 and rel[5] < rel[3] / 2
    assert rel[20] < 0.01 and rel[50] < 0.01


def test_pcd_keeps_its_chains_and_is_cd_with_a_carried_start():
    data = random_data(6)
    rbm, twin = tiny_rbm(6, 4, seed=5), tiny_rbm(6, 4, seed=5)
    assert rbm.chains is None
    g1 = rbm.pcd_step(data, k=2, lr=0.05)
    assert rbm.chains.shape == data.shape
    chains = rbm.chains.clone()
    g2 = rbm.pcd_step(data, k=2, lr=0.05)
    # the same arithmetic by hand: cd_gradient from the carried chains, with the twin's stream
    ref1, ref_chains = cd_gradient(data, *twin.params, 2, twin.generator)
    twin._apply(ref1, 0.05)
    assert torch.equal(ref_chains, chains)
    ref2, _ = cd_gradient(data, *twin.params, 2, twin.generator, ref_chains)
    for a, b in zip((*g1, *g2), (*ref1, *ref2), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("step", ["cd_step", "pcd_step"])
def test_training_raises_the_exact_log_likelihood(step):
    """Two noisy prototypes, 11110000 and 00001111: from 8 ln 2 ≈ 5.5 nats per example at the
    start to about 3 after 200 updates (ln 2 + the flips' entropy is the floor)."""
    proto = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1.0]])
    flips = torch.bernoulli(torch.full((32, 8), 0.05), generator=torch.Generator().manual_seed(0))
    data = (proto[torch.arange(32) % 2] + flips) % 2
    rbm = RBM(8, 4, seed=0)
    before = rbm.log_likelihood(data).mean().item()
    assert abs(before + 8 * math.log(2)) < 0.01
    for _ in range(200):
        getattr(rbm, step)(data, k=1, lr=0.1)
    assert rbm.log_likelihood(data).mean().item() > before + 2.0


def test_cd_step_moves_along_its_estimate():
    rbm = tiny_rbm(5, 4)
    W, b, c = rbm.params
    grad = rbm.cd_step(random_data(5), k=1, lr=0.3)
    torch.testing.assert_close(rbm.W, W + 0.3 * grad.W, rtol=0, atol=0)
    torch.testing.assert_close(rbm.b, b + 0.3 * grad.b, rtol=0, atol=0)
    torch.testing.assert_close(rbm.c, c + 0.3 * grad.c, rtol=0, atol=0)


def test_enumeration_refused_above_the_limit():
    assert MAX_ENUMERATED_UNITS == 20
    rbm = RBM(21, 22)
    for call in (
        rbm.log_partition,
        lambda: rbm.log_likelihood(torch.zeros(21)),
        lambda: rbm.exact_gradient(torch.zeros(21)),
    ):
        with pytest.raises(ValueError, match=re.escape("min(n_visible, n_hidden) = 21 units")):
            call()
    # a big visible layer is fine while the hidden one is small
    assert math.isfinite(RBM(200, 3).log_partition().item())


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        (dict(n_visible=0, n_hidden=3), ValueError, "n_visible must be >= 1, got 0"),
        (dict(n_visible=4, n_hidden=-2), ValueError, "n_hidden must be >= 1, got -2"),
        (dict(n_visible=4.0, n_hidden=3), TypeError, "n_visible must be an integer, got 4.0"),
        (dict(n_visible=4, n_hidden=True), TypeError, "n_hidden must be an integer, got True"),
        (dict(n_visible=4, n_hidden=3, seed=-1), ValueError, "seed must be >= 0, got -1"),
        (dict(n_visible=4, n_hidden=3, init_std=-0.1), ValueError, "init_std must be >= 0.0"),
    ],
)
def test_bad_sizes_raise(kw, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        RBM(**kw)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda r: r.cd_step(torch.ones(2, 4), k=0), "k must be >= 1, got 0"),
        (lambda r: r.pcd_step(torch.ones(2, 4), lr=0.0), "lr must be > 0.0, got 0.0"),
        (lambda r: r.cd_step(torch.ones(2, 5)), "v must have shape (4,) or (batch, 4), got (2, 5)"),
        (lambda r: r.free_energy(torch.ones(2, 2, 4)), "v must have shape (4,) or (batch, 4)"),
        (lambda r: r.energy(torch.ones(4), torch.ones(2)), "h must have shape (3,) or (batch, 3)"),
        (
            lambda r: r.free_energy(torch.full((4,), 2.0)),
            "v must hold values in [0, 1], got values from 2.0",
        ),
        (lambda r: r.cd_step(torch.ones(0, 4)), "v must hold at least one example"),
        (lambda r: r.gibbs_chain(torch.ones(4), steps=-1), "steps must be >= 0, got -1"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        call(RBM(4, 3))


def test_free_energy_function_agrees_with_method():
    rbm = tiny_rbm()
    v = random_data(5)
    torch.testing.assert_close(free_energy(v, *rbm.params), rbm.free_energy(v), rtol=0, atol=0)
    torch.testing.assert_close(exact_gradient(v, *rbm.params).W, rbm.exact_gradient(v).W)


@pytest.mark.parametrize("width", [3, 64, 1001])
def test_softplus_sum_of_the_enumeration(width):
    # the enumeration's sum of softplus terms against the literal formula, and its gradient
    # against the sigmoid, from far negative to far positive values and exactly at the kink 0
    from torch.nn.functional import softplus

    from optbook.rbm.model import _softplus_sum

    x = 30 * torch.randn(50, width, dtype=torch.float64, generator=torch.Generator().manual_seed(width))
    x[0, 0], x[1, 0], x[2, :] = -800.0, 800.0, 0.0
    x.requires_grad_(True)
    literal = (x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))).sum(-1)
    if width <= 1000:
        torch.testing.assert_close(_softplus_sum(x), literal, rtol=1e-14, atol=1e-11)
    else:  # above 1,000 terms the product could underflow: torch's softplus, which stops at x = 20
        torch.testing.assert_close(_softplus_sum(x), softplus(x).sum(-1), rtol=0, atol=0)
        return
    (grad,) = torch.autograd.grad(_softplus_sum(x).sum(), x)
    torch.testing.assert_close(grad, torch.sigmoid(x), rtol=0, atol=1e-15)



def _both_routes(rbm):
    """log Z and the negative phase by the factorised enumeration and by the elementwise one."""
    from optbook.rbm.model import _enumeration, _factorised, _negative_phase, _negative_phase_elementwise

    assert _factorised(*rbm.params) is not None  # the fast route is taken for these parameters
    slow_log_z = torch.logsumexp(torch.cat([lw for lw, _, _ in _enumeration(*rbm.params)]), 0)
    return (rbm.log_partition(), _negative_phase(*rbm.params)), (
        slow_log_z, _negative_phase_elementwise(*rbm.params))


@pytest.mark.parametrize("n_visible,n_hidden,scale", [(64, 12, 0.3), (64, 12, 1.5), (12, 64, 0.3),
                                                      (100, 12, 0.2), (7, 9, 2.0), (40, 1, 1.0),
                                                      (1, 5, 1.0)])
def test_factorised_enumeration_agrees_with_the_elementwise_one(n_visible, n_hidden, scale):
    """The fast route (e^pre as a product of two half-tables, one log per state, reused block
    buffers) against the elementwise softplus and sigmoid route, on both branches (enumerating
    h or v), odd and single-unit layers, several blocks (64 × 12: 4; 100 × 12: 7, the last one
    short); called twice, after another shape, for the buffers."""
    rbm = tiny_rbm(n_visible, n_hidden, scale=scale, seed=n_visible + n_hidden)
    for _ in range(2):
        (log_z, neg), (log_z_ref, neg_ref) = _both_routes(rbm)
        assert abs(log_z.item() - log_z_ref.item()) < 1e-11
        for ours, ref in zip(neg, neg_ref, strict=True):
            torch.testing.assert_close(ours, ref, rtol=0, atol=1e-13)
        _both_routes(tiny_rbm(6, 3))


@pytest.mark.parametrize("bias,scale", [(0.0, 400.0), (100.0, 0.1)])
def test_large_parameters_take_the_elementwise_route(bias, scale):
    """Where e^a, e^β or the product over a state could overflow (weights of hundreds; or 12
    visible biases of 100, log Π(1 + e^pre) ≈ 1200 > 709), the factorised route declines, and
    log Z, p(v) and the exact gradient still match brute force and autograd."""
    from optbook.rbm.model import _factorised

    rbm = tiny_rbm(12, 3, scale=scale, seed=2)
    rbm.b = rbm.b + bias
    assert _factorised(*rbm.params) is None
    log_z, F, V = _brute_force(rbm)
    assert abs(rbm.log_partition().item() - log_z.item()) < 1e-9 * max(1.0, abs(log_z.item()))
    data = random_data(12)
    W, b, c = (p.clone().requires_grad_(True) for p in rbm.params)
    log_likelihood(data, W, b, c).mean().backward()
    for ours, ref in zip(rbm.exact_gradient(data), (W.grad, b.grad, c.grad), strict=True):
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-9)
