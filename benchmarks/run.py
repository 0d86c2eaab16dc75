"""Speed of the book, measured: prints a markdown table (and writes benchmarks/results.json).

    make bench            # or: .venv/bin/python benchmarks/run.py [--skip-notebooks]

Rows:
* each notebook's execution time in a fresh kernel (target: <= 30 s on a 2-core CPU);
* slider latency: one update of the chapter 8.3 race figure (compute + render to JPEG, as the
  live widget does), median
  of 20 *different* values, so nothing is served from the trajectory cache (target: <= 50 ms);
  also the median with every trajectory cached (render cost alone);
* optbook.optim.SGD step time against torch.optim.SGD on about 1M float32 parameters
  (target: <= 1.1x), median of 200 alternating steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def time_notebooks() -> list[tuple[str, float]]:
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        rows.append((path.name, time.perf_counter() - start))
    return rows


def slider_latency() -> tuple[float, float]:
    from optbook import landscapes
    from optbook.explorers import trajectory_race
    from optbook.optim import SGD

    # The configuration of the race figure in notebooks/08_3_basic_algorithms.ipynb.
    optimisers = {
        "SGD": lambda params, lr: SGD(params, lr=lr),
        "momentum": lambda params, lr, momentum: SGD(params, lr=lr, momentum=momentum),
        "Nesterov": lambda params, lr, momentum: SGD(params, lr=lr, momentum=momentum, nesterov=True),
    }
    race = trajectory_race([landscapes.quadratic(kappa=100), landscapes.rosenbrock()], optimisers,
                           steps=[80, 200])
    race.render("jpeg", lr=1.0, momentum=0.9)  # first draw: contours, background cache
    values = list(zip(np.linspace(0.1, 2.0, 20), np.linspace(0.5, 0.95, 20), strict=True))
    fresh, cached = [], []
    for lr, m in values:
        t = time.perf_counter()
        race.render("jpeg", lr=float(lr), momentum=float(m))
        fresh.append(time.perf_counter() - t)
    for lr, m in values:
        t = time.perf_counter()
        race.render("jpeg", lr=float(lr), momentum=float(m))
        cached.append(time.perf_counter() - t)
    return statistics.median(fresh) * 1e3, statistics.median(cached) * 1e3


def sgd_step_times(n_steps: int = 200) -> list[tuple[str, float, float]]:
    from optbook.optim import SGD

    shapes = [(1000, 784), (1000,), (200, 1000), (200,), (10, 200), (10,)]  # about 0.99M parameters
    rows = []
    for label, kw in [("SGD", {}), ("momentum 0.9", dict(momentum=0.9)),
                      ("Nesterov 0.9", dict(momentum=0.9, nesterov=True))]:
        setups = []
        for cls in (SGD, torch.optim.SGD):
            gen = torch.Generator().manual_seed(0)
            params = [torch.randn(*s, generator=gen, requires_grad=True) for s in shapes]
            for p in params:
                p.grad = torch.randn(*p.shape, generator=gen) * 1e-3
            setups.append(cls(params, lr=1e-3, **kw))
        for opt in setups:
            for _ in range(10):
                opt.step()  # warm-up (and create momentum buffers)
        times = ([], [])
        for _ in range(n_steps):  # alternate, so both see the same machine load
            for opt, out in zip(setups, times, strict=True):
                t = time.perf_counter()
                opt.step()
                out.append(time.perf_counter() - t)
        rows.append((label, statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-notebooks", action="store_true", help="skip executing notebooks")
    args = parser.parse_args()
    n_params = 1000 * 784 + 1000 + 200 * 1000 + 200 + 10 * 200 + 10
    results: dict = {"torch_threads": torch.get_num_threads()}

    print("| measurement | value | target |")
    print("|---|---:|---:|")
    if not args.skip_notebooks:
        results["notebooks"] = {}
        for name, seconds in time_notebooks():
            results["notebooks"][name] = seconds
            print(f"| execute `{name}` | {seconds:.1f} s | ≤ 30 s |")
        total = sum(results["notebooks"].values())
        print(f"| execute all notebooks | {total:.1f} s | ≤ 180 s |")
    fresh, cached = slider_latency()
    results["slider_ms"] = {"uncached": fresh, "cached": cached}
    print(f"| slider update, 8.3 race (compute + render, median of 20) | {fresh:.1f} ms | ≤ 50 ms |")
    print(f"| slider update, trajectories cached (render only) | {cached:.1f} ms | |")
    results["sgd_step_ms"] = {}
    for label, ours, ref in sgd_step_times():
        results["sgd_step_ms"][label] = {"optbook": ours, "torch": ref}
        print(f"| SGD step, {label}, {n_params / 1e6:.2f}M params: optbook / torch.optim | "
              f"{ours:.3f} / {ref:.3f} ms = {ours / ref:.2f}× | ≤ 1.1× |")
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
