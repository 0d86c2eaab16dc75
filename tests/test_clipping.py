"""optbook.optim.clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ and the book's
eqs. 10.48–10.49, in float64.

Where we differ from torch on purpose: torch divides by ``||g|| + 1e-6``; the book (and our
default ``eps=0``) by ``||g||``. With ``eps=1e-6`` we reproduce torch bit for bit."""

import copy
import math

import numpy as np
import pytest
import torch

from optbook.experiments.ch08_2.challenges import rnn_cliff
from optbook.optim.clipping import (
    clip_by_norm,
    clip_by_value,
    clip_grad_norm_,
    clip_grad_value_,
    clipped_gradient_descent,
    clipped_gradient_descent_many,
)
from optbook.problems import landscapes

torch.set_default_dtype(torch.float64)


def _model_with_grads(seed=0, scale=1.0):
    """A small net with gradients of several shapes (and one parameter without a gradient)."""
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    for p in model.parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=gen))
    x = torch.randn(11, 5, generator=gen)
    (scale * model(x).pow(2).sum()).backward()
    frozen = torch.nn.Parameter(torch.ones(4))  # no .grad: must be skipped by both
    return model, list(model.parameters()) + [frozen]


def _grads(params):
    return [p.grad.clone() for p in params if p.grad is not None]


# ------------------------------------------------------------------ against torch.nn.utils


