r"""Learning-rate schedules of §8.3.1.

The book decays the learning rate linearly until iteration :math:`\tau`, then holds it:

.. math::

    \epsilon_k = \left(1 - \frac{k}{\tau}\right)\epsilon_0 + \frac{k}{\tau}\,\epsilon_\tau
    \quad (k \le \tau), \qquad \epsilon_k = \epsilon_\tau \quad (k > \tau).

Symbol map: :math:`\epsilon_0` = ``lr0``, :math:`\epsilon_\tau` = ``lr_tau``,
:math:`\tau` = ``tau``, :math:`k` = ``k`` (the number of updates taken so far).
"""

from __future__ import annotations

import torch

from optbook._validation import check_int, check_real

__all__ = ["linear_decay", "LinearDecayLR", "robbins_monro_sums"]


def linear_decay(k: int, lr0: float, lr_tau: float, tau: int) -> float:
    r"""The learning rate :math:`\epsilon_k` of the book's linear decay (see module docstring)."""
    k = check_int("k", k, low=0)
    lr0 = check_real("lr0", lr0, low=0.0, low_open=True)
    lr_tau = check_real("lr_tau", lr_tau, low=0.0)
    tau = check_int("tau", tau, low=1)
    if k >= tau:
        return lr_tau
    a = k / tau
    return (1.0 - a) * lr0 + a * lr_tau


class LinearDecayLR(torch.optim.lr_scheduler.LRScheduler):
    r"""The book's linear decay as a torch LR scheduler.

    Each parameter group's initial ``lr`` plays :math:`\epsilon_0`; after ``k`` calls of
    :meth:`step` the group's learning rate is :func:`linear_decay` ``(k, lr0, lr_tau, tau)``,
    computed in closed form (no drift from repeated multiplication).
    Equivalent to ``torch.optim.lr_scheduler.LinearLR(opt, 1.0, lr_tau / lr0, tau)``;
    the book's form names the final rate instead of a factor. The book suggests
    :math:`\epsilon_\tau \approx \epsilon_0 / 100` and :math:`\tau` of a few hundred epochs.
    """

    def __init__(self, optimizer, tau: int, lr_tau: float, last_epoch: int = -1):
        self.tau = check_int("tau", tau, low=1)
        self.lr_tau = check_real("lr_tau", lr_tau, low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        k = max(self.last_epoch, 0)
        return [linear_decay(k, lr0, self.lr_tau, self.tau) for lr0 in self.base_lrs]


def robbins_monro_sums(lrs) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Running sums :math:`\sum_{k\le K} \epsilon_k` and :math:`\sum_{k\le K} \epsilon_k^2`.

    The classical sufficient conditions for SGD to converge (Robbins and Monro, 1951) are
    :math:`\sum_k \epsilon_k = \infty` and :math:`\sum_k \epsilon_k^2 < \infty`; these partial
    sums let a reader watch one grow without bound while the other levels off.
    """
    lrs = torch.as_tensor(lrs, dtype=torch.float64)
    if lrs.ndim != 1 or lrs.numel() == 0:
        raise ValueError(f"lrs must be a non-empty 1-D sequence, got shape {tuple(lrs.shape)}")
    return torch.cumsum(lrs, 0), torch.cumsum(lrs**2, 0)
