"""Drawing what :class:`optbook.monitor.ActivationMonitor` recorded: per-layer histograms, in
the style of Glorot & Bengio (2010), and a per-layer statistic. These functions draw the arrays
they are given onto the axes they are given and compute nothing beyond the histogram itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

__all__ = ["draw_histograms", "draw_layer_statistic"]


def _flat(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=float).ravel()


def draw_histograms(
    axes: Axes | Sequence[Axes],
    arrays: Mapping[str, object],
    *,
    bins: int = 50,
    value_range: tuple[float, float] | None = None,
    density: bool = True,
    colors: Sequence[str] | None = None,
    xlabel: str | None = None,
) -> list:
    """One histogram per layer of ``arrays`` (layer name → values: a tensor or array-like).

    ``axes`` is either one :class:`~matplotlib.axes.Axes`, on which the layers are overlaid as
    outlined step histograms with a legend (Glorot & Bengio's style), or one axes per layer,
    each titled with the layer's name. All layers share the same bins (``bins`` of them over
    ``value_range`` if given, else over the span of all the values), so the histograms can be
    compared. Returns the patches ``ax.hist`` made, one entry per layer.
    """
    if not isinstance(arrays, Mapping) or not arrays:
        raise ValueError(f"arrays must be a non-empty mapping of name -> values, got {arrays!r}")
    flat = {name: _flat(v) for name, v in arrays.items()}
    overlay = isinstance(axes, Axes)
    if not overlay:
        axes = list(axes)
        if len(axes) != len(flat):
            raise ValueError(f"need one axes per layer: {len(flat)} layers, {len(axes)} axes")
    if value_range is None:
        values = np.concatenate(list(flat.values()))
        values = values[np.isfinite(values)]
        lo, hi = (values.min(), values.max()) if values.size else (0.0, 1.0)
        value_range = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    lo, hi = value_range
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"value_range must be finite with low < high, got {value_range!r}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    edges = np.linspace(lo, hi, bins + 1)
    drawn = []
    for i, (name, v) in enumerate(flat.items()):
        ax = axes if overlay else axes[i]
        style = dict(bins=edges, density=density, label=name)
        if colors is not None:
            style["color"] = colors[i % len(colors)]
        if overlay:
            style.update(histtype="step", linewidth=1.4)
        else:
            style.update(alpha=0.8)
            ax.set_title(name)
        drawn.append(ax.hist(v, **style)[2])
        if xlabel is not None and (not overlay or i == 0):
            ax.set_xlabel(xlabel)
    if overlay:
        axes.legend(title="layer", fontsize="small")
    return drawn


def draw_layer_statistic(
    ax: Axes,
    summary: Mapping[str, Mapping[str, float]],
    key: str,
    *,
    label: str | None = None,
    color: str | None = None,
    logy: bool = False,
):
    """Plot ``summary[name][key]`` against layer position, names on the x axis.

    ``summary`` is what :meth:`ActivationMonitor.summary` returns (or any name → dict of
    numbers), e.g. ``key="std"`` to see activations shrink or grow with depth. Returns the line.
    """
    names = list(summary)
    if not names:
        raise ValueError("summary is empty")
    missing = [name for name in names if key not in summary[name]]
    if missing:
        raise ValueError(f"key {key!r} missing for layers {missing}")
    x = np.arange(len(names))
    (line,) = ax.plot(
        x, [summary[n][key] for n in names], marker="o", label=label or key, color=color
    )
    ax.set_xticks(x, names)
    ax.set_xlabel("layer")
    ax.set_ylabel(key)
    if logy:
        ax.set_yscale("log")
    return line
