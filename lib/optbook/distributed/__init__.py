r"""Optimisation beyond one machine (§12.1): data-parallel SGD with ``torch.distributed``.

* :func:`train_data_parallel` runs synchronous data-parallel training on several processes
  (gloo on CPUs, NCCL on GPUs, ``DistributedDataParallel``) and reports where each step's time
  went; :func:`train_accumulated` is its one-machine twin (gradient accumulation). Both equal
  large-minibatch SGD to rounding.
* :func:`global_batches` is the seeded global sampler they share.
* :func:`time_allreduce` measures an all-reduce per message size; :func:`ring_allreduce_bytes`
  is the ring algorithm's traffic, :math:`2(p-1)/p \cdot N` numbers per worker.

Functions handed to worker processes must be picklable by name (see
:func:`~optbook.distributed._launch.check_picklable`).
"""

from .collectives import ring_allreduce_bytes, time_allreduce
from .data_parallel import DataParallelResult, global_batches, train_accumulated, train_data_parallel

__all__ = [
    "DataParallelResult",
    "global_batches",
    "train_data_parallel",
    "train_accumulated",
    "ring_allreduce_bytes",
    "time_allreduce",
]
