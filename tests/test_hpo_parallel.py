"""Parallel search on Optuna with a SQLite storage: worker processes, the cluster path, optbook's sampler.

One test starts 2 worker processes; the others run workers in this process, exactly as
``python -m optbook.hpo.parallel`` would on another machine.
"""

import math
import os

import numpy as np
import optuna
import pytest
from hpo_parallel_cases import toy_objective

from optbook.hpo import bayes_opt, random_search
from optbook.hpo.parallel import (
    CLUSTER_SETUP,
    ParallelSearchResult,
    objective_path,
    read_study,
    run_study,
    run_worker,
    worker_seed,
)

SPACE = {"lr": (1e-3, 1.0, "log"), "width": (8.0, 64.0)}
OBJ = "hpo_parallel_cases:toy_objective"


def url(tmp_path, name="study.db"):
    return f"sqlite:///{tmp_path / name}"


def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    res = run_study(OBJ, SPACE, storage=url(tmp_path), n_workers=2, n_trials=6, seed=0, max_resource=9)
    assert isinstance(res, ParallelSearchResult) and len(res.history) == 6
    assert res.states == ("COMPLETE",) * 6 and res.n_workers == 2
    assert sorted(res.workers.tolist()) == [0, 0, 0, 1, 1, 1]  # each worker ran its share
    for params, value in res.history:  # values come from the objective at the full resource
        assert value == toy_objective(params, 9)
    np.testing.assert_array_equal(res.resources, [9] * 6)
    # Two real processes, neither of them this one, wrote to the database.
    study = optuna.load_study(study_name=res.study_name, storage=res.storage)
    hosts = {t.user_attrs["host"] for t in study.trials}
    assert len(hosts) == 2 and all(not h.endswith(f":{os.getpid()}") for h in hosts)
    # Timestamps: each trial ends after it starts, and one worker runs one trial at a time.
    assert (res.end_seconds >= res.start_seconds).all() and res.start_seconds.min() == 0.0
    for k in (0, 1):
        mine = np.argsort(res.start_seconds[res.workers == k])
        s, e = res.start_seconds[res.workers == k][mine], res.end_seconds[res.workers == k][mine]
        assert (s[1:] >= e[:-1]).all()
    # The two workers' samplers are seeded differently: six distinct configurations.
    assert len({tuple(p.values()) for p, _ in res.history}) == 6
    i = int(np.argmin(res.values))
    assert res.best_value == res.values[i] and res.best_params == res.history[i][0]
    assert res.time_to_target(res.best_value) == pytest.approx(res.end_seconds[i])
    assert res.time_to_target(-1.0) == math.inf
    t, best = res.best_by_time()
    assert best[-1] == res.best_value and (np.diff(t) >= 0).all() and (np.diff(best) <= 0).all()
    assert res.wall_seconds > res.end_seconds.max()


def test_cluster_path_create_here_run_workers_elsewhere(tmp_path):
    """n_workers=0 only creates the study; workers started by hand (here: in-process) do the trials."""
    storage = url(tmp_path)
    for name in ("a", "b"):
        assert run_study(OBJ, SPACE, storage=storage, n_workers=0, n_trials=5, seed=3, max_resource=3,
                         study_name=name) is None
        with pytest.raises(ValueError, match="created for workers started elsewhere"):
            run_worker(storage, name, 0)  # a remote worker must be told how many trials to run
        assert run_worker(storage, name, 0, n_trials=5) == 5
    a, b = read_study(storage, "a"), read_study(storage, "b")
    assert [p for p, _ in a.history] == [p for p, _ in b.history]  # one worker: reproducible
    assert a.workers.tolist() == [0] * 5 and a.values.tolist() == b.values.tolist()
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        run_study(OBJ, SPACE, storage=storage, n_workers=0, n_trials=5, study_name="a")
    assert "python -m optbook.hpo.parallel --storage" in CLUSTER_SETUP and "postgresql://" in CLUSTER_SETUP
    # The command line in CLUSTER_SETUP is the worker's real interface.
    run_study(OBJ, SPACE, storage=storage, n_workers=0, n_trials=2, max_resource=3, study_name="cli")
    from optbook.hpo.parallel import _main

    _main(["--storage", storage, "--study", "cli", "--worker", "1", "--trials", "2"])
    assert read_study(storage, "cli").workers.tolist() == [1, 1]


def test_optbook_bayes_sampler_is_bayes_opt(tmp_path):
    storage = url(tmp_path)
    run_study(OBJ, SPACE, storage=storage, n_workers=0, n_trials=8, seed=4, max_resource=9,
              sampler="optbook-bayes", study_name="bo")
    run_worker(storage, "bo", 0, n_trials=8)
    res = read_study(storage, "bo")
    # Worker 0's sampler is seeded with worker_seed(4, 0); n_initial=5 in both.
    ref = bayes_opt(lambda p: toy_objective(p, 9), SPACE, n_trials=8, seed=worker_seed(4, 0))
    for (p, v), (q, w) in zip(res.history, ref.history, strict=True):
        assert p.keys() == q.keys()
        for k in p:
            assert p[k] == pytest.approx(q[k], rel=1e-6)
        assert v == pytest.approx(w, rel=1e-6)


