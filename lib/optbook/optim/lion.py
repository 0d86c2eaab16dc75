r"""Lion, the sign-momentum optimiser found by program search (Chen et al. 2023), §8.8."""

from __future__ import annotations

import torch

from .._validation import check_real
from .adamw import check_weight_decay, decay_weights_
from .adaptive import _Adaptive, _check_betas, _zeros

__all__ = ["Lion", "lion_update_"]


def lion_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    *,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
) -> None:
    r"""One step of Lion (Chen et al. 2023, Algorithm 2), in place on ``theta`` and ``m``:

    .. math:: c \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
              \theta \leftarrow \theta - \epsilon\,\bigl(\operatorname{sign}(c) + \lambda\theta\bigr),
              \qquad m \leftarrow \beta_2 m + (1-\beta_2) g.

    Symbol map: :math:`\epsilon` = ``lr`` (the paper's :math:`\eta`), :math:`\beta_1, \beta_2` =
    ``betas``, :math:`\lambda` = ``weight_decay``, :math:`m` = ``m``. ``sign(0) = 0``.
    """
    beta1, beta2 = betas
    c = m.lerp(g, 1.0 - beta1)  # the interpolation that is signed (not stored)
    decay_weights_(theta, lr=lr, weight_decay=weight_decay)  # θ − ελθ uses the old θ
    theta.add_(c.sign_(), alpha=-lr)
    m.lerp_(g, 1.0 - beta2)


class Lion(_Adaptive):
    r"""Lion, "EvoLved Sign Momentum" (Chen et al. 2023, Algorithm 2).

    Let :math:`\epsilon` be ``lr``, :math:`\beta_1, \beta_2` be ``betas`` and :math:`\lambda` be
    ``weight_decay``. Each :meth:`step` applies, to every parameter with a gradient :math:`g`,

    .. math::

        c \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        \theta \leftarrow \theta - \epsilon\,\bigl(\operatorname{sign}(c) + \lambda\theta\bigr),
        \qquad m \leftarrow \beta_2 m + (1-\beta_2) g,

    with the momentum :math:`m` starting at zero in ``state[p]["m"]``. Every coordinate moves by
    exactly :math:`\pm\epsilon` (or 0) plus the decay: the update has the same size whatever the
    gradient's scale, which is why Lion wants a learning rate 3–10× smaller than AdamW's and a
    :math:`\lambda` as much larger (the paper's advice). Two betas do two jobs: :math:`\beta_1`
    mixes the current gradient into the direction that is signed, :math:`\beta_2` is the slower
    memory that is kept. Only one buffer is stored (AdamW keeps two).

    Differs from the paper only in names (its :math:`\eta` is our :math:`\epsilon`; its
    :math:`\eta_t` schedule is whatever sets ``lr``). Torch has no Lion. Stricter than the
    reference code: ``lr`` finite and positive, ``betas`` in :math:`[0, 1)`, ``weight_decay``
    finite, :math:`\ge 0` and with :math:`\epsilon\lambda \le 1`.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: the step size :math:`\epsilon > 0` (the paper's default is 1e-4).
        betas: :math:`(\beta_1, \beta_2)` in [0, 1): interpolation for the signed direction and
            decay rate of the momentum.
        weight_decay: decoupled weight decay :math:`\lambda \ge 0`, applied as
            :math:`\theta \leftarrow (1-\epsilon\lambda)\theta`.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ):
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay)
        super().__init__(params, self._check(defaults))

    @staticmethod
    def _check(options):
        lr = check_real("lr", options["lr"], low=0.0, low_open=True)
        return dict(
            lr=lr,
            betas=_check_betas(options["betas"]),
            weight_decay=check_weight_decay(lr, options["weight_decay"]),
        )

    def _init_state(self, state, p, group):
        state["m"] = _zeros(p)

    def _update(self, p, g, state, group):
        lion_update_(
            p,
            g,
            state["m"],
            lr=group["lr"],
            betas=group["betas"],
            weight_decay=group["weight_decay"],
        )
