"""Starting worker processes: the checks made before starting them, a free port, and the start itself.

Workers are started with :func:`torch.multiprocessing.start_processes`, by one of two methods
(:func:`start_method`):

* ``"forkserver"`` (Linux): the first start launches a *fork server*, a fresh single-threaded
  interpreter that imports torch (and what the first job's functions need) once; every worker
  after that is a ``fork()`` of it, which costs milliseconds instead of the seconds a fresh
  interpreter spends importing torch (and ``DistributedDataParallel``'s import of
  ``torch._dynamo``). Forking the server is safe where forking the caller would not be: the
  server runs no threads (no OpenMP pool, no Jupyter kernel threads, no gloo), and each worker
  creates its own process group after the fork. The server lives as long as the calling
  process; it is shared with every other user of :mod:`multiprocessing`'s forkserver.
* ``"spawn"`` (elsewhere, or with ``OPTBOOK_START_METHOD=spawn``): a fresh interpreter per worker.

Either way everything a worker needs reaches it by pickling, so every function handed to a
worker must be importable by name (defined at module level in an importable module, or a
:func:`functools.partial` of one). Each worker starts with the caller's current ``sys.path``,
working directory and environment variables, as a spawned one would. Results come back through a
file written by rank 0 (a queue handed to spawned workers was not reliable here; see BUILD-NOTES).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import socket
import sys
import tempfile
from collections.abc import Callable

import torch
import torch.multiprocessing as mp

from .._validation import check_bool, check_int

__all__ = ["check_picklable", "check_world_size", "free_port", "modules_of", "spawn", "start_method",
           "start_workers"]


class _MainModuleFinder(pickle.Pickler):
    """A pickler that notes the functions and classes it pickles by reference, and those from ``__main__``."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.from_main: list[str] = []
        self.modules: set[str] = set()

    def reducer_override(self, obj):
        if callable(obj) or isinstance(obj, type):
            module = getattr(obj, "__module__", None)
            if module == "__main__":
                self.from_main.append(getattr(obj, "__qualname__", repr(obj)))
            elif isinstance(module, str):
                self.modules.add(module)
        return NotImplemented


def modules_of(*objs) -> list[str]:
    """The modules a worker imports to unpickle ``objs`` (functions, classes, partials), sorted.

    ``__main__`` and ``builtins`` are left out. Used to preload them into the fork server.
    """
    finder = _MainModuleFinder(io.BytesIO())
    for obj in objs:
        finder.dump(obj)
    return sorted(finder.modules - {"builtins", "__main__"})


def check_picklable(name: str, fn) -> None:
    """Raise :class:`TypeError` (naming ``name`` and ``fn``) unless ``fn`` can reach a spawned worker.

    Two cases fail: ``fn`` cannot be pickled at all (a ``lambda``, a function defined inside
    another function), or it can be pickled only by reference to ``__main__`` while ``__main__``
    is not a file the worker could re-import (a Jupyter notebook, an interactive session).
    """
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {fn!r}")
    finder = _MainModuleFinder(io.BytesIO())
    try:
        finder.dump(fn)
    except Exception as err:  # PicklingError, AttributeError ("local object"), TypeError
        raise TypeError(
            f"{name} must be picklable to reach the worker processes (a function defined at module "
            f"level, or functools.partial of one); got {fn!r}, which is not: {err}"
        ) from None
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if finder.from_main and main_file is None:
        raise TypeError(
            f"{name} uses {', '.join(finder.from_main)} defined in __main__ (a notebook or an interactive "
            f"session), which spawned worker processes cannot import; got {fn!r}. Define it in a module "
            f"(or use functools.partial of a library function, e.g. partial(optbook.training.mlp, sizes))"
        )


