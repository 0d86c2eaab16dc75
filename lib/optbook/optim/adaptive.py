r"""Algorithms with adaptive learning rates (§8.5): AdaGrad, RMSProp, AdaDelta and Adam.

The four share their steps, and each shared step is written once:

* :func:`accumulate_squares_` — the squared-gradient accumulator
  :math:`r \leftarrow \rho r + (1-\rho)\, g \odot g` (AdaGrad's plain sum
  :math:`r \leftarrow r + g \odot g` when ``rho is None``; AdaDelta also runs it on its steps);
* :func:`rms` — the denominator, :math:`\sqrt{\delta + r}` or :math:`\delta + \sqrt{r}`,
  optionally bias-corrected;
* momentum and Nesterov momentum come from :func:`optbook.optim.sgd_update_`, applied to the
  rescaled gradient (RMSProp with momentum, Algorithm 8.6).

Each algorithm is then a few lines in its own ``*_update_`` function, and each optimiser class
only feeds that function. Symbols follow the book (and ``book/notation.md``): :math:`\epsilon`
is the learning rate ``lr``, :math:`\delta` the small constant ``eps``, :math:`\rho` the decay
rate ``rho``, :math:`\rho_1, \rho_2` Adam's ``betas``, :math:`r` the accumulated squared
gradient, :math:`s` Adam's first moment, :math:`v` the velocity and :math:`t` the step count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._validation import check_bool, check_real
from ._eager import EagerOptimizer
from .sgd import sgd_update_

__all__ = [
    "AdaGrad",
    "RMSProp",
    "AdaDelta",
    "Adam",
    "accumulate_squares_",
    "rms",
    "adagrad_update_",
    "rmsprop_update_",
    "adadelta_update_",
    "adam_update_",
]


# --- shared steps --------------------------------------------------------------------------


def accumulate_squares_(r: torch.Tensor, x: torch.Tensor, rho: float | None) -> None:
    r"""In place: :math:`r \leftarrow \rho r + (1-\rho)\, x \odot x`, or :math:`r \leftarrow r + x
    \odot x` when ``rho is None`` (AdaGrad's running sum, Algorithm 8.4 line 5)."""
    if rho is None:
        r.addcmul_(x, x)
    else:
        r.mul_(rho).addcmul_(x, x, value=1.0 - rho)


def rms(r: torch.Tensor, eps: float, *, eps_in_sqrt: bool, correction: float = 1.0) -> torch.Tensor:
    r"""A new tensor :math:`\sqrt{\delta + r/c}` (``eps_in_sqrt=True``) or
    :math:`\delta + \sqrt{r/c}` (``False``), with :math:`c` = ``correction``.

    ``correction`` is the bias correction :math:`1 - \rho^t` (Algorithm 8.7 line 10); 1 means none.
    """
    if eps_in_sqrt:
        out = r.add(eps) if correction == 1.0 else r.div(correction).add_(eps)
        return out.sqrt_()
    out = r.sqrt()
    if correction != 1.0:
        out.div_(math.sqrt(correction))
    return out.add_(eps)


# --- the algorithms, one small function each -------------------------------------------------


def adagrad_update_(
    theta: torch.Tensor, g: torch.Tensor, r: torch.Tensor, *, lr: float, eps: float
):
    r"""One step of AdaGrad (Algorithm 8.4), in place on ``theta`` and ``r``:

    .. math:: r \leftarrow r + g \odot g, \qquad
              \theta \leftarrow \theta - \frac{\epsilon}{\delta + \sqrt{r}} \odot g.
    """
    accumulate_squares_(r, g, None)
    theta.addcdiv_(g, rms(r, eps, eps_in_sqrt=False), value=-lr)


def rmsprop_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    r: torch.Tensor,
    v: torch.Tensor | None,
    *,
    lr: float,
    rho: float,
    eps: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    eps_in_sqrt: bool = True,
    correction: float = 1.0,
):
    r"""One step of RMSProp (Algorithm 8.5; with ``nesterov=True``, Algorithm 8.6), in place.

    .. math:: r \leftarrow \rho r + (1-\rho)\, g \odot g, \qquad
              \tilde g = \frac{g}{\sqrt{\delta + r}}, \qquad
              \theta \leftarrow \theta - \epsilon \tilde g \quad (\alpha = 0),

    and with momentum :math:`\alpha` = ``momentum`` > 0 the SGD momentum step of
    :func:`~optbook.optim.sgd_update_` on :math:`\tilde g`: :math:`v \leftarrow \alpha v -
    \epsilon \tilde g`, :math:`\theta \leftarrow \theta + v` (Nesterov: ``theta`` holds the
    look-ahead point, exactly as in :class:`~optbook.optim.SGD`). ``eps_in_sqrt=False`` uses
    :math:`\delta + \sqrt{r}` instead; ``correction`` divides :math:`r` by :math:`1-\rho^t`.
    """
    accumulate_squares_(r, g, rho)
    denom = rms(r, eps, eps_in_sqrt=eps_in_sqrt, correction=correction)
    if momentum == 0.0:
        theta.addcdiv_(g, denom, value=-lr)  # sgd_update_ with α = 0, division fused in
    else:
        g_tilde = torch.div(g, denom, out=denom)
        sgd_update_(theta, g_tilde, v, lr=lr, momentum=momentum, nesterov=nesterov)


