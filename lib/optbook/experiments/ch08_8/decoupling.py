r"""Adam + L2 against AdamW over a grid of learning rates and decays (Loshchilov & Hutter 2019,
their Figure 2 at CPU scale), §8.8.

For every cell :math:`(\epsilon, \lambda)` of the grid and every seed, one network is trained on
the digits: with ``decoupled=True`` by :class:`optbook.optim.AdamW` (weight decay
:math:`\theta \leftarrow (1-\epsilon\lambda)\theta` outside Adam's normalisation), with
``decoupled=False`` by :class:`optbook.optim.Adam` on the loss plus the penalty
:math:`\tfrac{\lambda}{2}\lVert\theta\rVert^2` (so the gradient becomes :math:`g + \lambda\theta`,
exactly torch's ``Adam(weight_decay=λ)``). All weights and biases are decayed. The learning rate
follows a cosine decay to zero (:class:`optbook.optim.WarmupCosineLR`, no warm-up), as in the
paper. All cells run as one batched computation (:func:`~.stacked.train_stacked`): each cell is
its own parameter group, holding one network per seed, and seed :math:`s` fixes the initial
weights and the minibatches in every cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optbook._validation import check_bool, check_int, check_real
from optbook.data import Split
from optbook.optim import Adam, AdamW, WarmupCosineLR

from .stacked import train_stacked

__all__ = ["DecayGrid", "weight_decay_grid"]


@dataclass
class DecayGrid:
    """Results indexed ``[i, j, s]``: learning rate ``lrs[i]``, decay ``decays[j]``, seed ``s``."""

    lrs: np.ndarray
    decays: np.ndarray
    decoupled: bool
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_error: np.ndarray


def weight_decay_grid(
    lrs: Sequence[float],
    decays: Sequence[float],
    decoupled: bool,
    train: Split,
    val: Split,
    sizes: Sequence[int] = (64, 64, 10),
    steps: int = 200,
    batch_size: int = 40,
    seeds: Sequence[int] = (0, 1),
) -> DecayGrid:
    r"""Train one network per (learning rate, decay, seed) for ``steps`` minibatch steps.

    ``decays`` are :math:`\lambda`: AdamW's ``weight_decay`` (``decoupled=True``) or the L2
    coefficient added to the gradient (``decoupled=False``). AdamW refuses a cell with
    :math:`\epsilon\lambda > 1`.
    """
    lrs_arr = np.array([check_real("lr", v, low=0.0, low_open=True) for v in lrs])
    decays_arr = np.array([check_real("decay", v, low=0.0) for v in decays])
    decoupled = check_bool("decoupled", decoupled)
    steps = check_int("steps", steps, low=1)
    if lrs_arr.size == 0 or decays_arr.size == 0:
        raise ValueError("lrs and decays must each hold at least one value")
    cells = [(float(lr), float(d)) for lr in lrs_arr for d in decays_arr]
    if decoupled:
        settings = [{"lr": lr, "weight_decay": d} for lr, d in cells]
        make, l2 = AdamW, None
    else:
        settings = [{"lr": lr} for lr, _ in cells]
        make, l2 = Adam, [d for _, d in cells]
    run = train_stacked(settings, make, train, val, sizes, steps, batch_size, seeds,
                        make_scheduler=lambda opt: WarmupCosineLR(opt, warmup_steps=0, total_steps=steps),
                        l2=l2)
    shape = (len(lrs_arr), len(decays_arr), -1)
    return DecayGrid(lrs_arr, decays_arr, decoupled, run.train_loss.reshape(shape),
                     run.val_loss.reshape(shape), run.val_error.reshape(shape))
