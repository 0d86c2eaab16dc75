r"""Small objectives that each show one challenge of §8.2, with analytic gradients.

* :func:`rnn_cliff`: the cost of the single-unit recurrent network of Pascanu et al. (2013),
  :math:`x_t = w\,\sigma(x_{t-1}) + b`, as a function of :math:`\theta = (w, b)`: a 2-D
  :class:`~optbook.problems.landscapes.Landscape` with a cliff (§8.2.4).
* :func:`saddle_with_minima`: :math:`\tfrac12 x^2 + \tfrac14 y^4 - \tfrac12 y^2`, a saddle
  between two minima, where Newton's method is drawn to the saddle (§8.2.3).
* :func:`wrong_side_of_mountain`: a 1-D cost with no minimum at all, only a mountain and two
  asymptotes, where local descent heads away from the low side (§8.2.7).

Every objective is written so that the same code runs on Python floats (fast trajectories),
NumPy arrays (contour grids) and torch tensors (autograd checks in the tests). The only
non-arithmetic function used is :math:`\tanh`, dispatched on the argument's type; the logistic
sigmoid is computed as :math:`\sigma(x) = \tfrac12(1 + \tanh(x/2))`, which never overflows.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from optbook._validation import check_int, check_real
from optbook.problems.landscapes import Landscape, double_well

__all__ = ["tanh", "sigmoid", "rnn_cliff", "saddle_with_minima", "wrong_side_of_mountain"]


def tanh(x):
    """:math:`\\tanh` for a Python float, a NumPy array or a torch tensor (same type back)."""
    if isinstance(x, torch.Tensor):
        return torch.tanh(x)
    if isinstance(x, np.ndarray):
        return np.tanh(x)
    return math.tanh(x)


def sigmoid(x):
    r"""The logistic sigmoid :math:`\sigma(x) = 1/(1 + e^{-x}) = \tfrac12(1 + \tanh(x/2))`."""
    return 0.5 * (1.0 + tanh(0.5 * x))


def rnn_cliff(steps: int = 50, x0: float = 0.5, target: float = 0.7) -> Landscape:
    r"""The single-unit recurrent network of Pascanu, Mikolov and Bengio (2013), §2.3.

    With no input, the state follows :math:`x_t = w\,\sigma(x_{t-1}) + b` from
    :math:`x_0` = ``x0`` for :math:`T` = ``steps`` steps, and the cost is

    .. math::

        J(w, b) = \bigl(\sigma(x_T) - y\bigr)^2, \qquad y = \texttt{target}.

    For :math:`w > 4` the map :math:`x \mapsto w\sigma(x) + b` has two stable fixed points for
    some :math:`b`, and which one :math:`x_T` ends near switches abruptly as :math:`(w, b)`
    crosses a line: there the cost jumps and its gradient explodes (a cliff). The paper's
    settings are the defaults (:math:`T = 50`, :math:`x_0 = 0.5`, :math:`y = 0.7`).

    The gradient is back-propagated through time by hand: with
    :math:`\delta_T = \partial J/\partial x_T = 2(\sigma(x_T) - y)\,\sigma'(x_T)` and
    :math:`\delta_{t-1} = \delta_t\, w\, \sigma'(x_{t-1})`,
    :math:`\partial J/\partial w = \sum_{t=1}^{T} \delta_t\, \sigma(x_{t-1})` and
    :math:`\partial J/\partial b = \sum_{t=1}^{T} \delta_t` (checked against autograd in the tests).
    """
    steps = check_int("steps", steps, low=1)
    x0 = check_real("x0", x0)
    target = check_real("target", target, low=0.0, high=1.0, low_open=True, high_open=True)

    def value_and_grad(w, b):
        x = x0 + 0.0 * (w + b)  # broadcast x0 to the shape and type of (w, b)
        sigmas = []  # σ(x_0), …, σ(x_{T-1}): the forward pass keeps them for the backward pass
        for _ in range(steps):
            s = sigmoid(x)
            sigmas.append(s)
            x = w * s + b
        s = sigmoid(x)
        r = s - target
        delta = 2.0 * r * s * (1.0 - s)  # dJ/dx_T
        gw = 0.0 * w
        gb = 0.0 * b
        for s_prev in reversed(sigmas):  # t = T, …, 1 with s_prev = σ(x_{t-1})
            gw = gw + delta * s_prev
            gb = gb + delta
            delta = delta * w * s_prev * (1.0 - s_prev)
        return r * r, gw, gb

    return Landscape(
        name=f"single-unit RNN, T = {steps}",
        value_and_grad=value_and_grad,
        x0=(6.0, -2.2),
        xlim=(-2.0, 14.0),
        ylim=(-10.0, 4.0),
        minimiser=None,
        lipschitz=None,
    )


def saddle_with_minima() -> Landscape:
    r""":math:`f(x, y) = \tfrac12 x^2 + \tfrac14 y^4 - \tfrac12 y^2`: a saddle at the origin
    between two minima :math:`(0, \pm 1)` with :math:`f = -\tfrac14`.

    Its Hessian is :math:`\mathrm{diag}(1, 3y^2 - 1)`. In the band :math:`|y| < 1/\sqrt3` the
    curvature along :math:`y` is negative, and there the pure Newton step in :math:`y`,
    :math:`y \leftarrow 2y^3/(3y^2 - 1)`, moves *towards* the saddle: Newton's method converges to
    it, while gradient descent, :math:`y \leftarrow y\,(1 + \epsilon(1 - y^2))`, is pushed away.

    It is §8.6's :func:`~optbook.problems.landscapes.double_well` :math:`D` with coupling
    :math:`c = 0` and stiffness :math:`b = 2`, axes swapped and scaled so that the minima sit at
    :math:`f = -\tfrac14` on the :math:`y` axis: :math:`f(x, y) = \tfrac14 D(y, x) - \tfrac14`.
    """

    well = double_well(coupling=0.0, stiffness=2.0)

    def value_and_grad(x, y):  # f(x, y) = D(y, x)/4 - 1/4, D the double well with c = 0, b = 2
        d, d_y, d_x = well.value_and_grad(y, x)
        return 0.25 * d - 0.25, 0.25 * d_x, 0.25 * d_y

    return Landscape("saddle between two minima", value_and_grad, x0=(1.5, 1e-3),
                     xlim=(-1.8, 1.8), ylim=(-1.5, 1.5), minimiser=(0.0, 1.0), lipschitz=2.0)


def wrong_side_of_mountain(theta):
    r"""A 1-D cost with no minimum: one mountain and two asymptotes (after the book's Fig. 8.4).

    .. math::

        J(\theta) = \operatorname{sech}^2(\theta/2) - \tfrac12\bigl(1 - \tanh(\theta + 1)\bigr),
        \qquad
        J'(\theta) = -\tanh(\theta/2)\operatorname{sech}^2(\theta/2)
        + \tfrac12\operatorname{sech}^2(\theta + 1).

    Its only critical point is the top of the mountain, a maximum near :math:`\theta = 0.28`.
    To its left :math:`J` falls towards :math:`-1` as :math:`\theta \to -\infty`; to its
    right it falls towards :math:`0` as :math:`\theta \to +\infty`, with a gradient that
    fades like :math:`e^{-\theta}`. Started right of the top, gradient descent heads right
    for ever and never learns that much lower costs lie on the other side.

    Returns ``(J, dJ/dθ)`` for a float, a NumPy array or a torch tensor.
    """
    a, c = tanh(0.5 * theta), tanh(theta + 1.0)
    bump = 1.0 - a * a
    return bump - 0.5 * (1.0 - c), -a * bump + 0.5 * (1.0 - c * c)
