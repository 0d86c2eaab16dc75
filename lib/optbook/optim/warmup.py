r"""Linear warm-up followed by cosine decay of the learning rate (§8.8), for any optimiser.

:func:`warmup_cosine` is the schedule as a pure function of the step; :class:`WarmupCosineLR` is
the thin :class:`torch.optim.lr_scheduler.LRScheduler` that applies it to every parameter group
of any optimiser (torch's or optbook's), each group scaled from its own initial ``lr``.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_int, check_real

__all__ = ["WarmupCosineLR", "warmup_cosine"]


def _check_steps(warmup_steps, total_steps) -> tuple[int, int]:
    warmup_steps = check_int("warmup_steps", warmup_steps, low=0)
    total_steps = check_int("total_steps", total_steps, low=1)
    if total_steps <= warmup_steps:
        raise ValueError(
            f"total_steps must be > warmup_steps, got total_steps={total_steps!r}, "
            f"warmup_steps={warmup_steps!r}"
        )
    return warmup_steps, total_steps


def warmup_cosine(
    k: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0
) -> float:
    r"""The learning rate :math:`\epsilon_k` of step :math:`k = 0, 1, 2, \dots`:

    .. math::

        \epsilon_k = \begin{cases}
            \epsilon_0\, \dfrac{k+1}{W+1}, & k < W \quad\text{(linear warm-up)},\\[1ex]
            \epsilon_{\min} + \tfrac12(\epsilon_0 - \epsilon_{\min})
                \Bigl(1 + \cos\bigl(\pi\,\tfrac{k-W}{T-W}\bigr)\Bigr), & W \le k \le T
                \quad\text{(cosine decay)},\\[1ex]
            \epsilon_{\min}, & k > T,
        \end{cases}

    with :math:`\epsilon_0` = ``base_lr`` (the peak), :math:`W` = ``warmup_steps``,
    :math:`T` = ``total_steps`` and :math:`\epsilon_{\min}` = ``min_lr``. The warm-up climbs in
    :math:`W+1` equal steps from :math:`\epsilon_0/(W+1)` to the peak :math:`\epsilon_0`, reached
    at :math:`k = W` where the decay starts (so the first step is never taken with a zero rate);
    the decay reaches :math:`\epsilon_{\min}` at :math:`k = T` and stays there. ``W = 0`` is
    plain cosine decay (Loshchilov & Hutter's SGDR without restarts); the warm-up is Goyal et
    al.'s (2017) gradual warm-up.
    """
    k = check_int("k", k, low=0)
    base_lr = check_real("base_lr", base_lr, low=0.0, low_open=True)
    min_lr = check_real("min_lr", min_lr, low=0.0, high=base_lr)
    warmup_steps, total_steps = _check_steps(warmup_steps, total_steps)
    return _warmup_cosine(k, base_lr, warmup_steps, total_steps, min_lr)


def _warmup_cosine(k, base_lr, warmup_steps, total_steps, min_lr) -> float:
    if k < warmup_steps:
        return base_lr * (k + 1) / (warmup_steps + 1)
    if k >= total_steps:
        return min_lr
    progress = (k - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


class WarmupCosineLR(torch.optim.lr_scheduler.LRScheduler):
    r"""Linear warm-up for ``warmup_steps`` steps, then cosine decay to ``min_lr`` at
    ``total_steps`` (:func:`warmup_cosine`), on every parameter group of ``optimizer``.

    Each group's peak :math:`\epsilon_0` is its ``lr`` when the scheduler is created (kept in
    ``initial_lr``, as torch's schedulers do); ``min_lr`` is an absolute floor shared by all
    groups, like ``eta_min`` of :class:`torch.optim.lr_scheduler.CosineAnnealingLR`. Call
    :meth:`step` once after each ``optimizer.step()``; creating the scheduler already sets the
    rate of step 0.

    The rates are computed in closed form from the step count (never by multiplying the previous
    rate), so they do not drift and a group's ``lr`` written by hand is overwritten at the next
    step.

    Differs from torch's nearest equivalent,
    ``SequentialLR([LinearLR(start_factor=1/(W+1), total_iters=W),
    CosineAnnealingLR(T_max=T-W, eta_min=min_lr)], milestones=[W])``, only after :math:`T`:
    torch's cosine turns back up (it is periodic), ours stays at ``min_lr``. Up to :math:`T`
    the two give the same rates (the tests check it). Torch's ``LinearLR`` cannot start at
    zero; neither do we.

    Args:
        optimizer: any :class:`torch.optim.Optimizer`.
        warmup_steps: :math:`W \ge 0` steps of linear warm-up.
        total_steps: :math:`T > W`, the step at which the rate reaches ``min_lr``.
        min_lr: :math:`\epsilon_{\min} \ge 0`, at most every group's initial ``lr``.
        last_epoch: the index of the last step, to resume (torch's convention; -1 to start).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_steps: int,
        total_steps: int,
        min_lr: float = 0.0,
        last_epoch: int = -1,
    ):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        self.warmup_steps, self.total_steps = _check_steps(warmup_steps, total_steps)
        self.min_lr = check_real("min_lr", min_lr, low=0.0)
        check_int("last_epoch", last_epoch, low=-1)
        for i, group in enumerate(optimizer.param_groups):
            peak = group.get("initial_lr", group["lr"]) if last_epoch != -1 else group["lr"]
            if isinstance(peak, torch.Tensor):
                raise TypeError(f"param_groups[{i}]['lr'] must be a float, not a tensor")
            if self.min_lr > peak:
                raise ValueError(
                    f"min_lr must be <= every group's lr, got min_lr={self.min_lr!r} and "
                    f"param_groups[{i}]['lr']={peak!r}"
                )
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        k = max(self.last_epoch, 0)
        return [
            _warmup_cosine(k, base, self.warmup_steps, self.total_steps, self.min_lr)
            for base in self.base_lrs
        ]

    _get_closed_form_lr = get_lr
