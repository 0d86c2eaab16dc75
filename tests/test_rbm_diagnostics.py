"""optbook.rbm.diagnostics: exact sampling and the hidden marginal against brute-force
enumeration of every (v, h); reconstructions and pseudo-likelihood against literal
transcriptions and scikit-learn; the batched gradient estimators against optbook.rbm."""

import math
import re

import numpy as np
import pytest
import torch
from rbm_cases import all_states, random_data, tiny_rbm

from optbook.rbm import RBM, cd_gradient, energy, exact_gradient
from optbook.rbm.diagnostics import (
    cd_estimates,
    cd_estimates_by_k,
    exact_estimates,
    exact_sample,
    flatten,
    hidden_log_marginal,
    pseudo_log_likelihood,
    reconstruction,
    reconstruction_error,
    spread,
    squared_bias,
)

torch.set_default_dtype(torch.float64)





def _joint(rbm):
    """log p(v, h) for all 2^D × 2^F states, by brute force."""
    V, H = all_states(rbm.n_visible), all_states(rbm.n_hidden)
    E = energy(V[:, None, :], H[None, :, :], *rbm.params)
    return V, H, -E - torch.logsumexp(-E.reshape(-1), 0)


# ---------------------------------------------------------------- exact samples


@pytest.mark.parametrize("n_visible,n_hidden", [(5, 4), (3, 6), (1, 1)])
def test_hidden_log_marginal_equals_brute_force(n_visible, n_hidden):
    rbm = tiny_rbm(n_visible, n_hidden, seed=2)
    _, H_ref, log_joint = _joint(rbm)
    H, log_p = hidden_log_marginal(*rbm.params)
    assert torch.equal(H, H_ref)
    torch.testing.assert_close(log_p, torch.logsumexp(log_joint, 0), rtol=0, atol=1e-12)


def test_exact_sample_follows_the_joint():
    """20 000 draws of (v, h) on a 4 × 3 RBM (128 joint states): total variation ≲ 1/√n."""
    rbm = tiny_rbm(4, 3, seed=1)
    _, _, log_joint = _joint(rbm)
    v, h = exact_sample(*rbm.params, 20_000, torch.Generator().manual_seed(0))
    assert v.shape == (20_000, 4) and h.shape == (20_000, 3)
    index = (v * 2 ** torch.arange(4)).sum(1).long() * 8 + (h * 2 ** torch.arange(3)).sum(1).long()
    p_emp = torch.bincount(index, minlength=128) / len(v)
    assert 0.5 * (p_emp - log_joint.exp().reshape(-1)).abs().sum().item() < 0.04


