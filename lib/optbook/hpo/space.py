r"""Search spaces: what each hyperparameter may be, and the unit cube every search works in.

A space is a dict mapping each hyperparameter's name to ``(low, high)`` (a linear scale) or
``(low, high, "log")`` (a log scale, for quantities such as a learning rate whose useful values
span orders of magnitude, §11.4.4). Every search maps the space onto the unit cube
:math:`[0, 1]^d`, linearly in the value or in its logarithm:

.. math::

    u = \frac{x - a}{b - a} \quad\text{(linear)}, \qquad
    u = \frac{\log x - \log a}{\log b - \log a} \quad\text{(log)},

with :math:`a` = ``low`` and :math:`b` = ``high``. Uniform sampling of :math:`u` is then
uniform or log-uniform sampling of :math:`x`, and the Gaussian process of model-based search
sees every dimension on the same footing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._validation import check_real

__all__ = ["Dimension", "parse_space", "to_unit", "from_unit"]

_SCALES = ("linear", "log")


@dataclass(frozen=True)
class Dimension:
    """One validated hyperparameter: its ``name``, bounds ``low < high`` and scale."""

    name: str
    low: float
    high: float
    log: bool = False

    def to_unit(self, x) -> np.ndarray:
        """Map values in ``[low, high]`` to ``[0, 1]`` (through the logarithm on a log scale)."""
        x = np.asarray(x, dtype=np.float64)
        if self.log:
            return (np.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def from_unit(self, u) -> np.ndarray:
        """Map ``[0, 1]`` back to ``[low, high]``; the end points come back exactly."""
        u = np.asarray(u, dtype=np.float64)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            x = np.exp(lo + u * (hi - lo))
        else:
            x = self.low + u * (self.high - self.low)
        # Rounding in exp/log must not step outside the box the user asked for.
        x = np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high, x))
        return np.clip(x, self.low, self.high)


def _parse_entry(name, entry) -> Dimension:
    if not isinstance(name, str):
        raise TypeError(f"space keys must be hyperparameter names (str), got {name!r}")
    where = f"space[{name!r}]"
    if not isinstance(entry, tuple) or len(entry) not in (2, 3):
        raise TypeError(f"{where} must be a tuple (low, high) or (low, high, 'log'), got {entry!r}")
    low = check_real(f"{where} low", entry[0])
    high = check_real(f"{where} high", entry[1])
    scale = entry[2] if len(entry) == 3 else "linear"
    if scale not in _SCALES:
        raise ValueError(f"{where} has unknown scale {scale!r}; use 'log' or 'linear'")
    if not low < high:
        raise ValueError(f"{where} needs low < high, got low={low!r}, high={high!r}")
    if scale == "log" and low <= 0.0:
        raise ValueError(f"{where} is on a log scale, so it needs low > 0, got low={low!r}")
    return Dimension(name, low, high, scale == "log")


def parse_space(space) -> tuple[Dimension, ...]:
    """Validate a space dict and return its dimensions in the dict's order.

    An already parsed tuple of :class:`Dimension` is returned unchanged. Raises
    :class:`TypeError` for a space that is not a dict, a name that is not a string or an entry
    that is not a tuple, and :class:`ValueError` (naming the entry) for an empty space,
    ``low >= high``, a non-positive bound on a log scale or an unknown scale string.
    """
    if isinstance(space, tuple) and space and all(isinstance(d, Dimension) for d in space):
        return space
    if not isinstance(space, Mapping):
        raise TypeError(f"space must be a dict name -> (low, high[, 'log']), got {space!r}")
    if len(space) == 0:
        raise ValueError(f"space must have at least one hyperparameter, got {space!r}")
    return tuple(_parse_entry(name, entry) for name, entry in space.items())


def to_unit(space, params: Mapping) -> np.ndarray:
    """The point ``params`` (a dict over the space's names) as a vector in :math:`[0, 1]^d`."""
    dims = parse_space(space)
    return np.array([float(d.to_unit(params[d.name])) for d in dims])


def from_unit(space, u) -> dict[str, float]:
    """The point ``u`` of :math:`[0, 1]^d` as a params dict of Python floats."""
    dims = parse_space(space)
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (len(dims),):
        raise ValueError(f"u must have shape ({len(dims)},) for this space, got {u.shape}")
    return {d.name: float(d.from_unit(ui)) for d, ui in zip(dims, u, strict=True)}
