r"""Compare back-propagated derivatives with numerical ones (§11.5, "Compare back-propagated
derivatives to numerical derivatives").

Symbol map: :math:`f` = ``fn``, :math:`x^{(i)}` = the ``i``-th input that requires grad,
:math:`\varepsilon` = ``eps``, :math:`g` = the analytic gradient (from autograd, i.e. from
whatever ``backward`` the code defines), :math:`\hat g` = the numerical one.

Each partial derivative is estimated by a centred difference (the book's eq. 11.6),

.. math::

    \hat g^{(i)}_j = \frac{f(x + \varepsilon e^{(i)}_j)
                           - f(x - \varepsilon e^{(i)}_j)}{2\varepsilon},

whose error is :math:`O(\varepsilon^2)` from truncation plus about
:math:`\delta\lvert f\rvert/\varepsilon` from rounding (:math:`\delta \approx 10^{-16}` in
float64), so inputs must be float64.

When :math:`f` returns a tensor :math:`y` rather than a scalar, we check the scalar
:math:`s(x) = \langle u, f(x)\rangle` for a fixed :math:`u` (``grad_output``): its gradient is
the vector–Jacobian product :math:`J^\top u` that ``backward`` computes. :func:`gradcheck` draws
:math:`u` from a seeded standard normal, so a wrong Jacobian goes unnoticed only on a set of
:math:`u` of probability zero (the seed notes' "randomly chosen directions"), at the price of one
backward pass instead of one per output element. Differs from
:func:`torch.autograd.gradcheck`, which builds the whole Jacobian.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._validation import check_int, check_real

__all__ = ["numerical_gradient", "analytic_gradient", "gradcheck", "GradcheckResult"]


def _as_inputs(inputs) -> tuple:
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("at least one input must be a tensor with requires_grad=True")
    for i in wrt:
        if inputs[i].dtype != torch.float64:
            raise ValueError(
                f"inputs[{i}] must be float64 (centred differences in lower precision are "
                f"swamped by rounding), got {inputs[i].dtype}"
            )
    return inputs, wrt


def _projected(y, grad_output) -> torch.Tensor:
    """The scalar :math:`\\langle u, y\\rangle`, or ``y`` itself when it is a scalar."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"fn must return a tensor, got {type(y).__name__}")
    if grad_output is None:
        if y.numel() != 1:
            raise ValueError(
                f"fn returned a tensor of shape {tuple(y.shape)}; pass grad_output (the u of "
                f"<u, fn(x)>) to differentiate a non-scalar output"
            )
        return y.reshape(())
    if grad_output.shape != y.shape:
        raise ValueError(
            f"grad_output must have fn's output shape {tuple(y.shape)}, "
            f"got {tuple(grad_output.shape)}"
        )
    return (grad_output.to(y.dtype) * y).sum()


def numerical_gradient(
    fn: Callable[..., torch.Tensor], inputs, eps: float = 1e-6, grad_output=None
) -> tuple[torch.Tensor, ...]:
    r"""Centred-difference gradient of ``fn(*inputs)`` (of :math:`\langle u, f\rangle` when
    ``grad_output`` = :math:`u` is given) with respect to each input that requires grad.

    ``inputs`` is a tensor or a sequence of arguments; the tensors with ``requires_grad=True``
    (which must be float64) are perturbed one element at a time, on copies, under
    :func:`torch.no_grad`. Costs two calls of ``fn`` per element. Returns one tensor per
    perturbed input, in order, each shaped like its input.
    """
    eps = check_real("eps", eps, low=0.0, low_open=True)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    inputs, wrt = _as_inputs(inputs)
    args = [
        x.detach().clone(memory_format=torch.contiguous_format)
        if isinstance(x, torch.Tensor)
        else x
        for x in inputs
    ]
    grads = []
    with torch.no_grad():
        for i in wrt:
            flat = args[i].view(-1)  # a contiguous copy, so writes through the view reach fn
            g = torch.empty(flat.numel(), dtype=torch.float64)
            for j in range(flat.numel()):
                orig = flat[j].item()
                flat[j] = orig + eps
                f_plus = _projected(fn(*args), grad_output).item()
                flat[j] = orig - eps
                f_minus = _projected(fn(*args), grad_output).item()
                flat[j] = orig
                g[j] = (f_plus - f_minus) / (2.0 * eps)
            grads.append(g.view(args[i].shape))
    return tuple(grads)