@pytest.mark.parametrize("max_norm", [1e-3, 0.5, 3.0, 1e6])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, math.inf])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    _, ours = _model_with_grads()
    ref_model, ref = _model_with_grads()
    total = clip_grad_norm_(ours, max_norm, norm_type, eps=1e-6)
    total_ref = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type)
    torch.testing.assert_close(total, total_ref, rtol=0, atol=0)
    for a, b in zip(_grads(ours), _grads(ref), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("clip_value", [1e-3, 0.7, 5.0, 1e6])
def test_clip_grad_value_matches_torch(clip_value):
    _, ours = _model_with_grads(seed=1, scale=3.0)
    _, ref = _model_with_grads(seed=1, scale=3.0)
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(ref, clip_value)
    for a, b in zip(_grads(ours), _grads(ref), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_clip_grad_norm_is_the_book_formula():
    """eps = 0: if ||g|| > v then g <- g v / ||g|| (eqs. 10.48-10.49), on the concatenated g."""
    for max_norm in [0.1, 2.0, 1e6]:
        _, params = _model_with_grads(seed=2)
        g = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
        norm = g.norm()
        expected = g * max_norm / norm if norm > max_norm else g
        total = clip_grad_norm_(params, max_norm)
        torch.testing.assert_close(total, norm, rtol=1e-15, atol=0)
        got = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
        torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)
        if norm > max_norm:
            assert abs(got.norm().item() - max_norm) < 1e-12 * max_norm
            # the direction is kept: cosine 1
            assert abs(torch.dot(got, g).item() / (got.norm() * norm).item() - 1) < 1e-14


def test_clip_grad_norm_single_tensor_and_zero_gradient():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.zeros(3)
    assert clip_grad_norm_(p, 1.0).item() == 0.0  # v / 0 = inf, clamped to 1: no NaN
    assert torch.equal(p.grad, torch.zeros(3))
    q = torch.zeros(2, requires_grad=True)
    assert clip_grad_norm_([q], 1.0).item() == 0.0  # no gradients at all


def test_clip_grad_norm_nonfinite():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([1.0, math.inf])
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    ref = torch.zeros(2, requires_grad=True)
    ref.grad = torch.tensor([1.0, math.inf])
    torch.nn.utils.clip_grad_norm_([ref], 1.0)
    clip_grad_norm_([p], 1.0, eps=1e-6)
    torch.testing.assert_close(p.grad, ref.grad, equal_nan=True)


def test_clip_grad_norm_float32_grads():
    p = torch.ones(4, dtype=torch.float32, requires_grad=True)
    p.grad = torch.full((4,), 3.0, dtype=torch.float32)
    clip_grad_norm_([p], 1.0)
    assert p.grad.dtype == torch.float32
    assert abs(p.grad.norm().item() - 1.0) < 1e-6


# ------------------------------------------------------------------ the pure functions


@pytest.mark.parametrize("kind", ["torch", "numpy"])
def test_clip_by_norm_and_value_pure(kind):
    g0 = torch.tensor([[3.0, -4.0], [0.5, 0.1]])
    g = g0 if kind == "torch" else g0.numpy().copy()
    out = clip_by_norm(g, 1.0)
    assert type(out) is type(g)
    expected = g0 / g0.norm()
    np.testing.assert_allclose(np.asarray(out), expected.numpy(), rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(g), g0.numpy())  # the input is untouched
    # per-row clipping with axis=-1: the first row (norm 5) shrinks to norm 1, the second stays
    rows = clip_by_norm(g, 1.0, axis=-1)
    np.testing.assert_allclose(np.asarray(rows)[0], [0.6, -0.8], rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(rows)[1], g0.numpy()[1])
    # by value: a literal transcription, and it turns the direction
    v = clip_by_value(g, 0.5)
    np.testing.assert_array_equal(np.asarray(v), np.array([[0.5, -0.5], [0.5, 0.1]]))
    cos = np.dot(np.asarray(v)[0], g0.numpy()[0]) / (np.linalg.norm(np.asarray(v)[0]) * 5.0)
    assert cos < 0.99  # [0.5, -0.5] is not parallel to [3, -4]


def test_clip_by_norm_matches_torch_on_one_tensor():
    gen = torch.Generator().manual_seed(3)
    g = 10 * torch.randn(6, 4, generator=gen)
    for norm_type in [1.0, 2.0, math.inf]:
        p = torch.zeros_like(g, requires_grad=True)
        p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_([p], 2.5, norm_type)
        torch.testing.assert_close(clip_by_norm(g, 2.5, norm_type=norm_type, eps=1e-6), p.grad,
                                   rtol=1e-15, atol=0)


def test_clip_by_norm_below_threshold_is_identity():
    g = np.array([0.3, -0.4])
    np.testing.assert_array_equal(clip_by_norm(g, 0.5), g)
    np.testing.assert_array_equal(clip_by_norm(np.zeros(3), 1.0), np.zeros(3))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: clip_by_norm([1.0, 2.0], 1.0), TypeError, "torch.Tensor or numpy.ndarray"),
        (lambda: clip_by_norm(torch.tensor([1, 2]), 1.0), TypeError, "floating-point"),
        (lambda: clip_by_norm(np.ones(2), 0.0), ValueError, "max_norm must be > 0.0, got 0.0"),
        (lambda: clip_by_norm(np.ones(2), -1.0), ValueError, "max_norm"),
        (lambda: clip_by_norm(np.ones(2), float("nan")), ValueError, "max_norm must be finite"),
        (lambda: clip_by_norm(np.ones(2), 1.0, norm_type=0.5), ValueError, "norm_type must be >= 1"),
        (lambda: clip_by_norm(np.ones(2), 1.0, norm_type=True), TypeError, "norm_type"),
        (lambda: clip_by_norm(np.ones(2), 1.0, eps=-1.0), ValueError, "eps must be >= 0.0"),
        (lambda: clip_by_norm(np.ones(2), 1.0, axis=3), ValueError, "axis must be <= 0, got 3"),
        (lambda: clip_by_value(np.ones(2), 0), ValueError, "clip_value must be > 0.0, got 0.0"),
        (lambda: clip_by_value(np.ones(2, dtype=int), 1.0), TypeError, "floating-point"),
        (lambda: clip_grad_norm_(torch.nn.Linear(2, 2).parameters(), -2.0), ValueError, "max_norm"),
        (lambda: clip_grad_norm_(3.0, 1.0), TypeError, "parameters must be"),
        (lambda: clip_grad_norm_([1.0], 1.0), TypeError, "parameters must hold tensors"),
        (lambda: clip_grad_norm_([], 1.0, error_if_nonfinite=1), TypeError, "error_if_nonfinite"),
        (lambda: clip_grad_value_([], float("inf")), ValueError, "clip_value must be finite"),
    ],
)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------------------------ descent on a landscape


def _torch_clipped_descent(landscape, lr, steps, x0, clip):
    """A literal loop: autograd gradient, torch.nn.utils clipping, then theta -= lr * g."""
    theta = torch.tensor(x0, requires_grad=True)
    path = [theta.detach().clone()]
    for _ in range(steps):
        theta.grad = None
        landscape.f(theta).backward()
        if clip == "none":
            pass
        elif clip[0] == "norm":
            torch.nn.utils.clip_grad_norm_([theta], clip[1])
        else:
            torch.nn.utils.clip_grad_value_([theta], clip[1])
        with torch.no_grad():
            theta -= lr * theta.grad
        path.append(theta.detach().clone())
    return torch.stack(path).numpy()


