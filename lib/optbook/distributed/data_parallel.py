r"""Synchronous data-parallel SGD with ``torch.distributed``, and its one-machine twin (§12.1.3).

Every step draws one *global* minibatch :math:`\mathbb{B}` of :math:`m` = ``batch_size`` examples
from a seeded sampler (:func:`global_batches`). With :math:`p` = ``world_size`` workers, rank
:math:`r` takes the shard :math:`\mathbb{B}_r` (examples :math:`rm/p, \dots, (r+1)m/p - 1` of the
batch), computes the gradient of its mean loss, and an all-reduce averages the :math:`p` gradients:

.. math::

    g = \frac{1}{p} \sum_{r=0}^{p-1} \nabla_\theta \frac{p}{m} \sum_{i \in \mathbb{B}_r}
        L(f(x^{(i)}; \theta), y^{(i)})
      = \nabla_\theta \frac{1}{m} \sum_{i \in \mathbb{B}} L(f(x^{(i)}; \theta), y^{(i)}),

exactly the gradient of the large minibatch. Every rank then applies the same optimiser step to
the same parameters, so synchronous data parallelism *is* large-minibatch SGD: only rounding
differs. :func:`train_accumulated` gets the same gradient on one machine by summing
:math:`k` micro-batch gradients before each step (gradient accumulation).

Symbol map: :math:`m` = ``batch_size``, :math:`p` = ``world_size``, :math:`k` =
``micro_batches``, :math:`\theta` = the model's parameters, :math:`L` = ``loss_fn``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .._validation import check_int
from ._launch import DDP_PRELOAD, check_picklable, check_world_size, free_port, modules_of, spawn

__all__ = ["DataParallelResult", "global_batches", "train_data_parallel", "train_accumulated"]


@dataclass(frozen=True)
class DataParallelResult:
    r"""What a data-parallel (or accumulated, or plain) run produced, with where its time went.

    Attributes:
        state_dict: the final model's state (tensors on the CPU).
        losses: the global minibatch loss of each step (the mean of ``loss_fn`` over the
            ``batch_size`` examples of that step, before the step), shape ``(steps,)``, float64.
        step_seconds: wall time of each step on rank 0 (zero the gradients, forward, backward
            with its all-reduce, optimiser step), shape ``(steps,)``.
        allreduce_seconds: the part of each step rank 0 spent in gradient all-reduces, shape
            ``(steps,)``; zero without ``torch.distributed``. It includes waiting for the slower
            rank. To tell the two apart the all-reduce is waited for where it is launched (a DDP
            communication hook), so it does not overlap with the backward pass as it does in
            production DDP: the step is then a little slower than it could be.
        world_size: :math:`p`, the number of processes.
        batch_size: :math:`m`, the global minibatch size.
        micro_batches: :math:`k`, gradient-accumulation chunks per step (1 unless accumulated).
        grad_numel: :math:`N`, the number of gradient entries all-reduced each step.
        grad_bytes: their size in bytes (what the ring all-reduce cost model
            :math:`2(p-1)/p \cdot N` counts, in bytes).
        backend: ``"gloo"`` or ``"nccl"`` for a multi-process run, ``"none"`` in-process.
        device: where the model ran (``"cpu"`` or ``"cuda"``).
        wall_seconds: the whole call, including starting the processes.
    """

    state_dict: dict
    losses: np.ndarray
    step_seconds: np.ndarray
    allreduce_seconds: np.ndarray
    world_size: int
    batch_size: int
    micro_batches: int
    grad_numel: int
    grad_bytes: int
    backend: str
    device: str
    wall_seconds: float

    @property
    def compute_seconds(self) -> np.ndarray:
        """Per step on rank 0: the step's time less its all-reduce time (forward, backward, update)."""
        return self.step_seconds - self.allreduce_seconds


