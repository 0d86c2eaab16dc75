"""Synchronous data parallelism (optbook.distributed.data_parallel): equal to large-minibatch SGD.

Each multi-process run starts 2 processes (gloo on loopback), one run per optimiser family the
chapter relies on. On Linux they are forks of one fork server (optbook.distributed._launch), so
only the first run pays for importing torch (about 3 s); the spawn path is checked by one
one-process start below.
"""

import multiprocessing
import os
import pickle
import sys
import uuid
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

import optbook.optim
from optbook.distributed import global_batches, train_accumulated, train_data_parallel
from optbook.distributed._launch import check_picklable, free_port, modules_of, spawn, start_method

N, D, C = 96, 5, 3


def make_model():
    """A small float64 net (module level, so spawned workers can import it); same weights each call."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        f64 = torch.float64
        return nn.Sequential(nn.Linear(D, 7, dtype=f64), nn.Tanh(), nn.Linear(7, C, dtype=f64))
    finally:
        torch.random.set_rng_state(gen_state)


def make_data():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(N, D, generator=gen, dtype=torch.float64)
    y = torch.randint(0, C, (N,), generator=gen)
    return X, y


def large_minibatch_reference(optimizer_fn, X, y, batch_size, steps, seed):
    """Single-process large-minibatch SGD, written out: one global batch per step, one step each."""
    model = make_model()
    opt = optimizer_fn(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    order, losses = [], []
    while len(losses) < steps:
        if not order:  # a fresh epoch: a permutation cut into whole batches
            perm = torch.randperm(N, generator=gen)
            order = [perm[i : i + batch_size] for i in range(0, N - batch_size + 1, batch_size)]
        idx = order.pop(0)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.state_dict(), np.array(losses)


def assert_state_close(a, b, tol):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=tol), (k, (a[k] - b[k]).abs().max())


# ---------------------------------------------------------------------------- the sampler


def test_global_batches_are_epochs_of_a_seeded_permutation():
    b = global_batches(10, 3, 7, seed=4)
    assert b.shape == (7, 3) and b.dtype == torch.long
    gen = torch.Generator().manual_seed(4)
    epochs = [torch.randperm(10, generator=gen)[:9].view(3, 3) for _ in range(3)]
    assert torch.equal(b, torch.cat(epochs)[:7])
    for e in range(2):  # within an epoch no example repeats
        assert len(set(b[3 * e : 3 * e + 3].flatten().tolist())) == 9
    assert torch.equal(b, global_batches(10, 3, 7, seed=4))
    assert not torch.equal(b, global_batches(10, 3, 7, seed=5))
    assert global_batches(10, 3, 0).shape == (0, 3)


def test_global_batches_validation():
    with pytest.raises(ValueError, match="batch_size must be <= 10, got 11"):
        global_batches(10, 11, 1)
    with pytest.raises(TypeError, match="steps must be an integer"):
        global_batches(10, 2, 1.0)


# ---------------------------------------------------------------------------- in-process runs


def test_one_process_is_the_reference_exactly():
    X, y = make_data()
    of = partial(torch.optim.SGD, lr=0.3)
    ref_state, ref_losses = large_minibatch_reference(of, X, y, 24, 9, seed=2)
    res = train_data_parallel(make_model, of, X, y, world_size=1, batch_size=24, steps=9, seed=2,
                              device="cpu")
    assert_state_close(res.state_dict, ref_state, 0.0)
    np.testing.assert_array_equal(res.losses, ref_losses)
    assert res.world_size == 1 and res.backend == "none" and res.micro_batches == 1
    assert res.grad_numel == 5 * 7 + 7 + 7 * 3 + 3 and res.grad_bytes == 8 * res.grad_numel
    assert res.step_seconds.shape == (9,) and (res.step_seconds > 0).all()
    np.testing.assert_array_equal(res.allreduce_seconds, np.zeros(9))
    np.testing.assert_array_equal(res.compute_seconds, res.step_seconds)


@pytest.mark.parametrize("k", [2, 4])
def test_gradient_accumulation_is_large_minibatch_sgd(k):
    X, y = make_data()
    of = partial(optbook.optim.Adam, lr=0.05)
    ref_state, ref_losses = large_minibatch_reference(of, X, y, 24, 9, seed=3)
    res = train_accumulated(make_model, of, X, y, micro_batches=k, batch_size=24, steps=9, seed=3,
                            device="cpu")
    assert_state_close(res.state_dict, ref_state, 1e-13)
    np.testing.assert_allclose(res.losses, ref_losses, rtol=0, atol=1e-14)
    assert res.micro_batches == k and res.world_size == 1
    # Not trivially equal: the run moved the weights.
    assert max((res.state_dict[n] - make_model().state_dict()[n]).abs().max() for n in ref_state) > 0.1


# ---------------------------------------------------------------------------- two processes

OPTIMISERS = {
    "torch SGD": partial(torch.optim.SGD, lr=0.3),
    "optbook SGD momentum": partial(optbook.optim.SGD, lr=0.1, momentum=0.9),
    "optbook Adam": partial(optbook.optim.Adam, lr=0.05),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_two_processes_equal_large_minibatch_sgd(name):
    X, y = make_data()
    of = OPTIMISERS[name]
    ref_state, ref_losses = large_minibatch_reference(of, X, y, 24, 12, seed=5)
    res = train_data_parallel(make_model, of, X, y, world_size=2, batch_size=24, steps=12, seed=5,
                              device="cpu")
    # float64, 12 steps of a 3-layer net: the two runs sum the same per-example gradients in a
    # different order (two shard means averaged vs one mean), so they differ by a few ulps per step.
    assert_state_close(res.state_dict, ref_state, 1e-12)
    np.testing.assert_allclose(res.losses, ref_losses, rtol=0, atol=1e-13)
    assert max((res.state_dict[n] - make_model().state_dict()[n]).abs().max() for n in ref_state) > 0.05
    assert res.world_size == 2 and res.backend == "gloo" and res.device == "cpu"
    assert res.step_seconds.shape == res.allreduce_seconds.shape == (12,)
    assert (res.allreduce_seconds > 0).all() and (res.compute_seconds > 0).all()
    assert res.wall_seconds > res.step_seconds.sum()


# ---------------------------------------------------------------------------- errors at the door


def local_factory():
    def inner():
        return make_model()

    return inner


def test_batch_size_must_divide_among_processes():
    X, y = make_data()
    with pytest.raises(ValueError, match="batch_size=25 must be divisible by world_size=2"):
        train_data_parallel(make_model, partial(torch.optim.SGD, lr=0.1), X, y, world_size=2,
                            batch_size=25, steps=1)
    with pytest.raises(ValueError, match="batch_size=10 must be divisible by micro_batches=3"):
        train_accumulated(make_model, partial(torch.optim.SGD, lr=0.1), X, y, micro_batches=3,
                          batch_size=10, steps=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model_fn=lambda: make_model()), "model_fn must be picklable .* got <function <lambda>"),
        (dict(model_fn=local_factory()), "model_fn must be picklable .*local_factory.<locals>.inner"),
        (dict(optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1)), "optimizer_fn must be picklable"),
        (dict(loss_fn=lambda out, t: (out - t).pow(2).mean()), "loss_fn must be picklable"),
        (dict(model_fn="net"), "model_fn must be callable, got 'net'"),
    ],
)
def test_unpicklable_functions_are_refused_before_spawning(kwargs, match):
    X, y = make_data()
    args = dict(model_fn=make_model, optimizer_fn=partial(torch.optim.SGD, lr=0.1)) | kwargs
    with pytest.raises(TypeError, match=match):
        train_data_parallel(args.pop("model_fn"), args.pop("optimizer_fn"), X, y, world_size=2,
                            batch_size=24, steps=1, **args)


def test_functions_from_an_unimportable_main_are_refused(monkeypatch):
    import sys
    import types

    fake_main = types.ModuleType("__main__")  # what a Jupyter kernel's __main__ looks like: no __file__

    def notebook_model():
        return make_model()

    notebook_model.__module__ = "__main__"
    notebook_model.__qualname__ = "notebook_model"
    fake_main.notebook_model = notebook_model
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    pickle.dumps(notebook_model)  # pickles fine here, by reference to __main__ ...
    with pytest.raises(TypeError, match="model_fn uses notebook_model defined in __main__"):
        check_picklable("model_fn", partial(notebook_model))  # ... which a worker cannot import


def test_world_size_above_the_cores_needs_the_override(monkeypatch):
    X, y = make_data()
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    with pytest.raises(ValueError, match=r"world_size=2 is more than this machine's 1 CPU cores"):
        train_data_parallel(make_model, partial(torch.optim.SGD, lr=0.1), X, y, world_size=2,
                            batch_size=24, steps=1)
    with pytest.raises(TypeError, match="allow_oversubscribe must be True or False, got 1"):
        train_data_parallel(make_model, partial(torch.optim.SGD, lr=0.1), X, y, world_size=2,
                            batch_size=24, steps=1, allow_oversubscribe=1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(world_size=0), ValueError, "world_size must be >= 1, got 0"),
        (dict(steps=0), ValueError, "steps must be >= 1, got 0"),
        (dict(batch_size=97), ValueError, "batch_size must be <= 96, got 97"),
        (dict(seed=-1), ValueError, "seed must be >= 0, got -1"),
        (dict(device="tpu"), ValueError, "device must be 'cpu', 'cuda' or None"),
        (dict(threads_per_process=0), ValueError, "threads_per_process must be >= 1, got 0"),
    ],
)
def test_arguments_are_validated(kwargs, error, match):
    X, y = make_data()
    args = dict(world_size=1, batch_size=24, steps=1) | kwargs
    with pytest.raises(error, match=match):
        train_data_parallel(make_model, partial(torch.optim.SGD, lr=0.1), X, y, **args)


def test_data_and_factories_are_checked():
    X, y = make_data()
    of = partial(torch.optim.SGD, lr=0.1)
    with pytest.raises(ValueError, match="same number of examples, got 96 and 95"):
        train_data_parallel(make_model, of, X, y[:-1], world_size=1, batch_size=8, steps=1)
    with pytest.raises(TypeError, match="X must be a tensor"):
        train_data_parallel(make_model, of, X.numpy(), y, world_size=1, batch_size=8, steps=1)
    for p in (1, 2):  # with 2 processes the factories are tried here, before anything is spawned
        with pytest.raises(TypeError, match=r"optimizer_fn\(params\) must return a torch.optim.Optimizer"):
            train_data_parallel(make_model, list, X, y, world_size=p, batch_size=8, steps=1)
        with pytest.raises(TypeError, match=r"model_fn\(\) must return a torch.nn.Module, got 3"):
            train_data_parallel(partial(int, 3), of, X, y, world_size=p, batch_size=8, steps=1)


def test_free_port_is_bindable():
    import socket

    port = free_port()
    assert 1024 <= port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# ---------------------------------------------------------------------------- how workers start


def report_environment(rank, in_path, out_path):
    """A worker (module level, so workers can import it): rank 0 reports what it sees."""
    name = torch.load(in_path)["name"]
    if rank == 0:
        seen = dict(value=os.environ.get(name), ppid=os.getppid(), cwd=os.getcwd(), path=sys.path)
        torch.save(seen, out_path)


START_METHODS = [m for m in ("forkserver", "spawn") if m in multiprocessing.get_all_start_methods()]


@pytest.mark.parametrize("method", START_METHODS)
def test_workers_see_the_callers_environment_at_the_call(method, monkeypatch, tmp_path):
    monkeypatch.setenv("OPTBOOK_START_METHOD", method)
    name = "OPTBOOK_TEST_" + uuid.uuid4().hex[:8].upper()
    assert spawn(report_environment, {"name": name}, 1)["value"] is None  # the fork server runs now
    # changed after the server started: a plain fork of it would see none of this
    value = uuid.uuid4().hex
    monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    out = spawn(report_environment, {"name": name}, 1)
    assert out["value"] == value and out["cwd"] == str(tmp_path)
    assert str(tmp_path / "modules") in out["path"]
    # a spawned worker is this process's child; a forked one is the fork server's
    assert (out["ppid"] == os.getpid()) == (method == "spawn")


def test_start_method(monkeypatch):
    monkeypatch.delenv("OPTBOOK_START_METHOD", raising=False)
    assert start_method() == ("forkserver" if sys.platform.startswith("linux") else "spawn")
    monkeypatch.setenv("OPTBOOK_START_METHOD", "fork")
    with pytest.raises(ValueError, match="OPTBOOK_START_METHOD must be 'spawn' or 'forkserver', got 'fork'"):
        start_method()


def test_modules_of_names_what_a_worker_imports():
    mods = modules_of(make_model, partial(optbook.optim.Adam, lr=0.1), nn.functional.cross_entropy)
    assert {__name__, "optbook.optim.adaptive", "torch.nn.functional", "functools"} <= set(mods), mods
    assert "builtins" not in mods and mods == sorted(mods)
