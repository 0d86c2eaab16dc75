"""The experiments behind chapter 12.1, *Optimisation beyond one machine*.

* :mod:`.workloads`: module-level (hence picklable) model, optimiser and objective functions
  that the chapter hands to :func:`optbook.distributed.train_data_parallel` and to the
  hyperparameter searches of :mod:`optbook.hpo`; worker processes import them from here.
* :mod:`.cost_models`: the communication and scheduling arithmetic the chapter draws: the ring
  all-reduce, simulated step by step, its time model and a GPipe pipeline schedule.
"""

from .cost_models import (
    pipeline_bubble_fraction,
    pipeline_schedule,
    ring_allreduce,
    ring_allreduce_time,
)
from .workloads import (
    DIGITS_SPACE,
    digits_arrays,
    digits_error,
    digits_model,
    digits_objective,
    digits_optbook_momentum,
    digits_sgd,
)

__all__ = [
    "ring_allreduce",
    "ring_allreduce_time",
    "pipeline_schedule",
    "pipeline_bubble_fraction",
    "DIGITS_SPACE",
    "digits_arrays",
    "digits_model",
    "digits_sgd",
    "digits_optbook_momentum",
    "digits_error",
    "digits_objective",
]