def global_batches(n: int, batch_size: int, steps: int, seed: int = 0) -> torch.Tensor:
    """The example indices of every global minibatch, shape ``(steps, batch_size)``.

    Each epoch is a fresh permutation of ``range(n)`` from ``torch.Generator().manual_seed(seed)``,
    cut into ``n // batch_size`` consecutive batches; the ``n % batch_size`` examples left over
    are skipped for that epoch (as ``DataLoader(drop_last=True)``). Within an epoch no example
    repeats. Every rank computes the same table, so they agree on each step's batch without
    communicating.
    """
    n = check_int("n", n, low=1)
    batch_size = check_int("batch_size", batch_size, low=1, high=n)
    steps = check_int("steps", steps, low=0)
    seed = check_int("seed", seed, low=0)
    gen = torch.Generator().manual_seed(seed)
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)
    rows = [torch.randperm(n, generator=gen)[: per_epoch * batch_size] for _ in range(epochs)]
    if not rows:
        return torch.empty(0, batch_size, dtype=torch.long)
    return torch.cat(rows).view(-1, batch_size)[:steps].clone()


class _AllReduceTimer:
    """DDP communication-hook state: the process group and the seconds spent all-reducing."""

    def __init__(self, process_group, cuda: bool):
        self.process_group = process_group
        self.cuda = cuda
        self.seconds = 0.0


def _timed_allreduce_hook(state: _AllReduceTimer, bucket):
    """DDP's default all-reduce (sum, then divide by :math:`p`), waited for and timed."""
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    t0 = time.perf_counter()
    fut = allreduce_hook(state.process_group, bucket)
    fut.wait()
    if state.cuda:
        torch.cuda.synchronize()
    state.seconds += time.perf_counter() - t0
    return fut


def _train_steps(model, optimizer, X, y, batches, *, shard, micro_batches, loss_fn, timer, cuda):
    """The training loop every variant shares; returns (local losses, step seconds, all-reduce seconds)."""
    steps = batches.shape[0]
    losses = torch.zeros(steps, dtype=torch.float64, device=X.device)
    step_s, comm_s = np.zeros(steps), np.zeros(steps)
    for t in range(steps):
        idx = batches[t, shard].to(X.device)
        if timer is not None:
            timer.seconds = 0.0
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        for chunk in idx.chunk(micro_batches):
            loss = loss_fn(model(X[chunk]), y[chunk])
            (loss / micro_batches).backward()
            losses[t] += loss.detach().to(torch.float64) / micro_batches
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        step_s[t] = time.perf_counter() - t0
        comm_s[t] = timer.seconds if timer is not None else 0.0
    return losses, step_s, comm_s


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _grad_size(model: nn.Module) -> tuple[int, int]:
    params = [p for p in model.parameters() if p.requires_grad]
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)


def _build(model_fn, device):
    model = model_fn()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model_fn() must return a torch.nn.Module, got {model!r}")
    return model.to(device)


def _make_optimizer(optimizer_fn, params):
    optimizer = optimizer_fn(params)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer_fn(params) must return a torch.optim.Optimizer, got {optimizer!r}")
    return optimizer


