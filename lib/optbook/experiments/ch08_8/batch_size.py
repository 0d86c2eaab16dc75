r"""Steps to a target loss against the batch size: the linear scaling rule (Goyal et al. 2017)
and the critical batch size (McCandlish et al. 2018), §8.8.

For every batch size :math:`B` and every learning rate of a grid, :func:`steps_to_target` trains
plain minibatch SGD (:class:`optbook.optim.SGD`, a short linear warm-up, then constant) and
records the first step at which the loss on the whole training set is below a target; the best
learning rate is the one that gets there first. McCandlish et al. predict, for the best rate,

.. math:: S(B) = S_{\min}\,\Bigl(1 + \frac{B_{\mathrm{crit}}}{B}\Bigr),

steps that halve when :math:`B` doubles while :math:`B \ll B_{\mathrm{crit}}` (the linear scaling
regime, where the best rate grows like :math:`B`) and stop falling once :math:`B \gg B_{\mathrm{crit}}`;
:func:`fit_critical_batch` fits :math:`S_{\min}` and :math:`B_{\mathrm{crit}}`, to be compared
with the measured noise scale :math:`B_{\mathrm{noise}} = \operatorname{tr}\Sigma/\lVert G\rVert^2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from optbook._validation import check_int, check_real
from optbook.data import Split
from optbook.optim import SGD

from .stacked import train_stacked

__all__ = ["BatchSizeSweep", "steps_to_target", "fit_critical_batch", "geometric_steps"]


def geometric_steps(max_steps: int, ratio: float = 1.05) -> list[int]:
    """0, 1, 2, … then steps growing by ``ratio`` up to ``max_steps``: where to evaluate the loss
    so that a first hitting time is known to a relative precision of ``ratio - 1``."""
    max_steps = check_int("max_steps", max_steps, low=1)
    ratio = check_real("ratio", ratio, low=1.0, low_open=True)
    out, s = [0], 1.0
    while s <= max_steps:
        out.append(int(round(s)))
        s = max(s * ratio, s + 1)
    return sorted(set(out) | {max_steps})


@dataclass
class BatchSizeSweep:
    """``hits[b, l, s]``: first evaluated step at which batch size ``batch_sizes[b]`` with
    learning rate ``lrs[l]`` and seed ``s`` had a training loss below ``target`` (``inf`` if it
    never did within the budget, or was not needed: each batch size stops once its fastest
    learning rate is known)."""

    batch_sizes: np.ndarray
    lrs: np.ndarray
    target: float
    hits: np.ndarray

    @property
    def mean_hits(self) -> np.ndarray:
        """Steps to the target averaged over seeds, ``[b, l]`` (``inf`` if a seed missed)."""
        return self.hits.mean(-1)

    @property
    def best_lr(self) -> np.ndarray:
        """The learning rate that reached the target first, per batch size."""
        return self.lrs[np.argmin(self.mean_hits, axis=1)]

    @property
    def best_steps(self) -> np.ndarray:
        """Steps to the target with the best learning rate, per batch size."""
        return self.mean_hits.min(axis=1)


def steps_to_target(
    batch_sizes: Sequence[int],
    lrs: Sequence[float],
    target: float,
    train: Split,
    val: Split,
    sizes: Sequence[int] = (64, 64, 10),
    max_steps: int = 2000,
    seeds: Sequence[int] = (0, 1),
    warmup_steps: int = 10,
    ratio: float = 1.1,
    n_eval: int | None = None,
) -> BatchSizeSweep:
    r"""For every batch size, all learning rates and seeds in one batched run (one network
    each), minibatches drawn with replacement; the rate climbs linearly from a tenth of its
    value over ``warmup_steps`` steps (Goyal et al.'s gradual warm-up), then stays constant.
    The training loss is evaluated at :func:`geometric_steps` (``ratio``), on the first
    ``n_eval`` training examples (default: all of them)."""
    bs = [check_int("batch size", b, low=1) for b in batch_sizes]
    lrs_arr = np.array([check_real("lr", v, low=0.0, low_open=True) for v in lrs])
    target = check_real("target", target, low=0.0, low_open=True)
    warmup_steps = check_int("warmup_steps", warmup_steps, low=1)
    if not bs or lrs_arr.size == 0:
        raise ValueError("batch_sizes and lrs must each hold at least one value")
    evals = geometric_steps(max_steps, ratio)
    n_eval = len(train) if n_eval is None else check_int("n_eval", n_eval, low=1, high=len(train))
    ev = Split(train.X[:n_eval], train.y[:n_eval])
    hits = np.full((len(bs), len(lrs_arr), len(seeds)), np.inf)
    for i, B in enumerate(bs):
        run = train_stacked(
            [{"lr": float(lr)} for lr in lrs_arr], lambda groups: SGD(groups, lr=float(lrs_arr[0])),
            train, val, sizes, max_steps, B, seeds,
            make_scheduler=lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 0.1, 1.0, warmup_steps),
            eval_at=evals, stop_below=target, eval_data=ev)
        below = run.eval_loss < target  # (evals, lrs, seeds); NaN (diverged) compares False
        reached = below.any(0)
        first = np.argmax(below, axis=0)
        hits[i] = np.where(reached, run.eval_steps[first], np.inf)
    return BatchSizeSweep(np.array(bs), lrs_arr, target, hits)


def fit_critical_batch(batch_sizes: Sequence[float], steps: Sequence[float]) -> tuple[float, float]:
    r"""Least-squares fit of :math:`S = S_{\min}(1 + B_{\mathrm{crit}}/B)` in relative error
    (each equation divided by the measured :math:`S`); returns :math:`(S_{\min}, B_{\mathrm{crit}})`.
    The model is linear in :math:`(S_{\min}, S_{\min}B_{\mathrm{crit}})`, so the fit is exact
    linear least squares. Points with infinite steps are refused."""
    B = np.asarray(batch_sizes, dtype=float)
    S = np.asarray(steps, dtype=float)
    if B.shape != S.shape or B.ndim != 1 or len(B) < 2:
        raise ValueError(f"batch_sizes and steps must be two 1-D arrays of equal length >= 2, got "
                         f"shapes {B.shape} and {S.shape}")
    if not np.all(np.isfinite(S)) or np.any(S <= 0) or np.any(B <= 0):
        raise ValueError(f"batch sizes and steps must be finite and positive, got {B!r}, {S!r}")
    A = np.stack([np.ones_like(B), 1.0 / B], axis=1) / S[:, None]
    (a, b), *_ = np.linalg.lstsq(A, np.ones_like(S), rcond=None)
    return float(a), float(b / a)
