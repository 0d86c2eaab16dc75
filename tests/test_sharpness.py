"""optbook.sharpness: Hessian-vector products and the top Hessian eigenvalue, against the full
Hessian (torch.autograd.functional.hessian) and its eigenvalues (torch.linalg.eigvalsh)."""

import re

import pytest
import torch

from optbook.sharpness import hessian_vector_product, top_hessian_eigenpair, top_hessian_eigenvalue

torch.set_default_dtype(torch.float64)


def _network(seed, n=30, d=4, h=5, k=3, act=torch.tanh):
    """A small 2-layer classifier (d·h + h + h·k + k = 43 parameters) with cross-entropy, as a
    loss of its parameter tensors and as a function of one flat vector (for the full Hessian)."""
    gen = torch.Generator().manual_seed(seed)
    X, y = torch.randn(n, d, generator=gen), torch.randint(0, k, (n,), generator=gen)
    shapes = [(h, d), (h,), (k, h), (k,)]
    params = [(torch.randn(s, generator=gen) / s[-1] ** 0.5).requires_grad_(True) for s in shapes]

    def loss_of(W1, b1, W2, b2):
        return torch.nn.functional.cross_entropy(act(X @ W1.T + b1) @ W2.T + b2, y)

    def flat_loss(theta):
        pieces, i = [], 0
        for s in shapes:
            m = torch.Size(s).numel()
            pieces.append(theta[i : i + m].view(s))
            i += m
        return loss_of(*pieces)

    return (lambda: loss_of(*params)), params, flat_loss


def _full_hessian(flat_loss, params):
    theta = torch.cat([p.detach().reshape(-1) for p in params])
    return torch.autograd.functional.hessian(flat_loss, theta)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("act", [torch.tanh, torch.nn.functional.softplus])
def test_top_eigenvalue_equals_eigvalsh_of_the_full_hessian(seed, act):
    loss_fn, params, flat_loss = _network(seed, act=act)
    H = _full_hessian(flat_loss, params)
    eig = torch.linalg.eigvalsh(H)
    assert eig[0] < 0 < eig[-1]  # an indefinite Hessian at a random point: a real test
    for start in (0, 1, 2):
        lam = top_hessian_eigenvalue(loss_fn, params, seed=start)
        assert lam == pytest.approx(eig[-1].item(), rel=1e-9)
    lam, v = top_hessian_eigenpair(loss_fn, params, seed=seed)
    torch.testing.assert_close(H @ v, lam * v, rtol=0, atol=1e-5 * abs(lam))
    assert v.norm().item() == pytest.approx(1.0, rel=1e-12)


def test_largest_algebraic_not_largest_in_magnitude():
    """λ = (−5, 1, 2): the answer is 2 (the sharpness), not −5."""
    theta = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    d = torch.tensor([-5.0, 1.0, 2.0])
    loss_fn = lambda: 0.5 * (d * theta**2).sum()  # noqa: E731
    assert top_hessian_eigenvalue(loss_fn, [theta]) == pytest.approx(2.0, rel=1e-12)
    # all negative: the largest is still the algebraic maximum
    loss_fn = lambda: -0.5 * (torch.tensor([1.0, 4.0, 9.0]) * theta**2).sum()  # noqa: E731
    assert top_hessian_eigenvalue(loss_fn, theta) == pytest.approx(-1.0, rel=1e-12)


def test_warm_start_converges_in_fewer_products():
    loss_fn, params, flat_loss = _network(7)
    lam, v = top_hessian_eigenpair(loss_fn, params)
    calls = []

    def counting_loss():
        calls.append(1)
        return loss_fn()

    again, _ = top_hessian_eigenpair(loss_fn, params, init=v)
    assert again == pytest.approx(lam, rel=1e-9)
    # warm: the start already is the eigenvector, the Krylov space closes at once
    assert top_hessian_eigenpair(loss_fn, params, iters=2, init=v)[0] == pytest.approx(lam, rel=1e-9)
    assert top_hessian_eigenpair(loss_fn, params, iters=2)[0] < lam - 1e-6  # cold needs more
    top_hessian_eigenvalue(counting_loss, params)
    assert len(calls) == 1  # one gradient graph, reused by every product


def test_float32_parameters():
    loss_fn, params, flat_loss = _network(3)
    eig = torch.linalg.eigvalsh(_full_hessian(flat_loss, params))
    p32 = [p.detach().float().requires_grad_(True) for p in params]
    gen = torch.Generator().manual_seed(3)
    X, y = torch.randn(30, 4, generator=gen).float(), torch.randint(0, 3, (30,), generator=gen)
    loss32 = lambda: torch.nn.functional.cross_entropy(  # noqa: E731
        torch.tanh(X @ p32[0].T + p32[1]) @ p32[2].T + p32[3], y
    )
    assert top_hessian_eigenvalue(loss32, p32) == pytest.approx(eig[-1].item(), rel=1e-5)


