r"""``torch.optim.SGD``'s update, bit for bit, without its import of ``torch._dynamo``.

The first ``torch.optim.SGD.step`` of a session imports ``torch._dynamo`` (the
``torch.compile`` machinery, about a second of CPU) only to keep the compiler out of the step.
:class:`TorchSGD` is the same arithmetic on the book's :class:`~optbook.optim._eager.EagerOptimizer`:
with the same arguments it gives the same numbers to the last bit (tests/test_torch_sgd.py),
and §8.7's experiments, written for torch's optimiser, stay exactly as they were.
"""

from __future__ import annotations

import torch

from optbook._validation import check_real
from optbook.optim._eager import EagerOptimizer

__all__ = ["TorchSGD"]


class TorchSGD(EagerOptimizer):
    r"""SGD with heavy-ball momentum in torch's form: for every parameter with a gradient
    :math:`g`,

    .. math::

        b \leftarrow \mu b + g \quad (b = g \text{ at the first step}), \qquad
        \theta \leftarrow \theta - \epsilon b,

    and :math:`\theta \leftarrow \theta - \epsilon g` when :math:`\mu = 0`.

    Symbol map: :math:`\epsilon` = ``lr``, :math:`\mu` = ``momentum``, :math:`b` =
    ``state[p]["momentum_buffer"]``. This is ``torch.optim.SGD(params, lr, momentum)`` with its
    other options at their defaults (no dampening, weight decay or Nesterov), the same
    operations in the same order. The book's :class:`optbook.optim.SGD` keeps the velocity
    :math:`v = -\epsilon b` instead: the same iterates in exact arithmetic, different rounding.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0):
        lr = check_real("lr", lr, low=0.0, low_open=True)
        momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if momentum != 0.0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = g.detach().clone()
                    else:
                        buf.mul_(momentum).add_(g, alpha=1)  # torch: alpha = 1 - dampening
                    g = buf
                p.add_(g, alpha=-lr)
        return loss
