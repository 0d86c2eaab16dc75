r"""Sharpness-aware minimisation (Foret et al. 2021), §8.8, around any base optimiser."""

from __future__ import annotations

import math

import torch

from .._validation import check_real
from ._eager import EagerOptimizer

__all__ = ["SAM", "sam_perturbation", "global_norm"]


def global_norm(tensors: list[torch.Tensor]) -> float:
    r"""The Euclidean norm of all ``tensors`` joined into one vector, computed in float64."""
    return math.sqrt(
        sum(float(torch.linalg.vector_norm(t, dtype=torch.float64)) ** 2 for t in tensors)
    )


def sam_perturbation(grads: list[torch.Tensor], rho: float) -> list[torch.Tensor]:
    r"""The ascent step :math:`\hat{\boldsymbol\varepsilon} = \rho\,\boldsymbol g /
    \lVert\boldsymbol g\rVert_2` of Foret et al. (2021, eq. 2 with :math:`p = 2`), one tensor per
    gradient in ``grads``.

    :math:`\lVert\boldsymbol g\rVert_2` is the *global* norm over all the tensors, so the
    perturbation has length exactly :math:`\rho` in the joint parameter space. A zero gradient
    gives a zero perturbation (there is no ascent direction).
    """
    rho = check_real("rho", rho, low=0.0)
    norm = global_norm(grads)
    if norm == 0.0:
        return [torch.zeros_like(g) for g in grads]
    return [g * (rho / norm) for g in grads]


class SAM(EagerOptimizer):
    r"""Sharpness-aware minimisation (SAM; Foret et al. 2021, Algorithm 1) around a base optimiser.

    SAM minimises :math:`\max_{\lVert\boldsymbol\varepsilon\rVert_2 \le \rho}
    J(\boldsymbol\theta + \boldsymbol\varepsilon)`, the worst loss in a ball of radius
    :math:`\rho`, with a first-order approximation of the inner maximum. With
    :math:`J_B` the loss on the current minibatch, each :meth:`step` does

    .. math::

        \boldsymbol g = \nabla J_B(\boldsymbol\theta), \qquad
        \hat{\boldsymbol\varepsilon} = \rho\,\frac{\boldsymbol g}{\lVert\boldsymbol g\rVert_2},
        \qquad
        \boldsymbol g_{\mathrm{SAM}} = \nabla J_B(\boldsymbol\theta)
            \big|_{\boldsymbol\theta + \hat{\boldsymbol\varepsilon}},

    then restores :math:`\boldsymbol\theta` and lets the base optimiser step with
    :math:`\boldsymbol g_{\mathrm{SAM}}` (for plain SGD, :math:`\boldsymbol\theta \leftarrow
    \boldsymbol\theta - \epsilon\,\boldsymbol g_{\mathrm{SAM}}`). The norm is global, over all
    parameters of all groups (:func:`sam_perturbation`). Each step costs two forward and backward
    passes.

    ``step(closure)`` needs the closure: it must re-compute the loss *on the same minibatch* and
    its gradients (``loss = f(); loss.backward(); return loss``; zeroing the gradients inside
    is fine but not needed, :meth:`step` zeroes them before each call). It is called at
    :math:`\boldsymbol\theta` and at :math:`\boldsymbol\theta + \hat{\boldsymbol\varepsilon}`;
    :meth:`step` returns the loss at :math:`\boldsymbol\theta`. The parameters are restored
    from a copy, bit for bit, before the base step; after :meth:`step` their ``.grad`` holds
    :math:`\boldsymbol g_{\mathrm{SAM}}`.

    The base optimiser is constructed here, as ``base_optimizer(self.param_groups,
    **base_kwargs)``, and SAM shares its parameter groups: a learning-rate scheduler given the
    SAM object schedules the base optimiser's ``lr``. Each group carries SAM's radius under
    the key ``"sam_rho"`` (not ``"rho"``, which RMSProp and AdaDelta use for their own decay
    rate); a group may set its own. ``state_dict`` / ``load_state_dict`` save and restore the
    base optimiser's state.

    Differs from Foret et al.: only the :math:`p = 2` ball, and the closure interface (their
    code, like most, calls ``first_step``/``second_step`` by hand). With a zero gradient
    :math:`\hat{\boldsymbol\varepsilon} = 0` and the second evaluation is skipped. Torch has
    no SAM.

    Args:
        params: iterable of tensors or of dicts defining parameter groups.
        base_optimizer: an optimiser *class*, e.g. :class:`optbook.optim.SGD` or
            :class:`torch.optim.SGD`.
        rho: the radius :math:`\rho > 0` of the neighbourhood (Foret et al.: 0.05).
        **base_kwargs: passed to ``base_optimizer`` (``lr=...``, ``momentum=...``).
    """

    def __init__(self, params, base_optimizer, rho: float = 0.05, **base_kwargs):
        if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, torch.optim.Optimizer)):
            raise TypeError(
                "base_optimizer must be a torch.optim.Optimizer subclass (the class, e.g. "
                f"optbook.optim.SGD, not an instance), got {base_optimizer!r}"
            )
        if isinstance(base_optimizer, type) and issubclass(base_optimizer, SAM):
            raise TypeError("base_optimizer cannot be SAM itself")
        rho = _check_sam_rho(rho)
        super().__init__(params, dict(sam_rho=rho))
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    def add_param_group(self, param_group: dict) -> None:
        param_group = dict(param_group)
        param_group["sam_rho"] = _check_sam_rho(param_group.get("sam_rho", self.defaults["sam_rho"]))
        if not hasattr(self, "base_optimizer"):  # during __init__: collect the groups
            super().add_param_group(param_group)
        else:
            self.base_optimizer.add_param_group(param_group)
            self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def step(self, closure=None):
        """One SAM step; ``closure`` (required) re-computes the loss and gradients on the same
        minibatch. Returns the loss at the current (unperturbed) parameters."""
        if closure is None:
            raise TypeError(
                "SAM.step needs a closure that re-computes the loss and its gradients on the "
                "same minibatch (e.g. def closure(): loss = f(); loss.backward(); return loss): "
                "the gradient is taken twice, at theta and at theta + rho g/|g|"
            )
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if any(p.grad.is_sparse for p in params):
            raise TypeError("optbook.optim.SAM does not support sparse gradients")
        norm = global_norm([p.grad for p in params])
        if norm > 0.0:
            saved = []
            for group in self.param_groups:
                scale = group["sam_rho"] / norm
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    saved.append((p, p.detach().clone()))
                    p.add_(p.grad, alpha=scale)  # θ + ε̂
            self.zero_grad(set_to_none=True)
            with torch.enable_grad():
                closure()
            for p, theta in saved:
                p.copy_(theta)
        self.base_optimizer.step()
        return loss

    def state_dict(self):
        """The base optimiser's state dict (its groups carry ``sam_rho``)."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict) -> None:
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups


def _check_sam_rho(rho) -> float:
    return check_real("rho", rho, low=0.0, low_open=True)