def adadelta_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    r: torch.Tensor,
    r_delta: torch.Tensor,
    *,
    lr: float,
    rho: float,
    eps: float,
):
    r"""One step of AdaDelta (Zeiler 2012, Algorithm 1), in place on ``theta``, ``r``, ``r_delta``.

    With :math:`r = E[g^2]` and ``r_delta`` :math:`= E[\Delta\theta^2]`:

    .. math:: r_t = \rho r_{t-1} + (1-\rho) g_t^2, \qquad
              \Delta\theta_t = -\frac{\sqrt{E[\Delta\theta^2]_{t-1} + \delta}}{\sqrt{r_t + \delta}}
              \odot g_t,

    .. math:: E[\Delta\theta^2]_t = \rho E[\Delta\theta^2]_{t-1} + (1-\rho) \Delta\theta_t^2,
              \qquad \theta_{t+1} = \theta_t + \epsilon \Delta\theta_t.
    """
    accumulate_squares_(r, g, rho)
    step = rms(r_delta, eps, eps_in_sqrt=True)  # RMS[Δθ]_{t-1}; becomes -Δθ_t
    step.div_(rms(r, eps, eps_in_sqrt=True)).mul_(g)
    accumulate_squares_(r_delta, step, rho)  # the sign does not matter for a square
    theta.add_(step, alpha=-lr)


def adam_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    s: torch.Tensor,
    r: torch.Tensor,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    t: int,
    bias_correction: bool = True,
):
    r"""One step of Adam (Algorithm 8.7), in place on ``theta``, ``s`` and ``r``; ``t`` counts
    this step (1 on the first call):

    .. math:: s \leftarrow \rho_1 s + (1-\rho_1) g, \qquad
              r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g,

    .. math:: \hat s = \frac{s}{1-\rho_1^t}, \qquad \hat r = \frac{r}{1-\rho_2^t}, \qquad
              \theta \leftarrow \theta - \epsilon \frac{\hat s}{\sqrt{\hat r} + \delta}.

    ``bias_correction=False`` skips lines 9–10 (:math:`\hat s = s`, :math:`\hat r = r`).
    """
    rho1, rho2 = betas
    s.lerp_(g, 1.0 - rho1)  # = ρ₁ s + (1 − ρ₁) g in one pass; exactly g when ρ₁ = 0
    accumulate_squares_(r, g, rho2)
    c1, c2 = (1.0 - rho1**t, 1.0 - rho2**t) if bias_correction else (1.0, 1.0)
    theta.addcdiv_(s, rms(r, eps, eps_in_sqrt=False, correction=c2), value=-lr / c1)


# --- the optimisers --------------------------------------------------------------------------


class _Adaptive(EagerOptimizer):
    """What the four classes share: validation of every parameter group, lazy state with a step
    count ``t``, the ``step(closure)`` loop, and refusal of sparse gradients."""

    @staticmethod
    def _check(options: dict) -> dict:
        raise NotImplementedError

    def _init_state(self, state: dict, p: torch.Tensor, group: dict) -> None:
        raise NotImplementedError

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError

    def add_param_group(self, param_group: dict) -> None:
        # Validate the options this group will actually run with (its own, else the defaults).
        options = {**self.defaults, **param_group}
        options.pop("params")
        super().add_param_group({**param_group, **self._check(options)})

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError(
                        f"optbook.optim.{type(self).__name__} does not support sparse gradients"
                    )
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    self._init_state(state, p, group)
                state["t"] += 1
                self._update(p, p.grad, state, group)
        return loss


