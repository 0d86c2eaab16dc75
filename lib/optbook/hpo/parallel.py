r"""Hyperparameter search across processes and machines, on Optuna with a database storage.

A search's trials are independent, so many workers can run them at once; what they must share
is the record of which configurations were tried and how they did. Optuna (Akiba et al. 2019)
keeps that record in a relational database: every worker process opens the same *study* in the
same database, asks it for a configuration, trains, and writes the result back. The workers
never talk to each other, so the same code runs

* on one machine, with a SQLite file (``sqlite:///digits.db``) and a few worker processes, and
* on a cluster, with a PostgreSQL server that every machine can reach, by starting workers
  there with the command in :data:`CLUSTER_SETUP`.

:func:`run_study` creates the study (its search space and settings are stored with it, so a
worker needs only the database URL and the study's name) and starts ``n_workers`` worker
processes, each running ``python -m optbook.hpo.parallel --storage URL --study NAME --worker K``
exactly as a cluster machine would, then reads every trial back from the database.

``optbook.hpo``'s own searches plug in where Optuna allows:

* ``sampler="optbook-bayes"``: :class:`OptbookBayesSampler`, optbook's Gaussian-process +
  expected-improvement search (:func:`optbook.hpo.bayes_opt`) as an Optuna sampler; every worker
  fits its model to all trials finished so far by any worker; ``sampler="optbook-random"``:
  :class:`OptbookRandomSampler`, the points of :func:`optbook.hpo.random_search`;
* ``pruner="successive_halving"`` / ``"hyperband"``: Optuna's asynchronous successive halving
  (Li et al. 2020) and Hyperband pruners, to compare with :func:`optbook.hpo.successive_halving`
  and :func:`optbook.hpo.hyperband` at equal budget (``result.resources`` counts it the same way).

The objective is ``objective(params, resource) -> loss``, the signature of
:mod:`optbook.hpo.multifidelity`, named by its import path ``"module:function"`` (workers import
it afresh). Without a pruner each trial is one call at ``max_resource``. With a pruner a trial
calls it at each rung :math:`r_{\min}\eta^k` in turn (from scratch, as optbook's successive
halving does), reports the loss to Optuna and stops when the pruner says so; its resource is the
sum of the rungs it ran.

What is not deterministic: which worker runs which trial, and so the order of the trials and
what the samplers and pruners saw when they decided, depends on timing. Each worker's sampler is
seeded with :func:`worker_seed` (from ``seed`` and the worker's index), so with ``n_workers=1`` and a
deterministic objective a study is reproducible; with more workers only the per-worker random streams are.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna

from .._validation import check_int, check_real
from .gp import fit_gp
from .multifidelity import MultiFidelityResult
from .search import _maximise_ei
from .space import Dimension, from_unit, parse_space, to_unit

__all__ = [
    "CLUSTER_SETUP",
    "OptbookBayesSampler",
    "OptbookRandomSampler",
    "ParallelSearchResult",
    "run_study",
    "run_worker",
    "read_study",
    "objective_path",
    "worker_seed",
]

#: How to run the same search on many machines (shown as text in chapter 12.1).
CLUSTER_SETUP = """\
# 1. One PostgreSQL server that every machine can reach (any RDB that SQLAlchemy supports works):
#      createdb optuna
#      STORAGE=postgresql://USER:PASSWORD@db-host:5432/optuna
#    and on every machine: pip install -r requirements.txt psycopg2-binary
# 2. On one machine, create the study (space and settings are stored in the database):
#      from optbook.hpo.parallel import run_study
#      run_study("optbook.experiments.ch12_1.workloads:digits_objective", DIGITS_SPACE,
#                storage=STORAGE, study_name="digits", n_workers=0, n_trials=200, seed=0,
#                max_resource=8)          # n_workers=0: create only, start no local worker
# 3. On each machine, start as many workers as it has cores (K = 0, 1, 2, ... over all machines;
#    K seeds the worker's sampler), each with its share of the trials, e.g. 10 workers x 20:
#      python -m optbook.hpo.parallel --storage "$STORAGE" --study digits --worker K --trials 20
# 4. Anywhere, read the results:  optuna.load_study(study_name="digits", storage=STORAGE)
"""

_SAMPLERS = ("random", "tpe", "optbook-bayes", "optbook-random")
_PRUNERS = (None, "successive_halving", "hyperband")


def objective_path(objective) -> str:
    """``"module:function"`` naming a module-level function (or such a string), checked importable."""
    if isinstance(objective, str):
        path = objective
    elif callable(objective):
        module, name = getattr(objective, "__module__", None), getattr(objective, "__qualname__", "")
        if module in (None, "__main__") or "<" in name:
            raise TypeError(
                f"objective must be importable by worker processes (a module-level function in a module, "
                f"or 'module:function'); got {objective!r} from {module!r}"
            )
        path = f"{module}:{name}"
    else:
        raise TypeError(f"objective must be a function or a 'module:function' string, got {objective!r}")
    _load(path)
    return path


def _load(path: str) -> Callable:
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"objective must be written 'module:function', got {path!r}")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import objective {path!r}: {err}") from None
    if not callable(obj):
        raise TypeError(f"objective {path!r} is not callable: {obj!r}")
    return obj


def _rungs(min_resource: float, max_resource: float, eta: int) -> list:
    """The resources a pruned trial runs at: min_resource * eta^k below max_resource, then max_resource."""
    rungs, r = [], min_resource
    while r < max_resource:
        rungs.append(int(r) if float(r).is_integer() else r)
        r *= eta
    rungs.append(int(max_resource) if float(max_resource).is_integer() else max_resource)
    return rungs


class OptbookBayesSampler(optuna.samplers.BaseSampler):
    r"""optbook's model-based search (:func:`optbook.hpo.bayes_opt`) as an Optuna sampler.

    The first ``n_initial`` trials of the study are uniform on the unit cube of ``space``. After
    that, each new trial fits :func:`~optbook.hpo.gp.fit_gp` to every finished trial in the
    storage (whichever worker ran it; non-finite values replaced by the worst finite one, as
    ``bayes_opt`` does) and proposes the maximiser of expected improvement with margin ``xi``.
    Trials still running on other workers are shown to the model as if they had returned the
    worst value so far (a pessimistic *constant liar*, Ginsbourger et al. 2010), so two workers
    asking at once do not propose the same point.

    With one worker, no pruner and a study of its own, the trials are those of
    :func:`~optbook.hpo.bayes_opt` with the same ``seed`` (to rounding: the model sees the trials
    through Optuna's stored parameters). Differs from it otherwise: the initial design counts
    the study's trials, not this worker's; trials pruned by an Optuna pruner count as finished
    with their last reported value.
    """

    def __init__(self, space, *, n_initial: int = 5, xi: float = 0.0, seed: int = 0):
        self._dims: tuple[Dimension, ...] = parse_space(space)
        self._n_initial = check_int("n_initial", n_initial, low=1)
        self._xi = check_real("xi", xi, low=0.0)
        seed = check_int("seed", seed, low=0)
        self._rng = np.random.default_rng(seed)  # used exactly as bayes_opt uses its generator
        self._fallback = optuna.samplers.RandomSampler(seed=seed)  # parameters outside ``space``

    def infer_relative_search_space(self, study, trial):
        return {
            d.name: optuna.distributions.FloatDistribution(d.low, d.high, log=d.log) for d in self._dims
        }

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        states = optuna.trial.TrialState
        done = study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED))
        done = [t for t in done if _trial_value(t) is not None]
        if len(done) < self._n_initial:
            u = self._rng.random(len(self._dims))
        else:
            running = [t for t in study.get_trials(deepcopy=False, states=(states.RUNNING,))
                       if t.number != trial.number and set(t.params) == set(search_space)]
            X = np.array([to_unit(self._dims, t.params) for t in done + running])
            y = np.array([_trial_value(t) for t in done], dtype=np.float64)
            finite = np.isfinite(y)
            worst = y[finite].max() if finite.any() else 0.0
            y = np.concatenate([np.where(finite, y, worst), np.full(len(running), worst)])
            gp = fit_gp(X, y, seed=int(self._rng.integers(2**32)))
            u = _maximise_ei(gp, float(y.min()), self._xi, self._rng)
        return from_unit(self._dims, u)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)


class OptbookRandomSampler(OptbookBayesSampler):
    """optbook's random search (:func:`optbook.hpo.random_search`) as an Optuna sampler.

    Every trial is a uniform point of the unit cube of ``space`` from
    ``numpy.random.default_rng(seed)``: with one worker the trials of ``random_search`` with the
    same ``seed``. :class:`OptbookBayesSampler`'s initial design, never followed by a model.
    """

    def __init__(self, space, *, seed: int = 0):
        super().__init__(space, seed=seed)

    def sample_relative(self, study, trial, search_space):
        return from_unit(self._dims, self._rng.random(len(self._dims))) if search_space else {}


def _trial_value(t):
    if t.state == optuna.trial.TrialState.COMPLETE:
        return t.value
    if t.intermediate_values:
        return t.intermediate_values[max(t.intermediate_values)]
    return None


def _storage(url: str):
    """Optuna's storage for ``url``; a SQLite file is used in write-ahead-log mode (see below)."""
    if not url.startswith("sqlite"):
        return optuna.storages.RDBStorage(url)
    import sqlalchemy

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    sqlalchemy.event.listen(storage.engine, "connect", _sqlite_wal)
    storage.engine.dispose()  # connections opened while Optuna set up its tables predate the hook
    return storage


def _sqlite_wal(connection, _record) -> None:
    """SQLite in write-ahead-log mode with ``synchronous=NORMAL``, on every new connection.

    Optuna commits a dozen times per trial; in SQLite's default mode each commit waits for the
    disk two or three times (milliseconds each), which made the storage, not the training, most
    of a short trial's time. In WAL mode a commit appends to a log and returns, readers do not
    block the writer, and a crash of a worker (or of the machine: then the last commits may be
    lost) never corrupts the file. WAL needs every worker on one machine, which a SQLite file
    needs anyway (a cluster uses a database server, :data:`CLUSTER_SETUP`).
    """
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


def worker_seed(seed: int, worker: int) -> int:
    """The seed of worker ``worker``'s sampler in a study run with ``seed`` (distinct streams per worker)."""
    return int(np.random.SeedSequence([seed, worker]).generate_state(1)[0] & 0x7FFFFFFF)


def _sampler(settings: dict, worker: int):
    seed = worker_seed(settings["seed"], worker)
    kind = settings["sampler"]
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    space = _space_from_json(settings["space"])
    if kind == "optbook-random":
        return OptbookRandomSampler(space, seed=seed)
    return OptbookBayesSampler(space, seed=seed)


def _pruner(settings: dict):
    kind, eta = settings["pruner"], settings["eta"]
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=settings["min_resource"], reduction_factor=eta, min_early_stopping_rate=0
        )
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=settings["min_resource"], max_resource=settings["max_resource"], reduction_factor=eta
        )
    return optuna.pruners.NopPruner()


