"""Real data without downloads: scikit-learn's bundled handwritten digits (8 × 8 images).

:func:`load_digits` returns a seeded, stratified train / validation / test split as torch
tensors; :func:`minibatches` yields shuffled minibatches from a ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits as _sk_load_digits
from sklearn.model_selection import train_test_split

from ._validation import check_int, check_real

__all__ = ["Split", "load_digits", "minibatches"]


@dataclass(frozen=True)
class Split:
    """Features ``X`` (n × 64, pixel intensities scaled to [0, 1]) and labels ``y`` (n,)."""

    X: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def load_digits(
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    dtype: torch.dtype = torch.float32,
) -> tuple[Split, Split, Split]:
    """The 1,797 digits split into ``(train, val, test)``, stratified by class and seeded.

    Pixels (0–16 in the raw data) are divided by 16. ``val_fraction`` and ``test_fraction``
    are fractions of the whole data set; their sum must be below 1.
    """
    seed = check_int("seed", seed, low=0)
    val_fraction = check_real("val_fraction", val_fraction, low=0.0, high=1.0, low_open=True)
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    digits = _sk_load_digits()
    X = (digits.data / 16.0).astype(np.float64)
    y = digits.target.astype(np.int64)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val_fraction / (1.0 - test_fraction),
        random_state=seed, stratify=y_rest,
    )

    def split(X_, y_):
        return Split(torch.tensor(X_, dtype=dtype), torch.tensor(y_))

    return split(X_train, y_train), split(X_val, y_val), split(X_test, y_test)


def minibatches(
    data: Split, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of minibatches, in an order drawn afresh from ``generator``.

    This is the "shuffle, then walk through" scheme of §8.1.3; the last batch may be smaller.
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    order = torch.randperm(len(data), generator=generator)
    for start in range(0, len(data), batch_size):
        idx = order[start : start + batch_size]
        yield data.X[idx], data.y[idx]