@pytest.mark.parametrize("clip", ["none", ("norm", 0.3), ("value", 0.2)])
def test_clipped_descent_matches_torch_loop(clip):
    land = rnn_cliff(steps=20)
    kw = {} if clip == "none" else ({"max_norm": clip[1]} if clip[0] == "norm" else {"clip_value": clip[1]})
    ours = clipped_gradient_descent(land, 0.5, 40, (6.0, -2.0), **kw)
    ref = _torch_clipped_descent(land, 0.5, 40, (6.0, -2.0), clip)
    assert ours.diverged_at is None and ours.path.shape == (41, 2)
    # torch's 1e-6 in the norm clip changes the step by a relative 1e-6 / ||g|| at most
    tol = 1e-12 if clip == "none" or clip[0] == "value" else 1e-5
    np.testing.assert_allclose(ours.path, ref, rtol=0, atol=tol)
    np.testing.assert_allclose(ours.losses, [land.value_and_grad(*p)[0] for p in ours.path], rtol=1e-14)


def test_clipped_step_never_exceeds_lr_times_threshold():
    land = rnn_cliff()
    for v in [0.01, 0.1, 1.0]:
        traj = clipped_gradient_descent(land, 2.0, 100, (6.0, -3.0), max_norm=v)
        steps = np.linalg.norm(np.diff(traj.path, axis=0), axis=1)
        assert steps.max() <= 2.0 * v * (1 + 1e-12)
    plain = clipped_gradient_descent(land, 2.0, 100, (6.0, -3.0))
    assert np.linalg.norm(np.diff(plain.path, axis=0), axis=1).max() > 10  # thrown by the cliff


def test_many_equals_one_at_a_time():
    land = rnn_cliff()
    starts = np.array([[6.0, -2.0], [3.0, -1.0], [8.0, -4.0], [5.0, -2.5]])
    for kw in [{}, {"max_norm": 0.2}, {"clip_value": 0.1}]:
        paths, losses = clipped_gradient_descent_many(land, 0.3, 60, starts, **kw)
        assert paths.shape == (61, 4, 2) and losses.shape == (61, 4)
        # np.tanh and math.tanh may differ in the last bit; an unclipped run that lands on the
        # wall amplifies that difference (to ~1e-7 here), clipping keeps it at rounding level.
        tol = 1e-6 if not kw else 1e-12
        for i, s in enumerate(starts):
            one = clipped_gradient_descent(land, 0.3, 60, tuple(s), **kw)
            np.testing.assert_allclose(paths[:, i], one.path, rtol=0, atol=tol)
            np.testing.assert_allclose(losses[:, i], one.losses, rtol=0, atol=tol)


def test_divergence_is_reported_not_raised():
    quad = landscapes.quadratic(kappa=1.0)  # gradient descent diverges for lr > 2
    traj = clipped_gradient_descent(quad, 3.0, 200)
    assert traj.diverged and len(traj.path) == traj.diverged_at
    paths, losses = clipped_gradient_descent_many(quad, 1e200, 5, [[1.0, 1.0], [0.0, 0.0]])
    assert np.isnan(losses[-1, 0]) and losses[-1, 1] == 0.0
    # clipping by norm tames the same run: steps of at most lr * v
    tamed = clipped_gradient_descent(quad, 3.0, 200, max_norm=0.1)
    assert not tamed.diverged


def test_descent_bad_arguments():
    land = rnn_cliff()
    with pytest.raises(ValueError, match="not both"):
        clipped_gradient_descent(land, 0.1, 5, max_norm=1.0, clip_value=1.0)
    with pytest.raises(ValueError, match="lr must be > 0.0"):
        clipped_gradient_descent(land, 0.0, 5)
    with pytest.raises(TypeError, match="landscape must be a Landscape"):
        clipped_gradient_descent(copy.copy, 0.1, 5)
    with pytest.raises(ValueError, match="x0 must be a finite point"):
        clipped_gradient_descent(land, 0.1, 5, (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="starts must be finite points"):
        clipped_gradient_descent_many(land, 0.1, 5, [1.0, 2.0])
    with pytest.raises(ValueError, match="max_norm must be > 0.0"):
        clipped_gradient_descent_many(land, 0.1, 5, [[1.0, 2.0]], max_norm=0.0)
