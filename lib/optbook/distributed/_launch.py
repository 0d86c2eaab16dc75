"""Starting worker processes: the checks made before spawning, a free port, and the spawn itself.

Workers are started with :func:`torch.multiprocessing.start_processes` (``start_method="spawn"``),
which starts fresh interpreters: everything a worker needs reaches it by pickling, so every
function handed to a worker must be importable by name (defined at module level in an
importable module, or a :func:`functools.partial` of one). Results come back through a file
written by rank 0 (a queue handed to spawned workers was not reliable here; see BUILD-NOTES).
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

__all__ = ["check_picklable", "check_world_size", "free_port", "spawn"]


class _MainModuleFinder(pickle.Pickler):
    """A pickler that notes every function or class that lives in an unimportable ``__main__``."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.from_main: list[str] = []

    def reducer_override(self, obj):
        if (callable(obj) or isinstance(obj, type)) and getattr(obj, "__module__", None) == "__main__":
            self.from_main.append(getattr(obj, "__qualname__", repr(obj)))
        return NotImplemented


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


def spawn(worker: Callable, payload: dict, world_size: int):
    """Run ``worker(rank, in_path, out_path)`` in ``world_size`` spawned processes; return rank 0's output.

    ``payload`` is written with :func:`torch.save` to ``in_path`` (a fresh temporary directory);
    ``worker`` must write its result with :func:`torch.save` to ``out_path`` on rank 0. A worker
    that raises makes this raise too (torch's ``ProcessRaisedException`` carries its traceback).
    """
    with tempfile.TemporaryDirectory(prefix="optbook-dist-") as tmp, _quiet_cpp_warnings():
        in_path, out_path = os.path.join(tmp, "in.pt"), os.path.join(tmp, "out.pt")
        torch.save(payload, in_path)
        mp.start_processes(worker, args=(in_path, out_path), nprocs=world_size, join=True,
                           start_method="spawn")
        return torch.load(out_path, weights_only=False)


@contextlib.contextmanager
def _quiet_cpp_warnings():
    """Spawned workers log C++ errors only, unless ``TORCH_CPP_LOG_LEVEL`` is already set.

    Without a network (``.ci/offline``), c10d warns on every connection that it cannot look up
    the client's host name, which is harmless on loopback and would fill a notebook's output.
    """
    if "TORCH_CPP_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["TORCH_CPP_LOG_LEVEL"] = "ERROR"
    try:
        yield
    finally:
        os.environ.pop("TORCH_CPP_LOG_LEVEL", None)
