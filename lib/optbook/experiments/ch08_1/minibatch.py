r"""The minibatch gradient as an estimator (§8.1.3): per-example gradients, the exact standard
error of a minibatch mean, and the orders in which minibatches can be drawn.

Let :math:`\boldsymbol g^{(i)} = \nabla_{\boldsymbol\theta} L(f(\boldsymbol x^{(i)};
\boldsymbol\theta), y^{(i)})` be the gradient of example :math:`i` of :math:`N`, and
:math:`\boldsymbol g = \frac1N \sum_i \boldsymbol g^{(i)}` the full-batch gradient of the
training cost :math:`J(\boldsymbol\theta)`. A minibatch of :math:`m` examples gives the estimate
:math:`\hat{\boldsymbol g} = \frac1m \sum_{i \in B} \boldsymbol g^{(i)}`, unbiased whether
:math:`B` is drawn with or without replacement. Its mean squared error is

.. math::

    \mathbb E\,\lVert\hat{\boldsymbol g} - \boldsymbol g\rVert^2
    = \frac{\operatorname{tr}\boldsymbol\Sigma}{m} \cdot c_m,
    \qquad
    c_m = \begin{cases} 1 & \text{with replacement,} \\
    \dfrac{N - m}{N - 1} & \text{without replacement,} \end{cases}

where :math:`\boldsymbol\Sigma = \frac1N \sum_i (\boldsymbol g^{(i)} - \boldsymbol g)
(\boldsymbol g^{(i)} - \boldsymbol g)^\top` is the covariance of the per-example gradients and
:math:`c_m` the finite-population correction. Its square root, the standard error, falls like
:math:`\sigma/\sqrt m` with :math:`\sigma^2 = \operatorname{tr}\boldsymbol\Sigma`: a hundred
times more examples buy only ten times more accuracy.

Symbol map: :math:`\boldsymbol g^{(i)}` = row ``i`` of ``G``, :math:`m` = ``m``,
:math:`N` = ``len(G)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from optbook._validation import check_bool, check_int

__all__ = [
    "per_example_gradients",
    "standard_error",
    "minibatch_means",
    "batch_indices",
    "SCHEMES",
]

SCHEMES = ("reshuffle", "shuffle_once", "with_replacement", "sequential")


def per_example_gradients(
    model: nn.Module, loss_fn: Callable, X: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    r"""The matrix of per-example gradients, shape ``(N, P)``: row ``i`` is
    :math:`\boldsymbol g^{(i)}`, the gradient of ``loss_fn(model(x_i), y_i)`` with respect to
    all of ``model``'s parameters, flattened in the order of ``model.parameters()``.

    Computed in one vectorised pass with :func:`torch.func.vmap` over :func:`torch.func.grad`
    (the model must not hold per-batch state such as batch normalisation in training mode).
    ``loss_fn`` receives a batch of one, e.g. ``torch.nn.functional.cross_entropy``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {model!r}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {loss_fn!r}")
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor) or len(X) != len(y):
        raise ValueError(f"X and y must be tensors of the same length, got {type(X).__name__} and "
                         f"{type(y).__name__} of lengths {len(X)} and {len(y)}")
    names = [n for n, _ in model.named_parameters()]
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def loss_one(p, x, t):
        out = torch.func.functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return loss_fn(out, t.unsqueeze(0))

    grads = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0, 0))(params, X, y)
    return torch.cat([grads[n].reshape(len(X), -1) for n in names], dim=1)


def _check_G(G) -> torch.Tensor:
    if not isinstance(G, torch.Tensor) or G.ndim != 2 or not G.is_floating_point():
        raise ValueError(f"G must be a floating-point tensor of shape (N, P), got {G!r:.80}")
    if len(G) < 2:
        raise ValueError(f"G needs at least two rows (examples), got {len(G)}")
    return G


def standard_error(G: torch.Tensor, m, *, replace: bool = False):
    r"""The exact :math:`\sqrt{\mathbb E\lVert\hat{\boldsymbol g} - \boldsymbol g\rVert^2}` of the
    mean of ``m`` rows of ``G`` drawn uniformly, without (default) or with replacement.

    That is :math:`\sqrt{\operatorname{tr}\boldsymbol\Sigma \, c_m / m}` (module docstring); it is
    zero for ``m = N`` without replacement, where the "minibatch" is the whole training set.
    ``m`` may be one integer (a float is returned) or a sequence of them (a NumPy array is
    returned; :math:`\operatorname{tr}\boldsymbol\Sigma` is then computed only once).
    """
    G = _check_G(G)
    N = len(G)
    replace = check_bool("replace", replace)
    single = not isinstance(m, list | tuple | np.ndarray)
    sizes = [check_int("m", k, low=1, high=None if replace else N) for k in ([m] if single else m)]
    if not sizes:
        raise ValueError("m must be an integer or a non-empty sequence of integers, got []")
    trace = (G - G.mean(0)).pow(2).sum(1).mean().item()
    out = np.array([math.sqrt(trace * (1.0 if replace else (N - k) / (N - 1)) / k) for k in sizes])
    return float(out[0]) if single else out


def minibatch_means(
    G: torch.Tensor, m: int, draws: int, generator: torch.Generator, *, replace: bool = False
) -> torch.Tensor:
    r"""``draws`` independent minibatch estimates :math:`\hat{\boldsymbol g}`, shape
    ``(draws, P)``: each the mean of ``m`` rows of ``G`` drawn uniformly (without replacement
    within a minibatch unless ``replace``)."""
    G = _check_G(G)
    N = len(G)
    replace = check_bool("replace", replace)
    m = check_int("m", m, low=1, high=None if replace else N)
    draws = check_int("draws", draws, low=1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    if replace:
        idx = torch.randint(0, N, (draws, m), generator=generator)
    else:
        idx = torch.rand(draws, N, generator=generator).argsort(dim=1)[:, :m]
    # A (draws, N) matrix of weights (count / m) times G: no (draws, m, P) intermediate.
    weights = torch.full(idx.shape, 1.0 / m, dtype=G.dtype)
    W = torch.zeros(draws, N, dtype=G.dtype).scatter_add_(1, idx, weights)
    return W @ G


def batch_indices(
    n: int, batch_size: int, epochs: int, scheme: str, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Index tensors of minibatches for ``epochs`` passes over ``n`` examples.

    * ``"reshuffle"``: a fresh random permutation every epoch, walked through in batches
      (what :func:`optbook.data.minibatches` does);
    * ``"shuffle_once"``: one random permutation, reused every epoch (the book's advice for data
      too big to reshuffle: shuffle once, store, read consecutively);
    * ``"with_replacement"``: every minibatch drawn independently, with replacement, as the
      theory of §8.1.3 assumes; an "epoch" is ``ceil(n / batch_size)`` such minibatches;
    * ``"sequential"``: the stored order ``0, 1, …, n - 1`` every epoch, never shuffled.

    The last batch of an epoch may be smaller, except with replacement.
    """
    n = check_int("n", n, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    epochs = check_int("epochs", epochs, low=0)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    per_epoch = math.ceil(n / batch_size)
    fixed = torch.randperm(n, generator=generator) if scheme == "shuffle_once" else torch.arange(n)
    for _ in range(epochs):
        if scheme == "with_replacement":
            for _ in range(per_epoch):
                yield torch.randint(0, n, (batch_size,), generator=generator)
            continue
        order = torch.randperm(n, generator=generator) if scheme == "reshuffle" else fixed
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]
