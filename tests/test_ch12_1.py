"""Chapter 12.1's experiment helpers: the ring all-reduce, its time model, the GPipe schedule and
the picklable digits workloads."""

import itertools
import pickle

import numpy as np
import pytest
import torch

from optbook import training
from optbook.distributed import ring_allreduce_bytes
from optbook.experiments.ch12_1 import (
    DIGITS_SPACE,
    digits_arrays,
    digits_error,
    digits_model,
    digits_objective,
    digits_optbook_momentum,
    digits_sgd,
    pipeline_bubble_fraction,
    pipeline_schedule,
    ring_allreduce,
    ring_allreduce_time,
)
from optbook.experiments.ch12_1.workloads import _digits


@pytest.mark.parametrize("p, n", [(1, 5), (2, 8), (3, 7), (4, 12), (5, 3), (6, 60)])
def test_ring_allreduce_gives_every_worker_the_sum(p, n):
    rng = np.random.default_rng(p * 100 + n)
    arrays = [rng.standard_normal(n) for _ in range(p)]
    before = [a.copy() for a in arrays]
    results, sent = ring_allreduce(arrays)
    total = np.sum(arrays, axis=0)
    assert len(results) == p
    for r in results:
        np.testing.assert_allclose(r, total, rtol=1e-13, atol=1e-13)
    # every chunk travels p - 1 times in each phase: 2 (p - 1) n entries over all workers
    assert sent.sum() == 2 * (p - 1) * n
    for a, b in zip(arrays, before, strict=True):  # the inputs are left alone
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("p", [2, 3, 4, 8])
def test_ring_traffic_per_worker_is_the_cost_model(p):
    n = 24 * p
    _, sent = ring_allreduce([np.ones(n) for _ in range(p)])
    assert np.all(sent == ring_allreduce_bytes(n, p, bytes_per_element=1))
    assert np.all(sent == 2 * (p - 1) * n // p)


def test_ring_time_model():
    alpha, beta, n = 5e-6, 1e-9, 10**6
    for p in (1, 2, 4, 64):
        for b in (2, 4):
            assert ring_allreduce_time(n, p, alpha, beta, b) == pytest.approx(
                2 * (p - 1) * alpha + 2 * (p - 1) / p * n * b * beta, rel=1e-15)
    # the bandwidth term saturates at 2 N b beta; the latency term grows linearly in p
    assert ring_allreduce_time(n, 1024, 0.0, beta) < 2 * n * 4 * beta
    assert ring_allreduce_time(n, 1, alpha, beta) == 0.0


def test_ring_errors():
    with pytest.raises(ValueError, match="equal length"):
        ring_allreduce([np.ones(3), np.ones(4)])
    with pytest.raises(ValueError, match="at least one"):
        ring_allreduce([])
    with pytest.raises(ValueError, match="world_size"):
        ring_allreduce_time(10, 0, 1.0, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        ring_allreduce_time(10, 2, -1.0, 1.0)
    with pytest.raises(ValueError, match="numel"):
        ring_allreduce_time(-1, 2, 1.0, 1.0)


@pytest.mark.parametrize("K, M", [(1, 1), (1, 4), (4, 1), (4, 4), (3, 8)])
def test_pipeline_schedule_respects_dependencies(K, M):
    tasks = pipeline_schedule(K, M)
    assert len(tasks) == 2 * K * M
    slot = {(k, m, ph): t for k, t, m, ph in tasks}
    assert len(slot) == 2 * K * M  # each pass exactly once
    busy = {(k, t) for k, t, _, _ in tasks}
    assert len(busy) == len(tasks)  # a stage does one thing at a time
    for k, m in itertools.product(range(K), range(M)):
        if k > 0:
            assert slot[(k, m, "F")] > slot[(k - 1, m, "F")]
        if k < K - 1:
            assert slot[(k, m, "B")] > slot[(k + 1, m, "B")]
        assert slot[(k, m, "B")] > slot[(K - 1, m, "F")]  # backward only after the loss
    T = max(t for _, t, _, _ in tasks) + 1
    assert T == 2 * (M + K - 1)
    idle = 1 - len(tasks) / (K * T)
    assert idle == pytest.approx(pipeline_bubble_fraction(K, M), abs=1e-15)
    assert pipeline_bubble_fraction(K, M) == (K - 1) / (M + K - 1)


def test_pipeline_errors():
    with pytest.raises(ValueError, match="n_stages"):
        pipeline_schedule(0, 3)
    with pytest.raises(TypeError, match="n_micro"):
        pipeline_bubble_fraction(2, 1.5)


def test_workloads_are_picklable_and_seeded():
    for fn in (digits_model, digits_sgd, digits_optbook_momentum, digits_objective, digits_error):
        assert pickle.loads(pickle.dumps(fn)) is fn
    a, b = digits_model(), digits_model()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.dtype == torch.float64 and torch.equal(p, q)
    assert isinstance(digits_sgd(a.parameters()), torch.optim.SGD)
    X, y, Xv, yv = digits_arrays()
    assert X.shape == (1077, 64) and Xv.shape == (360, 64) and X.dtype == torch.float64
    X[:] = 0  # a copy: the next call is untouched
    assert digits_arrays()[0].abs().sum() > 0
    err = digits_error(a.state_dict())
    manual = (a(Xv).argmax(1) != yv).double().mean().item()
    assert err == manual and 0.7 < err < 1.0  # untrained: about chance


def test_digits_objective_is_the_training_loop_of_the_book():
    # digits_objective skips train()'s per-epoch records; the weights, and so the error, are the same.
    train, val = _digits(torch.float32)
    for p, epochs in [({"lr": 0.5, "weight_decay": 1e-5, "width": 31.6}, 2),
                      ({"lr": 2.9, "weight_decay": 0.05, "width": 200.0}, 3),
                      ({"lr": 0.01, "weight_decay": 1e-6, "width": 9.0}, 1)]:
        model = training.mlp([64, round(p["width"]), 10], activation="relu", seed=0)
        opt = torch.optim.SGD(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        hist = training.train(model, opt, train, val, epochs=epochs, batch_size=64, seed=0)
        assert digits_objective(p, epochs) == hist.val_error[-1], p


def test_digits_objective():
    p = {"lr": 0.5, "weight_decay": 1e-5, "width": 31.6}
    v1, v3 = digits_objective(p, 1), digits_objective(p, 3)
    assert v1 == digits_objective(dict(p), 1.0)  # deterministic; integral floats accepted
    assert v3 < v1 < 0.9  # more epochs help at a good learning rate
    assert set(DIGITS_SPACE) == {"lr", "weight_decay", "width"}
    with pytest.raises(ValueError, match="resource"):
        digits_objective(p, 0)
    with pytest.raises(TypeError, match="resource"):
        digits_objective(p, 1.5)
    with pytest.raises(ValueError, match="params"):
        digits_objective({"lr": 0.1}, 1)
    with pytest.raises(ValueError, match="lr"):
        digits_objective({**p, "lr": -1.0}, 1)
