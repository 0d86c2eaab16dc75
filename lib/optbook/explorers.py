"""Ready-made interactive figures, built from landscapes, optimisers and :class:`LiveFigure`.

:func:`trajectory_race` is the book's workhorse: several optimisers race on several 2-D
landscapes, with sliders for the learning rate and any other hyperparameters. Chapters
import it rather than rebuilding a figure of their own.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ._validation import check_int
from .landscapes import Landscape, Trajectory, run_trajectory
from .plotting import PALETTE, draw_contours
from .widgets import LiveFigure

__all__ = ["trajectory_race", "TrajectoryCache"]

Factory = Callable[..., torch.optim.Optimizer]


class TrajectoryCache:
    """Memoises :func:`run_trajectory` on exactly the hyperparameters a factory accepts.

    A factory ``lambda params, lr: SGD(params, lr)`` does not take ``momentum``, so moving a
    momentum slider reuses its cached run: only what depends on the slider is recomputed.
    """

    def __init__(self, maxsize: int = 1024):
        self.maxsize = check_int("maxsize", maxsize, low=1)
        self._store: OrderedDict = OrderedDict()

    @staticmethod
    def accepted(factory: Factory, values: Mapping) -> dict:
        params = inspect.signature(factory).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return dict(values)
        return {k: v for k, v in values.items() if k in params}

    def run(self, landscape: Landscape, factory: Factory, steps: int, **values) -> Trajectory | str:
        """The cached trajectory, or the factory's error message if it refused the values
        (e.g. Nesterov with zero momentum): a figure shows that message, never a traceback."""
        kwargs = self.accepted(factory, values)
        key = (id(landscape), id(factory), steps, tuple(sorted(kwargs.items())))
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        try:
            traj = run_trajectory(landscape, lambda p: factory(p, **kwargs), steps)
        except (ValueError, TypeError) as err:
            traj = str(err)
        self._store[key] = traj
        if len(self._store) > self.maxsize:
            self._store.popitem(last=False)
        return traj


def _summary(label: str, traj: Trajectory | str) -> str:
    if isinstance(traj, str):
        return f"{label}: not run ({traj})"
    if traj.diverged:
        return f"{label}: diverged at step {traj.diverged_at}"
    return f"{label}: f = {traj.losses[-1]:.1e}"


def trajectory_race(
    landscapes: Sequence[Landscape],
    optimizers: Mapping[str, Factory],
    steps: int | Sequence[int] = 100,
    *,
    lr_unit: str = "curvature",
    grid_n: int = 160,
    panel_size: tuple[float, float] = (4.6, 3.6),
    dpi: int = 80,
    alt: str = "",
    cache: TrajectoryCache | None = None,
) -> LiveFigure:
    r"""Optimisers racing on landscapes, one panel per landscape, as a :class:`LiveFigure`.

    ``optimizers`` maps a label to a factory called as ``factory(params, lr=..., **hyper)``;
    a factory receives only the keyword arguments its signature names. The figure's update
    takes ``lr`` and any other hyperparameters as keywords.

    With ``lr_unit="curvature"`` (the default) the slider value is :math:`\epsilon L`, the
    learning rate in units of :math:`1/L`, where :math:`L` is each landscape's largest
    curvature at its minimum (plain gradient descent is stable for :math:`\epsilon L < 2`):
    one slider then means the same on a gentle quadratic and on Rosenbrock. With
    ``lr_unit="absolute"`` the value is :math:`\epsilon` itself.

    Each panel reports, per optimiser, the final loss or the step at which it diverged.
    """
    landscapes = list(landscapes)
    if not landscapes or not all(isinstance(land, Landscape) for land in landscapes):
        raise TypeError(f"landscapes must be a non-empty sequence of Landscape, got {landscapes!r}")
    if not optimizers or not all(callable(f) for f in optimizers.values()):
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
    cache = cache or TrajectoryCache()

    w, h = panel_size
    fig = Figure(figsize=(w * len(landscapes), h), dpi=dpi, layout="constrained")
    axes = fig.subplots(1, len(landscapes), squeeze=False)[0]
    lines: list[list] = []
    notes = []
    for ax, land in zip(axes, landscapes, strict=True):
        X, Y, Z = land.grid(grid_n)
        draw_contours(ax, X, Y, Z, minimiser=land.minimiser)
        ax.plot(*land.x0, marker="o", color="black", markersize=5, linestyle="none", zorder=3)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$y$")
        row = []
        for (label, _), color in zip(optimizers.items(), PALETTE, strict=False):
            (line,) = ax.plot([], [], color=color, label=label, marker="o", markersize=2.2,
                              linewidth=1.3, alpha=0.9)
            row.append(line)
        lines.append(row)
        ax.set_title(land.name, fontsize=10)
        notes.append(ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", ha="left",
                             fontsize=8, family="monospace",
                             bbox=dict(boxstyle="round", fc="white", ec="0.7", alpha=0.85)))
    axes[-1].legend(loc="lower right", fontsize=8, framealpha=0.85)

    def update(lr, **hyper):
        for land, n, row, note in zip(landscapes, steps_list, lines, notes, strict=True):
            eps = lr / land.lipschitz if lr_unit == "curvature" else lr
            texts = [f"ε = {eps:.2g}"]
            for (label, factory), line in zip(optimizers.items(), row, strict=True):
                traj = cache.run(land, factory, n, lr=eps, **hyper)
                path = traj.path if isinstance(traj, Trajectory) else np.empty((0, 2))
                line.set_data(path[:, 0], path[:, 1])
                texts.append(_summary(label, traj))
            note.set_text("\n".join(texts))

    artists = [a for row in lines for a in row] + notes
    return LiveFigure(fig, update, artists, alt=alt)

