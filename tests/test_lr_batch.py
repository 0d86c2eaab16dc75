"""Many learning rates in one run: run_trajectories_over_lr against one run_trajectory per rate,
rows that diverge alone, the cache's prefill, a race whose learning-rate slider only looks up, and
slider_values, which lists what a slider can be set to."""

import ipywidgets as widgets
import numpy as np
import pytest
import torch

from optbook.optim import SGD, AdaDelta, AdaGrad, Adam, RMSProp
from optbook.problems import landscapes
from optbook.problems.landscapes import run_trajectories_over_lr, run_trajectory
from optbook.viz.explorers import TrajectoryCache, trajectory_race
from optbook.viz.widgets import slider_values

# Every optimiser of §8.3 and §8.5, and torch's Adam: each step is ε times a function of the
# gradients, the condition under which one batched run stands for one run per ε.
FACTORIES = {
    "SGD": lambda p, lr: SGD(p, lr=lr),
    "momentum": lambda p, lr: SGD(p, lr=lr, momentum=0.9),
    "Nesterov": lambda p, lr: SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p, lr: AdaGrad(p, lr=lr),
    "RMSProp": lambda p, lr: RMSProp(p, lr=lr),
    "RMSProp + Nesterov": lambda p, lr: RMSProp(p, lr=lr, momentum=0.9, nesterov=True),
    "AdaDelta": lambda p, lr: AdaDelta(p, lr=lr),
    "Adam": lambda p, lr: Adam(p, lr=lr),
    "Adam, no bias correction": lambda p, lr: Adam(p, lr=lr, bias_correction=False),
    "torch.optim.Adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
}
LRS = [1e-3, 3e-3, 0.01, 0.03, 0.1]


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("land", [landscapes.quadratic(10.0), landscapes.rosenbrock()],
                         ids=lambda land: land.name)
