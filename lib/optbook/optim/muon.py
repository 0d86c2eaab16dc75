r"""Muon: momentum orthogonalised by Newton–Schulz (Jordan et al. 2024), §8.8.

:func:`newton_schulz` is the pure map :math:`G \mapsto` (approximately) :math:`UV^\top`;
:func:`newton_schulz_polynomial` is what it does to each singular value; :func:`muon_update_`
is one step; :class:`Muon` the thin optimiser. The algorithm is that of
:class:`torch.optim.Muon` (torch 2.13), which follows Keller Jordan's reference code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._validation import check_bool, check_int, check_real
from .adamw import check_weight_decay, decay_weights_
from .adaptive import _Adaptive, _zeros

__all__ = [
    "Muon",
    "muon_update_",
    "newton_schulz",
    "newton_schulz_polynomial",
    "muon_lr_scale",
    "NS_COEFFICIENTS",
]

#: The quintic's coefficients :math:`(a, b, c)` (Jordan 2024; torch's defaults).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_NS_EPS = 1e-7


def _check_coefficients(coefficients) -> tuple[float, float, float]:
    if (
        isinstance(coefficients, str | bytes)
        or not isinstance(coefficients, Sequence)
        or len(coefficients) != 3
    ):
        raise TypeError(f"coefficients must be a triple (a, b, c), got {coefficients!r}")
    return tuple(check_real(f"coefficients[{i}]", c) for i, c in enumerate(coefficients))


def newton_schulz_polynomial(x, steps: int = 5, coefficients=NS_COEFFICIENTS):
    r"""The scalar map :math:`\varphi^{(k)}`, :math:`k` = ``steps`` iterations of
    :math:`\varphi(x) = a x + b x^3 + c x^5`, applied to ``x`` (a float or a tensor, elementwise).

    :func:`newton_schulz` applies exactly this map to each singular value of
    :math:`G/\lVert G\rVert_F` and keeps the singular vectors: for :math:`G = U\Sigma V^\top`,
    ``newton_schulz(G)`` :math:`= U \varphi^{(k)}(\Sigma/\lVert G\rVert_F) V^\top`. With the
    default coefficients the slope at 0 is :math:`a = 3.4445`, so small singular values grow
    fast: five steps send every :math:`x \in [10^{-3}, 1]` into :math:`[0.47, 1.21]`, and
    enough steps send every :math:`x \in (0, 1]` into :math:`[0.68, 1.21]` and keep it there.
    Not to 1: the coefficients trade accuracy for that steep slope (Jordan 2024).
    """
    steps = check_int("steps", steps, low=0)
    a, b, c = _check_coefficients(coefficients)
    for _ in range(steps):
        x2 = x * x
        x = a * x + (b + c * x2) * x2 * x
    return x


def newton_schulz(
    G: torch.Tensor, steps: int = 5, coefficients=NS_COEFFICIENTS, *, eps: float = _NS_EPS
) -> torch.Tensor:
    r"""Approximate orthogonalisation of the matrix ``G`` by ``steps`` quintic Newton–Schulz
    iterations, computed in ``G``'s dtype; returns a new tensor of the same shape and dtype.

    .. math::

        X_0 = \frac{G}{\max(\lVert G\rVert_F, \varepsilon)}, \qquad
        A_j = X_j X_j^\top, \qquad
        X_{j+1} = a X_j + (b A_j + c A_j^2)\, X_j,

    on :math:`G^\top` when :math:`G` has more rows than columns (so that :math:`A_j` is the
    smaller Gram matrix), transposed back at the end. Dividing by the Frobenius norm puts every
    singular value in :math:`[0, 1]`; each iteration then maps each singular value :math:`x` to
    :math:`a x + b x^3 + c x^5` (:func:`newton_schulz_polynomial`) and leaves the singular
    vectors alone, so the result is :math:`U\varphi^{(k)}(\Sigma)V^\top \approx UV^\top`.

    Symbol map: :math:`(a, b, c)` = ``coefficients`` (default
    :data:`NS_COEFFICIENTS` = (3.4445, −4.7750, 2.0315)), :math:`\varepsilon` = ``eps``.
    The arithmetic (including the order of the matrix products, via :func:`torch.addmm`) is
    torch's ``_zeropower_via_newtonschulz``, except that torch always converts to bfloat16
    first; pass ``G.bfloat16()`` for that.
    """
    if not isinstance(G, torch.Tensor):
        raise TypeError(f"G must be a torch.Tensor, got {type(G).__name__}")
    if G.ndim != 2:
        raise ValueError(f"G must be a matrix (2-D), got shape {tuple(G.shape)}")
    if not G.is_floating_point():
        raise TypeError(f"G must have a floating-point dtype, got {G.dtype}")
    steps = check_int("steps", steps, low=0)
    a, b, c = _check_coefficients(coefficients)
    eps = check_real("eps", eps, low=0.0, low_open=True)
    tall = G.size(0) > G.size(1)
    X = G.T if tall else G
    X = X / X.norm().clamp(min=eps)
    for _ in range(steps):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)
        X = torch.addmm(X, B, X, beta=a)
    return X.T if tall else X


def muon_lr_scale(shape) -> float:
    r"""Muon's factor on the learning rate for a matrix of ``shape`` :math:`(m, n)`:
    :math:`\sqrt{\max(1, m/n)}` (Jordan's reference code and torch's default
    ``adjust_lr_fn="original"``). A semi-orthogonal :math:`m \times n` matrix has
    :math:`\min(m, n)` singular values 1, so its entries have RMS
    :math:`\sqrt{\min(m,n)/(mn)}`: :math:`1/\sqrt n` when :math:`m \le n` but only
    :math:`1/\sqrt m` when :math:`m > n`. The factor restores :math:`1/\sqrt n` in the
    second case."""
    rows, cols = shape[0], shape[1]
    return math.sqrt(max(1.0, rows / cols))


def muon_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    buf: torch.Tensor,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_steps: int = 5,
    coefficients=NS_COEFFICIENTS,
    ns_dtype: torch.dtype | None = None,
) -> None:
    r"""One step of Muon on the matrix ``theta``, in place on ``theta`` and ``buf``:

    .. math:: B \leftarrow \mu B + (1-\mu) G, \qquad
              \tilde B = \begin{cases} (1-\mu) G + \mu B & \text{Nesterov} \\ B & \text{else}
              \end{cases}, \qquad O = \mathrm{NS}_k(\tilde B),

    .. math:: \theta \leftarrow (1-\epsilon\lambda)\,\theta
              - \epsilon\sqrt{\max(1, m/n)}\; O.

    Symbol map: :math:`G` = ``g`` (the gradient, an :math:`m \times n` matrix), :math:`B` =
    ``buf``, :math:`\mu` = ``momentum``, :math:`\epsilon` = ``lr``, :math:`\lambda` =
    ``weight_decay``, :math:`k` = ``ns_steps``. Newton–Schulz runs in ``ns_dtype``
    (default: ``theta``'s dtype).
    """
    buf.lerp_(g, 1.0 - momentum)
    update = g.lerp(buf, momentum) if nesterov else buf
    if ns_dtype is not None:
        update = update.to(ns_dtype)
    O = newton_schulz(update, ns_steps, coefficients)
    decay_weights_(theta, lr=lr, weight_decay=weight_decay)
    theta.add_(O, alpha=-lr * muon_lr_scale(theta.shape))


def _check_ns_dtype(ns_dtype):
    if ns_dtype is not None and (
        not isinstance(ns_dtype, torch.dtype) or not ns_dtype.is_floating_point
    ):
        raise TypeError(f"ns_dtype must be None or a floating-point torch.dtype, got {ns_dtype!r}")
    return ns_dtype


class Muon(_Adaptive):
    r"""Muon, "MomentUm Orthogonalized by Newton–Schulz" (Jordan et al. 2024), for matrices.

    Let :math:`\epsilon` be ``lr``, :math:`\lambda` be ``weight_decay``, :math:`\mu` be
    ``momentum`` and :math:`k` be ``ns_steps``. Each :meth:`step` applies, to every
    :math:`m\times n` parameter with a gradient :math:`G` (:func:`muon_update_`),

    .. math::

        B \leftarrow \mu B + (1-\mu) G, \qquad
        \tilde B = (1-\mu) G + \mu B \ \ (\text{Nesterov; else } \tilde B = B), \qquad
        O = \mathrm{NS}_k(\tilde B) \approx U V^\top,

    .. math::

        \theta \leftarrow (1 - \epsilon\lambda)\,\theta - \epsilon \sqrt{\max(1, m/n)}\; O,

    where :math:`\tilde B = U\Sigma V^\top` and :math:`\mathrm{NS}_k` is :func:`newton_schulz`
    (:math:`k` quintic Newton–Schulz iterations with coefficients (3.4445, −4.775, 2.0315)).
    The buffer :math:`B` starts at zero in ``state[p]["momentum_buffer"]``. Replacing the
    momentum by the nearest semi-orthogonal matrix keeps its singular vectors and sets all its
    singular values to (about) 1: the step is as large in every direction the momentum points
    to, rare directions included. It is the steepest-descent step under the spectral norm
    (Bernstein & Newhouse 2024). Muon is meant for the hidden layers' weight matrices; biases,
    gains, embeddings and the output layer are given to AdamW (see the example in
    :class:`torch.optim.Muon`), which is why a parameter that is not a matrix is refused.

    Differs from :class:`torch.optim.Muon` (torch 2.13) in one place: torch always computes
    Newton–Schulz in **bfloat16** (8 significant bits; fast on accelerators), we compute it in
    the parameter's dtype (float64 in the book's checks), or in ``ns_dtype`` if given
    (``ns_dtype=torch.bfloat16`` reproduces torch's step; the tests check both). Torch's
    default learning-rate adjustment (``adjust_lr_fn=None``, i.e. ``"original"``) is the
    :math:`\sqrt{\max(1, m/n)}` used here (:func:`muon_lr_scale`); its ``"match_rms_adamw"``
    option (:math:`0.2\sqrt{\max(m,n)}`, Liu et al. 2025) is not offered. The momentum is an
    exponential average (torch's and Jordan's ``lerp``), not torch's documented
    :math:`B \leftarrow \mu B + G`: the two differ by the factor :math:`1-\mu`, which the
    normalisation inside Newton–Schulz removes (up to its :math:`\varepsilon = 10^{-7}`).
    Jordan's blog post divides by :math:`\lVert G\rVert_F + \varepsilon`; torch and we by
    :math:`\max(\lVert G\rVert_F, \varepsilon)`. Stricter than torch: ``lr`` finite and
    positive, ``momentum`` in :math:`[0, 1)`, ``nesterov`` needs ``momentum > 0``,
    :math:`\epsilon\lambda \le 1`, and non-matrix parameters are refused when added (torch
    checks only the constructor's).

    Args:
        params: iterable of 2-D tensors or of dicts defining parameter groups.
        lr: the learning rate :math:`\epsilon > 0`.
        weight_decay: decoupled weight decay :math:`\lambda \ge 0`.
        momentum: :math:`\mu \in [0, 1)`.
        nesterov: use the Nesterov combination :math:`(1-\mu)G + \mu B`.
        ns_steps: :math:`k \ge 0` Newton–Schulz iterations.
        ns_coefficients: the quintic's :math:`(a, b, c)`.
        ns_dtype: dtype for Newton–Schulz; ``None`` uses the parameter's.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        *,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        ns_dtype: torch.dtype | None = None,
    ):
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            ns_coefficients=ns_coefficients,
            ns_dtype=ns_dtype,
        )
        super().__init__(params, self._check(defaults))

    @staticmethod
    def _check(options):
        lr = check_real("lr", options["lr"], low=0.0, low_open=True)
        momentum = check_real("momentum", options["momentum"], low=0.0, high=1.0, high_open=True)
        nesterov = check_bool("nesterov", options["nesterov"])
        if nesterov and momentum == 0.0:
            raise ValueError(f"nesterov=True needs momentum > 0, got momentum={momentum!r}")
        return dict(
            lr=lr,
            weight_decay=check_weight_decay(lr, options["weight_decay"]),
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=check_int("ns_steps", options["ns_steps"], low=0),
            ns_coefficients=_check_coefficients(options["ns_coefficients"]),
            ns_dtype=_check_ns_dtype(options["ns_dtype"]),
        )

    def add_param_group(self, param_group: dict) -> None:
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        where = f"param_groups[{len(self.param_groups)}]['params']"
        for i, p in enumerate(params):
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"{where}[{i}] must be a tensor, got {type(p).__name__}")
            if p.is_complex():
                raise TypeError(f"Muon does not support complex parameters, {where}[{i}] is {p.dtype}")
            if p.ndim != 2:
                raise ValueError(
                    f"Muon updates matrices (2-D parameters) only; {where}[{i}] has shape "
                    f"{tuple(p.shape)}: give biases, gains, embeddings and other non-matrix "
                    "parameters to AdamW"
                )
        super().add_param_group({**param_group, "params": params})

    def _init_state(self, state, p, group):
        state["momentum_buffer"] = _zeros(p)

    def _update(self, p, g, state, group):
        muon_update_(
            p,
            g,
            state["momentum_buffer"],
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            nesterov=group["nesterov"],
            ns_steps=group["ns_steps"],
            coefficients=group["ns_coefficients"],
            ns_dtype=group["ns_dtype"],
        )

