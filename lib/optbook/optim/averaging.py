r"""Polyak averaging (§8.7.3): average the points an optimiser visits instead of keeping the last.

Given iterates :math:`\theta^{(0)}, \theta^{(1)}, \dots` (rows of ``path``),

.. math::

    \hat\theta^{(t)} = \frac{1}{t + 1} \sum_{i=0}^{t} \theta^{(i)}
    \quad\text{(Polyak--Ruppert)}, \qquad
    \hat\theta^{(t)} = \rho\,\hat\theta^{(t-1)} + (1 - \rho)\,\theta^{(t)},\ \
    \hat\theta^{(0)} = \theta^{(0)}
    \quad\text{(exponential moving average)}.

Both are pure functions of a path. For a network's parameters during training use
:class:`torch.optim.swa_utils.AveragedModel`: with its default ``avg_fn`` it computes the first
average, with ``multi_avg_fn=get_ema_multi_avg_fn(ρ)`` the second (the tests check that the
functions here agree with it).
"""

from __future__ import annotations

import numpy as np

from optbook._validation import check_int, check_real

__all__ = ["polyak_average", "exponential_moving_average"]


def _check_path(path) -> np.ndarray:
    path = np.asarray(path, dtype=np.float64)
    if path.ndim == 0 or path.shape[0] == 0:
        raise ValueError(f"path must have at least one iterate along axis 0, got shape {path.shape}")
    return path


def polyak_average(path, start: int = 0) -> np.ndarray:
    """Running means of ``path[start:]`` along axis 0: entry ``k`` is the mean of
    ``path[start], ..., path[start + k]``. ``start`` > 0 ignores the early, transient
    iterates (averaging only once the iterates hover around a minimum)."""
    path = _check_path(path)
    start = check_int("start", start, low=0, high=path.shape[0] - 1)
    tail = path[start:]
    counts = np.arange(1, tail.shape[0] + 1).reshape((-1,) + (1,) * (tail.ndim - 1))
    return np.cumsum(tail, axis=0) / counts


def exponential_moving_average(path, decay: float) -> np.ndarray:
    """The moving average with decay :math:`\\rho` = ``decay`` :math:`\\in [0, 1)` along axis 0,
    started at ``path[0]`` (so no bias correction is needed). It remembers roughly the last
    :math:`1/(1 - \\rho)` iterates: it forgets a bad start, which the running mean never does."""
    path = _check_path(path)
    decay = check_real("decay", decay, low=0.0, high=1.0, high_open=True)
    out = np.empty_like(path)
    out[0] = path[0]
    for t in range(1, path.shape[0]):
        out[t] = decay * out[t - 1] + (1.0 - decay) * path[t]
    return out
