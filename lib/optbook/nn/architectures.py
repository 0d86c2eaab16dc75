r"""Model families that are easier to optimise (§8.7.1, §8.7.5), built so that two variants can
start from *identical* weights and differ only in the feature under study.

* :func:`mlp_bn`: a multilayer perceptron with or without batch normalisation
  (:class:`optbook.nn.batchnorm.BatchNorm1d`) before each hidden nonlinearity, as in Ioffe &
  Szegedy (2015): :math:`h = \phi(\mathrm{BN}(W h_{\text{prev}}))`.
* :class:`ResidualMLP`: :math:`L` blocks :math:`h_l = h_{l-1} + \phi(W_l h_{l-1} + b_l)` (skip
  connections, He et al. 2016) or, with ``skip=False``, the plain
  :math:`h_l = \phi(W_l h_{l-1} + b_l)` with the same weights.
* :func:`linear_gradient_norms`: :math:`\lVert \partial J / \partial W_l \rVert` per layer after a
  backward pass.

Weights are drawn from generators seeded with ``seed``: weights and biases from separate
streams, so that dropping the biases (as batch normalisation makes them redundant) leaves the
weights unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from optbook._validation import check_bool, check_int, check_real
from optbook.nn.batchnorm import BatchNorm1d

__all__ = ["mlp_bn", "ResidualMLP", "linear_gradient_norms", "ACTIVATIONS"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")


@torch.no_grad()
def _init_linear(layer: nn.Linear, w_gen, b_gen, init_std: float | None) -> None:
    """Torch's default :math:`U(\\pm 1/\\sqrt{\\text{fan-in}})` for weights and biases, or
    :math:`\\mathcal N(0, \\text{init\\_std}^2)` weights and zero biases."""
    fan_in = layer.in_features
    bound = fan_in ** -0.5
    if init_std is None:
        w = (torch.rand(layer.weight.shape, generator=w_gen, dtype=torch.float64) * 2 - 1) * bound
    else:
        w = torch.randn(layer.weight.shape, generator=w_gen, dtype=torch.float64) * init_std
    layer.weight.copy_(w)
    if layer.bias is not None:
        if init_std is None:
            b = (torch.rand(layer.bias.shape, generator=b_gen, dtype=torch.float64) * 2 - 1) * bound
        else:
            b = torch.zeros(layer.bias.shape, dtype=torch.float64)
        layer.bias.copy_(b)


def _generators(seed: int):
    seed = check_int("seed", seed, low=0)
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1_000_003)


def mlp_bn(
    sizes: Sequence[int],
    activation: str = "sigmoid",
    batch_norm: bool = True,
    *,
    init_std: float | None = None,
    seed: int = 0,
    dtype=torch.float32,
) -> nn.Sequential:
    r"""``Linear → [BatchNorm1d] → activation`` per hidden layer, then a ``Linear`` output.

    With ``batch_norm`` the hidden ``Linear`` layers have no bias: BN's :math:`\beta` takes its
    place (a bias before BN is subtracted away with the mean). For the same ``seed`` and
    ``init_std`` the weight matrices are identical with and without BN. ``init_std=None`` gives
    torch's default initialisation, a number :math:`s` gives :math:`W_{ij} \sim \mathcal N(0, s^2)`.
    To watch a unit's input, hook the nonlinearity modules (``isinstance(m, nn.Sigmoid)`` etc.):
    what enters them is :math:`W h` (or :math:`\mathrm{BN}(W h)`), as in Ioffe & Szegedy's Figure 1.
    """
    sizes = [check_int("layer size", s, low=1) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output width, got {sizes!r}")
    _check_activation(activation)
    batch_norm = check_bool("batch_norm", batch_norm)
    if init_std is not None:
        init_std = check_real("init_std", init_std, low=0.0, low_open=True)
    w_gen, b_gen = _generators(seed)
    layers: list[nn.Module] = []
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        hidden = i < len(sizes) - 2
        lin = nn.Linear(m, n, bias=not (hidden and batch_norm), dtype=dtype)
        _init_linear(lin, w_gen, b_gen, init_std)
        layers.append(lin)
        if hidden:
            if batch_norm:
                layers.append(BatchNorm1d(n, dtype=dtype))
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class ResidualMLP(nn.Module):
    r"""A deep fully connected net with (or without) identity skip connections.

    .. math::

        h_0 = \phi(W_0 x + b_0), \qquad
        h_l = \underbrace{h_{l-1}}_{\text{if skip}} + \phi(W_l h_{l-1} + b_l)\ (l = 1..L), \qquad
        \hat y = W_{L+1} h_L + b_{L+1}.

    The skip gives every block's output a path to the loss that bypasses the blocks above it:
    :math:`\partial h_l / \partial h_{l-1} = I + \partial\phi(\cdot)/\partial h_{l-1}`, so the
    gradient cannot vanish by a product of many small Jacobians. With ``skip=False`` the module
    computes exactly ``nn.Sequential(stem, φ, blocks[0], φ, ..., head)`` with the same weights.

    Args:
        in_features, width, out_features: layer widths.
        depth: :math:`L`, the number of width × width blocks.
        activation: ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        skip: use the identity skip connections.
        init_std: ``None`` (torch's default) or the standard deviation of Gaussian weights.
        seed: for the weights; the same seed gives the same weights with and without ``skip``.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        depth: int,
        out_features: int,
        *,
        activation: str = "tanh",
        skip: bool = True,
        init_std: float | None = None,
        seed: int = 0,
        dtype=torch.float32,
    ):
        super().__init__()
        in_features = check_int("in_features", in_features, low=1)
        width = check_int("width", width, low=1)
        depth = check_int("depth", depth, low=0)
        out_features = check_int("out_features", out_features, low=1)
        _check_activation(activation)
        self.skip = check_bool("skip", skip)
        if init_std is not None:
            init_std = check_real("init_std", init_std, low=0.0, low_open=True)
        w_gen, b_gen = _generators(seed)
        self.stem = nn.Linear(in_features, width, dtype=dtype)
        self.blocks = nn.ModuleList(nn.Linear(width, width, dtype=dtype) for _ in range(depth))
        self.head = nn.Linear(width, out_features, dtype=dtype)
        for layer in (self.stem, *self.blocks, self.head):
            _init_linear(layer, w_gen, b_gen, init_std)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.stem(x))
        for block in self.blocks:
            h = h + self.act(block(h)) if self.skip else self.act(block(h))
        return self.head(h)

    def extra_repr(self) -> str:
        return f"depth={len(self.blocks)}, skip={self.skip}"


def linear_gradient_norms(model: nn.Module) -> list[float]:
    r""":math:`\lVert \partial J/\partial W \rVert_F` of every ``nn.Linear`` weight, in the order
    of ``model.modules()`` (input side first), after a backward pass; NaN where no gradient."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    out = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            out.append(float("nan") if m.weight.grad is None else m.weight.grad.norm().item())
    if not out:
        raise ValueError("model has no nn.Linear layers")
    return out