def run_worker(storage: str, study_name: str, worker: int, n_trials: int | None = None) -> int:
    """Run one worker: load the study, run ``n_trials`` trials of it; returns how many it ran.

    This is what ``python -m optbook.hpo.parallel --storage URL --study NAME --worker K
    [--trials N]`` does on any machine that can reach the database. Without ``n_trials``, a study
    started by :func:`run_study` with ``n_workers = W > 0`` gives worker ``K`` its share,
    ``n_trials // W`` plus one for the first ``n_trials % W`` workers; a study created for workers
    started elsewhere (``n_workers=0``) needs ``n_trials`` for each worker.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = _storage(storage)
    settings = json.loads(store.get_study_user_attrs(store.get_study_id_from_name(study_name))["optbook"])
    worker = check_int("worker", worker, low=0)
    if n_trials is not None:
        quota = check_int("n_trials", n_trials, low=0)
    elif settings["n_workers"] == 0:
        raise ValueError(
            f"study {study_name!r} was created for workers started elsewhere (n_workers=0): give each "
            f"worker its number of trials (n_trials=..., or --trials on the command line)"
        )
    else:
        n_workers, total = settings["n_workers"], settings["n_trials"]
        quota = total // n_workers + (1 if worker < total % n_workers else 0)
    if quota == 0:
        return 0
    study = optuna.load_study(study_name=study_name, storage=store, sampler=_sampler(settings, worker),
                              pruner=_pruner(settings))
    objective = _load(settings["objective"])
    dims = parse_space(_space_from_json(settings["space"]))
    rungs = _rungs(settings["min_resource"], settings["max_resource"], settings["eta"]) \
        if settings["pruner"] else [settings["max_resource"]]
    host = f"{socket.gethostname()}:{os.getpid()}"

    def optuna_objective(trial):
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("host", host)
        params = {d.name: trial.suggest_float(d.name, d.low, d.high, log=d.log) for d in dims}
        spent = 0
        for r in rungs:
            value = float(objective(dict(params), r))
            spent += r
            trial.set_user_attr("resource", spent)
            if settings["pruner"]:
                trial.report(value, r)
                if r != rungs[-1] and trial.should_prune():
                    raise optuna.TrialPruned()
        return value

    study.optimize(optuna_objective, n_trials=quota, catch=())
    return quota


@dataclass(frozen=True)
class ParallelSearchResult(MultiFidelityResult):
    """A :class:`~optbook.hpo.multifidelity.MultiFidelityResult` read back from an Optuna study.

    History is in trial-number order (the order the database handed trials out); ``best_params``
    and ``best_value`` are those of the best *complete* trial. ``rungs`` is the index of the last
    rung a trial ran (0 without a pruner), ``brackets`` is -1 (Optuna's Hyperband pruner assigns
    brackets internally and does not record them) and ``configs`` the trial number. Besides the
    parent's fields: ``start_seconds`` / ``end_seconds`` when each trial started and finished,
    in seconds since the first trial started; ``workers`` which worker ran it; ``states`` Optuna's
    state name (``"COMPLETE"``, ``"PRUNED"``, ``"FAIL"``); ``n_workers``; ``wall_seconds`` the
    whole call, worker start-up included; ``study_name`` and ``storage``. A pruned trial's value
    is its last reported loss, at the resource ``resources`` records (the sum of its rungs).
    """

    start_seconds: np.ndarray = None
    end_seconds: np.ndarray = None
    workers: np.ndarray = None
    states: tuple = ()
    n_workers: int = 0
    wall_seconds: float = 0.0
    study_name: str = ""
    storage: str = ""

    def time_to_target(self, target: float) -> float:
        """Seconds from the first trial's start until a *complete* trial first reached ``target`` or less.

        ``inf`` if none did. Pruned trials do not count: their loss is at a smaller resource.
        """
        target = check_real("target", target)
        ok = [e for e, v, s in zip(self.end_seconds, self.values, self.states, strict=True)
              if s == "COMPLETE" and v <= target]
        return float(min(ok)) if ok else float("inf")

    def best_by_time(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t, best)``: completion times of the complete trials, sorted, and the running minimum loss."""
        done = [(e, v) for e, v, s in zip(self.end_seconds, self.values, self.states, strict=True)
                if s == "COMPLETE"]
        done.sort()
        t = np.array([e for e, _ in done])
        return t, np.fmin.accumulate(np.array([v for _, v in done], dtype=np.float64))


