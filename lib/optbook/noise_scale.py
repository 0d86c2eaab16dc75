r"""The gradient noise scale of McCandlish et al. (2018), §8.8: which batch size is "large"?

For per-example gradients :math:`g_i` of :math:`N` examples, let :math:`G = \frac1N\sum_i g_i`
be the full-batch gradient and :math:`\Sigma = \frac1N\sum_i (g_i - G)(g_i - G)^\top` their
covariance. The *simple noise scale*

.. math:: B_{\mathrm{simple}} = \frac{\operatorname{tr}\Sigma}{\lvert G\rvert^2}

is the batch size at which the noise in a minibatch gradient is as large as the signal:
a minibatch of :math:`B` examples drawn with replacement has
:math:`\mathbb E\lvert G_B\rvert^2 = \lvert G\rvert^2 + \operatorname{tr}\Sigma / B`. McCandlish
et al. show that the number of steps needed to reach a loss falls like
:math:`1 + B_{\mathrm{noise}}/B` (so batches much larger than the noise scale stop saving
steps), and that :math:`B_{\mathrm{simple}}` is a cheap proxy for :math:`B_{\mathrm{noise}}`,
the *critical batch size*.

Their Appendix A estimates :math:`\lvert G\rvert^2` and :math:`\operatorname{tr}\Sigma` without
per-example gradients, from the squared norms of minibatch gradients at two batch sizes
:math:`B_{\mathrm{small}} < B_{\mathrm{big}}` (:func:`noise_scale_from_norms`), averages each
estimate over many draws, and divides the averages (the ratio of the averages, not the average
of ratios, which would be biased): :func:`estimate_noise_scale`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._validation import check_bool, check_int

__all__ = [
    "NoiseScale",
    "noise_scale_from_norms",
    "estimate_noise_scale",
    "minibatch_gradient_fn",
    "noise_coefficient",
]


def noise_coefficient(b: int, n: int | None = None) -> float:
    r""":math:`c_B` in :math:`\mathbb E\lvert G_B\rvert^2 = \lvert G\rvert^2 +
    c_B\operatorname{tr}\Sigma` for a minibatch of :math:`B` = ``b`` examples: :math:`1/B` when
    drawn with replacement (``n=None``), :math:`\frac{N-B}{B(N-1)}` when drawn without
    replacement from :math:`N` = ``n`` examples (the finite-population correction; 0 at
    :math:`B = N`)."""
    b = check_int("b", b, low=1)
    if n is None:
        return 1.0 / b
    n = check_int("n", n, low=2)
    if b > n:
        raise ValueError(f"a batch of b={b} cannot be drawn without replacement from n={n}")
    return (n - b) / (b * (n - 1))


def noise_scale_from_norms(sq_norm_small, sq_norm_big, b_small: int, b_big: int, n: int | None = None):
    r"""Unbiased estimates of :math:`\lvert G\rvert^2` and :math:`\operatorname{tr}\Sigma` from
    the squared norms of two minibatch gradients (McCandlish et al. 2018, Appendix A.1).

    With :math:`c_B` from :func:`noise_coefficient` (:math:`1/B` with replacement),

    .. math::

        \lvert\mathcal G\rvert^2 = \frac{c_{\mathrm{small}}\lvert G_{B_{\mathrm{big}}}\rvert^2
            - c_{\mathrm{big}}\lvert G_{B_{\mathrm{small}}}\rvert^2}
            {c_{\mathrm{small}} - c_{\mathrm{big}}}, \qquad
        \mathcal S = \frac{\lvert G_{B_{\mathrm{small}}}\rvert^2 - \lvert G_{B_{\mathrm{big}}}\rvert^2}
            {c_{\mathrm{small}} - c_{\mathrm{big}}},

    which with :math:`c_B = 1/B` are the paper's
    :math:`\lvert\mathcal G\rvert^2 = (B_{\mathrm{big}}\lvert G_{B_{\mathrm{big}}}\rvert^2 -
    B_{\mathrm{small}}\lvert G_{B_{\mathrm{small}}}\rvert^2)/(B_{\mathrm{big}} -
    B_{\mathrm{small}})` and :math:`\mathcal S = (\lvert G_{B_{\mathrm{small}}}\rvert^2 -
    \lvert G_{B_{\mathrm{big}}}\rvert^2)/(1/B_{\mathrm{small}} - 1/B_{\mathrm{big}})`. Each is
    unbiased because :math:`\mathbb E\lvert G_B\rvert^2 = \lvert G\rvert^2 +
    c_B\operatorname{tr}\Sigma` is linear in the two unknowns. A single draw can be negative.

    ``sq_norm_small``, ``sq_norm_big``: floats or tensors (one entry per draw; elementwise).
    Returns ``(grad_sq_norm, trace_sigma)`` of the same kind.
    """
    b_small = check_int("b_small", b_small, low=1)
    b_big = check_int("b_big", b_big, low=1)
    if b_big <= b_small:
        raise ValueError(f"b_big must be > b_small, got b_small={b_small}, b_big={b_big}")
    c_small, c_big = noise_coefficient(b_small, n), noise_coefficient(b_big, n)
    denom = c_small - c_big
    grad_sq_norm = (c_small * sq_norm_big - c_big * sq_norm_small) / denom
    trace_sigma = (sq_norm_small - sq_norm_big) / denom
    return grad_sq_norm, trace_sigma


@dataclass(frozen=True)
class NoiseScale:
    r"""The result of :func:`estimate_noise_scale`.

    ``b_simple`` :math:`= \bar{\mathcal S}/\overline{\lvert\mathcal G\rvert^2}`;
    ``trace_sigma`` and ``grad_sq_norm`` are the averages over ``draws`` draws and
    ``trace_sigma_se``, ``grad_sq_norm_se`` their standard errors (sample standard deviation
    over :math:`\sqrt{\text{draws}}`). ``per_draw`` holds the per-draw estimates
    :math:`(\lvert\mathcal G\rvert^2, \mathcal S)` as a ``(draws, 2)`` float64 tensor.
    """

    b_simple: float
    trace_sigma: float
    grad_sq_norm: float
    trace_sigma_se: float
    grad_sq_norm_se: float
    draws: int
    b_small: int
    b_big: int
    per_draw: torch.Tensor


def estimate_noise_scale(
    grad_fn: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    b_small: int,
    b_big: int,
    draws: int = 100,
    seed: int = 0,
    replace: bool = True,
) -> NoiseScale:
    r"""Estimate :math:`B_{\mathrm{simple}} = \operatorname{tr}\Sigma/\lvert G\rvert^2` from
    minibatch gradients (McCandlish et al. 2018, Appendix A).

    Each of the ``draws`` draws picks ``b_big`` indices out of ``range(n)`` (with replacement
    by default, from a ``torch.Generator`` seeded with ``seed``), calls ``grad_fn`` on the first
    ``b_small`` of them and on all of them, and turns the two squared norms into one unbiased
    estimate of each of :math:`\lvert G\rvert^2` and :math:`\operatorname{tr}\Sigma`
    (:func:`noise_scale_from_norms`; the small batch inside the big one, as the paper's
    per-device and all-device gradients are). The estimates are averaged over the draws and the
    averages divided. ``replace=False`` draws each batch without replacement and uses the
    finite-population correction of :func:`noise_coefficient`, which keeps both estimates
    unbiased.

    Args:
        grad_fn: ``grad_fn(indices)`` returns the gradient of the *mean* loss over the examples
            ``indices`` (a 1-D ``torch.long`` tensor, repeats allowed) as a 1-D tensor, at
            fixed parameters (:func:`minibatch_gradient_fn` builds one for a model).
        n: the number of examples.
        b_small, b_big: the two batch sizes, :math:`1 \le B_{\mathrm{small}} <
            B_{\mathrm{big}}` (and :math:`B_{\mathrm{big}} \le n` without replacement).
        draws: number of draws, :math:`\ge 2`.
        seed: seeds the batches.
        replace: draw each batch with replacement (the default).
    """
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be callable, got {grad_fn!r}")
    n = check_int("n", n, low=2)
    b_small = check_int("b_small", b_small, low=1)
    b_big = check_int("b_big", b_big, low=1)
    draws = check_int("draws", draws, low=2)
    seed = check_int("seed", seed)
    replace = check_bool("replace", replace)
    if b_big <= b_small:
        raise ValueError(f"b_big must be > b_small, got b_small={b_small}, b_big={b_big}")
    if not replace and b_big > n:
        raise ValueError(f"b_big={b_big} cannot be drawn without replacement from n={n}")
    gen = torch.Generator().manual_seed(seed)
    norms = torch.empty(draws, 2, dtype=torch.float64)
    for d in range(draws):
        if replace:
            idx = torch.randint(0, n, (b_big,), generator=gen)
        else:
            idx = torch.randperm(n, generator=gen)[:b_big]
        for j, batch in enumerate((idx[:b_small], idx)):
            g = grad_fn(batch)
            if not isinstance(g, torch.Tensor) or g.ndim != 1:
                got = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
                raise ValueError(f"grad_fn must return a 1-D tensor (the flat gradient), got {got}")
            norms[d, j] = torch.linalg.vector_norm(g.detach(), dtype=torch.float64) ** 2
    g2, s = noise_scale_from_norms(norms[:, 0], norms[:, 1], b_small, b_big, None if replace else n)
    g2_mean, s_mean = float(g2.mean()), float(s.mean())
    root = math.sqrt(draws)
    return NoiseScale(
        b_simple=s_mean / g2_mean if g2_mean != 0.0 else math.inf,
        trace_sigma=s_mean,
        grad_sq_norm=g2_mean,
        trace_sigma_se=float(s.std()) / root,
        grad_sq_norm_se=float(g2.std()) / root,
        draws=draws,
        b_small=b_small,
        b_big=b_big,
        per_draw=torch.stack([g2, s], dim=1),
    )


def minibatch_gradient_fn(
    model: torch.nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""A ``grad_fn`` for :func:`estimate_noise_scale`: ``grad_fn(idx)`` is the flat gradient of
    ``loss(model(X[idx]), y[idx])`` (a mean over the batch, e.g.
    :func:`torch.nn.functional.cross_entropy`) with respect to the parameters that require grad,
    at their current values. The parameters' ``.grad`` are not touched."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss):
        raise TypeError(f"loss must be callable, got {loss!r}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have as many rows, got {len(X)} and {len(y)}")
    params = [p for p in model.parameters() if p.requires_grad]

    def grad_fn(idx: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            value = loss(model(X[idx]), y[idx])
            grads = torch.autograd.grad(value, params, allow_unused=True)
        flat = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params, strict=True)]
        return torch.cat([g.reshape(-1) for g in flat])

    return grad_fn