def _zeros(p: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(p, memory_format=torch.preserve_format)


def _check_lr_eps(options: dict) -> dict:
    return dict(
        lr=check_real("lr", options["lr"], low=0.0, low_open=True),
        eps=check_real("eps", options["eps"], low=0.0, low_open=True),
    )


def _check_rho(name: str, value) -> float:
    return check_real(name, value, low=0.0, high=1.0, high_open=True)


class AdaGrad(_Adaptive):
    r"""AdaGrad (Algorithm 8.4; Duchi, Hazan & Singer 2011).

    Let :math:`\epsilon` be ``lr`` and :math:`\delta` be ``eps``. Each :meth:`step` applies, to
    every parameter with a gradient :math:`g`,

    .. math::

        r \leftarrow r + g \odot g, \qquad
        \theta \leftarrow \theta - \frac{\epsilon}{\delta + \sqrt{r}} \odot g,

    with :math:`r` starting at zero and kept in ``state[p]["r"]`` (and the step count in
    ``state[p]["t"]``). Since :math:`r` only grows, every coordinate's effective learning rate
    :math:`\epsilon/(\delta+\sqrt r)` only shrinks: the premature decay of §8.5.1.

    Differs from :class:`torch.optim.Adagrad` only in options, not in the maths: the book's
    :math:`\delta = 10^{-7}` (torch's ``eps`` defaults to :math:`10^{-10}`), :math:`\delta` sits
    outside the square root in both, and :math:`r` starts at zero as torch's
    ``initial_accumulator_value=0`` (Keras and TensorFlow start it at 0.1, which damps the first
    steps). Torch's ``lr_decay`` and ``weight_decay`` are not offered. Stricter than torch:
    ``lr`` and ``eps`` must be finite and positive.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: the global learning rate :math:`\epsilon > 0`.
        eps: :math:`\delta > 0`, added to :math:`\sqrt r` for numerical stability.
    """

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-7):
        super().__init__(params, self._check(dict(lr=lr, eps=eps)))

    @staticmethod
    def _check(options):
        return _check_lr_eps(options)

    def _init_state(self, state, p, group):
        state["r"] = _zeros(p)

    def _update(self, p, g, state, group):
        adagrad_update_(p, g, state["r"], lr=group["lr"], eps=group["eps"])


