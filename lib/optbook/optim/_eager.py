"""The base class of the book's optimisers: :class:`torch.optim.Optimizer` without the lazy
import of ``torch._dynamo``.

Torch wraps ``Optimizer.zero_grad``, ``add_param_group``, ``state_dict`` and
``load_state_dict`` in ``torch._disable_dynamo``, which imports ``torch._dynamo`` (the
``torch.compile`` machinery, about a second of CPU) the first time any of them is called, only
to keep the compiler out of them. The book never compiles its optimisers, so
:class:`EagerOptimizer` takes the four methods as torch wrote them, unwrapped: the same code,
minus that import. Creating the first optimiser in a notebook then costs milliseconds.
"""

from __future__ import annotations

import torch

__all__ = ["EagerOptimizer"]


def _unwrapped(name: str):
    method = getattr(torch.optim.Optimizer, name)
    return getattr(method, "__wrapped__", method)  # torch's own function where it is wrapped


class EagerOptimizer(torch.optim.Optimizer):
    """:class:`torch.optim.Optimizer` whose ``zero_grad``, ``add_param_group``, ``state_dict``
    and ``load_state_dict`` are torch's, without the ``torch._dynamo`` wrapper (see the module)."""

    zero_grad = _unwrapped("zero_grad")
    add_param_group = _unwrapped("add_param_group")
    state_dict = _unwrapped("state_dict")
    load_state_dict = _unwrapped("load_state_dict")
