r"""Communication and scheduling arithmetic for chapter 12.1 (computes, never draws).

* :func:`ring_allreduce` runs the ring all-reduce of Patarasuk & Yuan (2009) step by step on
  ``p`` NumPy arrays and counts what each worker sends, which is
  :func:`optbook.distributed.ring_allreduce_bytes`; :func:`ring_allreduce_time` is the time
  model built on it (Thakur, Rabenseifner & Gropp 2005):

  .. math::  T(p) = 2(p-1)\,\alpha + 2\,\frac{p-1}{p}\,N b\,\beta,

  with :math:`N` the number of gradient entries of :math:`b` bytes, :math:`\alpha` the latency
  of one message and :math:`\beta` the time to send one byte.
* :func:`pipeline_schedule` is the GPipe schedule (Huang et al. 2019) of ``n_micro`` micro-batches
  through ``n_stages`` pipeline stages; :func:`pipeline_bubble_fraction` its idle share
  :math:`(K-1)/(M+K-1)`.
"""

from __future__ import annotations

import numpy as np

from optbook._validation import check_int, check_real
from optbook.distributed import ring_allreduce_bytes

__all__ = [
    "ring_allreduce",
    "ring_allreduce_time",
    "pipeline_schedule",
    "pipeline_bubble_fraction",
]


def ring_allreduce(arrays) -> tuple[list[np.ndarray], np.ndarray]:
    r"""Sum ``p`` equally long 1-D arrays with the ring algorithm; every worker ends with the sum.

    Each array is cut into ``p`` chunks. *Reduce-scatter*: in each of ``p - 1`` steps, worker
    ``i`` sends one chunk to worker ``i + 1`` (mod ``p``), which adds it to its own copy; after
    them, worker ``i`` holds the complete sum of chunk ``i + 1``. *All-gather*: ``p - 1`` more
    steps pass the finished chunks round the ring. No worker ever sends more than a chunk at a
    time, so every link of the ring is busy in every step and none is a bottleneck.

    Returns ``(results, sent)``: each worker's copy of the sum, and the number of entries each
    worker sent: :math:`2(p-1)N/p`, i.e. ``ring_allreduce_bytes(N, p, bytes_per_element=1)``,
    when ``p`` divides ``N``.
    """
    bufs = [np.array(a, dtype=np.float64, copy=True) for a in arrays]
    p = len(bufs)
    if p < 1:
        raise ValueError("arrays must hold at least one array")
    n = bufs[0].shape
    if any(b.ndim != 1 or b.shape != n for b in bufs):
        raise ValueError(f"arrays must be 1-D and of equal length, got shapes {[b.shape for b in bufs]}")
    bounds = np.linspace(0, n[0], p + 1).round().astype(int)
    chunk = [slice(bounds[c], bounds[c + 1]) for c in range(p)]
    sent = np.zeros(p, dtype=np.int64)
    for s in range(p - 1):  # reduce-scatter
        msgs = [(i, (i - s) % p, bufs[i][chunk[(i - s) % p]].copy()) for i in range(p)]
        for i, c, data in msgs:  # all sends of a step happen at once
            bufs[(i + 1) % p][chunk[c]] += data
            sent[i] += data.size
    for s in range(p - 1):  # all-gather
        msgs = [(i, (i + 1 - s) % p, bufs[i][chunk[(i + 1 - s) % p]].copy()) for i in range(p)]
        for i, c, data in msgs:
            bufs[(i + 1) % p][chunk[c]] = data
            sent[i] += data.size
    return bufs, sent


def ring_allreduce_time(
    numel: float, world_size: int, alpha: float, beta: float, bytes_per_element: int = 4
) -> float:
    r"""Modelled time of a ring all-reduce: :math:`2(p-1)\alpha + 2(p-1)N b\beta/p`.

    ``numel`` is :math:`N`, ``world_size`` :math:`p`, ``alpha`` the latency of one message
    (seconds), ``beta`` the time to send one byte (seconds per byte, the inverse of the
    bandwidth) and ``bytes_per_element`` :math:`b`. The traffic term is
    :func:`optbook.distributed.ring_allreduce_bytes`. The reduction's additions are left out:
    they cost :math:`(p-1)N\gamma/p`, far below the communication on any real network.
    """
    alpha = check_real("alpha", alpha, low=0.0)
    beta = check_real("beta", beta, low=0.0)
    world_size = check_int("world_size", world_size, low=1)
    numel = check_real("numel", numel, low=0.0)
    traffic = float(ring_allreduce_bytes(numel, world_size, bytes_per_element))
    return 2.0 * (world_size - 1) * alpha + traffic * beta


def pipeline_schedule(n_stages: int, n_micro: int) -> list[tuple[int, int, int, str]]:
    r"""The GPipe schedule: every micro-batch forward through all stages, then all backward.

    A minibatch is cut into ``n_micro`` (:math:`M`) micro-batches; stage :math:`k` of
    ``n_stages`` (:math:`K`) holds one contiguous block of layers on its own device. Stage
    :math:`k` runs the forward pass of micro-batch :math:`m` in time slot :math:`k + m`; after
    the last forward pass the backward passes run in the mirror order. Gradients of all
    micro-batches are summed and the optimiser steps once, so the update is that of the whole
    minibatch. Every pass is taken to last one slot.

    Returns ``[(stage, slot, micro_batch, "F" or "B"), ...]`` sorted by slot, then stage.
    """
    K = check_int("n_stages", n_stages, low=1)
    M = check_int("n_micro", n_micro, low=1)
    t_back = M + K - 1  # the first slot after the last forward pass
    tasks = [(k, k + m, m, "F") for k in range(K) for m in range(M)]
    tasks += [(k, t_back + (K - 1 - k) + m, m, "B") for k in range(K) for m in range(M)]
    return sorted(tasks, key=lambda task: (task[1], task[0]))


def pipeline_bubble_fraction(n_stages: int, n_micro: int) -> float:
    r"""The idle share of the GPipe schedule, :math:`(K-1)/(M+K-1)` (Huang et al. 2019)."""
    K = check_int("n_stages", n_stages, low=1)
    M = check_int("n_micro", n_micro, low=1)
    return (K - 1) / (M + K - 1)