def _dp_worker(rank: int, in_path: str, out_path: str) -> None:
    """One rank of :func:`train_data_parallel` (module level, so worker processes can import it)."""
    from torch.nn.parallel import DistributedDataParallel

    cfg = torch.load(in_path, weights_only=False)
    torch.set_num_threads(cfg["threads"])
    p, cuda = cfg["world_size"], cfg["device"] == "cuda"
    device = torch.device(f"cuda:{rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(cfg["backend"], init_method=cfg["init_method"], rank=rank, world_size=p)
    try:
        model = _build(cfg["model_fn"], device)
        numel, nbytes = _grad_size(model)
        ddp = DistributedDataParallel(model, device_ids=[rank] if cuda else None)
        timer = _AllReduceTimer(dist.group.WORLD, cuda)
        ddp.register_comm_hook(timer, _timed_allreduce_hook)
        optimizer = _make_optimizer(cfg["optimizer_fn"], ddp.parameters())
        X, y = cfg["X"].to(device), cfg["y"].to(device)
        m = cfg["batch_size"] // p
        losses, step_s, comm_s = _train_steps(
            ddp, optimizer, X, y, cfg["batches"], shard=slice(rank * m, (rank + 1) * m),
            micro_batches=1, loss_fn=cfg["loss_fn"], timer=timer, cuda=cuda,
        )
        dist.all_reduce(losses)  # each rank's mean over its shard; the global mean is their mean
        losses /= p
        if rank == 0:
            torch.save(dict(state_dict=_cpu_state(model), losses=losses.cpu().numpy(), step_seconds=step_s,
                            allreduce_seconds=comm_s, grad_numel=numel, grad_bytes=nbytes), out_path)
    finally:
        dist.destroy_process_group()


def _check_data(X, y, batch_size, steps, seed):
    if not isinstance(X, torch.Tensor) or X.dim() < 1:
        raise TypeError(f"X must be a tensor with one row per example, got {X!r}")
    if not isinstance(y, torch.Tensor) or y.dim() < 1:
        raise TypeError(f"y must be a tensor with one entry per example, got {y!r}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of examples, got {len(X)} and {len(y)}")
    batch_size = check_int("batch_size", batch_size, low=1, high=len(X))
    return batch_size, check_int("steps", steps, low=1), check_int("seed", seed, low=0)


def _check_functions(model_fn, optimizer_fn, loss_fn):
    check_picklable("model_fn", model_fn)
    check_picklable("optimizer_fn", optimizer_fn)
    check_picklable("loss_fn", loss_fn)


def _in_process(model_fn, optimizer_fn, X, y, batches, *, micro_batches, loss_fn, device, backend, t_start):
    model = _build(model_fn, device)
    numel, nbytes = _grad_size(model)
    optimizer = _make_optimizer(optimizer_fn, model.parameters())
    cuda = device.type == "cuda"
    losses, step_s, comm_s = _train_steps(
        model, optimizer, X.to(device), y.to(device), batches, shard=slice(None),
        micro_batches=micro_batches, loss_fn=loss_fn, timer=None, cuda=cuda,
    )
    return DataParallelResult(
        _cpu_state(model), losses.cpu().numpy(), step_s, comm_s, 1, batches.shape[1], micro_batches,
        numel, nbytes, backend, device.type, time.perf_counter() - t_start,
    )


def _resolve_device(device, world_size) -> str:
    if device is None:
        return "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or None (choose), got {device!r}")
    if device == "cuda" and torch.cuda.device_count() < world_size:
        raise ValueError(
            f"device='cuda' needs one GPU per process: world_size={world_size}, but "
            f"{torch.cuda.device_count()} GPU(s) are visible"
        )
    return device


