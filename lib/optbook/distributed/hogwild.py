r"""Hogwild!: lock-free asynchronous SGD on shared-memory parameters (Recht et al. 2011).

Several processes run SGD on the *same* parameter vector :math:`w` in shared memory, without
locks: each repeatedly draws an example :math:`i` uniformly, reads the coordinates it touches,
and writes back

.. math::

    w_{e_i} \leftarrow w_{e_i} - \epsilon\, \nabla_{w_{e_i}} f_i(w),

where :math:`e_i` is the (small) set of coordinates example :math:`i` depends on. When the
:math:`e_i` are sparse, two processes rarely touch the same coordinate at the same time, so the
occasional lost or stale write costs little and the work scales with the number of processes.

The problem here is sparse least squares, :math:`f(w) = \frac{1}{2n}\sum_i (x_i^\top w - y_i)^2`
with each row :math:`x_i` having ``nnz`` non-zeros of unit total norm and :math:`y = Xw^*` exactly,
so :math:`w^*` is the unique minimiser (the columns of :math:`X` are checked to have full rank)
and plain SGD with :math:`0 < \epsilon < 2` converges to it (the randomised Kaczmarz method with
relaxation :math:`\epsilon`). :math:`\nabla_{w_{e_i}} f_i = (x_i^\top w - y_i)\, x_{i, e_i}`.

Symbol map: :math:`w` = the shared parameters, :math:`\epsilon` = ``lr``, :math:`e_i` =
``problem.indices[i]``, :math:`x_{i,e_i}` = ``problem.values[i]``, :math:`w^*` = ``problem.w_star``.

Differs from the paper: the paper's processors update one coordinate at a time with atomic
adds; numpy's ``w[e] -= ...`` here reads and writes the whole small block without atomics, so a
concurrent write to the same coordinate can be lost (a slightly stronger form of asynchrony).
Python's per-update overhead (microseconds) dominates the arithmetic, as memory traffic does in
the paper's C++.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.multiprocessing as mp

from .._validation import check_bool, check_int, check_real
from ._launch import check_world_size, prepare_start, start_workers

__all__ = ["SparseLeastSquares", "sparse_least_squares", "HogwildResult", "hogwild_sgd"]


@dataclass(frozen=True)
class SparseLeastSquares:
    """A consistent sparse least-squares problem: row ``i`` has entries ``values[i]`` at ``indices[i]``."""

    indices: np.ndarray  # (n, nnz) int64, distinct within a row
    values: np.ndarray  # (n, nnz) float64, each row of unit norm
    y: np.ndarray  # (n,)
    w_star: np.ndarray  # (d,)

    @property
    def n(self) -> int:
        return self.indices.shape[0]

    @property
    def d(self) -> int:
        return self.w_star.shape[0]

    def dense(self) -> np.ndarray:
        """The design matrix :math:`X` as a dense ``(n, d)`` array (for checking)."""
        X = np.zeros((self.n, self.d))
        np.put_along_axis(X, self.indices, self.values, axis=1)
        return X

    def loss(self, w) -> np.ndarray:
        r""":math:`f(w) = \frac{1}{2n}\sum_i (x_i^\top w - y_i)^2`; ``w`` has shape ``(d,)`` or ``(k, d)``."""
        w = np.asarray(w, dtype=np.float64)
        r = (w[..., self.indices] * self.values).sum(-1) - self.y
        return 0.5 * (r * r).mean(-1)

    def conflict_degree(self) -> float:
        r"""Recht et al.'s :math:`\Delta`: the largest fraction of examples that share one coordinate."""
        counts = np.bincount(self.indices.ravel(), minlength=self.d)
        return float(counts.max() / self.n)


def sparse_least_squares(n: int, d: int, nnz: int, seed: int = 0) -> SparseLeastSquares:
    """A seeded problem: ``n`` rows of ``nnz`` distinct random coordinates out of ``d``, unit-norm rows.

    Values and :math:`w^*` are standard normal (rows then normalised); :math:`y = Xw^*`. Raises
    :class:`ValueError` if the drawn :math:`X` does not have full column rank (take more rows).
    """
    n = check_int("n", n, low=1)
    d = check_int("d", d, low=1)
    nnz = check_int("nnz", nnz, low=1, high=d)
    seed = check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    indices = np.argsort(rng.random((n, d)), axis=1)[:, :nnz]  # nnz distinct coordinates per row
    values = rng.standard_normal((n, nnz))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    w_star = rng.standard_normal(d)
    problem = SparseLeastSquares(indices, values, (values * w_star[indices]).sum(1), w_star)
    if np.linalg.matrix_rank(problem.dense()) < d:
        raise ValueError(
            f"the drawn X (n={n}, d={d}, nnz={nnz}, seed={seed}) does not have full column rank, so "
            f"w* is not the unique minimiser; use more rows"
        )
    return problem


@dataclass(frozen=True)
class HogwildResult:
    """What :func:`hogwild_sgd` did.

    Attributes:
        w: the final shared parameters.
        snapshots: copies of :math:`w` taken by process 0, shape ``(k, d)``; the first is the
            start, :math:`w = 0`.
        snapshot_updates: the total number of updates (all processes, estimated as process 0's
            count times ``n_workers``) at each snapshot.
        snapshot_seconds: seconds since process 0 started its loop, at each snapshot.
        seconds: wall time of the slowest process's update loop (start-up excluded).
        n_workers: processes used; ``updates``: total updates over all processes; ``lock``: whether
            each update held a lock (the synchronised baseline).
    """

    w: np.ndarray
    snapshots: np.ndarray
    snapshot_updates: np.ndarray
    snapshot_seconds: np.ndarray
    seconds: float
    n_workers: int
    updates: int
    lock: bool


