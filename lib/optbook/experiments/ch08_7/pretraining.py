r"""Greedy supervised pretraining (§8.7.4): grow a deep network one hidden layer at a time.

Start with one hidden layer and train it on the task; then keep the hidden layers learned so
far, add a fresh hidden layer and a fresh output layer on top, and train again (optionally only
the new layers). Repeat until the network has its full depth, then fine-tune everything
(Bengio et al., 2007; the book's Figure 8.7). :func:`add_hidden_layer` is the growing step, for
the ``nn.Sequential`` multilayer perceptrons of :func:`optbook.training.mlp`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from optbook._validation import check_bool, check_int

__all__ = ["add_hidden_layer"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def add_hidden_layer(
    model: nn.Sequential, width: int, activation: str = "tanh", *, freeze_old: bool = False, seed: int = 0
) -> nn.Sequential:
    r"""A new network: ``model``'s hidden layers (copied), a new hidden layer of ``width`` units
    and a new output layer.

    ``model`` must be ``Linear, act, ..., Linear`` (the last module a ``Linear``, its output
    layer, which is dropped). The new layers get torch's default initialisation from a
    generator seeded with ``seed``. With ``freeze_old`` the copied layers' parameters have
    ``requires_grad=False``, so an optimiser built on the new net's trainable parameters updates
    only the new layers. ``model`` itself is not modified.
    """
    if not isinstance(model, nn.Sequential) or len(model) == 0 or not isinstance(model[-1], nn.Linear):
        raise TypeError(f"model must be an nn.Sequential ending in an nn.Linear output layer, got {model!r}")
    width = check_int("width", width, low=1)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    freeze_old = check_bool("freeze_old", freeze_old)
    seed = check_int("seed", seed, low=0)
    out_layer = model[-1]
    hidden = copy.deepcopy(model[:-1])
    if freeze_old:
        for p in hidden.parameters():
            p.requires_grad_(False)
    dtype = out_layer.weight.dtype
    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        new_hidden = nn.Linear(out_layer.in_features, width, dtype=dtype)
        new_out = nn.Linear(width, out_layer.out_features, dtype=dtype)
    finally:
        torch.random.set_rng_state(rng_state)
    return nn.Sequential(*hidden, new_hidden, _ACTIVATIONS[activation](), new_out)
