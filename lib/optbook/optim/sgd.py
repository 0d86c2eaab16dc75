r"""Stochastic gradient descent with momentum and Nesterov momentum (§8.3).

The arithmetic lives in :func:`sgd_update_`, a small function a reader can point at;
:class:`SGD` is a thin :class:`torch.optim.Optimizer` that feeds it.
"""

from __future__ import annotations

import torch

from .._validation import check_bool, check_real
from ._eager import EagerOptimizer

__all__ = ["SGD", "sgd_update_", "nesterov_reference"]


def sgd_update_(
    theta: torch.Tensor,
    g: torch.Tensor,
    v: torch.Tensor | None,
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
) -> None:
    r"""One step of Algorithms 8.1–8.3, in place on ``theta`` (and ``v``).

    Symbol map: :math:`\theta` = ``theta``, :math:`g` = ``g`` (the minibatch gradient
    evaluated at the current ``theta``), :math:`v` = ``v`` (the velocity, same shape as
    ``theta``), :math:`\epsilon` = ``lr``, :math:`\alpha` = ``momentum``.

    * Algorithm 8.1 (``momentum == 0``): :math:`\theta \leftarrow \theta - \epsilon g`.
    * Algorithm 8.2: :math:`v \leftarrow \alpha v - \epsilon g`, then
      :math:`\theta \leftarrow \theta + v`.
    * Algorithm 8.3 (``nesterov=True``), in the reparameterised form: ``theta`` holds the
      look-ahead point :math:`\tilde\theta = \theta + \alpha v` at which the gradient is taken,
      and the update is :math:`v \leftarrow \alpha v - \epsilon g`,
      :math:`\tilde\theta \leftarrow \tilde\theta + \alpha v - \epsilon g`
      (with the *new* :math:`v`). This visits exactly the look-ahead points of Algorithm 8.3;
      the book's :math:`\theta` is recovered as :math:`\tilde\theta - \alpha v`.

    Call it under :func:`torch.no_grad` (as :meth:`SGD.step` does) when ``theta`` requires grad.
    """
    if momentum == 0.0:
        theta.add_(g, alpha=-lr)
        return
    v.mul_(momentum).add_(g, alpha=-lr)
    if nesterov:
        theta.add_(g, alpha=-lr).add_(v, alpha=momentum)
    else:
        theta.add_(v)


class SGD(EagerOptimizer):
    r"""SGD (Algorithm 8.1), with momentum (Algorithm 8.2) or Nesterov momentum (Algorithm 8.3).

    Let :math:`\epsilon` be ``lr`` and :math:`\alpha` be ``momentum``. Each call of
    :meth:`step` applies, to every parameter with a gradient :math:`g`,

    .. math::

        v \leftarrow \alpha v - \epsilon g, \qquad \theta \leftarrow \theta + v,

    with :math:`v` starting at zero and kept in ``state[p]["velocity"]``. With
    ``momentum=0`` this is plain SGD, :math:`\theta \leftarrow \theta - \epsilon g`.
    With ``nesterov=True`` the gradient is taken at the look-ahead point
    :math:`\theta + \alpha v`; the parameters then *hold* that point (see :func:`sgd_update_`),
    which lets the usual ``loss.backward(); opt.step()`` loop run Algorithm 8.3 unchanged.

    Differs from :class:`torch.optim.SGD`: torch keeps a buffer :math:`b \leftarrow \mu b + g`
    and steps :math:`\theta \leftarrow \theta - \epsilon b`, i.e. :math:`v = -\epsilon b`.
    With a constant learning rate the two trajectories are identical; when a schedule changes
    :math:`\epsilon`, the book's velocity keeps the old step sizes while torch rescales the
    whole buffer by the new one. Also stricter than torch: ``lr`` must be finite and positive,
    ``momentum`` in :math:`[0, 1)`, and ``nesterov`` needs ``momentum > 0``.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        lr: the learning rate :math:`\epsilon > 0`.
        momentum: :math:`\alpha \in [0, 1)`; 0 gives Algorithm 8.1.
        nesterov: use Nesterov momentum (Algorithm 8.3).
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False):
        lr = check_real("lr", lr, low=0.0, low_open=True)
        momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        nesterov = check_bool("nesterov", nesterov)
        if nesterov and momentum == 0.0:
            raise ValueError(f"nesterov=True needs momentum > 0, got momentum={momentum!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, nesterov = group["lr"], group["momentum"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError("optbook.optim.SGD does not support sparse gradients")
                v = None
                if momentum != 0.0:
                    state = self.state[p]
                    if "velocity" not in state:
                        state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    v = state["velocity"]
                sgd_update_(p, p.grad, v, lr=lr, momentum=momentum, nesterov=nesterov)
        return loss


def nesterov_reference(
    grad_fn, theta0: torch.Tensor, lr: float, momentum: float, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Algorithm 8.3 exactly as the book writes it, for checking and for teaching.

    ``grad_fn(point, k)`` returns the gradient at ``point`` for step ``k``. Each step evaluates
    it at the interim point :math:`\tilde\theta = \theta + \alpha v`, then
    :math:`v \leftarrow \alpha v - \epsilon g` and :math:`\theta \leftarrow \theta + v`.
    Returns the stacked iterates :math:`\theta_0, \dots, \theta_K` and velocities
    :math:`v_0, \dots, v_K`. :class:`SGD` with ``nesterov=True`` visits
    :math:`\theta_k + \alpha v_k` instead (the look-ahead points); the tests and §8.3.3 show
    the two agree.
    """
    lr = check_real("lr", lr, low=0.0, low_open=True)
    momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    theta = theta0.detach().clone()
    v = torch.zeros_like(theta)
    thetas, vs = [theta.clone()], [v.clone()]
    for k in range(steps):
        g = grad_fn(theta + momentum * v, k)
        v = momentum * v - lr * g
        theta = theta + v
        thetas.append(theta.clone())
        vs.append(v.clone())
    return torch.stack(thetas), torch.stack(vs)
