"""optbook.viz.explorers.trajectory_race: the drawn paths are run_trajectory's, hidden runners are
neither drawn
nor run, notes list what is shown, refusals and divergence are annotated, and bad arguments are
refused with the value in the message."""

import io

import numpy as np
import pytest
from PIL import Image

from optbook.optim import SGD, AdaDelta, Adam, RMSProp
from optbook.problems import landscapes
from optbook.viz.explorers import TrajectoryCache, race_summary, trajectory_race

OPTS = {
    "SGD": lambda params, lr: SGD(params, lr=lr),
    "RMSProp": lambda params, lr: RMSProp(params, lr=lr),
    "Adam": lambda params, lr, bias_correction=True: Adam(params, lr=lr, bias_correction=bias_correction),
    "AdaDelta": lambda params: AdaDelta(params),
}
LANDS = [landscapes.quadratic(kappa=10), landscapes.rosenbrock(), landscapes.quadratic(kappa=3)]


def _race(**kw):
    return trajectory_race(LANDS, OPTS, steps=[30, 40, 20], lr_unit="absolute", ncols=2, grid_n=20, **kw)


def _lines(race):
    n = len(OPTS)
    return [race.artists[i * n:(i + 1) * n] for i in range(len(LANDS))]


def test_paths_are_run_trajectorys_and_hidden_ones_are_empty():
    race = _race()
    race.update(lr=0.05, show=["RMSProp", "AdaDelta"])
    for land, steps, row in zip(LANDS, [30, 40, 20], _lines(race), strict=True):
        for (label, factory), line in zip(OPTS.items(), row, strict=True):
            x, y = line.get_data()
            if label in ("RMSProp", "AdaDelta"):
                kw = {} if label == "AdaDelta" else {"lr": 0.05}
                ref = landscapes.run_trajectory(land, lambda p, f=factory, kw=kw: f(p, **kw), steps)
                np.testing.assert_array_equal(np.column_stack([x, y]), ref.path)
            else:
                assert len(x) == 0
    notes = race.artists[-len(LANDS):]
    assert all("RMSProp: f =" in n.get_text() and "SGD" not in n.get_text() for n in notes)
    assert notes[0].get_text().startswith("ε = 0.05")


def test_hidden_runners_are_not_run_and_extra_hyperparameters_reach_factories():
    cache = TrajectoryCache()
    race = _race(cache=cache)
    race.update(lr=0.1, show="Adam", bias_correction=False)
    assert len(cache._store) == len(LANDS)
    race.update(lr=0.1, show=None, bias_correction=False)
    assert len(cache._store) == len(LANDS) * len(OPTS)
    a = _race()
    a.update(lr=0.1, show="Adam", bias_correction=True)
    corrected = _lines(a)[0][2].get_data()[0].copy()
    a.update(lr=0.1, show="Adam", bias_correction=False)
    assert not np.array_equal(corrected, _lines(a)[0][2].get_data()[0])


def test_curvature_unit_and_divergence_note():
    race = trajectory_race(LANDS[:2], {"SGD": OPTS["SGD"]}, steps=50, lr_unit="curvature", grid_n=20)
    race.update(lr=2.5)
    notes = race.artists[-2:]
    assert "diverged at step" in notes[0].get_text()
    assert f"ε = {2.5 / LANDS[1].lipschitz:.2g}" in notes[1].get_text()


def test_refusal_is_a_note_not_a_traceback():
    opts = {"Nesterov": lambda params, lr, momentum: SGD(params, lr=lr, momentum=momentum, nesterov=True)}
    race = trajectory_race(LANDS[:1], opts, steps=10, lr_unit="absolute", grid_n=20)
    race.update(lr=0.1, momentum=0.0)
    assert "not run" in race.artists[-1].get_text()
    assert race_summary("x", "why") == "x: not run (why)"


def test_renders_and_hides_unused_panels():
    race = _race()
    png = race.render(lr=0.05, show=("SGD", "Adam"))
    assert Image.open(io.BytesIO(png)).size[0] > 100
    assert sum(ax.get_visible() for ax in race.fig.axes) == len(LANDS)
    (legend,) = race.fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(OPTS)
    scrub = race.scrubber({"lr": [0.01, 0.1], "show": [("SGD",), ("Adam", "RMSProp")]},
                          fmt=lambda v: ", ".join(v) if isinstance(v, tuple) else f"{v:g}")
    assert scrub.n_frames == 4


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(landscapes=[]), TypeError, "landscapes must be a non-empty sequence"),
        (dict(optimizers={}), TypeError, "optimizers must be a non-empty mapping"),
        (dict(optimizers={"a": 1}), TypeError, "map labels to callables"),
        (dict(lr_unit="per-step"), ValueError, "lr_unit must be 'curvature' or 'absolute', got 'per-step'"),
        (dict(landscapes=[landscapes.saddle()], lr_unit="curvature"), ValueError, "needs a curvature L"),
        (dict(steps=[10, 20]), ValueError, "one per landscape"),
        (dict(steps=0), ValueError, "steps must be >= 1, got 0"),
        (dict(ncols=0), ValueError, "ncols must be >= 1, got 0"),
        (dict(colors=["red"]), ValueError, "need a colour per optimiser"),
        (dict(legend_ncols=0), ValueError, "legend_ncols must be >= 1, got 0"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    args = dict(landscapes=LANDS[:1], optimizers=OPTS, grid_n=20)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        trajectory_race(**args)


def test_bad_show():
    race = _race()
    with pytest.raises(ValueError, match=r"unknown optimisers \['Lion'\]"):
        race.update(lr=0.1, show=["Adam", "Lion"])
    with pytest.raises(TypeError, match="show must be a label"):
        race.update(lr=0.1, show=3)