def test_exact_sample_is_reproducible():
    rbm = tiny_rbm()
    a = exact_sample(*rbm.params, 50, torch.Generator().manual_seed(3))
    b = exact_sample(*rbm.params, 50, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ---------------------------------------------------------------- monitors


def test_reconstruction_is_the_mean_field_up_down_pass():
    rbm = tiny_rbm()
    v = random_data(5)
    W, b, c = rbm.params
    ref = torch.sigmoid(b + torch.sigmoid(c + v @ W) @ W.T)  # literal transcription
    torch.testing.assert_close(reconstruction(v, W, b, c), ref, rtol=0, atol=1e-15)
    err = ((v - ref) ** 2).sum(1).mean()
    torch.testing.assert_close(reconstruction_error(v, W, b, c), err, rtol=0, atol=1e-14)


def test_pseudo_log_likelihood_equals_brute_force_conditionals():
    rbm = tiny_rbm(5, 4, seed=3)
    V, _, log_joint = _joint(rbm)
    log_pv = torch.logsumexp(log_joint, 1)  # log p(v) for every v
    index = (V * 2 ** torch.arange(5)).sum(1).long()
    ref = torch.zeros(len(V))
    for i in range(5):
        flip = index ^ (1 << i)
        ref += log_pv[index] - torch.logaddexp(log_pv[index], log_pv[flip])
    torch.testing.assert_close(pseudo_log_likelihood(V, *rbm.params), ref, rtol=0, atol=1e-12)


def test_pseudo_log_likelihood_is_the_mean_of_scikit_learns_one_flip_estimate():
    """scikit-learn flips one random unit and scales by D; every value it returns is D times
    one of our per-unit terms, and our sum is D times their mean over the units."""
    sk = pytest.importorskip("sklearn.neural_network")
    from optbook.rbm.training import from_sklearn

    X = random_data(6, n=40, seed=1).numpy()
    model = sk.BernoulliRBM(n_components=3, n_iter=3, batch_size=10, random_state=0).fit(X)
    rbm = from_sklearn(model)
    v = torch.tensor(X)
    ours = pseudo_log_likelihood(v, *rbm.params)
    F = rbm.free_energy(v)
    per_unit = []
    for i in range(6):
        w = v.clone()
        w[:, i] = 1 - w[:, i]
        per_unit.append(torch.nn.functional.logsigmoid(rbm.free_energy(w) - F))
    per_unit = torch.stack(per_unit, 1)
    torch.testing.assert_close(ours, per_unit.sum(1), rtol=0, atol=1e-12)
    scores = torch.tensor(model.score_samples(X))
    gap = (scores[:, None] - 6 * per_unit).abs().min(1).values
    assert gap.max().item() < 1e-10


# ---------------------------------------------------------------- gradient estimators


def test_cd_estimates_of_one_batch_equal_cd_gradient():
    """With one minibatch the batched estimator consumes the same random numbers."""
    rbm = tiny_rbm(6, 4, seed=4)
    v = random_data(6, n=10)
    ours = cd_estimates(v[None], *rbm.params, 3, torch.Generator().manual_seed(5))
    ref, _ = cd_gradient(v, *rbm.params, 3, torch.Generator().manual_seed(5))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a[0], b, rtol=0, atol=1e-14)
    start = random_data(6, n=7, seed=9)
    ours = cd_estimates(v[None], *rbm.params, 2, torch.Generator().manual_seed(6), start[None])
    ref, _ = cd_gradient(v, *rbm.params, 2, torch.Generator().manual_seed(6), start)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a[0], b, rtol=0, atol=1e-14)


def test_cd_estimates_by_k_reads_one_chain_along_the_way():
    rbm = tiny_rbm(6, 4, seed=4)
    v = random_data(6, n=10).expand(3, -1, -1)
    by_k = cd_estimates_by_k(v, *rbm.params, [4, 1], torch.Generator().manual_seed(2))
    assert sorted(by_k) == [1, 4]
    one = cd_estimates(v, *rbm.params, 1, torch.Generator().manual_seed(2))
    for a, b in zip(by_k[1], one, strict=True):
        assert torch.equal(a, b)
    assert by_k[4].W.shape == (3, 6, 4) and by_k[4].c.shape == (3, 4)


def test_cd_with_zero_steps_from_the_data_is_zero():
    rbm = tiny_rbm()
    est = cd_estimates(random_data(5)[None], *rbm.params, 0, torch.Generator())
    assert all(torch.count_nonzero(x) == 0 for x in est)


def test_exact_estimates_equal_exact_gradient_per_batch():
    rbm = tiny_rbm(5, 4, seed=6)
    batches = torch.stack([random_data(5, n=6, seed=s) for s in range(4)])
    ours = exact_estimates(batches, *rbm.params)
    for r in range(4):
        ref = exact_gradient(batches[r], *rbm.params)
        for a, b in zip(ours, ref, strict=True):
            torch.testing.assert_close(a[r], b, rtol=0, atol=1e-13)


def test_equilibrium_chains_are_unbiased_and_cd1_is_not():
    """Chains started from exact samples estimate the exact gradient without bias; CD-1 on a
    strongly coupled RBM does not (its squared bias is far above the noise)."""
    rbm = tiny_rbm(6, 4, scale=2.0, seed=1)
    data = random_data(6, n=8)
    g = exact_gradient(data, *rbm.params)
    gen = torch.Generator().manual_seed(0)
    R, n = 40, 2000
    batches = data.expand(R, -1, -1)
    v_eq, _ = exact_sample(*rbm.params, R * n, gen)
    eq = cd_estimates(batches, *rbm.params, 0, gen, v_eq.reshape(R, n, 6))
    cd1 = cd_estimates(batches.repeat(1, 250, 1), *rbm.params, 1, gen)
    norm2 = (flatten(g) ** 2).sum().item()
    assert abs(squared_bias(eq, g)) < 0.002 * norm2
    assert squared_bias(cd1, g) > 0.05 * norm2