class RMSProp(_Adaptive):
    r"""RMSProp (Algorithm 8.5), with momentum, or with Nesterov momentum (Algorithm 8.6).

    Let :math:`\epsilon` be ``lr``, :math:`\rho` be ``rho``, :math:`\delta` be ``eps`` and
    :math:`\alpha` be ``momentum``. Each :meth:`step` applies, to every parameter with a
    gradient :math:`g`,

    .. math::

        r \leftarrow \rho r + (1-\rho)\, g \odot g, \qquad
        \theta \leftarrow \theta - \frac{\epsilon}{\sqrt{\delta + r}} \odot g,

    with :math:`r` starting at zero in ``state[p]["r"]``. With ``momentum`` :math:`\alpha > 0`
    the rescaled gradient :math:`\tilde g = g / \sqrt{\delta + r}` drives SGD's momentum step,
    :math:`v \leftarrow \alpha v - \epsilon \tilde g`, :math:`\theta \leftarrow \theta + v`
    (velocity in ``state[p]["velocity"]``); ``nesterov=True`` takes the gradient at the
    look-ahead point :math:`\theta + \alpha v`, which the parameters then hold, as for
    :class:`~optbook.optim.SGD` — this is Algorithm 8.6.

    Two switches relate RMSProp to its neighbours (as in optax's ``scale_by_rms``); their
    defaults are the book's:

    * ``eps_in_sqrt=False`` uses :math:`\delta + \sqrt r`, torch's placement;
    * ``bias_correction=True`` divides :math:`r` by :math:`1 - \rho^t` as Adam does. With both
      and no momentum, ``RMSProp(lr, rho, eps)`` is ``Adam(lr, betas=(0, rho), eps)``, bit for
      bit (the tests check it).

    Differs from :class:`torch.optim.RMSprop`: torch puts :math:`\delta` outside the square root
    (:math:`\delta + \sqrt r`, our ``eps_in_sqrt=False``); Algorithm 8.5 puts it inside. The two
    agree once :math:`r \gg \delta`, but the first steps and coordinates with tiny gradients
    differ (inside the root, :math:`\delta = 10^{-6}` acts like :math:`10^{-3}` outside). Torch
    calls :math:`\rho` ``alpha`` and defaults it to 0.99 (and ``eps`` to :math:`10^{-8}`); it has
    no Nesterov option, and its momentum buffer :math:`b \leftarrow \alpha b + \tilde g`,
    :math:`\theta \leftarrow \theta - \epsilon b` is our :math:`v = -\epsilon b`: identical
    with a constant learning rate, different under a schedule (see :class:`SGD`). Algorithm 8.6
    as printed drops :math:`\delta` altogether (:math:`v \leftarrow \alpha v -
    \epsilon g/\sqrt r`); we keep it where Algorithm 8.5 has it, so that a zero gradient in the
    first step does not divide by zero. Torch's ``centered`` variant is not offered.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: the global learning rate :math:`\epsilon > 0`.
        rho: the decay rate :math:`\rho \in [0, 1)` of the moving average of :math:`g^2`.
        eps: :math:`\delta > 0`, for numerical stability.
        momentum: :math:`\alpha \in [0, 1)`; 0 gives Algorithm 8.5.
        nesterov: use Nesterov momentum (Algorithm 8.6); needs ``momentum > 0``.
        eps_in_sqrt: :math:`\sqrt{\delta + r}` (True, the book) or :math:`\delta + \sqrt r`.
        bias_correction: divide :math:`r` by :math:`1 - \rho^t` (not in the book; see above).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-6,
        momentum: float = 0.0,
        nesterov: bool = False,
        *,
        eps_in_sqrt: bool = True,
        bias_correction: bool = False,
    ):
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            momentum=momentum,
            nesterov=nesterov,
            eps_in_sqrt=eps_in_sqrt,
            bias_correction=bias_correction,
        )
        super().__init__(params, self._check(defaults))

    @staticmethod
    def _check(options):
        checked = _check_lr_eps(options)
        checked["rho"] = _check_rho("rho", options["rho"])
        checked["momentum"] = _check_rho("momentum", options["momentum"])
        checked["nesterov"] = check_bool("nesterov", options["nesterov"])
        checked["eps_in_sqrt"] = check_bool("eps_in_sqrt", options["eps_in_sqrt"])
        checked["bias_correction"] = check_bool("bias_correction", options["bias_correction"])
        if checked["nesterov"] and checked["momentum"] == 0.0:
            raise ValueError(
                f"nesterov=True needs momentum > 0, got momentum={checked['momentum']!r}"
            )
        return checked

    def _init_state(self, state, p, group):
        state["r"] = _zeros(p)
        if group["momentum"] != 0.0:
            state["velocity"] = _zeros(p)

    def _update(self, p, g, state, group):
        rho = group["rho"]
        if group["momentum"] != 0.0 and "velocity" not in state:  # momentum switched on later
            state["velocity"] = _zeros(p)
        rmsprop_update_(
            p,
            g,
            state["r"],
            state.get("velocity"),
            lr=group["lr"],
            rho=rho,
            eps=group["eps"],
            momentum=group["momentum"],
            nesterov=group["nesterov"],
            eps_in_sqrt=group["eps_in_sqrt"],
            correction=1.0 - rho ** state["t"] if group["bias_correction"] else 1.0,
        )


class AdaDelta(_Adaptive):
    r"""AdaDelta (Zeiler 2012, Algorithm 1), mentioned in §8.5.4.

    Let :math:`\epsilon` be ``lr``, :math:`\rho` be ``rho`` and :math:`\delta` be ``eps`` (Zeiler
    calls it :math:`\epsilon`; the book keeps :math:`\epsilon` for the learning rate). With
    :math:`\mathrm{RMS}[x]_t = \sqrt{E[x^2]_t + \delta}`, each :meth:`step` applies

    .. math::

        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta\theta_t = -\frac{\mathrm{RMS}[\Delta\theta]_{t-1}}{\mathrm{RMS}[g]_t} \odot g_t,

    .. math::

        E[\Delta\theta^2]_t = \rho E[\Delta\theta^2]_{t-1} + (1-\rho)\Delta\theta_t^2, \qquad
        \theta_{t+1} = \theta_t + \epsilon\, \Delta\theta_t,

    with both averages starting at zero, :math:`E[g^2]` in ``state[p]["r"]`` (it is RMSProp's
    :math:`r`) and :math:`E[\Delta\theta^2]` in ``state[p]["r_delta"]``. The numerator makes the
    step carry the units of :math:`\theta`, so no learning rate is needed: Zeiler's method is
    ``lr=1``.

    Differs from this chapter's source notes, which write the numerator with
    :math:`E[\Delta\theta^2]_t`: that average contains :math:`\Delta\theta_t`, the very step
    being computed, so it must be the previous one, :math:`t-1`, as in Zeiler's paper.
    Zeiler has no learning rate; like
    :class:`torch.optim.Adadelta` we scale the applied step by :math:`\epsilon` but accumulate
    the unscaled :math:`\Delta\theta_t`, so ``lr`` is a pure multiplier on the step. Otherwise the
    maths is torch's; torch's ``weight_decay`` is not offered. Stricter than torch: ``rho`` must
    be below 1 and ``lr``, ``eps`` finite and positive.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: :math:`\epsilon > 0`, a multiplier on the step; 1 is Zeiler's algorithm.
        rho: the decay rate :math:`\rho \in [0, 1)` of both moving averages.
        eps: :math:`\delta > 0`, inside both square roots.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6):
        super().__init__(params, self._check(dict(lr=lr, rho=rho, eps=eps)))

    @staticmethod
    def _check(options):
        checked = _check_lr_eps(options)
        checked["rho"] = _check_rho("rho", options["rho"])
        return checked

    def _init_state(self, state, p, group):
        state["r"] = _zeros(p)
        state["r_delta"] = _zeros(p)

    def _update(self, p, g, state, group):
        adadelta_update_(
            p, g, state["r"], state["r_delta"], lr=group["lr"], rho=group["rho"], eps=group["eps"]
        )