def test_optbook_random_sampler_is_random_search(tmp_path):
    storage = url(tmp_path)
    run_study(OBJ, SPACE, storage=storage, n_workers=0, n_trials=6, seed=2, max_resource=3,
              sampler="optbook-random", study_name="rs")
    run_worker(storage, "rs", 0, n_trials=6)
    res = read_study(storage, "rs")
    ref = random_search(lambda p: toy_objective(p, 3), SPACE, n_trials=6, seed=worker_seed(2, 0))
    np.testing.assert_allclose(res.units, ref.units, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res.values, ref.values, rtol=1e-12)


def test_pruned_study_counts_the_resource_it_spent(tmp_path):
    storage = url(tmp_path)
    run_study(OBJ, SPACE, storage=storage, n_workers=0, n_trials=12, seed=1, max_resource=9,
              min_resource=1, eta=3, pruner="successive_halving", study_name="sh")
    run_worker(storage, "sh", 0, n_trials=12)
    res = read_study(storage, "sh")
    study = optuna.load_study(study_name="sh", storage=storage)
    rung_sums = {0: 1, 1: 1 + 3, 2: 1 + 3 + 9}
    assert set(res.states) == {"COMPLETE", "PRUNED"}
    for t, (params, value), r, rung, state in zip(study.trials, res.history, res.resources, res.rungs,
                                                  res.states, strict=True):
        steps = sorted(t.intermediate_values)
        assert steps == [1, 3, 9][: len(steps)] and rung == len(steps) - 1
        assert r == rung_sums[rung]
        assert value == toy_objective(params, steps[-1])  # the loss at the last rung it ran
        assert (state == "COMPLETE") == (steps[-1] == 9)
    complete = [v for (_, v), s in zip(res.history, res.states, strict=True) if s == "COMPLETE"]
    assert res.best_value == min(complete)


def local():
    def inner(params, resource):
        return 0.0

    return inner


@pytest.mark.parametrize(
    "objective, error, match",
    [
        (lambda p, r: 0.0, TypeError, "objective must be importable by worker processes"),
        (local(), TypeError, "objective must be importable"),
        ("no_colon", ValueError, "objective must be written 'module:function', got 'no_colon'"),
        ("hpo_parallel_cases:missing", ValueError, "cannot import objective 'hpo_parallel_cases:missing'"),
        ("math:pi", TypeError, "objective 'math:pi' is not callable"),
        (3, TypeError, "objective must be a function or a 'module:function' string, got 3"),
    ],
)
def test_objective_must_be_importable(objective, error, match):
    with pytest.raises(error, match=match):
        objective_path(objective)


def test_objective_path_of_a_function():
    assert objective_path(toy_objective) == OBJ
    assert objective_path(math.hypot) == "math:hypot"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(storage="study.db"), ValueError, "storage must be a database URL"),
        (dict(n_workers=-1), ValueError, "n_workers must be >= 0, got -1"),
        (dict(n_workers=10**4), ValueError, "n_workers must be <= "),
        (dict(n_trials=0), ValueError, "n_trials must be >= 1, got 0"),
        (dict(sampler="grid"), ValueError, "sampler must be one of"),
        (dict(pruner="median"), ValueError, "pruner must be one of"),
        (dict(min_resource=10, max_resource=9), ValueError, "min_resource must be <= 9.0, got 10"),
        (dict(pruner="hyperband", max_resource=8.5), ValueError, "must be whole numbers"),
        (dict(eta=1), ValueError, "eta must be >= 2, got 1"),
    ],
)
def test_run_study_validation(tmp_path, kwargs, error, match):
    args = dict(storage=url(tmp_path), n_workers=0, n_trials=2) | kwargs
    with pytest.raises(error, match=match):
        run_study(OBJ, SPACE, **args)
    assert not (tmp_path / "study.db").exists()  # nothing was created before the checks passed


def test_a_failing_worker_is_reported_with_its_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"(?s)worker 0 exited with 1.*this objective always fails"):
        run_study("hpo_parallel_cases:failing_objective", SPACE, storage=url(tmp_path), n_workers=1,
                  n_trials=1)


def test_sqlite_storage_commits_without_waiting_for_the_disk(tmp_path):
    import sqlite3

    from optbook.hpo.parallel import _storage

    storage = _storage(url(tmp_path))
    with storage.engine.connect() as conn:  # every connection of the storage
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL (default: 2, FULL)
    with sqlite3.connect(tmp_path / "study.db") as plain:  # the mode is stored in the file
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