def train_data_parallel(
    model_fn: Callable[[], nn.Module],
    optimizer_fn: Callable,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    world_size: int,
    batch_size: int,
    steps: int,
    seed: int = 0,
    loss_fn: Callable = nn.functional.cross_entropy,
    device: str | None = None,
    allow_oversubscribe: bool = False,
    threads_per_process: int = 1,
) -> DataParallelResult:
    r"""Synchronous data-parallel training on ``world_size`` processes (module docstring's equation).

    ``model_fn()`` builds the model and ``optimizer_fn(params)`` its optimiser, in every process;
    both, and ``loss_fn(output, target)`` (a mean over the examples, cross-entropy by default),
    must be picklable: module-level functions or :func:`functools.partial` of them, e.g.
    ``partial(optbook.training.mlp, [64, 32, 10], dtype=torch.float64)`` and
    ``partial(torch.optim.SGD, lr=0.1)``. Lambdas, local functions and functions defined in a
    notebook are refused with a :class:`TypeError` before anything starts.

    Step :math:`t` uses row :math:`t` of :func:`global_batches` ``(len(X), batch_size, steps,
    seed)``. With ``world_size == 1`` training runs in this process (no ``torch.distributed``).
    Otherwise ``world_size`` processes are started (:mod:`torch.multiprocessing`; on Linux forked
    from a fork server that imported torch once, see :mod:`optbook.distributed._launch`), joined by
    ``torch.distributed`` over TCP on a free port of 127.0.0.1 — gloo on CPUs, NCCL with one GPU
    per process — and the model is wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`; rank :math:`r` computes on its shard of
    ``batch_size / world_size`` examples. On a cluster the same loop runs with ``torchrun`` and
    a ``MASTER_ADDR`` on the network instead of loopback.

    Args:
        world_size: :math:`p \ge 1`; at most ``os.cpu_count()`` unless ``allow_oversubscribe=True``.
        batch_size: :math:`m`, the global minibatch; must be a multiple of ``world_size``.
        steps: optimiser steps :math:`\ge 1`.
        seed: seeds the batch sampler (the model's initialisation is ``model_fn``'s business:
            DDP copies rank 0's initial parameters to every rank anyway).
        device: ``"cpu"``, ``"cuda"`` (one GPU per process) or ``None``: CUDA when there are at
            least ``world_size`` GPUs, else the CPU.
        threads_per_process: torch threads in each worker process (1 suits a small model on a
            few cores; the in-process run leaves the caller's setting alone).

    Returns:
        a :class:`DataParallelResult`; ``losses`` are global minibatch losses (each rank's shard
        mean, averaged over ranks after training, one collective for the whole run).

    Differs from production DDP: all-reduces are waited for inside the communication hook so
    their time can be measured (no overlap with the backward pass); modules with batch
    normalisation would normalise per shard (use :class:`torch.nn.SyncBatchNorm` for the
    large-batch statistics), so the equality above holds for models without such buffers.
    """
    t_start = time.perf_counter()
    batch_size, steps, seed = _check_data(X, y, batch_size, steps, seed)
    world_size = check_world_size(world_size, allow_oversubscribe)
    threads_per_process = check_int("threads_per_process", threads_per_process, low=1)
    if batch_size % world_size != 0:
        raise ValueError(
            f"batch_size={batch_size} must be divisible by world_size={world_size}: every process "
            f"takes an equal shard of the global minibatch"
        )
    _check_functions(model_fn, optimizer_fn, loss_fn)
    device = _resolve_device(device, world_size)
    batches = global_batches(len(X), batch_size, steps, seed)
    if world_size == 1:
        return _in_process(model_fn, optimizer_fn, X, y, batches, micro_batches=1, loss_fn=loss_fn,
                           device=torch.device(device), backend="none", t_start=t_start)
    # Build once here, so a model_fn or optimizer_fn that returns the wrong thing fails before spawning.
    _make_optimizer(optimizer_fn, _build(model_fn, "cpu").parameters())
    backend = "nccl" if device == "cuda" else "gloo"
    payload = dict(model_fn=model_fn, optimizer_fn=optimizer_fn, loss_fn=loss_fn, X=X.detach().cpu(),
                   y=y.detach().cpu(), batches=batches, batch_size=batch_size, world_size=world_size,
                   backend=backend, device=device, threads=threads_per_process,
                   init_method=f"tcp://127.0.0.1:{free_port()}")
    out = spawn(_dp_worker, payload, world_size,
                preload=DDP_PRELOAD + tuple(modules_of(model_fn, optimizer_fn, loss_fn)))
    return DataParallelResult(
        out["state_dict"], out["losses"], out["step_seconds"], out["allreduce_seconds"], world_size,
        batch_size, 1, out["grad_numel"], out["grad_bytes"], backend, device, time.perf_counter() - t_start,
    )


def train_accumulated(
    model_fn: Callable[[], nn.Module],
    optimizer_fn: Callable,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    micro_batches: int,
    batch_size: int,
    steps: int,
    seed: int = 0,
    loss_fn: Callable = nn.functional.cross_entropy,
    device: str | None = None,
) -> DataParallelResult:
    r"""Gradient accumulation: the large-minibatch step from :math:`k` micro-batches, in one process.

    Each step splits the global minibatch of :func:`global_batches` into :math:`k` =
    ``micro_batches`` consecutive chunks of :math:`m/k` examples, runs forward and backward on
    each with the loss scaled by :math:`1/k` (so the gradients summed in ``.grad`` are
    :math:`\frac1k \sum_j \nabla \bar L_j = \nabla \bar L`), then takes one optimiser step. Memory
    holds one micro-batch's activations; time is the sum of the :math:`k` passes. The result
    equals :func:`train_data_parallel` with ``world_size = k`` to rounding (the shards are the
    same chunks). Arguments as there; ``batch_size`` must be a multiple of ``micro_batches``.
    """
    t_start = time.perf_counter()
    batch_size, steps, seed = _check_data(X, y, batch_size, steps, seed)
    micro_batches = check_int("micro_batches", micro_batches, low=1)
    if batch_size % micro_batches != 0:
        raise ValueError(
            f"batch_size={batch_size} must be divisible by micro_batches={micro_batches}: every "
            f"micro-batch has the same size"
        )
    _check_functions(model_fn, optimizer_fn, loss_fn)
    device = _resolve_device(device, 1)
    batches = global_batches(len(X), batch_size, steps, seed)
    return _in_process(model_fn, optimizer_fn, X, y, batches, micro_batches=micro_batches, loss_fn=loss_fn,
                       device=torch.device(device), backend="none", t_start=t_start)

