r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), §8.8.

The arithmetic is Adam's (:func:`~optbook.optim.adam_update_`, Algorithm 8.7) preceded by one
multiplicative shrink of the weights, :func:`decay_weights_`. Nothing of Adam is copied here.
"""

from __future__ import annotations

import torch

from .._validation import check_real
from .adaptive import Adam, adam_update_

__all__ = ["AdamW", "adamw_update_", "decay_weights_"]


def decay_weights_(theta: torch.Tensor, *, lr: float, weight_decay: float) -> None:
    r"""In place: :math:`\theta \leftarrow (1 - \epsilon\lambda)\,\theta`, decoupled weight decay.

    Symbol map: :math:`\epsilon` = ``lr``, :math:`\lambda` = ``weight_decay``. A no-op when
    :math:`\lambda = 0`.
    """
    if weight_decay != 0.0:
        theta.mul_(1.0 - lr * weight_decay)


def adamw_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    s: torch.Tensor,
    r: torch.Tensor,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    t: int,
    weight_decay: float,
) -> None:
    r"""One step of AdamW, in place on ``theta``, ``s`` and ``r``; ``t`` counts this step:

    .. math:: \theta \leftarrow (1 - \epsilon\lambda)\,\theta, \qquad
              \text{then Adam's step (Algorithm 8.7) with the gradient } g \text{ unchanged.}

    The gradient ``g`` is that of the loss *without* any penalty: the decay never enters
    :math:`s` or :math:`r`.
    """
    decay_weights_(theta, lr=lr, weight_decay=weight_decay)
    adam_update_(theta, g, s, r, lr=lr, betas=betas, eps=eps, t=t)


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, Algorithm 2).

    Let :math:`\epsilon` be ``lr``, :math:`\rho_1, \rho_2` be ``betas``, :math:`\delta` be
    ``eps`` and :math:`\lambda` be ``weight_decay``. Each :meth:`step` applies, to every
    parameter with a gradient :math:`g` of the *unpenalised* loss,

    .. math::

        \theta \leftarrow (1 - \epsilon\lambda)\,\theta, \qquad
        s \leftarrow \rho_1 s + (1-\rho_1) g, \qquad
        r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g,

    .. math::

        \theta \leftarrow \theta - \epsilon\,
        \frac{s/(1-\rho_1^t)}{\sqrt{r/(1-\rho_2^t)} + \delta},

    i.e. :func:`decay_weights_` followed by Adam's step (:class:`~optbook.optim.Adam`, same
    state ``s``, ``r``, ``t``).

    **Why L2 in Adam is not weight decay.** For plain SGD, adding :math:`\tfrac{\lambda'}{2}
    \lVert\theta\rVert^2` to the loss and shrinking the weights are the same thing:
    :math:`\theta - \epsilon(g + \lambda'\theta) = (1-\epsilon\lambda')\theta - \epsilon g`.
    In Adam the penalty's gradient :math:`\lambda'\theta` joins :math:`g` *before* the
    division by :math:`\sqrt{\hat r}+\delta`, so coordinate :math:`i` is pulled back by about
    :math:`\epsilon\lambda'\theta_i/(\sqrt{\hat r_i}+\delta)`: weights whose gradients have been
    large (large :math:`\hat r_i`) are barely regularised, those with small gradients very
    strongly, and the strength of the regularisation is tied to the learning rate's
    normalisation. The penalty also pollutes :math:`s` and :math:`r`. Decoupling applies
    the same relative shrink :math:`\epsilon\lambda` to every weight, outside the adaptive
    normalisation, which is what "weight decay" meant for SGD; Loshchilov & Hutter show that it
    makes the good values of :math:`\epsilon` and :math:`\lambda` nearly independent.

    Differs from the paper: Loshchilov & Hutter write the decay as :math:`\eta_t\lambda\theta`
    with :math:`\eta_t` the schedule *multiplier* and a separate base rate :math:`\alpha`;
    here, as in :class:`torch.optim.AdamW`, the decay is :math:`\epsilon\lambda\theta` with
    :math:`\epsilon` = ``lr`` (schedule included), so our :math:`\lambda` is theirs divided by
    :math:`\alpha`. The trajectory equals :class:`torch.optim.AdamW`'s (torch's defaults,
    ``amsgrad=False``), to rounding. Torch's ``amsgrad`` and ``maximize`` are not offered.
    Stricter than torch: ``lr``, ``eps`` finite and positive, ``betas`` in :math:`[0, 1)`,
    ``weight_decay`` finite and :math:`\ge 0`, and :math:`\epsilon\lambda \le 1` (a larger
    product would flip the weights' sign every step).

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: the step size :math:`\epsilon > 0`.
        betas: :math:`(\rho_1, \rho_2)`, decay rates of the first and second moment, in [0, 1).
        eps: :math:`\delta > 0`, added to :math:`\sqrt{\hat r}`.
        weight_decay: :math:`\lambda \ge 0`; each step multiplies the weights by
            :math:`1-\epsilon\lambda`.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, bias_correction=True
        )
        torch.optim.Optimizer.__init__(self, params, self._check(defaults))

    @staticmethod
    def _check(options):
        checked = Adam._check(options)
        checked["weight_decay"] = check_weight_decay(checked["lr"], options["weight_decay"])
        return checked

    def _update(self, p, g, state, group):
        decay_weights_(p, lr=group["lr"], weight_decay=group["weight_decay"])
        super()._update(p, g, state, group)


def check_weight_decay(lr: float, weight_decay) -> float:
    """``weight_decay`` as a float, finite and >= 0, with ``lr * weight_decay <= 1``."""
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    if lr * weight_decay > 1.0:
        raise ValueError(
            f"lr * weight_decay must be <= 1 (the weights are multiplied by 1 - lr * "
            f"weight_decay each step), got lr={lr!r}, weight_decay={weight_decay!r}"
        )
    return weight_decay
