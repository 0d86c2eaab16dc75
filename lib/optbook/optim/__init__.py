"""Optimisers written as the book's algorithms (``torch.optim.Optimizer`` subclasses)."""

from .sgd import SGD, sgd_update_

__all__ = ["SGD", "sgd_update_"]
