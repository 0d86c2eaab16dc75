r"""Small problems whose true risk is known exactly, for experiments about SGD itself.

:class:`LinearRegressionStream` draws an endless stream of examples
:math:`\boldsymbol x \sim \mathcal N(0, \boldsymbol\Sigma)`,
:math:`y = \boldsymbol x^\top \boldsymbol w^* + \sigma n` with :math:`n \sim \mathcal N(0, 1)`.
For the squared loss :math:`\tfrac12 (\boldsymbol x^\top\boldsymbol\theta - y)^2` the true risk
is :math:`J^*(\boldsymbol\theta) = \tfrac12 (\boldsymbol\theta - \boldsymbol w^*)^\top
\boldsymbol\Sigma (\boldsymbol\theta - \boldsymbol w^*) + \tfrac12\sigma^2`, so the *excess
error* :math:`J^*(\boldsymbol\theta) - \min J^*` can be computed exactly at every step.

:func:`streaming_sgd` runs many independent one-pass SGD runs at once (one row of a parameter
matrix per run; the loss is a sum over runs, so their gradients do not interact).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from optbook._validation import check_int, check_real

__all__ = ["LinearRegressionStream", "streaming_sgd"]


class LinearRegressionStream:
    r"""Linear regression with Gaussian inputs; see the module docstring for the maths.

    Args:
        d: input dimension.
        noise: the label-noise standard deviation :math:`\sigma`.
        cond: condition number of :math:`\boldsymbol\Sigma`, whose eigenvalues are spaced
            geometrically from 1 down to ``1/cond``.
        seed: draws :math:`\boldsymbol w^*` (entries :math:`\mathcal N(0, 1)`).
    """

    def __init__(self, d: int = 5, noise: float = 1.0, cond: float = 5.0, seed: int = 0):
        self.d = check_int("d", d, low=1)
        self.noise = check_real("noise", noise, low=0.0)
        self.cond = check_real("cond", cond, low=1.0)
        seed = check_int("seed", seed, low=0)
        self.eigs = torch.logspace(0.0, -np.log10(self.cond), self.d, dtype=torch.float64)
        gen = torch.Generator().manual_seed(seed)
        self.w_star = torch.randn(self.d, generator=gen, dtype=torch.float64)

    @property
    def mu(self) -> float:
        """The smallest eigenvalue of :math:`\\boldsymbol\\Sigma` (strong convexity)."""
        return float(self.eigs.min())

    def sample(self, shape: tuple[int, ...], generator: torch.Generator):
        """Inputs of shape ``shape + (d,)`` and labels of shape ``shape``."""
        z = torch.randn(*shape, self.d, generator=generator, dtype=torch.float64)
        X = z * self.eigs.sqrt()
        y = X @ self.w_star + self.noise * torch.randn(*shape, generator=generator, dtype=torch.float64)
        return X, y

    def excess_risk(self, theta: torch.Tensor) -> torch.Tensor:
        r"""The excess error
        :math:`\tfrac12(\theta - w^*)^\top \Sigma (\theta - w^*)`, over the last dimension of ``theta``."""
        diff = theta - self.w_star
        return 0.5 * (diff * diff * self.eigs).sum(-1)


def streaming_sgd(
    problem: LinearRegressionStream,
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    steps: int,
    batch_size: int = 1,
    runs: int = 32,
    seed: int = 0,
    make_scheduler: Callable | None = None,
) -> np.ndarray:
    """Excess error of ``runs`` independent one-pass SGD runs; shape ``(steps + 1, runs)``.

    Every step draws a fresh minibatch of ``batch_size`` examples per run, so each minibatch
    gradient is an unbiased estimate of the gradient of the true risk (§8.1.3). All runs start
    at :math:`\\boldsymbol\\theta = 0`. ``make_scheduler(optimizer)`` may return a torch LR
    scheduler, stepped once per update.
    """
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    runs = check_int("runs", runs, low=1)
    seed = check_int("seed", seed, low=0)
    gen = torch.Generator().manual_seed(seed)
    theta = torch.zeros(runs, problem.d, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer([theta])
    sched = make_scheduler(opt) if make_scheduler is not None else None
    out = np.empty((steps + 1, runs))
    with torch.no_grad():
        out[0] = problem.excess_risk(theta).numpy()
    for k in range(1, steps + 1):
        X, y = problem.sample((runs, batch_size), gen)
        with torch.no_grad():
            # The gradient of the loss ½ Σ_runs mean_batch resid² by hand, in autograd's order of
            # operations (the same bits as .backward(), without its per-step overhead).
            resid = torch.einsum("rbd,rd->rb", X, theta) - y
            g = (0.5 / batch_size) * resid
            theta.grad = torch.bmm(X.transpose(1, 2), (g + g).unsqueeze(-1)).squeeze(-1)
        opt.step()
        if sched is not None:
            sched.step()
        with torch.no_grad():
            out[k] = problem.excess_risk(theta).numpy()
    return out