def test_hessian_vector_product_equals_full_hessian_times_v():
    loss_fn, params, flat_loss = _network(5)
    H = _full_hessian(flat_loss, params)
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(H.shape[0], generator=gen)
    torch.testing.assert_close(hessian_vector_product(loss_fn, params, v), H @ v, rtol=1e-12, atol=1e-13)
    pieces = list(v.split([p.numel() for p in params]))
    pieces = [x.view_as(p) for x, p in zip(pieces, params, strict=True)]
    hv = hessian_vector_product(loss_fn, params, pieces)
    assert isinstance(hv, tuple) and [t.shape for t in hv] == [p.shape for p in params]
    torch.testing.assert_close(torch.cat([t.reshape(-1) for t in hv]), H @ v, rtol=1e-12, atol=1e-13)
    assert all(p.grad is None for p in params)  # .grad untouched


def test_linear_or_constant_losses_have_zero_sharpness():
    theta = torch.ones(3, requires_grad=True)
    assert top_hessian_eigenvalue(lambda: (2 * theta).sum(), [theta]) == 0.0
    assert top_hessian_eigenvalue(lambda: torch.tensor(1.0), [theta]) == 0.0
    hv = hessian_vector_product(lambda: (2 * theta).sum(), [theta], torch.ones(3))
    assert torch.equal(hv, torch.zeros(3))


def test_krylov_space_exhausted_is_exact():
    """A rank-one Hessian: one product spans the space and the answer is exact."""
    a = torch.tensor([1.0, 2.0, -2.0])
    theta = torch.zeros(3, requires_grad=True)
    lam = top_hessian_eigenvalue(lambda: 0.5 * (a @ theta) ** 2, theta, iters=100)
    assert lam == pytest.approx(9.0, rel=1e-12)


def _e(s):
    return re.escape(s)


def test_errors():
    theta = torch.ones(3, requires_grad=True)
    f = lambda: (theta**2).sum()  # noqa: E731
    with pytest.raises(ValueError, match=_e("loss_fn() must return a scalar tensor, got (3,)")):
        top_hessian_eigenvalue(lambda: theta**2, [theta])
    with pytest.raises(ValueError, match=_e("loss_fn() must return a scalar tensor, got float")):
        top_hessian_eigenvalue(lambda: 1.0, [theta])
    with pytest.raises(ValueError, match="loss_fn\\(\\) returned nan: the Hessian of a non-finite loss"):
        top_hessian_eigenvalue(lambda: (theta**2).sum() * float("nan"), [theta])
    tiny = torch.tensor([1e-40], dtype=torch.float32, requires_grad=True)
    with pytest.raises(ValueError, match="a Hessian-vector product is not finite"):
        top_hessian_eigenvalue(lambda: tiny.sqrt().sum(), [tiny])  # J = 1e-20, J'' ≈ −1e59 overflows
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        top_hessian_eigenvalue(3.0, [theta])
    with pytest.raises(ValueError, match=_e("params[0] (shape (2,)) does not require grad")):
        top_hessian_eigenvalue(f, [torch.ones(2)])
    with pytest.raises(ValueError, match="params is empty"):
        top_hessian_eigenvalue(f, [])
    with pytest.raises(TypeError, match="params\\[1\\] must be a tensor, got float"):
        top_hessian_eigenvalue(f, [theta, 1.0])
    with pytest.raises(ValueError, match="iters must be >= 1, got 0"):
        top_hessian_eigenvalue(f, [theta], iters=0)
    with pytest.raises(ValueError, match="tol must be > 0.0, got 0.0"):
        top_hessian_eigenvalue(f, [theta], tol=0.0)
    with pytest.raises(TypeError, match="seed must be an integer, got 0.5"):
        top_hessian_eigenvalue(f, [theta], seed=0.5)
    msg = "init must be a flat tensor of 3 entries (all params), got (2,)"
    with pytest.raises(ValueError, match=_e(msg)):
        top_hessian_eigenpair(f, [theta], init=torch.ones(2))
    with pytest.raises(ValueError, match="init must be finite and not zero"):
        top_hessian_eigenpair(f, [theta], init=torch.zeros(3))
    with pytest.raises(ValueError, match=_e("v must have 3 entries (all params flattened), got shape (4,)")):
        hessian_vector_product(f, [theta], torch.ones(4))
    with pytest.raises(ValueError, match=_e("v must be tensors shaped like params [(3,)], got [(2,)]")):
        hessian_vector_product(f, [theta], [torch.ones(2)])