def _space_json(dims) -> dict:
    return {d.name: [d.low, d.high] + (["log"] if d.log else []) for d in dims}


def _space_from_json(space: dict) -> dict:
    return {k: tuple(v) for k, v in space.items()}


def _seconds(t: _dt.datetime | None, t0: _dt.datetime) -> float:
    return float("nan") if t is None else (t - t0).total_seconds()


def read_study(storage: str, study_name: str, *, n_workers: int = 0, wall_seconds: float = 0.0):
    """Every trial of a study as a :class:`ParallelSearchResult` (also for studies run elsewhere)."""
    study = optuna.load_study(study_name=study_name, storage=_storage(storage))
    settings = json.loads(study.user_attrs["optbook"])
    dims = parse_space(_space_from_json(settings["space"]))
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    if not trials:
        raise ValueError(f"study {study_name!r} in {storage!r} has no trials yet")
    t0 = min(t.datetime_start for t in trials if t.datetime_start is not None)
    history, units = [], []
    for t in trials:
        params = {d.name: float(t.params[d.name]) for d in dims} if set(t.params) >= {d.name for d in dims} \
            else {}
        value = _trial_value(t)
        history.append((params, float("nan") if value is None else float(value)))
        units.append(to_unit(dims, params) if params else np.full(len(dims), np.nan))
    states = tuple(t.state.name for t in trials)
    complete = [i for i, (_, v) in enumerate(history) if states[i] == "COMPLETE" and not np.isnan(v)]
    if complete:  # the best *complete* trial: a pruned trial's loss is at a smaller resource
        i = min(complete, key=lambda j: history[j][1])
        best_params, best_value = dict(history[i][0]), history[i][1]
    else:
        best_params, best_value = None, float("nan")
    n = len(trials)
    return ParallelSearchResult(
        best_params, best_value, history, np.array(units), dims, (),
        np.array([t.user_attrs.get("resource", 0) for t in trials]),
        np.array([max(len(t.intermediate_values) - 1, 0) for t in trials], dtype=np.int64),
        np.full(n, -1, dtype=np.int64), np.arange(n),
        np.array([_seconds(t.datetime_start, t0) for t in trials]),
        np.array([_seconds(t.datetime_complete, t0) for t in trials]),
        np.array([t.user_attrs.get("worker", -1) for t in trials], dtype=np.int64),
        states, n_workers, wall_seconds, study_name, storage,
    )