def test_squared_bias_and_spread_against_literal_formulas():
    gen = torch.Generator().manual_seed(0)
    E = torch.randn(7, 5, generator=gen) + torch.tensor([1.0, 0, 0, 2, 0])
    g = torch.randn(5, generator=gen)
    d = E - g
    pairs = [d[r] @ d[s] for r in range(7) for s in range(7) if r != s]
    assert math.isclose(squared_bias(E, g), (sum(pairs) / len(pairs)).item(), rel_tol=1e-12)
    ref = math.sqrt(np.var(E.numpy(), axis=0, ddof=1).sum())
    assert math.isclose(spread(E), ref, rel_tol=1e-12)


def test_squared_bias_is_unbiased_where_the_plug_in_is_not():
    """Mean zero, unit-variance noise in 10 dimensions, 5 estimates: the plug-in ‖ḡ − g‖² is
    10/5 = 2 on average, the U-statistic 0."""
    gen = torch.Generator().manual_seed(1)
    u, plug = [], []
    for _ in range(2000):
        E = torch.randn(5, 10, generator=gen)
        u.append(squared_bias(E, torch.zeros(10)))
        plug.append((E.mean(0) ** 2).sum().item())
    assert abs(np.mean(u)) < 0.1 and abs(np.mean(plug) - 2.0) < 0.1


def test_flatten_orders_w_b_c():
    W, b, c = torch.arange(6.0).reshape(3, 2), torch.tensor([6.0, 7, 8]), torch.tensor([9.0, 10])
    from optbook.rbm import RBMGradient

    assert torch.equal(flatten(RBMGradient(W, b, c)), torch.arange(11.0))
    stacked = RBMGradient(W.expand(2, 3, 2), b.expand(2, 3), c.expand(2, 2))
    assert flatten(stacked).shape == (2, 11)


# ---------------------------------------------------------------- errors


def test_errors_name_the_value():
    rbm = tiny_rbm()
    W, b, c = rbm.params
    big = RBM(22, 21)
    with pytest.raises(ValueError, match=re.escape("n_hidden = 21 units")):
        hidden_log_marginal(*big.params)
    with pytest.raises(ValueError, match=re.escape("n must be >= 1, got 0")):
        exact_sample(W, b, c, 0, torch.Generator())
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        exact_sample(W, b, c, 3, 0)
    with pytest.raises(ValueError, match=re.escape("W, b, c must have shapes (D, F), (D,), (F,)")):
        reconstruction(torch.ones(2, 5), W, c, b)
    with pytest.raises(ValueError, match=re.escape("v must have (1, 2) dimension(s), the last of size 5")):
        pseudo_log_likelihood(torch.ones(2, 4), W, b, c)
    with pytest.raises(ValueError, match=re.escape("v_batches must have (3,) dimension(s)")):
        cd_estimates(torch.ones(2, 5), W, b, c, 1, torch.Generator())
    with pytest.raises(ValueError, match=re.escape("k must be >= 0, got -1")):
        cd_estimates(torch.ones(1, 2, 5), W, b, c, -1, torch.Generator())
    with pytest.raises(ValueError, match=re.escape("2 minibatches, 3 sets of chains")):
        cd_estimates(torch.ones(2, 2, 5), W, b, c, 1, torch.Generator(), torch.ones(3, 2, 5))
    with pytest.raises(ValueError, match=re.escape("ks must hold at least one")):
        cd_estimates_by_k(torch.ones(1, 2, 5), W, b, c, [], torch.Generator())
    with pytest.raises(ValueError, match=re.escape("estimates must stack at least 2 estimates")):
        spread(torch.ones(1, 3))
    with pytest.raises(ValueError, match=re.escape("target must have 3 entries, got shape (2,)")):
        squared_bias(torch.ones(4, 3), torch.ones(2))
