r"""Parameter initialisation strategies (§8.4).

Each initialiser fills a weight tensor in place and returns it, drawing its randomness from the
:class:`torch.Generator` it is given (so a figure can be redrawn exactly). A weight of shape
``(n, m, *kernel)`` — torch's layout for :class:`~torch.nn.Linear` and convolutions — maps
:math:`m` inputs to :math:`n` outputs; for convolutions both fans include the kernel size
(:func:`fans`). In the book's words, :math:`m` is the fan-in and :math:`n` the fan-out.

==================================  =========================================================
:func:`fan_in_uniform_`             :math:`U(-1/\sqrt m,\ 1/\sqrt m)`, the book's heuristic
:func:`glorot_uniform_`             :math:`U(-\sqrt{6/(m+n)},\ \sqrt{6/(m+n)})`, normalised init
:func:`glorot_normal_`              :math:`N(0,\ 2/(m+n))`
:func:`he_normal_`                  :math:`N(0,\ 2/m)` for ReLU units
:func:`he_uniform_`                 :math:`U(-\sqrt{6/m},\ \sqrt{6/m})`
:func:`orthogonal_`                 a random orthogonal matrix times a gain
:func:`sparse_`                     exactly :math:`k` non-zero :math:`N(0, \sigma^2)` weights
                                    into each unit
==================================  =========================================================

:func:`initialise_` applies one of them to every weight of a model and sets its biases.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from optbook._validation import check_int, check_real

__all__ = [
    "fans",
    "fan_in_uniform_",
    "glorot_uniform_",
    "glorot_normal_",
    "he_normal_",
    "he_uniform_",
    "orthogonal_",
    "sparse_",
    "initialise_",
]


def _check_weight(w) -> None:
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
    if not w.is_floating_point():
        raise TypeError(f"w must be a floating-point tensor, got dtype {w.dtype}")
    if w.dim() < 2 or 0 in w.shape:
        raise ValueError(
            f"w must have at least 2 dimensions, none empty (outputs, inputs, *kernel), "
            f"got shape {tuple(w.shape)}"
        )


def _check_generator(generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {generator!r} "
            f"(pass e.g. generator=torch.Generator().manual_seed(0))"
        )


def fans(w: torch.Tensor) -> tuple[int, int]:
    """``(m, n)``: the fan-in and fan-out of a weight of shape ``(n, m, *kernel)``.

    The same numbers as torch's ``nn.init._calculate_fan_in_and_fan_out``.
    """
    _check_weight(w)
    receptive = math.prod(w.shape[2:])
    return w.shape[1] * receptive, w.shape[0] * receptive


def _uniform_(w, bound, generator):
    with torch.no_grad():
        return w.uniform_(-bound, bound, generator=generator)


def _normal_(w, std, generator):
    with torch.no_grad():
        return w.normal_(0.0, std, generator=generator)


def fan_in_uniform_(w: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    r"""Fill ``w`` from :math:`U(-1/\sqrt m,\ 1/\sqrt m)`, :math:`m` the fan-in (§8.4).

    The variance is :math:`1/(3m)`. This is also what :class:`torch.nn.Linear` does by default
    (``kaiming_uniform_(a=√5)`` works out to the same bound).
    """
    _check_weight(w)
    _check_generator(generator)
    m, _ = fans(w)
    return _uniform_(w, 1.0 / math.sqrt(m), generator)


def glorot_uniform_(w: torch.Tensor, *, generator: torch.Generator, gain: float = 1.0):
    r"""Glorot & Bengio's (2010) normalised initialisation, in place:
    :math:`W_{ij} \sim U\big(-g\sqrt{6/(m+n)},\ g\sqrt{6/(m+n)}\big)`, :math:`g` = ``gain``.

    The variance :math:`2/(m+n)` compromises between keeping activations' variance (which
    wants :math:`1/m`) and back-propagated gradients' variance (:math:`1/n`) constant across
    layers. Same distribution as ``torch.nn.init.xavier_uniform_``.
    """
    _check_weight(w)
    _check_generator(generator)
    gain = check_real("gain", gain, low=0.0, low_open=True)
    m, n = fans(w)
    return _uniform_(w, gain * math.sqrt(6.0 / (m + n)), generator)


def glorot_normal_(w: torch.Tensor, *, generator: torch.Generator, gain: float = 1.0):
    r"""Glorot normal, in place: :math:`W_{ij} \sim N\big(0,\ g^2 \cdot 2/(m+n)\big)`.

    Same variance as :func:`glorot_uniform_`; same distribution as
    ``torch.nn.init.xavier_normal_``.
    """
    _check_weight(w)
    _check_generator(generator)
    gain = check_real("gain", gain, low=0.0, low_open=True)
    m, n = fans(w)
    return _normal_(w, gain * math.sqrt(2.0 / (m + n)), generator)


def _he_std(w, mode, negative_slope) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    a = check_real("negative_slope", negative_slope, low=0.0)
    m, n = fans(w)
    return math.sqrt(2.0 / (1.0 + a * a)) / math.sqrt(m if mode == "fan_in" else n)


def he_normal_(
    w: torch.Tensor,
    *,
    generator: torch.Generator,
    mode: str = "fan_in",
    negative_slope: float = 0.0,
):
    r"""He et al.'s (2015) initialisation for (leaky) ReLU units, in place:
    :math:`W_{ij} \sim N\big(0,\ 2/((1+a^2)\, m)\big)`, :math:`a` = ``negative_slope``.

    A ReLU zeroes half of its input, halving the variance Glorot's argument keeps; the factor 2
    restores it. ``mode="fan_out"`` uses :math:`n` instead of :math:`m` (preserves gradients'
    variance instead). Same distribution as ``torch.nn.init.kaiming_normal_(a=a, mode=mode)``.
    """
    _check_weight(w)
    _check_generator(generator)
    return _normal_(w, _he_std(w, mode, negative_slope), generator)


def he_uniform_(
    w: torch.Tensor,
    *,
    generator: torch.Generator,
    mode: str = "fan_in",
    negative_slope: float = 0.0,
):
    r"""He initialisation, uniform version: :math:`U(-\sqrt3\,\sigma,\ \sqrt3\,\sigma)` with
    :func:`he_normal_`'s :math:`\sigma` (:math:`U(\pm\sqrt{6/m})` for ReLU). Same distribution
    as ``torch.nn.init.kaiming_uniform_(a=a, mode=mode)``."""
    _check_weight(w)
    _check_generator(generator)
    return _uniform_(w, math.sqrt(3.0) * _he_std(w, mode, negative_slope), generator)


def orthogonal_(w: torch.Tensor, *, generator: torch.Generator, gain: float = 1.0):
    r"""A random orthogonal matrix times ``gain`` (Saxe, McClelland & Ganguli 2014), in place.

    ``w`` is viewed as an :math:`n \times (\text{everything else})` matrix :math:`W`; its rows
    are orthonormal (:math:`WW^\top = g^2 I`) when :math:`n \le` the rest, else its columns
    (:math:`W^\top W = g^2 I`). :math:`W` is the :math:`Q` of the QR factorisation of a
    Gaussian matrix, with the signs of :math:`R`'s diagonal moved into :math:`Q` so that it is
    uniformly (Haar) distributed (Mezzadri 2007). Orthogonal matrices keep every singular value
    at :math:`g`, so a deep *linear* net neither shrinks nor amplifies signals. The same
    procedure, and the same draws, as ``torch.nn.init.orthogonal_``.
    """
    _check_weight(w)
    _check_generator(generator)
    gain = check_real("gain", gain, low=0.0, low_open=True)
    rows = w.shape[0]
    cols = w.numel() // rows
    a = w.new_empty((rows, cols)).normal_(0.0, 1.0, generator=generator)
    if rows < cols:
        a = a.T
    q, r = torch.linalg.qr(a)
    q = q * torch.diagonal(r).sign()
    if rows < cols:
        q = q.T
    with torch.no_grad():
        w.copy_(q.reshape(w.shape)).mul_(gain)
    return w


def sparse_(w: torch.Tensor, k: int, *, generator: torch.Generator, std: float = 1.0):
    r"""Martens's (2010) sparse initialisation, in place: each unit (row of ``w``, viewed as
    ``(n, m)``) gets exactly ``k`` non-zero incoming weights, at random positions, drawn from
    :math:`N(0, \sigma^2)` with :math:`\sigma` = ``std``; the rest are zero.

    Unlike a dense initialisation, the total input to a unit does not shrink as :math:`m` grows,
    while units still differ. Martens used :math:`k = 15`; the weights are unit Gaussians as in
    Sutskever et al. (2013), who describe his scheme.

    Differs from ``torch.nn.init.sparse_(tensor, sparsity, std=0.01)``: torch zeroes a fraction
    of each *column* (the weights *out of* an input), so units get varying numbers of inputs,
    and it draws the positions from the global random state even when given a generator.
    """
    _check_weight(w)
    _check_generator(generator)
    n = w.shape[0]
    m = w.numel() // n
    k = check_int("k", k, low=1, high=m)
    std = check_real("std", std, low=0.0, low_open=True)
    # k positions per row, uniformly at random: the first k of a random permutation of each row.
    keys = torch.rand((n, m), generator=generator, device=w.device)
    keep = torch.zeros((n, m), dtype=torch.bool, device=w.device)
    keep.scatter_(1, keys.argsort(dim=1)[:, :k], True)
    with torch.no_grad():
        w.normal_(0.0, std, generator=generator)
        w.masked_fill_(~keep.view(w.shape), 0.0)
    return w


def initialise_(
    model: nn.Module,
    weight_init: Callable[..., torch.Tensor],
    *,
    generator: torch.Generator,
    bias: float = 0.0,
) -> nn.Module:
    r"""Apply ``weight_init(weight, generator=generator)`` to every weight of ``model`` with at
    least two dimensions (linear and convolutional layers), in the order of
    ``model.modules()``, and set those layers' biases to the constant ``bias``.

    Other parameters (e.g. batch-norm scales) are left alone. Pass extra arguments with
    :func:`functools.partial`, e.g. ``partial(sparse_, k=15)``. Returns ``model``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(weight_init):
        raise TypeError(f"weight_init must be callable, got {weight_init!r}")
    _check_generator(generator)
    bias = check_real("bias", bias)
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
            continue
        weight_init(weight, generator=generator)
        b = getattr(module, "bias", None)
        if isinstance(b, torch.Tensor):
            with torch.no_grad():
                b.fill_(bias)
    return model