def test_batched_rows_equal_one_run_per_learning_rate(name, land):
    factory = FACTORIES[name]
    batched = run_trajectories_over_lr(land, factory, LRS, 40)
    assert len(batched) == len(LRS)
    for lr, traj in zip(LRS, batched, strict=True):
        ref = run_trajectory(land, lambda p, lr=lr: factory(p, lr=lr), 40)
        assert traj.diverged_at == ref.diverged_at
        assert traj.path.shape == ref.path.shape
        np.testing.assert_array_equal(traj.path[0], land.x0)
        # the same run up to rounding, which some of these dynamics amplify as steps go by
        np.testing.assert_allclose(traj.path[:20], ref.path[:20], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(traj.path, ref.path, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(traj.losses, ref.losses, rtol=1e-6, atol=1e-9)


def test_a_diverging_row_stops_alone():
    land = landscapes.quadratic(10.0)  # L = 1: plain gradient descent diverges for ε > 2
    lrs = [0.5, 2.5, 1.9]
    batched = run_trajectories_over_lr(land, FACTORIES["SGD"], lrs, 200, escape_radius=50.0)
    refs = [run_trajectory(land, lambda p, lr=lr: SGD(p, lr=lr), 200, escape_radius=50.0) for lr in lrs]
    assert batched[1].diverged and batched[1].diverged_at == refs[1].diverged_at
    for traj, ref in zip(batched, refs, strict=True):
        assert traj.diverged_at == ref.diverged_at
        np.testing.assert_allclose(traj.path, ref.path, rtol=1e-12, atol=1e-13)
    assert not batched[0].diverged and batched[0].losses[-1] < 1e-8


def test_batched_run_honours_x0_and_escape_radius():
    land = landscapes.saddle()
    batched = run_trajectories_over_lr(land, FACTORIES["momentum"], [0.01, 0.1], 300, x0=(0.5, 1e-3),
                                       escape_radius=5.0)
    for lr, traj in zip([0.01, 0.1], batched, strict=True):
        ref = run_trajectory(land, lambda p, lr=lr: SGD(p, lr=lr, momentum=0.9), 300, x0=(0.5, 1e-3),
                             escape_radius=5.0)
        assert traj.diverged_at == ref.diverged_at is not None  # both leave along y
        np.testing.assert_allclose(traj.path, ref.path, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(lrs=[]), ValueError, "non-empty"),
        (dict(lrs=[[0.1, 0.2]]), ValueError, "1-D"),
        (dict(lrs=[0.1, 0.0]), ValueError, r"> 0, got 0\.0"),
        (dict(lrs=[0.1, float("nan")]), ValueError, "got nan"),
        (dict(lrs=[-0.5]), ValueError, r"got -0\.5"),
        (dict(lrs=["fast"]), TypeError, "lrs must be a sequence of numbers"),
        (dict(steps=-1), ValueError, "steps must be >= 0, got -1"),
        (dict(x0=(1.0, 2.0, 3.0)), ValueError, r"x0 must be a finite point"),
        (dict(x0=(1.0, float("inf"))), ValueError, r"x0 must be a finite point"),
        (dict(make_optimizer="sgd"), TypeError, "make_optimizer must be callable"),
        (dict(make_optimizer=lambda p, lr: None), TypeError, "must return a torch.optim.Optimizer"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    args = dict(landscape=landscapes.quadratic(), make_optimizer=FACTORIES["SGD"], lrs=[0.1], steps=5)
    with pytest.raises(exc, match=match):
        run_trajectories_over_lr(**{**args, **kwargs})


class Counting:
    """A factory that counts how often it is called (i.e. how many runs it starts)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, params, lr):
        self.calls += 1
        return Adam(params, lr=lr)


def test_prefill_makes_later_runs_lookups():
    cache, land, factory = TrajectoryCache(), landscapes.rosenbrock(), Counting()
    cache.prefill(land, factory, 50, LRS)
    assert factory.calls == 1  # one batched run for all five rates
    for lr in LRS:
        traj = cache.run(land, factory, 50, lr=lr)
        ref = run_trajectory(land, lambda p, lr=lr: Adam(p, lr=lr), 50)
        np.testing.assert_allclose(traj.path, ref.path, rtol=1e-12, atol=1e-13)
    assert factory.calls == 1  # looked up, not run
    cache.prefill(land, factory, 50, LRS[:2])
    assert factory.calls == 1  # already there: not run again
    cache.run(land, factory, 50, lr=0.2)
    assert factory.calls == 2  # off the grid: one ordinary run


def test_prefill_runs_a_factory_without_lr_once():
    cache, land = TrajectoryCache(), landscapes.quadratic(10.0)
    calls = []

    def adadelta(params):
        calls.append(1)
        return AdaDelta(params)

    cache.prefill(land, adadelta, 30, LRS)
    assert len(calls) == 1
    assert cache.run(land, adadelta, 30, lr=0.07) is cache.run(land, adadelta, 30, lr=0.5)
    assert len(calls) == 1


def test_prefill_turns_a_refusal_into_messages():
    cache = TrajectoryCache()

    def refuses(params, lr, momentum=0.0):
        return SGD(params, lr=lr, momentum=momentum, nesterov=True)

    cache.prefill(landscapes.quadratic(), refuses, 10, [0.1, 0.2])
    assert cache.run(landscapes.quadratic(), refuses, 10, lr=0.2) == (
        "nesterov=True needs momentum > 0, got momentum=0.0")


def test_race_with_an_lr_grid_only_redraws_and_draws_the_same_paths():
    lands = [landscapes.quadratic(10.0), landscapes.rosenbrock()]
    grid = slider_values(widgets.FloatLogSlider(value=0.1, base=10, min=-3, max=0, step=0.25))
    counting = {"Adam": Counting()}
    cache = TrajectoryCache(maxsize=1)
    race = trajectory_race(lands, counting, [30, 60], lr_unit="absolute", grid_n=20, cache=cache,
                           lr_grid=grid)
    assert counting["Adam"].calls == len(lands)  # one batched run per landscape, now
    assert cache.maxsize >= len(grid) * len(lands)  # grown to hold the grid
    for lr in (grid[4], grid[9], grid[9] * (1 + 2e-16)):  # the last: one ulp off, as a browser may send
        race.render("jpeg", lr=lr)
    assert counting["Adam"].calls == len(lands)  # slider moves looked up, ran nothing
    for land, steps, line in zip(lands, [30, 60], race.artists, strict=False):
        ref = run_trajectory(land, lambda p: Adam(p, lr=grid[9]), steps)
        np.testing.assert_allclose(np.column_stack(line.get_data()), ref.path, rtol=1e-12, atol=1e-13)
    race.render("jpeg", lr=0.2)  # off the grid: computed on demand
    assert counting["Adam"].calls == 2 * len(lands)


@pytest.mark.parametrize("grid, match", [([], "at least one"), ([0.1, -1.0], r"lr_grid value must be > 0"),
                                         ([float("nan")], "lr_grid value")])
def test_race_refuses_a_bad_lr_grid(grid, match):
    with pytest.raises(ValueError, match=match):
        trajectory_race([landscapes.quadratic()], {"SGD": FACTORIES["SGD"]}, 10, lr_grid=grid)


def test_slider_values_lists_what_a_reader_can_set():
    log = slider_values(widgets.FloatLogSlider(value=0.1, base=10, min=-3, max=0, step=0.05))
    assert len(log) == 61 and log[0] == 0.001 and log[40] == 0.1 and log[-1] == 1.0
    np.testing.assert_allclose(log, 10.0 ** np.linspace(-3, 0, 61), rtol=1e-11)
    lin = slider_values(widgets.FloatSlider(value=0.3, min=-1.9, max=1.9, step=0.05))
    assert len(lin) == 77 and lin[38] == 0.0 and lin[44] == 0.3 and lin[-1] == 1.9
    assert slider_values(widgets.IntSlider(value=2, min=1, max=7, step=3)) == [1, 4, 7]
    assert slider_values(widgets.SelectionSlider(options=[5, 10, 20], value=10)) == [5, 10, 20]
    assert slider_values(widgets.Dropdown(options=[("slow", 0.1), ("fast", 1.0)], value=0.1)) == [0.1, 1.0]
    with pytest.raises(TypeError, match="slider_values needs a slider .* got Text"):
        slider_values(widgets.Text())
