r"""Curriculum learning (§8.7.6): show the easy examples first, then gradually the hard ones.

A curriculum needs two things (Bengio et al., 2009; Hacohen & Weinshall, 2019): a *difficulty
score* per example and a *pacing function* saying what fraction of the training set, easiest
first, may be sampled at step :math:`t`.

* :func:`centroid_margin`: a model-free score, how much closer an example lies to its own
  class's mean than to the nearest other class's mean (large = easy).
* :func:`class_balanced`: turns scores into ranks *within each class*, so that every pool of
  easiest examples holds every class in proportion (a global ranking can leave whole classes
  out of the early pools).
* :func:`linear_pacing`: the fraction grows linearly from ``start_fraction`` to 1.
* :func:`curriculum_batches`: minibatch indices drawn uniformly from the easiest fraction.

With ``start_fraction=1`` the batches are ordinary uniform minibatches, the baseline; negating
the scores gives an *anti*-curriculum (hardest first).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from optbook._validation import check_int, check_real

__all__ = ["centroid_margin", "class_balanced", "linear_pacing", "curriculum_batches"]


def centroid_margin(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Per example :math:`i` with class :math:`c`:
    :math:`\min_{k \ne c} \lVert x_i - \bar x_k \rVert - \lVert x_i - \bar x_c \rVert`, with
    :math:`\bar x_k` the mean of class :math:`k`. Positive where a nearest-centroid classifier
    is right; large for typical examples, small or negative for ambiguous ones."""
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        raise ValueError(f"X must be a 2-D tensor (n, features), got {getattr(X, 'shape', X)!r}")
    if not isinstance(y, torch.Tensor) or y.shape != (X.shape[0],) or y.dtype.is_floating_point:
        got = getattr(y, "shape", y)
        raise ValueError(f"y must be an integer tensor of shape ({X.shape[0]},), got {got!r}")
    classes = torch.unique(y)
    if classes.numel() < 2:
        raise ValueError(f"need at least two classes, got {classes.tolist()}")
    centroids = torch.stack([X[y == c].mean(0) for c in classes])
    dist = torch.cdist(X.double(), centroids.double())  # (n, classes)
    own = (y[:, None] == classes[None]).to(torch.bool)
    d_own = dist[own]
    d_other = dist.masked_fill(own, math.inf).min(1).values
    return d_other - d_own


def class_balanced(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Each example's quantile among the scores of its own class, :math:`(r + 1) / n_c` with
    :math:`r` its rank (0 for the lowest score) and :math:`n_c` its class's size: 1 for the
    easiest example of every class. Ties are broken by index."""
    if not isinstance(scores, torch.Tensor) or scores.ndim != 1:
        raise ValueError(f"scores must be a 1-D tensor, got {getattr(scores, 'shape', scores)!r}")
    if not isinstance(y, torch.Tensor) or y.shape != scores.shape or y.dtype.is_floating_point:
        got = getattr(y, "shape", y)
        raise ValueError(f"y must be an integer tensor of shape {tuple(scores.shape)}, got {got!r}")
    q = torch.empty(scores.shape, dtype=torch.float64)
    for c in torch.unique(y):
        idx = (y == c).nonzero().squeeze(1)
        rank = torch.argsort(torch.argsort(scores[idx], stable=True), stable=True)
        q[idx] = (rank.double() + 1.0) / idx.numel()
    return q


def linear_pacing(step: int, steps: int, start_fraction: float, ramp_fraction: float = 0.5) -> float:
    r"""The fraction of the (sorted) training set available at ``step`` of ``steps``:
    ``start_fraction`` at step 0, rising linearly to 1 at step ``ramp_fraction * steps``, then 1."""
    step = check_int("step", step, low=0)
    steps = check_int("steps", steps, low=1)
    start_fraction = check_real("start_fraction", start_fraction, low=0.0, high=1.0, low_open=True)
    ramp_fraction = check_real("ramp_fraction", ramp_fraction, low=0.0, high=1.0)
    ramp = ramp_fraction * steps
    if ramp == 0 or step >= ramp:
        return 1.0
    return start_fraction + (1.0 - start_fraction) * step / ramp


def curriculum_batches(
    scores: torch.Tensor,
    batch_size: int,
    steps: int,
    *,
    start_fraction: float = 0.2,
    ramp_fraction: float = 0.5,
    generator: torch.Generator,
) -> Iterator[torch.Tensor]:
    """``steps`` minibatches of example indices, easiest (highest ``scores``) first.

    At step :math:`t` the pool is the :math:`\\lceil f(t)\\, n \\rceil` highest-scoring examples
    (at least ``batch_size``), :math:`f` = :func:`linear_pacing`; each batch is drawn from the
    pool uniformly without replacement. Ties in ``scores`` are broken by index (stable sort).
    """
    if not isinstance(scores, torch.Tensor) or scores.ndim != 1 or scores.numel() == 0:
        raise ValueError(f"scores must be a non-empty 1-D tensor, got {getattr(scores, 'shape', scores)!r}")
    n = scores.numel()
    batch_size = check_int("batch_size", batch_size, low=1, high=n)
    steps = check_int("steps", steps, low=0)
    linear_pacing(0, 1, start_fraction, ramp_fraction)  # validates both fractions
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    order = torch.sort(scores, descending=True, stable=True).indices
    for t in range(steps):
        fraction = linear_pacing(t, max(steps, 1), start_fraction, ramp_fraction)
        pool = max(batch_size, math.ceil(fraction * n - 1e-9))
        pick = torch.randperm(pool, generator=generator)[:batch_size]
        yield order[pick]
