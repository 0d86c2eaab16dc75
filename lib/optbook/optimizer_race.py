r"""A race on 2-D landscapes in which the reader picks the runners.

:func:`optimizer_race` is :func:`optbook.explorers.trajectory_race` with one more control:
``show``, the labels of the optimisers to draw. With seven optimisers on four surfaces, drawing
all of them at once hides what each does; choosing two or three to compare (AdaGrad against
RMSProp, Adam with and without bias correction) is how §8.5 uses it. Panels are laid out in a
grid, trajectories come from the same :class:`~optbook.explorers.TrajectoryCache`, and hidden
optimisers cost nothing (they are not run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ._validation import check_int
from .explorers import TrajectoryCache
from .landscapes import Landscape, Trajectory
from .plotting import PALETTE, draw_contours
from .widgets import LiveFigure

__all__ = ["optimizer_race", "race_summary"]

Factory = Callable[..., torch.optim.Optimizer]


def race_summary(label: str, traj: Trajectory | str) -> str:
    """One line for a panel's note: the final loss, the divergence step, or why it did not run."""
    if isinstance(traj, str):
        return f"{label}: not run ({traj})"
    if traj.diverged:
        return f"{label}: diverged at step {traj.diverged_at}"
    return f"{label}: f = {traj.losses[-1]:.1e}"


def optimizer_race(
    landscapes: Sequence[Landscape],
    optimizers: Mapping[str, Factory],
    steps: int | Sequence[int] = 100,
    *,
    lr_unit: str = "absolute",
    ncols: int | None = None,
    grid_n: int = 140,
    panel_size: tuple[float, float] = (4.2, 3.4),
    dpi: int = 80,
    colors: Sequence[str] = PALETTE,
    legend_ncols: int = 4,
    alt: str = "",
    cache: TrajectoryCache | None = None,
) -> LiveFigure:
    r"""Optimisers racing on landscapes, as a :class:`~optbook.widgets.LiveFigure` whose
    update takes ``lr``, ``show`` and any other hyperparameters as keywords.

    Args:
        landscapes: one panel each, laid out in rows of ``ncols`` (default: all in one row).
        optimizers: label → factory called as ``factory(params, lr=..., **hyper)``; a factory
            receives only the keywords its signature names, so ``lambda params: AdaDelta(params)``
            ignores the learning rate.
        steps: steps per run, one number or one per landscape.
        lr_unit: ``"absolute"`` (the slider value is :math:`\epsilon`, the natural unit for
            adaptive methods, whose steps are about :math:`\epsilon` per coordinate whatever the
            gradient's scale) or ``"curvature"`` (:math:`\epsilon L`, as in
            :func:`~optbook.explorers.trajectory_race`).
        colors: one colour per optimiser, in order (each keeps its colour when others hide).
        legend_ncols: columns of the figure's legend, which sits below the panels.

    The update's ``show`` is a label, an iterable of labels, or ``None`` for all; unknown
    labels raise :class:`ValueError`. Each panel's note
    lists the learning rate and, for the shown ones, the final loss or the step at which the
    run diverged. The legend, below the panels, lists every optimiser.
    """
    landscapes = list(landscapes)
    if not landscapes or not all(isinstance(land, Landscape) for land in landscapes):
        raise TypeError(f"landscapes must be a non-empty sequence of Landscape, got {landscapes!r}")
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise TypeError(f"optimizers must be a non-empty mapping of label -> factory, got {optimizers!r}")
    if not all(callable(f) for f in optimizers.values()):
        raise TypeError(f"optimizers must map labels to callables, got {optimizers!r}")
    if lr_unit not in ("curvature", "absolute"):
        raise ValueError(f"lr_unit must be 'curvature' or 'absolute', got {lr_unit!r}")
    if lr_unit == "curvature":
        missing = [land.name for land in landscapes if not land.lipschitz]
        if missing:
            raise ValueError(f"lr_unit='curvature' needs a curvature L for every landscape: {missing}")
    steps_list = [steps] * len(landscapes) if isinstance(steps, int) else list(steps)
    if len(steps_list) != len(landscapes):
        raise ValueError(f"steps must be an int or one per landscape, got {steps!r}")
    steps_list = [check_int("steps", s, low=1) for s in steps_list]
    ncols = len(landscapes) if ncols is None else check_int("ncols", ncols, low=1)
    legend_ncols = check_int("legend_ncols", legend_ncols, low=1)
    if len(colors) < len(optimizers):
        raise ValueError(f"need a colour per optimiser: {len(optimizers)} optimisers, {len(colors)} colours")
    cache = cache or TrajectoryCache()
    labels = list(optimizers)

    nrows = -(-len(landscapes) // ncols)
    w, h = panel_size
    fig = Figure(figsize=(w * ncols, h * nrows), dpi=dpi, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    lines: list[list] = []
    notes = []
    for ax, land in zip(axes, landscapes, strict=False):
        X, Y, Z = land.grid(grid_n)
        draw_contours(ax, X, Y, Z, minimiser=land.minimiser)
        ax.plot(*land.x0, marker="o", color="black", markersize=5, linestyle="none", zorder=3)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$y$")
        ax.set_title(land.name, fontsize=10)
        row = [
            ax.plot([], [], color=color, label=label, marker="o", markersize=2.0, linewidth=1.2,
                    alpha=0.9)[0]
            for label, color in zip(labels, colors, strict=False)
        ]
        lines.append(row)
        notes.append(ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", ha="left",
                             fontsize=7.5, family="monospace",
                             bbox=dict(boxstyle="round", fc="white", ec="0.7", alpha=0.85)))
    for ax in axes[len(landscapes):]:
        ax.set_visible(False)
    # One legend for the whole figure, below the panels, so that it never hides a trajectory.
    fig.legend(handles=lines[0], loc="outside lower center", ncols=min(len(labels), legend_ncols),
               fontsize=8, frameon=False)

    def update(lr, show=None, **hyper):
        shown = _shown(show, labels)
        for land, n, row, note in zip(landscapes, steps_list, lines, notes, strict=True):
            eps = lr / land.lipschitz if lr_unit == "curvature" else lr
            texts = [f"ε = {eps:.2g}"]
            for (label, factory), line in zip(optimizers.items(), row, strict=True):
                if label not in shown:
                    line.set_data([], [])
                    continue
                traj = cache.run(land, factory, n, lr=eps, **hyper)
                path = traj.path if isinstance(traj, Trajectory) else np.empty((0, 2))
                line.set_data(path[:, 0], path[:, 1])
                texts.append(race_summary(label, traj))
            note.set_text("\n".join(texts))

    artists = [a for row in lines for a in row] + notes
    return LiveFigure(fig, update, artists, alt=alt)


def _shown(show, labels: list[str]) -> set[str]:
    if show is None:
        return set(labels)
    chosen = [show] if isinstance(show, str) else list(show) if isinstance(show, Iterable) else None
    if chosen is None:
        raise TypeError(f"show must be a label, a list of labels or None, got {show!r}")
    unknown = [s for s in chosen if s not in labels]
    if unknown:
        raise ValueError(f"show names unknown optimisers {unknown}; the race has {labels}")
    return set(chosen)
