"""Objectives for tests/test_hpo_parallel.py: module level, so Optuna's worker processes can import them."""

import math

CALLS_FILE_ENV = "OPTBOOK_TEST_CALLS"


def toy_objective(params, resource):
    """A loss that falls with the resource towards a floor set by the params (lr near 0.1 is best)."""
    floor = (math.log10(params["lr"]) + 1.0) ** 2 + 0.001 * params["width"]
    return floor + 1.0 / resource


def failing_objective(params, resource):
    """Fails in the worker, so the caller must report the worker's error."""
    raise ValueError(f"this objective always fails (lr={params['lr']:.3g})")
