r"""RAdam: Adam with the variance of its adaptive learning rate rectified (Liu et al. 2020), §8.8.

The arithmetic reuses Adam's pieces (:func:`~optbook.optim.accumulate_squares_`,
:func:`~optbook.optim.rms`); what is new is the rectification term :math:`r_t`
(:func:`radam_rectification`), a function of the step count alone.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_int, check_real
from .adaptive import _Adaptive, _check_betas, _check_lr_eps, _zeros, accumulate_squares_, rms

__all__ = ["RAdam", "radam_update_", "radam_rho", "radam_rectification"]


def _check_t_beta2(t, beta2) -> tuple[int, float]:
    return (
        check_int("t", t, low=1),
        check_real("beta2", beta2, low=0.0, high=1.0, high_open=True),
    )


def radam_rho(t: int, beta2: float) -> float:
    r""":math:`\rho_t = \rho_\infty - \frac{2 t \rho_2^t}{1-\rho_2^t}`, with
    :math:`\rho_\infty = \frac{2}{1-\rho_2} - 1`: the length of the simple moving average that
    Adam's exponential average of :math:`g^2` approximates after :math:`t` steps (Liu et al.
    2020, eqs. 5–6). It grows from 1 at :math:`t = 1` to :math:`\rho_\infty` (1999 for
    :math:`\rho_2 = 0.999`); for small :math:`t`, :math:`\rho_t \approx t`."""
    t, beta2 = _check_t_beta2(t, beta2)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    b = beta2**t
    return rho_inf - 2.0 * t * b / (1.0 - b)


def radam_rectification(t: int, beta2: float) -> float:
    r"""The variance rectification term of RAdam (Liu et al. 2020, eq. 8 and Algorithm 2):

    .. math::

        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}
                          {(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}}
        \quad (\rho_t > 4),

    with :math:`\rho_t` from :func:`radam_rho`. It is :math:`\sqrt{\operatorname{Var}[\psi_\infty]
    /\operatorname{Var}[\psi_t]}`, the ratio of standard deviations of the adaptive learning rate
    :math:`\psi = 1/\sqrt{\hat r}` once converged and at step :math:`t` (for gradients with a
    scaled inverse :math:`\chi^2` model): multiplying Adam's step by :math:`r_t` gives every step
    the variance of the last ones. Below :math:`\rho_t \le 4` that variance is infinite and
    :math:`r_t` is undefined: this returns ``nan`` there (RAdam then takes an un-adapted
    momentum step). :math:`r_t` rises from 0 towards 1 over the first few thousand steps for
    :math:`\rho_2 = 0.999`, which is the argument that Adam needs a warm-up.
    """
    rho_t = radam_rho(t, beta2)
    if rho_t <= 4.0:
        return math.nan
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def radam_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    s: torch.Tensor,
    r: torch.Tensor,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    t: int,
    threshold: float = 5.0,
) -> None:
    r"""One step of RAdam, in place on ``theta``, ``s`` and ``r``; ``t`` counts this step:

    .. math:: s \leftarrow \rho_1 s + (1-\rho_1) g, \qquad
              r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g, \qquad
              \hat s = \frac{s}{1-\rho_1^t},

    .. math:: \theta \leftarrow \theta - \epsilon\, r_t\, \hat s \odot
              \frac{\sqrt{1-\rho_2^t}}{\sqrt r + \delta} \quad (\rho_t > \text{threshold}),
              \qquad \theta \leftarrow \theta - \epsilon\, \hat s \quad \text{otherwise}.
    """
    rho1, rho2 = betas
    s.lerp_(g, 1.0 - rho1)
    accumulate_squares_(r, g, rho2)
    c1 = 1.0 - rho1**t
    if radam_rho(t, rho2) > threshold:
        rect = radam_rectification(t, rho2)
        c2 = 1.0 - rho2**t
        theta.addcdiv_(s, rms(r, eps, eps_in_sqrt=False), value=-lr * rect * math.sqrt(c2) / c1)
    else:
        theta.add_(s, alpha=-lr / c1)


class RAdam(_Adaptive):
    r"""RAdam, "Rectified Adam" (Liu et al. 2020, Algorithm 2).

    Let :math:`\epsilon` be ``lr``, :math:`\rho_1, \rho_2` be ``betas`` and :math:`\delta` be
    ``eps``. Each :meth:`step` applies, to every parameter with a gradient :math:`g`,

    .. math::

        s \leftarrow \rho_1 s + (1-\rho_1) g, \qquad
        r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g, \qquad
        \hat s = \frac{s}{1-\rho_1^t},

    then, with :math:`\rho_t` and :math:`r_t` from :func:`radam_rho` and
    :func:`radam_rectification`,

    .. math::

        \theta \leftarrow \begin{cases}
            \theta - \epsilon\, r_t\, \hat s \odot \dfrac{\sqrt{1-\rho_2^t}}{\sqrt r + \delta},
                & \rho_t > 5, \\[1ex]
            \theta - \epsilon\, \hat s, & \text{otherwise (SGD with momentum)}.
        \end{cases}

    The state (``s``, ``r``, ``t``) is Adam's. In the first steps Adam's :math:`\hat r` is an
    average of very few squared gradients, so its adaptive learning rate
    :math:`1/\sqrt{\hat r}` has a huge (for :math:`\rho_t \le 4`, infinite) variance; RAdam
    takes plain momentum steps until :math:`\rho_t` passes the threshold, then scales Adam's step
    by :math:`r_t < 1`, which rises to 1. The effect is a built-in, data-independent warm-up of
    the adaptive step: for :math:`\rho_2 = 0.999`, :math:`r_t` is about 0.05 at
    :math:`t = 10`, 0.2 at :math:`t = 100` and 0.65 at :math:`t = 1000`
    (:func:`radam_rectification`).

    Differs from the paper: Algorithm 2 switches at :math:`\rho_t > 4` and has no
    :math:`\delta`; the authors' code and :class:`torch.optim.RAdam` switch at
    :math:`\rho_t > 5` and add :math:`\delta` to :math:`\sqrt{r}` *before* the bias
    correction, i.e. :math:`\sqrt{1-\rho_2^t}/(\sqrt r + \delta)`, which is
    :math:`1/(\sqrt{\hat r} + \delta/\sqrt{1-\rho_2^t})`, not Adam's
    :math:`1/(\sqrt{\hat r}+\delta)`. We follow torch (trajectories equal to
    :class:`torch.optim.RAdam`'s, to rounding); ``threshold=4.0`` gives the paper's switch.
    Torch's ``weight_decay``, ``decoupled_weight_decay`` and ``maximize`` are not offered.
    Stricter than torch: ``lr``, ``eps`` finite and positive, ``betas`` in :math:`[0, 1)`.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: the step size :math:`\epsilon > 0`.
        betas: :math:`(\rho_1, \rho_2)`, decay rates of the first and second moment, in [0, 1).
        eps: :math:`\delta > 0`, added to :math:`\sqrt r`.
        threshold: the rectified step is taken when :math:`\rho_t >` ``threshold``
            (:math:`\ge 4`; torch: 5, the paper: 4).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        threshold: float = 5.0,
    ):
        defaults = dict(lr=lr, betas=betas, eps=eps, threshold=threshold)
        super().__init__(params, self._check(defaults))

    @staticmethod
    def _check(options):
        checked = _check_lr_eps(options)
        checked["betas"] = _check_betas(options["betas"])
        checked["threshold"] = check_real("threshold", options["threshold"], low=4.0)
        return checked

    def _init_state(self, state, p, group):
        state["s"] = _zeros(p)
        state["r"] = _zeros(p)

    def _update(self, p, g, state, group):
        radam_update_(
            p,
            g,
            state["s"],
            state["r"],
            lr=group["lr"],
            betas=group["betas"],
            eps=group["eps"],
            t=state["t"],
            threshold=group["threshold"],
        )
