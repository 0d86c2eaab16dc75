"""optbook.gradcheck against closed-form gradients and against torch.autograd.gradcheck, on
hand-written backward passes with and without planted bugs."""

import re

import pytest
import torch

from optbook.gradcheck import analytic_gradient, gradcheck, numerical_gradient

torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------- hand-written backwards


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class SquareMissingFactor2(Square):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return x * g  # bug: d(x²)/dx = 2x


class MatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, B):
        ctx.save_for_backward(A, B)
        return A @ B

    @staticmethod
    def backward(ctx, G):
        A, B = ctx.saved_tensors
        return G @ B.T, A.T @ G


class MatMulTransposed(MatMul):
    @staticmethod
    def backward(ctx, G):
        A, B = ctx.saved_tensors
        return G @ B, A.T @ G  # bug: B where Bᵀ belongs (shapes agree for square B)


class MatMulWrongSecond(MatMul):
    @staticmethod
    def backward(ctx, G):
        A, B = ctx.saved_tensors
        return G @ B.T, A @ G  # bug in the second input only: A where Aᵀ belongs


class Sin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.cos(x) * g


class SinWrongSign(Sin):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -torch.cos(x) * g  # bug: sign


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return s * (1 - s) * g


class SigmoidOnePercentOff(Sigmoid):
    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return 1.01 * s * (1 - s) * g  # a subtle bug: 1 % too large everywhere


class SoftmaxCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of logits Z (n × k) against one-hot targets T: a scalar output."""

    @staticmethod
    def forward(ctx, Z, T):
        P = torch.softmax(Z, dim=1)
        ctx.save_for_backward(P, T)
        return -(T * torch.log_softmax(Z, dim=1)).sum() / Z.shape[0]

    @staticmethod
    def backward(ctx, g):
        P, T = ctx.saved_tensors
        return g * (P - T) / P.shape[0], None


class SoftmaxCrossEntropyNoMean(SoftmaxCrossEntropy):
    @staticmethod
    def backward(ctx, g):
        P, T = ctx.saved_tensors
        return g * (P - T), None  # bug: forgot the 1/n of the mean


def _x(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).requires_grad_(True)


def _targets():
    return torch.nn.functional.one_hot(torch.tensor([0, 2, 1, 2]), 3).double()


CASES = [  # (name, fn, inputs, correct?)
    ("square", Square.apply, lambda: (_x(3, 4),), True),
    ("square, missing factor 2", SquareMissingFactor2.apply, lambda: (_x(3, 4),), False),
    ("matmul", MatMul.apply, lambda: (_x(3, 4), _x(4, 4, seed=1)), True),
    ("matmul, transposed", MatMulTransposed.apply, lambda: (_x(3, 4), _x(4, 4, seed=1)), False),
    ("matmul, wrong 2nd", MatMulWrongSecond.apply, lambda: (_x(4, 4), _x(4, 2, seed=1)), False),
    ("sin", Sin.apply, lambda: (_x(5),), True),
    ("sin, wrong sign", SinWrongSign.apply, lambda: (_x(5),), False),
    ("sigmoid", Sigmoid.apply, lambda: (_x(2, 3),), True),
    ("sigmoid, 1 % off", SigmoidOnePercentOff.apply, lambda: (_x(2, 3),), False),
    ("cross-entropy", SoftmaxCrossEntropy.apply, lambda: (_x(4, 3), _targets()), True),
    (
        "cross-entropy, no 1/n",
        SoftmaxCrossEntropyNoMean.apply,
        lambda: (_x(4, 3), _targets()),
        False,
    ),
    # not a bug in backward: relu has no derivative at 0, and the centred difference sees 1/2
    ("relu at its kink", torch.relu, lambda: (torch.tensor([0.0, 1.0]).requires_grad_(),), False),
]


@pytest.mark.parametrize("name,fn,make_inputs,correct", CASES, ids=[c[0] for c in CASES])
def test_verdicts_agree_with_torch_gradcheck(name, fn, make_inputs, correct):
    result = gradcheck(fn, make_inputs())
    assert bool(result) is correct, str(result)
    assert torch.autograd.gradcheck(fn, make_inputs(), raise_exception=False) is correct
    if correct:
        assert result.max_abs_error < 1e-8 and result.max_rel_error < 1e-7
    else:
        assert result.max_rel_error > 5e-3


def test_reports_where_the_error_is():
    class SquareBadAt12(Square):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            dx = 2 * x * g
            dx[1, 2] += 1e-2  # one wrong element
            return dx

    x = _x(3, 4)
    result = gradcheck(SquareBadAt12.apply, (x,), seed=0)
    assert not result
    assert result.max_abs_at == (0, (1, 2))
    assert abs(result.max_abs_error - 1e-2) < 1e-8  # the planted error, seen through u
    assert "FAILED" in str(result) and "element (1, 2)" in str(result)

    # a bug in the second input is reported at input 1
    result = gradcheck(MatMulWrongSecond.apply, (_x(4, 4), _x(4, 2, seed=1)))
    assert result.max_abs_at[0] == 1 and result.max_rel_at[0] == 1
    torch.testing.assert_close(result.analytic[0], result.numerical[0], rtol=1e-7, atol=1e-8)


def test_input_index_counts_inputs_that_are_not_checked():
    c = torch.tensor(3.0)  # a constant: not checked, but it keeps its position

    def fn(c, x):
        return SinWrongSign.apply(x) * c

    result = gradcheck(fn, (c, _x(4)))
    assert not result and result.max_abs_at[0] == 1 and len(result.analytic) == 1


def test_numerical_gradient_matches_closed_form():
    x, W = _x(5), _x(3, 5, seed=1)

    def fn(x, W):
        return torch.tanh(W @ x).sum()

    gx, gW = numerical_gradient(fn, (x, W))
    with torch.no_grad():
        s = 1 - torch.tanh(W @ x) ** 2
    torch.testing.assert_close(gx, W.detach().T @ s, rtol=0, atol=1e-9)
    torch.testing.assert_close(gW, torch.outer(s, x.detach()), rtol=0, atol=1e-9)
    assert gx.dtype == torch.float64 and gW.shape == W.shape
    assert x.grad is None and W.grad is None  # inputs untouched


def test_tensor_output_checks_the_vector_jacobian_product():
    x = _x(4)
    u = torch.randn(3, generator=torch.Generator().manual_seed(5))
    A = torch.randn(3, 4, generator=torch.Generator().manual_seed(6))

    def fn(x):
        return torch.sin(A @ x) * x[:3]

    (g,) = numerical_gradient(fn, x, grad_output=u)
    J = torch.autograd.functional.jacobian(fn, x.detach())
    torch.testing.assert_close(g, J.T @ u, rtol=0, atol=1e-9)
    (ga,) = analytic_gradient(fn, x, grad_output=u)
    torch.testing.assert_close(ga, J.T @ u, rtol=1e-12, atol=1e-14)
    # gradcheck draws u from its seed, reproducibly
    r1, r2 = gradcheck(fn, x, seed=1), gradcheck(fn, x, seed=1)
    assert r1 and torch.equal(r1.grad_output, r2.grad_output)
    assert not torch.equal(r1.grad_output, gradcheck(fn, x, seed=2).grad_output)


def test_non_contiguous_inputs():
    A = _x(4, 3).detach().T.requires_grad_(True)  # a transposed view: strides (1, 3)
    assert not A.is_contiguous()
    assert gradcheck(lambda A: (A.sin() * torch.arange(12.0).view(3, 4)).sum(), A)


def test_unused_input_gets_zero_gradient():
    result = gradcheck(lambda x, y: (x * x).sum(), (_x(2), _x(3)))
    assert result and torch.equal(result.analytic[1], torch.zeros(3))


def test_truthiness_is_exactly_the_tolerance_rule():
    # The 1 % bug passes once rtol allows 2 %
    assert gradcheck(SigmoidOnePercentOff.apply, (_x(2, 3),), rtol=2e-2, atol=0.0)
    assert not gradcheck(SigmoidOnePercentOff.apply, (_x(2, 3),), rtol=5e-3, atol=0.0)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: gradcheck(Sin.apply, (_x(3),), eps=0.0), ValueError, "eps must be > 0.0, got 0.0"),
        (lambda: gradcheck(Sin.apply, (_x(3),), eps=-1e-6), ValueError, "eps must be > 0.0"),
        (lambda: numerical_gradient(Sin.apply, _x(3), eps=0), ValueError, "eps must be > 0.0"),
        (lambda: gradcheck(Sin.apply, (_x(3),), atol=-1.0), ValueError, "atol must be >= 0.0"),
        (lambda: gradcheck(Sin.apply, (_x(3),), rtol=float("nan")), ValueError, "rtol must be"),
        (
            lambda: gradcheck(Sin.apply, (torch.randn(3, dtype=torch.float32).requires_grad_(),)),
            ValueError,
            "inputs[0] must be float64",
        ),
        (lambda: gradcheck(Sin.apply, (torch.randn(3),)), ValueError, "requires_grad=True"),
        (lambda: gradcheck("sin", (_x(3),)), TypeError, "fn must be callable, got 'sin'"),
        (lambda: gradcheck(lambda x: 1.0, (_x(3),)), TypeError, "fn must return a tensor"),
        (
            lambda: numerical_gradient(Sin.apply, (_x(3),)),
            ValueError,
            "fn returned a tensor of shape (3,); pass grad_output",
        ),
        (
            lambda: numerical_gradient(Sin.apply, (_x(3),), grad_output=torch.ones(2)),
            ValueError,
            "grad_output must have fn's output shape (3,), got (2,)",
        ),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        call()


class BatchNormStatsAsConstants(torch.autograd.Function):
    """Batch norm whose backward treats the batch mean and variance as constants: the classic
    mistake, dx = γ dy / √(σ² + δ)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        inv_std = torch.rsqrt(x.var(0, unbiased=False) + 1e-5)
        ctx.save_for_backward(weight, inv_std)
        return (x - x.mean(0)) * inv_std * weight + bias

    @staticmethod
    def backward(ctx, dy):
        weight, inv_std = ctx.saved_tensors
        return weight * inv_std * dy, None, None


