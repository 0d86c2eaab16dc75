r"""Optimisation beyond one machine (§12.1): data-parallel SGD with ``torch.distributed``.

* :func:`train_data_parallel` runs synchronous data-parallel training on several processes
  (gloo on CPUs, NCCL on GPUs, ``DistributedDataParallel``) and reports where each step's time
  went; :func:`train_accumulated` is its one-machine twin (gradient accumulation). Both equal
  large-minibatch SGD to rounding.
* :func:`global_batches` is the seeded global sampler they share.
* :func:`time_allreduce` measures an all-reduce per message size; :func:`ring_allreduce_bytes`
  is the ring algorithm's traffic, :math:`2(p-1)/p \cdot N` numbers per worker.
* :func:`hogwild_sgd` runs lock-free asynchronous SGD (Hogwild!) in several processes on
  shared-memory parameters, on a :func:`sparse_least_squares` problem.
* :func:`stale_gradient_descent` runs gradient descent with :math:`\tau`-step-old gradients on a
  quadratic for many delays at once; :func:`stale_stability_threshold` is where it diverges.

Functions handed to worker processes must be picklable by name (see
:func:`~optbook.distributed._launch.check_picklable`).
"""

from .collectives import ring_allreduce_bytes, time_allreduce
from .data_parallel import DataParallelResult, global_batches, train_accumulated, train_data_parallel
from .hogwild import HogwildResult, SparseLeastSquares, hogwild_sgd, sparse_least_squares
from .staleness import StaleRuns, stale_gradient_descent, stale_stability_threshold

__all__ = [
    "DataParallelResult",
    "global_batches",
    "train_data_parallel",
    "train_accumulated",
    "ring_allreduce_bytes",
    "time_allreduce",
    "SparseLeastSquares",
    "sparse_least_squares",
    "HogwildResult",
    "hogwild_sgd",
    "StaleRuns",
    "stale_gradient_descent",
    "stale_stability_threshold",
]
