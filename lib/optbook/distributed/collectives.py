r"""What an all-reduce costs: measured times and the ring algorithm's cost model.

In a ring all-reduce of :math:`N` numbers over :math:`p` workers, each worker sends (and
receives) :math:`2(p-1)/p \cdot N` numbers: :math:`p-1` rounds of reduce-scatter and
:math:`p-1` of all-gather, each moving a :math:`1/p` slice (Patarasuk & Yuan 2009). With a
per-message latency :math:`\alpha` and a time :math:`\beta` per byte,

.. math::

    T(N) \approx 2(p-1)\,\alpha + \frac{2(p-1)}{p} N b \, \beta,

for :math:`b` bytes per number: a fixed cost that dominates small messages, then a cost per
byte that hardly grows with :math:`p`. :func:`time_allreduce` measures :math:`T(N)` with
``torch.distributed``; :func:`ring_allreduce_bytes` is the model's traffic term.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.distributed as dist

from .._validation import check_int
from ._launch import check_world_size, free_port, spawn

__all__ = ["ring_allreduce_bytes", "time_allreduce"]


def ring_allreduce_bytes(numel, world_size: int, bytes_per_element: int = 4) -> np.ndarray:
    r"""Bytes each worker sends in a ring all-reduce: :math:`2(p-1)/p \cdot N b`.

    ``numel`` (:math:`N`) may be an array; ``world_size`` is :math:`p \ge 1` (zero traffic for one).
    """
    world_size = check_int("world_size", world_size, low=1)
    bytes_per_element = check_int("bytes_per_element", bytes_per_element, low=1)
    numel = np.asarray(numel, dtype=np.float64)
    if (numel < 0).any():
        raise ValueError(f"numel must be >= 0, got {numel!r}")
    return 2.0 * (world_size - 1) / world_size * numel * bytes_per_element


def _allreduce_worker(rank: int, in_path: str, out_path: str) -> None:
    cfg = torch.load(in_path, weights_only=False)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=cfg["init_method"], rank=rank, world_size=cfg["world_size"])
    try:
        seconds = np.zeros((len(cfg["numels"]), cfg["repeats"]))
        for i, n in enumerate(cfg["numels"]):
            x = torch.ones(n, dtype=torch.float32)
            dist.all_reduce(x)  # warm-up: connections and buffers
            for r in range(cfg["repeats"]):
                dist.barrier()  # start together, so one rank's lateness is not counted as transfer
                t0 = time.perf_counter()
                dist.all_reduce(x)
                seconds[i, r] = time.perf_counter() - t0
        if rank == 0:
            torch.save(seconds, out_path)
    finally:
        dist.destroy_process_group()


def time_allreduce(numels, *, world_size: int = 2, repeats: int = 5, allow_oversubscribe: bool = False):
    """Seconds for one float32 all-reduce of each size in ``numels``, over ``world_size`` processes.

    Starts the processes once (gloo on 127.0.0.1), and for each size runs one warm-up and
    ``repeats`` timed all-reduces, each after a barrier. Returns an array of shape
    ``(len(numels), repeats)`` as measured on rank 0; take the median per row. Timings depend on
    the machine and its load: use them for shapes (fixed cost, then linear), not for constants.
    """
    numels = [check_int(f"numels[{i}]", n, low=1) for i, n in enumerate(numels)]
    if not numels:
        raise ValueError("numels must list at least one size, got an empty list")
    world_size = check_world_size(world_size, allow_oversubscribe)
    if world_size < 2:
        raise ValueError(f"world_size must be >= 2 to all-reduce between processes, got {world_size}")
    repeats = check_int("repeats", repeats, low=1)
    payload = dict(numels=numels, repeats=repeats, world_size=world_size,
                   init_method=f"tcp://127.0.0.1:{free_port()}")
    return spawn(_allreduce_worker, payload, world_size)
