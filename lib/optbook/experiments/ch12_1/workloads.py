"""Picklable workloads of chapter 12.1: what the worker processes train and search.

Worker processes (spawned, or forked from a fork server that knows nothing of the caller's
notebook: :mod:`optbook.distributed._launch`) receive functions by *name* and import them, so the
model, optimiser and objective functions handed to :func:`optbook.distributed.train_data_parallel`
and to :mod:`optbook.hpo`'s parallel search must live at module level in an importable module:
here, not in the notebook.
"""

from __future__ import annotations

import functools

import torch

from optbook import data, training
from optbook._validation import check_int, check_real
from optbook.optim import SGD

__all__ = [
    "DIGITS_SPACE",
    "digits_arrays",
    "digits_model",
    "digits_sgd",
    "digits_optbook_momentum",
    "digits_error",
    "digits_objective",
]

#: The §11.4 search space: learning rate, weight decay and hidden width, all on a log scale.
DIGITS_SPACE = {"lr": (1e-3, 3.0, "log"), "weight_decay": (1e-6, 1e-1, "log"), "width": (8, 256, "log")}

_WIDTH = 32  # hidden units of the data-parallel network


@functools.lru_cache(maxsize=2)
def _digits(dtype: torch.dtype) -> tuple[data.Split, data.Split]:
    train, val, _ = data.load_digits(seed=0, dtype=dtype)
    return train, val


def digits_arrays(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    """``(X_train, y_train, X_val, y_val)`` of the digits split used throughout the book (seed 0).

    Loaded once per process; the tensors are fresh copies, so a caller may change them.
    """
    train, val = _digits(dtype)
    return train.X.clone(), train.y.clone(), val.X.clone(), val.y.clone()


def digits_model() -> torch.nn.Module:
    """A 64-32-10 ReLU network in float64 with fixed initial weights (seed 0)."""
    return training.mlp([64, _WIDTH, 10], activation="relu", seed=0, dtype=torch.float64)


def digits_sgd(params) -> torch.optim.Optimizer:
    """Plain minibatch SGD, ``torch.optim.SGD(params, lr=0.1)``."""
    return torch.optim.SGD(params, lr=0.1)


def digits_optbook_momentum(params) -> torch.optim.Optimizer:
    """optbook's own SGD with momentum (``lr=0.05, momentum=0.9``)."""
    return SGD(params, lr=0.05, momentum=0.9)


@torch.no_grad()
def digits_error(state_dict) -> float:
    """Validation error of :func:`digits_model` with the weights ``state_dict``."""
    model = digits_model()
    model.load_state_dict(state_dict)
    _, _, X_val, y_val = digits_arrays(torch.float64)
    return (model(X_val).argmax(1) != y_val).double().mean().item()


def digits_objective(params, resource) -> float:
    """Validation error of the §11.4 digits network after ``resource`` epochs of SGD.

    ``params`` holds ``lr``, ``weight_decay`` and ``width`` (rounded to an integer); the
    network is 64-width-10 with ReLU units, trained in float32 with minibatches of 64 from
    fixed initial weights and a fixed minibatch order (seed 0), so the same arguments always
    give the same value: the objective of :func:`optbook.hpo.successive_halving` and
    :func:`optbook.hpo.hyperband` with the number of epochs as the resource. A run whose loss
    overflows returns its error (close to 0.9), never NaN.
    """
    if not isinstance(params, dict) or not {"lr", "weight_decay", "width"} <= set(params):
        raise ValueError(f"params must be a dict with lr, weight_decay and width, got {params!r}")
    lr = check_real("lr", params["lr"], low=0.0, low_open=True)
    weight_decay = check_real("weight_decay", params["weight_decay"], low=0.0)
    width = check_int("width", int(round(check_real("width", params["width"], low=1.0))), low=1)
    if isinstance(resource, float) and resource.is_integer():
        resource = int(resource)  # Hyperband's resources R * eta**-i are whole numbers as floats
    epochs = check_int("resource", resource, low=1)
    train, val = _digits(torch.float32)
    model = training.mlp([64, width, 10], activation="relu", seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    # training.train(model, opt, train, val, epochs=epochs, batch_size=64, seed=0).val_error[-1],
    # step for step, without the loss and error on both splits that train() records every epoch
    # (about a tenth of the time here); tests/test_ch12_1.py checks that the two agree exactly.
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for xb, yb in data.minibatches(train, 64, gen):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    return float(training.evaluate(model, val)[1])