def check_world_size(world_size, allow_oversubscribe, name: str = "world_size") -> int:
    """Validate ``world_size``: at least 1 and, unless ``allow_oversubscribe``, at most the core count."""
    world_size = check_int(name, world_size, low=1)
    allow_oversubscribe = check_bool("allow_oversubscribe", allow_oversubscribe)
    cores = os.cpu_count() or 1
    if world_size > cores and not allow_oversubscribe:
        raise ValueError(
            f"{name}={world_size} is more than this machine's {cores} CPU cores (os.cpu_count()): "
            f"the processes would share cores and every timing would mislead. Pass "
            f"allow_oversubscribe=True to run anyway"
        )
    return world_size


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: What the fork server always imports (``__main__`` as a spawned worker would: a script's
#: module-level functions stay reachable).
_BASE_PRELOAD = ("__main__", "torch", "torch.distributed", "optbook.distributed")
#: What ``DistributedDataParallel`` needs besides: its constructor imports ``torch._dynamo``.
DDP_PRELOAD = ("torch.nn.parallel", "torch._dynamo")


def start_method() -> str:
    """How workers start: ``"forkserver"`` on Linux, ``"spawn"`` elsewhere (see the module docstring).

    The environment variable ``OPTBOOK_START_METHOD`` (``"spawn"`` or ``"forkserver"``) overrides
    the choice, e.g. to compare the two or to rule the fork server out while debugging.
    """
    method = os.environ.get("OPTBOOK_START_METHOD")
    if method is None:
        method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    if method not in ("spawn", "forkserver"):
        raise ValueError(f"OPTBOOK_START_METHOD must be 'spawn' or 'forkserver', got {method!r}")
    if method not in mp.get_all_start_methods():
        raise ValueError(f"start method {method!r} is not available on this platform ({sys.platform})")
    return method


def prepare_start(preload=()) -> str:
    """Choose the start method; for the fork server, name what it imports if this call launches it.

    ``preload`` (module names) is added to :data:`_BASE_PRELOAD`. The list only matters when the
    server is not running yet (the first call, or after it died); a running server keeps what it
    imported, and a worker imports anything else it needs itself, as a spawned one would.
    """
    method = start_method()
    if method == "forkserver":
        modules = list(dict.fromkeys([*_BASE_PRELOAD, *preload]))
        mp.get_context("forkserver").set_forkserver_preload(modules)
    return method


def _entry(rank: int, worker: Callable, env: dict, *args) -> None:
    """Run ``worker(rank, *args)`` with the caller's environment (a forked worker has the server's)."""
    if os.environ != env:
        os.environ.clear()
        os.environ.update(env)
    worker(rank, *args)


def start_workers(worker: Callable, args: tuple, nprocs: int, preload=()) -> None:
    """Run ``worker(rank, *args)`` in ``nprocs`` new processes and wait for them all.

    The processes are started by :func:`start_method` (``preload``: see :func:`prepare_start`),
    with C++ warnings quiet (:func:`_quiet_cpp_warnings`). ``args`` are pickled as
    :mod:`torch.multiprocessing` does (tensors in shared memory stay shared). A worker that
    raises makes this raise too (torch's ``ProcessRaisedException`` carries its traceback).
    """
    with _quiet_cpp_warnings():
        method = prepare_start(preload)
        mp.start_processes(_entry, args=(worker, dict(os.environ), *args), nprocs=nprocs, join=True,
                           start_method=method)


def spawn(worker: Callable, payload: dict, world_size: int, preload=()):
    """Run ``worker(rank, in_path, out_path)`` in ``world_size`` new processes; return rank 0's output.

    The processes are started by :func:`start_workers`. ``payload`` is written with
    :func:`torch.save` to ``in_path`` (a fresh temporary directory); ``worker`` must write its
    result with :func:`torch.save` to ``out_path`` on rank 0.
    """
    with tempfile.TemporaryDirectory(prefix="optbook-dist-") as tmp:
        in_path, out_path = os.path.join(tmp, "in.pt"), os.path.join(tmp, "out.pt")
        torch.save(payload, in_path)
        start_workers(worker, (in_path, out_path), world_size, preload)
        return torch.load(out_path, weights_only=False)


@contextlib.contextmanager
def _quiet_cpp_warnings():
    """Workers log C++ errors only, unless ``TORCH_CPP_LOG_LEVEL`` is already set.

    Without a network (``.ci/offline``), c10d warns on every connection that it cannot look up
    the client's host name, which is harmless on loopback and would fill a notebook's output.
    torch reads the level when it is imported: a fork server launched inside this context keeps
    it for every worker it forks.
    """
    if "TORCH_CPP_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["TORCH_CPP_LOG_LEVEL"] = "ERROR"
    try:
        yield
    finally:
        os.environ.pop("TORCH_CPP_LOG_LEVEL", None)