def _check_betas(betas) -> tuple[float, float]:
    if isinstance(betas, str | bytes) or not isinstance(betas, Sequence) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (rho1, rho2), got {betas!r}")
    return _check_rho("betas[0]", betas[0]), _check_rho("betas[1]", betas[1])


class Adam(_Adaptive):
    r"""Adam (Algorithm 8.7; Kingma & Ba 2015).

    Let :math:`\epsilon` be ``lr``, :math:`\rho_1, \rho_2` be ``betas`` and :math:`\delta` be
    ``eps``. Each :meth:`step` applies, to every parameter with a gradient :math:`g`,

    .. math::

        t \leftarrow t + 1, \qquad s \leftarrow \rho_1 s + (1-\rho_1) g, \qquad
        r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g,

    .. math::

        \hat s = \frac{s}{1-\rho_1^t}, \qquad \hat r = \frac{r}{1-\rho_2^t}, \qquad
        \theta \leftarrow \theta - \epsilon \frac{\hat s}{\sqrt{\hat r} + \delta},

    with :math:`s, r` starting at zero in ``state[p]["s"]``, ``state[p]["r"]`` and :math:`t` in
    ``state[p]["t"]``. ``bias_correction=False`` drops the two corrections (lines 9–10), for the
    ablation of §8.5.3. With :math:`\rho_1 = 0`, Adam is RMSProp with
    ``eps_in_sqrt=False, bias_correction=True``.

    Differs from :class:`torch.optim.Adam` only in rounding: torch updates :math:`s` by
    ``lerp`` (as we do) and divides :math:`\sqrt r` by :math:`\sqrt{1-\rho_2^t}`, the same maths;
    :math:`\delta` sits outside the root in both, as in Algorithm 8.7 and the paper. Some notes
    (this chapter's source notes among them) write :math:`\sqrt{v_t + \epsilon}`, inside: that
    is Algorithm 8.5's placement, not Adam's, and makes a given :math:`\delta` act far larger.
    Torch's ``amsgrad``, ``weight_decay`` and ``maximize`` are not offered. Stricter than torch:
    ``lr``, ``eps`` finite and positive, each of ``betas`` in :math:`[0, 1)`.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: the step size :math:`\epsilon > 0`.
        betas: :math:`(\rho_1, \rho_2)`, decay rates of the first and second moment, in [0, 1).
        eps: :math:`\delta > 0`, added to :math:`\sqrt{\hat r}`.
        bias_correction: divide by :math:`1-\rho_1^t` and :math:`1-\rho_2^t` (the book: True).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        bias_correction: bool = True,
    ):
        defaults = dict(lr=lr, betas=betas, eps=eps, bias_correction=bias_correction)
        super().__init__(params, self._check(defaults))

    @staticmethod
    def _check(options):
        checked = _check_lr_eps(options)
        checked["betas"] = _check_betas(options["betas"])
        checked["bias_correction"] = check_bool("bias_correction", options["bias_correction"])
        return checked

    def _init_state(self, state, p, group):
        state["s"] = _zeros(p)
        state["r"] = _zeros(p)

    def _update(self, p, g, state, group):
        adam_update_(
            p,
            g,
            state["s"],
            state["r"],
            lr=group["lr"],
            betas=group["betas"],
            eps=group["eps"],
            t=state["t"],
            bias_correction=group["bias_correction"],
        )
