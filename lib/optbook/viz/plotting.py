"""Plot helpers: they draw arrays they are given onto axes they are given, and compute nothing.

Compute first (``Landscape.grid``, ``run_trajectory``, ``training.train``), then draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

__all__ = ["PALETTE", "draw_contours", "draw_path", "draw_learning_curves"]

# One colour per method, used throughout the book (colour-blind safe, Okabe & Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def draw_contours(
    ax: Axes,
    X: np.ndarray,
    Y: np.ndarray,
    Z: np.ndarray,
    *,
    levels: int = 18,
    log: bool = True,
    minimiser: Sequence[float] | None = None,
    cmap: str = "Greys",
):
    """Contour lines of ``Z`` over the grid ``X, Y``; log-spaced levels by default.

    Log spacing (of ``Z - min Z``) shows both the steep walls and the flat valley floor of
    ill-conditioned functions. For functions that go negative (saddles), pass ``log=False``.
    """
    if X.shape != Y.shape or X.shape != Z.shape:
        raise ValueError(f"X, Y, Z must share a shape, got {X.shape}, {Y.shape}, {Z.shape}")
    if log:
        shifted = Z - Z.min()
        positive = shifted[shifted > 0]
        lo, hi = positive.min(), positive.max()
        lv = np.geomspace(max(lo, hi * 1e-6), hi, levels)
        shifted = np.where(shifted > 0, shifted, lv[0] / 2)  # LogNorm needs positive values
        cs = ax.contour(X, Y, shifted, levels=lv, cmap=cmap, norm=mcolors.LogNorm(lv[0], lv[-1]),
                        linewidths=0.7)
    else:
        cs = ax.contour(X, Y, Z, levels=levels, cmap=cmap, linewidths=0.7)
    if minimiser is not None:
        ax.plot(*minimiser, marker="*", color="black", markersize=11, linestyle="none", zorder=3)
    ax.set_xlim(X.min(), X.max())
    ax.set_ylim(Y.min(), Y.max())
    return cs


def draw_path(ax: Axes, path: np.ndarray, *, color: str, label: str | None = None, **kw) -> Line2D:
    """A trajectory ``path`` of shape ``(n, 2)`` as a line with small markers; returns the line."""
    path = np.asarray(path)
    if path.ndim != 2 or path.shape[1] != 2:
        raise ValueError(f"path must have shape (n, 2), got {path.shape}")
    style = dict(marker="o", markersize=2.5, linewidth=1.3, alpha=0.9)
    style.update(kw)
    (line,) = ax.plot(path[:, 0], path[:, 1], color=color, label=label, **style)
    return line


def draw_learning_curves(
    ax: Axes,
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    logy: bool = True,
    colors: Sequence[str] = PALETTE,
    **kw,
) -> list[Line2D]:
    """One line per entry of ``curves`` (label → values indexed by epoch or step)."""
    lines = []
    for (label, values), color in zip(curves.items(), colors, strict=False):
        (line,) = ax.plot(np.arange(len(values)), values, label=label, color=color, **kw)
        lines.append(line)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return lines
