"""Ready-made interactive figures, built from landscapes, optimisers and :class:`LiveFigure`.

:func:`trajectory_race` is the book's workhorse: several optimisers race on several 2-D
landscapes, with sliders for the learning rate, the optimisers to show and any other
hyperparameters. Chapters import it rather than rebuilding a figure of their own.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from optbook._validation import check_int, check_real
from optbook.problems.landscapes import Landscape, Trajectory, run_trajectories_over_lr, run_trajectory
from optbook.viz.plotting import PALETTE, draw_contours
from optbook.viz.widgets import LiveFigure

__all__ = ["trajectory_race", "race_summary", "TrajectoryCache"]

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

    @staticmethod
    def _key(landscape: Landscape, factory: Factory, steps: int, kwargs: Mapping) -> tuple:
        return (id(landscape), id(factory), steps, tuple(sorted(kwargs.items())))

    def _put(self, key: tuple, traj: Trajectory | str) -> None:
        self._store[key] = traj
        if len(self._store) > self.maxsize:
            self._store.popitem(last=False)

    def run(self, landscape: Landscape, factory: Factory, steps: int, **values) -> Trajectory | str:
        """The cached trajectory, or the factory's error message if it refused the values
        (e.g. Nesterov with zero momentum): a figure shows that message, never a traceback."""
        kwargs = self.accepted(factory, values)
        key = self._key(landscape, factory, steps, kwargs)
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        try:
            traj = run_trajectory(landscape, lambda p: factory(p, **kwargs), steps)
        except (ValueError, TypeError) as err:
            traj = str(err)
        self._put(key, traj)
        return traj

    def prefill(self, landscape: Landscape, factory: Factory, steps: int, lrs: Iterable[float],
                **values) -> None:
        """Compute ``run(landscape, factory, steps, lr=lr, **values)`` for every ``lr`` in ``lrs``
        in one batched run (:func:`~optbook.problems.landscapes.run_trajectories_over_lr`; the factory's
        optimiser must meet its condition), so that later calls only look up.

        A factory that ignores the learning rate is run once."""
        if "lr" not in self.accepted(factory, {"lr": 1.0}):
            self.run(landscape, factory, steps, **values)
            return
        kwargs = self.accepted(factory, values)
        kwargs.pop("lr", None)
        todo = sorted({lr for lr in map(float, lrs)
                       if self._key(landscape, factory, steps, {**kwargs, "lr": lr}) not in self._store})
        if not todo:
            return
        try:
            trajs = run_trajectories_over_lr(
                landscape, lambda params, lr: factory(params, lr=lr, **kwargs), todo, steps)
        except (ValueError, TypeError) as err:
            trajs = [str(err)] * len(todo)
        for lr, traj in zip(todo, trajs, strict=True):
            self._put(self._key(landscape, factory, steps, {**kwargs, "lr": lr}), traj)


def race_summary(label: str, traj: Trajectory | str) -> str:
    """One line for a panel's note: the final loss, the divergence step, or why it did not run."""
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
    ncols: int | None = None,
    grid_n: int = 160,
    panel_size: tuple[float, float] = (4.6, 3.6),
    dpi: int = 80,
    colors: Sequence[str] = PALETTE,
    legend_ncols: int = 4,
    alt: str = "",
    cache: TrajectoryCache | None = None,
    lr_grid: Iterable[float] | None = None,
) -> LiveFigure:
    r"""Optimisers racing on landscapes, one panel per landscape, as a :class:`LiveFigure`.

    The figure's update takes ``lr``, optionally ``show`` (which optimisers to draw), and any
    other hyperparameters as keywords.

    Args:
        landscapes: one panel each, laid out in rows of ``ncols`` (default: all in one row).
        optimizers: label → factory called as ``factory(params, lr=..., **hyper)``; a factory
            receives only the keywords its signature names, so ``lambda params, lr: SGD(params, lr)``
            ignores a momentum slider and ``lambda params: AdaDelta(params)`` the learning rate.
        steps: steps per run, one number or one per landscape.
        lr_unit: ``"curvature"`` (the default): the slider value is :math:`\epsilon L`, the
            learning rate in units of :math:`1/L`, where :math:`L` is each landscape's largest
            curvature at its minimum (plain gradient descent is stable for :math:`\epsilon L < 2`),
            so one slider means the same on a gentle quadratic and on Rosenbrock.
            ``"absolute"``: the value is :math:`\epsilon` itself, the natural unit for adaptive
            methods, whose steps are about :math:`\epsilon` per coordinate whatever the gradient.
        colors: one colour per optimiser, in order (each keeps its colour when others hide).
        legend_ncols: columns of the figure's legend, which sits below the panels so that it
            never hides a trajectory.
        cache: where runs are memoised (default: a new :class:`TrajectoryCache`); pass one to
            read the very trajectories the figure draws, e.g. in a notebook's checks. With an
            ``lr_grid``, its ``maxsize`` is raised if needed to hold the whole grid.
        lr_grid: the ``lr`` values a slider can take. If given, every optimiser runs all of them
            on every landscape now, one batched run each
            (:func:`~optbook.problems.landscapes.run_trajectories_over_lr`, whose condition every
            optimiser must meet: true of Algorithms 8.1–8.7), so that moving the slider only
            redraws. Other values are still computed when asked for.

    The update's ``show`` is a label, an iterable of labels, or ``None`` (the default) for all;
    hidden optimisers are not run. Each panel's note lists the learning rate and, for each shown
    optimiser, the final loss, the step at which it diverged, or why it could not run.
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
    grid = None
    if lr_grid is not None:
        grid = [_snap(check_real("lr_grid value", v, low=0.0, low_open=True)) for v in lr_grid]
        if not grid:
            raise ValueError("lr_grid must hold at least one learning rate, got none")
    need = 0 if grid is None else 2 * len(grid) * len(optimizers) * len(landscapes)
    if cache is None:
        cache = TrajectoryCache(max(1024, need))
    elif cache.maxsize < need:
        cache.maxsize = need  # room for the whole grid, or the prefill would evict itself
    labels = list(optimizers)

    def eps_for(land: Landscape, lr: float) -> float:
        return lr / land.lipschitz if lr_unit == "curvature" else lr

    if grid is not None:
        for land, n in zip(landscapes, steps_list, strict=True):
            for factory in optimizers.values():
                cache.prefill(land, factory, n, [eps_for(land, lr) for lr in grid])

    nrows = -(-len(landscapes) // ncols)
    w, h = panel_size
    fig = Figure(figsize=(w * ncols, h * nrows), dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
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
            ax.plot([], [], color=color, label=label, marker="o", markersize=2.2, linewidth=1.3,
                    alpha=0.9)[0]
            for label, color in zip(labels, colors, strict=False)
        ]
        lines.append(row)
        notes.append(ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", ha="left",
                             fontsize=8, family="monospace",
                             bbox=dict(boxstyle="round", fc="white", ec="0.7", alpha=0.85)))
    for ax in axes[len(landscapes):]:
        ax.set_visible(False)
    fig.legend(handles=lines[0], loc="outside lower center", ncols=min(len(labels), legend_ncols),
               fontsize=8, frameon=False)

    def update(lr, show=None, **hyper):
        shown = _shown(show, labels)
        lr = _snap(lr)  # a slider's value, from the browser, may be one ulp off the grid's
        for land, n, row, note in zip(landscapes, steps_list, lines, notes, strict=True):
            eps = eps_for(land, lr)
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


def _snap(lr: float) -> float:
    """``lr`` to 12 significant digits: equal slider values give equal cache keys."""
    return float(f"{lr:.12g}")


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