def _sgd_loop(w, problem_arrays, lr, n_updates, seed, rank, lock, snapshot_every):
    """``n_updates`` SGD steps on ``w`` (a numpy view of shared memory); returns rank 0's record."""
    indices, values, y = problem_arrays
    rng = np.random.default_rng([seed, rank])
    order = rng.integers(0, len(y), size=n_updates)
    snaps, snap_t, snap_k = [w.copy()], [0.0], [0]
    t0 = time.perf_counter()
    for k, i in enumerate(order):
        e, v = indices[i], values[i]
        if lock is not None:
            lock.acquire()
        r = w[e] @ v - y[i]
        w[e] -= lr * r * v
        if lock is not None:
            lock.release()
        if snapshot_every and rank == 0 and (k + 1) % snapshot_every == 0:
            snaps.append(w.copy())
            snap_t.append(time.perf_counter() - t0)
            snap_k.append(k + 1)
    return np.array(snaps), np.array(snap_t), np.array(snap_k), time.perf_counter() - t0


def _hogwild_worker(rank, w_shared, ready, seconds, cfg, lock, out_path):
    """One Hogwild! process (module level, so worker processes can import it)."""
    torch.set_num_threads(1)
    ready[rank] = 1.0
    while ready.sum().item() < len(ready):  # start together: a worker still importing races nobody
        time.sleep(0.001)
    snaps, snap_t, snap_k, secs = _sgd_loop(
        w_shared.numpy(), cfg["arrays"], cfg["lr"], cfg["n_updates"], cfg["seed"], rank, lock,
        cfg["snapshot_every"],
    )
    seconds[rank] = secs
    if rank == 0:
        torch.save(dict(snapshots=snaps, snap_t=snap_t, snap_k=snap_k), out_path)


def hogwild_sgd(
    problem: SparseLeastSquares,
    *,
    n_workers: int,
    lr: float,
    epochs: float,
    seed: int = 0,
    lock: bool = False,
    snapshots: int = 20,
    allow_oversubscribe: bool = False,
) -> HogwildResult:
    r"""Hogwild! SGD on ``problem`` with ``n_workers`` processes sharing :math:`w` (start: zero).

    In total ``round(epochs * n)`` updates are made, split evenly over the processes; each draws
    its examples uniformly with replacement from ``numpy.random.default_rng([seed, rank])``.
    ``n_workers=1`` runs the same loop in this process: plain sequential SGD, deterministic.
    With more, the processes are started as :func:`~optbook.distributed._launch.start_workers` does
    (:mod:`torch.multiprocessing`) and update a tensor in
    shared memory (``share_memory_()``) through numpy views; the interleaving of their updates
    is up to the operating system, so runs with ``n_workers > 1`` are not reproducible bit for
    bit even with a seed. ``lock=True`` serialises the updates with a lock: the synchronised
    baseline the paper compares against (same arithmetic, no concurrency in the updates).
    ``snapshots`` copies of :math:`w` are taken by process 0, evenly spaced over its updates.
    """
    if not isinstance(problem, SparseLeastSquares):
        raise TypeError(f"problem must be a SparseLeastSquares, got {problem!r}")
    n_workers = check_world_size(n_workers, allow_oversubscribe, name="n_workers")
    lr = check_real("lr", lr, low=0.0, low_open=True)
    epochs = check_real("epochs", epochs, low=0.0, low_open=True)
    seed = check_int("seed", seed, low=0)
    lock = check_bool("lock", lock)
    snapshots = check_int("snapshots", snapshots, low=0)
    total = max(int(round(epochs * problem.n)), n_workers)
    n_updates = total // n_workers
    snapshot_every = max(n_updates // snapshots, 1) if snapshots else 0
    arrays = (problem.indices, problem.values, problem.y)
    w_shared = torch.zeros(problem.d, dtype=torch.float64)
    if n_workers == 1:
        snaps, snap_t, snap_k, secs = _sgd_loop(w_shared.numpy(), arrays, lr, n_updates, seed, 0, None,
                                                snapshot_every)
    else:
        import os
        import tempfile

        w_shared.share_memory_()
        ready = torch.zeros(n_workers).share_memory_()
        seconds = torch.zeros(n_workers, dtype=torch.float64).share_memory_()
        the_lock = mp.get_context(prepare_start()).Lock() if lock else None
        cfg = dict(arrays=arrays, lr=lr, n_updates=n_updates, seed=seed, snapshot_every=snapshot_every)
        with tempfile.TemporaryDirectory(prefix="optbook-hogwild-") as tmp:
            out_path = os.path.join(tmp, "rank0.pt")
            start_workers(_hogwild_worker, (w_shared, ready, seconds, cfg, the_lock, out_path), n_workers)
            rec = torch.load(out_path, weights_only=False)
        snaps, snap_t, snap_k = rec["snapshots"], rec["snap_t"], rec["snap_k"]
        snaps[0] = 0.0  # the start: process 1 may have begun a moment before process 0 copied w
        secs = float(seconds.max())
    return HogwildResult(w_shared.numpy().copy(), snaps, snap_k * n_workers, snap_t, float(secs), n_workers,
                         n_updates * n_workers, lock)