def run_study(
    objective,
    space,
    *,
    storage: str,
    n_workers: int,
    n_trials: int,
    seed: int = 0,
    max_resource: float = 1,
    min_resource: float = 1,
    eta: int = 3,
    sampler: str = "random",
    pruner: str | None = None,
    study_name: str | None = None,
    timeout: float = 600.0,
) -> ParallelSearchResult | None:
    """Create an Optuna study in ``storage`` and run it on ``n_workers`` worker processes.

    Args:
        objective: ``"module:function"`` (or a module-level function) computing
            ``objective(params, resource) -> loss``; workers import it.
        space: an :mod:`optbook.hpo.space` dict; every hyperparameter becomes a float
            (``suggest_float``, log scale where the space says so).
        storage: a SQLAlchemy URL, e.g. ``"sqlite:///study.db"`` here or
            ``"postgresql://user:pw@host/db"`` on a cluster (see :data:`CLUSTER_SETUP`).
        n_workers: worker processes to start here (at most ``os.cpu_count()``); 0 only creates the
            study, for workers started elsewhere, and returns ``None``.
        n_trials: trials in all, split evenly over the ``n_workers`` workers (with ``n_workers=0``
            it is stored as the plan; each remote worker is told its own count, ``--trials``).
        seed: seeds the workers' samplers (see the module docstring for what stays random).
        max_resource, min_resource, eta: the resource of a full trial; with a pruner, the rungs
            ``min_resource * eta**k`` and the reduction factor.
        sampler: ``"random"`` (Optuna's RandomSampler), ``"tpe"``, ``"optbook-bayes"``
            (:class:`OptbookBayesSampler`) or ``"optbook-random"`` (:class:`OptbookRandomSampler`:
            with one worker, the trials of :func:`~optbook.hpo.random_search` with seed
            :func:`worker_seed` ``(seed, 0)``).
        pruner: ``None``, ``"successive_halving"`` or ``"hyperband"`` (Optuna's pruners).
        study_name: defaults to a fresh unique name; an existing name is an error.
        timeout: seconds to wait for the workers before stopping them and raising.
    """
    t_start = time.perf_counter()
    path = objective_path(objective)
    dims = parse_space(space)
    if not isinstance(storage, str) or "://" not in storage:
        raise ValueError(f"storage must be a database URL such as 'sqlite:///study.db', got {storage!r}")
    n_workers = check_int("n_workers", n_workers, low=0, high=os.cpu_count() or 1)
    n_trials = check_int("n_trials", n_trials, low=1)
    seed = check_int("seed", seed, low=0)
    max_resource = check_real("max_resource", max_resource, low=0.0, low_open=True)
    min_resource = check_real("min_resource", min_resource, low=0.0, low_open=True, high=max_resource)
    eta = check_int("eta", eta, low=2)
    timeout = check_real("timeout", timeout, low=0.0, low_open=True)
    if sampler not in _SAMPLERS:
        raise ValueError(f"sampler must be one of {_SAMPLERS}, got {sampler!r}")
    if pruner not in _PRUNERS:
        raise ValueError(f"pruner must be one of {_PRUNERS}, got {pruner!r}")
    if pruner is not None and not (float(min_resource).is_integer() and float(max_resource).is_integer()):
        raise ValueError(
            f"Optuna's pruners count resources in whole steps: min_resource={min_resource!r} and "
            f"max_resource={max_resource!r} must be whole numbers"
        )
    study_name = study_name or f"optbook-{uuid.uuid4().hex[:12]}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = dict(objective=path, space=_space_json(dims), n_workers=n_workers, n_trials=n_trials,
                    seed=seed, max_resource=max_resource, min_resource=min_resource, eta=eta,
                    sampler=sampler, pruner=pruner)
    study = optuna.create_study(study_name=study_name, storage=_storage(storage), direction="minimize")
    study.set_user_attr("optbook", json.dumps(settings))
    if n_workers == 0:
        return None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    errors = []
    with tempfile.TemporaryDirectory(prefix="optbook-workers-") as tmp:
        # Each worker's output goes to a file: a pipe nobody reads while we wait on another worker
        # would fill up and stall a worker that prints a lot.
        logs = [open(os.path.join(tmp, f"worker{k}.log"), "w+") for k in range(n_workers)]
        try:
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "optbook.hpo.parallel", "--storage", storage,
                     "--study", study_name, "--worker", str(k)],
                    env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                )
                for k, log in enumerate(logs)
            ]
            deadline = time.monotonic() + timeout
            for k, p in enumerate(procs):
                try:
                    p.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    for q in procs:
                        q.kill()
                        q.wait()
                    raise TimeoutError(
                        f"the workers of study {study_name!r} did not finish within {timeout} s"
                    ) from None
                if p.returncode != 0:
                    logs[k].seek(0)
                    errors.append(f"worker {k} exited with {p.returncode}:\n{logs[k].read()[-4000:]}")
        finally:
            for log in logs:
                log.close()
    if errors:
        raise RuntimeError("\n".join(errors))
    return read_study(storage, study_name, n_workers=n_workers, wall_seconds=time.perf_counter() - t_start)


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m optbook.hpo.parallel",
        description="Run one worker of an optbook study stored in an Optuna database.",
    )
    parser.add_argument("--storage", required=True, help="database URL, e.g. postgresql://user:pw@host/db")
    parser.add_argument("--study", required=True, help="the study's name")
    parser.add_argument("--worker", type=int, required=True, help="this worker's index, 0, 1, 2, ...")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials this worker runs (default: its share of the study's n_trials)")
    args = parser.parse_args(argv)
    run_worker(args.storage, args.study, args.worker, args.trials)


if __name__ == "__main__":
    _main()