class BatchNormNoGradient(BatchNormStatsAsConstants):
    @staticmethod
    def backward(ctx, dy):
        return torch.zeros_like(dy), None, None  # bug: no gradient reaches x at all


def test_batch_norm_backward():
    """The hand-written backward of optbook.nn.batchnorm (§8.7) passes; planted bugs do not."""
    bn = pytest.importorskip("optbook.nn.batchnorm")
    x, w, b = _x(6, 3), _x(3, seed=1), _x(3, seed=2)

    def fn(x, w, b):
        return bn.batch_norm(x, w, b)[0]

    result = gradcheck(fn, (x, w, b))
    assert result, str(result)
    assert torch.autograd.gradcheck(fn, (x, w, b), raise_exception=False)

    wc, bc = w.detach(), b.detach()  # constants: only x is checked
    for bug in (BatchNormStatsAsConstants, BatchNormNoGradient):
        assert not gradcheck(bug.apply, (x, wc, bc))
        assert not torch.autograd.gradcheck(bug.apply, (x, wc, bc), raise_exception=False)


def test_a_plain_sum_can_hide_a_bug():
    """Σᵢ yᵢ of a batch-normalised output does not depend on x, so checking the sum compares
    zero with zero and passes a backward that returns nothing; the random projection u
    (what gradcheck does with a tensor output) catches it."""
    x, w, b = _x(6, 3), _x(3, seed=1).detach(), _x(3, seed=2).detach()
    assert gradcheck(lambda x: BatchNormNoGradient.apply(x, w, b).sum(), x)
    assert not gradcheck(lambda x: BatchNormNoGradient.apply(x, w, b), x)