def analytic_gradient(fn: Callable[..., torch.Tensor], inputs, grad_output=None):
    r"""The back-propagated gradient of the same quantity as :func:`numerical_gradient`.

    Inputs that do not influence the output get a zero gradient.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    inputs, wrt = _as_inputs(inputs)
    args = [
        x.detach().clone().requires_grad_(i in wrt) if isinstance(x, torch.Tensor) else x
        for i, x in enumerate(inputs)
    ]
    with torch.enable_grad():
        s = _projected(fn(*args), grad_output)
        if not s.requires_grad:
            return tuple(torch.zeros_like(args[i]) for i in wrt)
        grads = torch.autograd.grad(s, [args[i] for i in wrt], allow_unused=True)
    return tuple(
        torch.zeros_like(args[i]) if g is None else g.detach()
        for i, g in zip(wrt, grads, strict=True)
    )


@dataclass(frozen=True)
class GradcheckResult:
    r"""The verdict of :func:`gradcheck`: truthy exactly when every element agrees.

    An element agrees when :math:`\lvert g_j - \hat g_j\rvert \le \text{atol} + \text{rtol}
    \lvert\hat g_j\rvert` (the rule of :func:`torch.allclose`, numerical gradient as reference).

    Attributes:
        passed: the verdict (also ``bool(result)``).
        max_abs_error: :math:`\max_j \lvert g_j - \hat g_j\rvert` over all inputs.
        max_abs_at: ``(input_index, element_index)`` where it occurs; ``input_index`` counts
            positions in ``inputs``, ``element_index`` is a tuple index into that input.
        max_rel_error: :math:`\max_j \lvert g_j - \hat g_j\rvert / \max(\lvert g_j\rvert,
            \lvert\hat g_j\rvert)` (0 where both are 0).
        max_rel_at: where that occurs.
        analytic, numerical: the two gradients, one tensor per checked input.
        grad_output: the projection :math:`u` used for a non-scalar output, else ``None``.
    """

    passed: bool
    max_abs_error: float
    max_abs_at: tuple[int, tuple[int, ...]]
    max_rel_error: float
    max_rel_at: tuple[int, tuple[int, ...]]
    analytic: tuple[torch.Tensor, ...]
    numerical: tuple[torch.Tensor, ...]
    grad_output: torch.Tensor | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gradcheck {verdict}: max abs error {self.max_abs_error:.3g} at input "
            f"{self.max_abs_at[0]}, element {self.max_abs_at[1]}; max rel error "
            f"{self.max_rel_error:.3g} at input {self.max_rel_at[0]}, element {self.max_rel_at[1]}"
        )


def _unravel(flat_index: int, shape) -> tuple[int, ...]:
    index = []
    for size in reversed(tuple(shape)):
        index.append(flat_index % size)
        flat_index //= size
    return tuple(reversed(index))


def _worse(worst, errors: torch.Tensor, i: int):
    """``worst`` or the largest of ``errors`` (input ``i``), whichever is larger; NaN wins."""
    j = int(errors.reshape(-1).argmax())  # torch's argmax treats NaN as the largest
    value = errors.reshape(-1)[j].item()
    if math.isnan(value) or value > worst[0]:
        return value, (i, _unravel(j, errors.shape))
    return worst


def gradcheck(
    fn: Callable[..., torch.Tensor],
    inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    seed: int = 0,
) -> GradcheckResult:
    r"""Check the back-propagated gradient of ``fn`` at ``inputs`` against centred differences.

    ``fn(*inputs)`` may return a scalar or a tensor; for a tensor the check is on
    :math:`\langle u, f(x)\rangle` with :math:`u` drawn from a standard normal by a
    :class:`torch.Generator` seeded with ``seed`` (see the module docstring). The defaults of
    ``eps``, ``atol`` and ``rtol`` are :func:`torch.autograd.gradcheck`'s.

    Returns a :class:`GradcheckResult`, truthy exactly when every element agrees, with the
    largest absolute and relative errors and where they occur.
    """
    eps = check_real("eps", eps, low=0.0, low_open=True)
    atol = check_real("atol", atol, low=0.0)
    rtol = check_real("rtol", rtol, low=0.0)
    seed = check_int("seed", seed, low=0)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    inputs, wrt = _as_inputs(inputs)

    with torch.no_grad():
        y = fn(*[x.detach() if isinstance(x, torch.Tensor) else x for x in inputs])
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"fn must return a tensor, got {type(y).__name__}")
    u = None
    if y.numel() != 1:
        gen = torch.Generator().manual_seed(seed)
        u = torch.randn(y.shape, generator=gen, dtype=torch.float64)

    analytic = analytic_gradient(fn, inputs, u)
    numerical = numerical_gradient(fn, inputs, eps, u)

    passed = True
    worst_abs = worst_rel = (-1.0, (wrt[0], ()))
    for i, a, n in zip(wrt, analytic, numerical, strict=True):
        if a.numel() == 0:
            continue
        err = (a - n).abs()
        passed = passed and bool((err <= atol + rtol * n.abs()).all())
        scale = torch.maximum(a.abs(), n.abs())
        rel = torch.where(scale > 0, err / torch.where(scale > 0, scale, 1.0), 0.0)
        worst_abs = _worse(worst_abs, err, i)
        worst_rel = _worse(worst_rel, rel, i)
    return GradcheckResult(
        passed=passed,
        max_abs_error=max(worst_abs[0], 0.0),
        max_abs_at=worst_abs[1],
        max_rel_error=max(worst_rel[0], 0.0),
        max_rel_at=worst_rel[1],
        analytic=analytic,
        numerical=numerical,
        grad_output=u,
    )
