r"""Batch normalisation (§8.7.1) with its forward *and backward* pass written out by hand.

:class:`BatchNormFunction` is a :class:`torch.autograd.Function` whose ``backward`` applies the
closed-form gradients derived below; :class:`BatchNorm1d` is a thin :class:`torch.nn.Module` that
feeds it and keeps the running statistics. For 2-D input ``(N, C)`` it matches
:class:`torch.nn.BatchNorm1d` (outputs, gradients, running statistics, eval output).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from optbook._validation import check_int, check_real

__all__ = ["BatchNorm1d", "BatchNormFunction", "batch_norm"]


class BatchNormFunction(torch.autograd.Function):
    r"""The batch-normalising transform of a minibatch and its hand-written gradient.

    Symbol map: the minibatch :math:`\{x_1, \dots, x_m\}` is the input's rows (``m = N``; each
    of the ``C`` features is normalised on its own), :math:`\gamma` = ``weight``,
    :math:`\beta` = ``bias``, :math:`\delta` = ``eps`` (Ioffe & Szegedy's :math:`\epsilon`; the
    book's eq. 8.36 writes :math:`\delta`, keeping :math:`\epsilon` for the learning rate).

    **Forward** (Ioffe & Szegedy 2015, Algorithm 1; the book's eqs. 8.35–8.36):

    .. math::

        \mu = \frac1m \sum_{i=1}^m x_i, \qquad
        \sigma^2 = \frac1m \sum_{i=1}^m (x_i - \mu)^2, \qquad
        \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \delta}}, \qquad
        y_i = \gamma \hat x_i + \beta .

    **Backward.** Given the upstream gradient :math:`\partial\ell/\partial y_i`, the chain rule
    through each line in turn (Ioffe & Szegedy, §3) gives

    .. math::

        \frac{\partial\ell}{\partial\beta} &= \sum_i \frac{\partial\ell}{\partial y_i}, \qquad
        \frac{\partial\ell}{\partial\gamma} = \sum_i \frac{\partial\ell}{\partial y_i} \hat x_i,
        \qquad \frac{\partial\ell}{\partial\hat x_i} = \frac{\partial\ell}{\partial y_i}\gamma, \\
        \frac{\partial\ell}{\partial\sigma^2} &= \sum_i \frac{\partial\ell}{\partial\hat x_i}
            (x_i - \mu) \cdot \bigl(-\tfrac12\bigr)(\sigma^2 + \delta)^{-3/2}, \\
        \frac{\partial\ell}{\partial\mu} &= -\sum_i \frac{\partial\ell}{\partial\hat x_i}
            \frac{1}{\sqrt{\sigma^2 + \delta}}
            + \frac{\partial\ell}{\partial\sigma^2} \cdot \frac{-2}{m}\sum_i (x_i - \mu)
            \quad(\text{the last sum is } 0), \\
        \frac{\partial\ell}{\partial x_i} &= \frac{\partial\ell}{\partial\hat x_i}
            \frac{1}{\sqrt{\sigma^2 + \delta}}
            + \frac{\partial\ell}{\partial\sigma^2} \frac{2 (x_i - \mu)}{m}
            + \frac{\partial\ell}{\partial\mu} \frac1m .

    Substituting :math:`x_i - \mu = \hat x_i \sqrt{\sigma^2 + \delta}` collapses the last line to
    the form the code uses, one pass over the batch for two sums it already has:

    .. math::

        \frac{\partial\ell}{\partial x_i} = \frac{\gamma}{m\sqrt{\sigma^2 + \delta}}
            \Bigl( m \frac{\partial\ell}{\partial y_i} - \frac{\partial\ell}{\partial\beta}
            - \hat x_i \frac{\partial\ell}{\partial\gamma} \Bigr).

    So, per feature, :math:`\partial\ell/\partial x` is the upstream gradient with its minibatch
    mean and (most of) its component along :math:`\hat x` removed: it sums to zero over the
    batch, and :math:`\sum_i \frac{\partial\ell}{\partial x_i}\hat x_i` is only
    :math:`\frac{\gamma}{\sqrt{\sigma^2+\delta}} \frac{\delta}{\sigma^2+\delta}
    \frac{\partial\ell}{\partial\gamma}`. Shifting a feature's inputs leaves :math:`y`
    unchanged, and scaling them nearly so (exactly so were :math:`\delta = 0`): the gradient
    has no component in those directions.

    ``forward(x, weight, bias, eps)`` returns ``(y, mu, sigma2)``; the batch statistics are
    marked non-differentiable (they feed only the running estimates). The backward is itself
    not differentiable (``once_differentiable``): no double backward.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps: float):
        mu = x.mean(dim=0)
        xc = x - mu
        sigma2 = (xc * xc).mean(dim=0)
        inv_std = torch.rsqrt(sigma2 + eps)
        x_hat = xc * inv_std
        y = x_hat * weight + bias
        ctx.save_for_backward(x_hat, weight, inv_std)
        ctx.mark_non_differentiable(mu, sigma2)
        return y, mu, sigma2

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _dmu, _dsigma2):
        x_hat, weight, inv_std = ctx.saved_tensors
        m = dy.shape[0]
        dbeta = dy.sum(dim=0)
        dgamma = (dy * x_hat).sum(dim=0)
        dx = None
        if ctx.needs_input_grad[0]:
            dx = (weight * inv_std / m) * (m * dy - dbeta - x_hat * dgamma)
        return (
            dx,
            dgamma if ctx.needs_input_grad[1] else None,
            dbeta if ctx.needs_input_grad[2] else None,
            None,
        )


def batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5):
    """Training-mode batch normalisation of ``x`` (shape ``(N, C)``) through
    :class:`BatchNormFunction`; returns ``(y, mu, sigma2)`` with the biased batch variance."""
    return BatchNormFunction.apply(x, weight, bias, eps)


class BatchNorm1d(nn.Module):
    r"""Batch normalisation of ``(N, C)`` input: a hand-written twin of :class:`nn.BatchNorm1d`.

    In training mode each feature is normalised with its minibatch mean :math:`\mu` and
    *biased* variance :math:`\sigma^2`, then scaled and shifted by the learnable
    :math:`\gamma` (``weight``, initially 1) and :math:`\beta` (``bias``, initially 0); the
    gradients come from :class:`BatchNormFunction`'s hand-written backward. The running
    estimates used in eval mode are exponential moving averages with rate :math:`\lambda`
    (``momentum``), the variance's with the *unbiased* :math:`\frac{m}{m-1}\sigma^2`, as torch
    does:

    .. math::

        \hat\mu \leftarrow (1 - \lambda)\hat\mu + \lambda \mu, \qquad
        \hat\sigma^2 \leftarrow (1 - \lambda)\hat\sigma^2 + \lambda \tfrac{m}{m-1}\sigma^2 .

    In eval mode, :math:`y = \gamma (x - \hat\mu)/\sqrt{\hat\sigma^2 + \delta} + \beta`: a fixed
    affine map per feature, left to ordinary autograd.

    Symbol map: :math:`\hat\mu, \hat\sigma^2` = ``running_mean``, ``running_var`` (start at 0
    and 1), :math:`\delta` = ``eps``, :math:`\lambda` = ``momentum``, :math:`m` = ``N``.

    Differs from :class:`torch.nn.BatchNorm1d`: only 2-D input; always affine and tracking
    running statistics; ``momentum=None`` (a cumulative average) is not offered.
    ``num_batches_tracked`` is kept only so that state dicts load either way.

    Args:
        num_features: ``C``.
        eps: :math:`\delta > 0`, added to the variance.
        momentum: :math:`\lambda \in [0, 1]`.
        device, dtype: for the parameters and buffers, as in torch.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, device=None, dtype=None
    ):
        super().__init__()
        self.num_features = check_int("num_features", num_features, low=1)
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        self.momentum = check_real("momentum", momentum, low=0.0, high=1.0)
        kw = dict(device=device, dtype=dtype)
        self.weight = nn.Parameter(torch.ones(num_features, **kw))
        self.bias = nn.Parameter(torch.zeros(num_features, **kw))
        self.register_buffer("running_mean", torch.zeros(num_features, **kw))
        self.register_buffer("running_var", torch.ones(num_features, **kw))
        n_batches = torch.tensor(0, dtype=torch.long, device=device)
        self.register_buffer("num_batches_tracked", n_batches)

    def reset_running_stats(self) -> None:
        self.running_mean.zero_()
        self.running_var.fill_(1.0)
        self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        with torch.no_grad():
            self.weight.fill_(1.0)
            self.bias.zero_()

    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2:
            raise ValueError(
                f"expected 2-D input (N, C), got {x.ndim}-D input of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"expected input with {self.num_features} features (N, "
                f"{self.num_features}), got shape {tuple(x.shape)}"
            )
        if self.training and x.shape[0] < 2:
            raise ValueError(
                "batch size must be > 1 in training mode (the batch variance of "
                f"one example is 0), got input of shape {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        if not self.training:
            inv_std = torch.rsqrt(self.running_var + self.eps)
            return (x - self.running_mean) * inv_std * self.weight + self.bias
        y, mu, sigma2 = batch_norm(x, self.weight, self.bias, self.eps)
        m = x.shape[0]
        with torch.no_grad():
            lam = self.momentum
            self.running_mean.mul_(1.0 - lam).add_(mu, alpha=lam)
            self.running_var.mul_(1.0 - lam).add_(sigma2 * (m / (m - 1)), alpha=lam)
            self.num_batches_tracked.add_(1)
        return y

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
