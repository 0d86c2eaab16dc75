"""BFGS against L-BFGS: time per iteration and memory as the dimension grows.

Runs both on the n-D Rosenbrock function for a fixed number of iterations and prints a markdown
table. Two timings per row: a whole iteration (line search with its calls to ``f``, plus the
method's own algebra), and the algebra alone (BFGS: ``M @ g`` and one ``bfgs_update``, O(n²);
L-BFGS: one ``two_loop_recursion`` over ``m`` pairs, O(mn)), timed on synthetic pairs.

    .venv/bin/python benchmarks/bench_second_order.py [--dims 10 100 1000 3000] [--iters 40]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from optbook.second_order import bfgs, bfgs_update, lbfgs, two_loop_recursion


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def best_of(fn, repeats):
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def algebra_time(n, m, repeats):
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(n, generator=gen, dtype=torch.float64)
    S = [torch.randn(n, generator=gen, dtype=torch.float64) for _ in range(m)]
    Y = [s + 0.1 * torch.randn(n, generator=gen, dtype=torch.float64) for s in S]
    M = torch.eye(n, dtype=torch.float64)
    t_bfgs, _ = best_of(lambda: (M @ g, bfgs_update(M, S[0], Y[0])), repeats)
    t_lbfgs, _ = best_of(lambda: two_loop_recursion(g, S, Y, 1.0), repeats)
    return t_bfgs, t_lbfgs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000, 3000])
    parser.add_argument("--iters", type=int, default=40, help="iterations per run")
    parser.add_argument("--m", type=int, default=10, help="L-BFGS memory")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(
        f"n-D Rosenbrock, {args.iters} iterations from (-1.2, 1, -1.2, 1, ...), float64, "
        f"L-BFGS m = {args.m}; best of {args.repeats}. torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}.\n"
    )
    print(
        "| n | method | ms / iteration | f calls / iteration | algebra ms / iteration "
        "| state memory |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    kw = dict(gtol=1e-12, max_iter=args.iters)  # gtol unreachable: every run takes all iterations
    warm = torch.tensor([-1.2, 1.0] * 5, dtype=torch.float64)
    bfgs(rosenbrock, warm, max_iter=5), lbfgs(rosenbrock, warm, max_iter=5)  # first-call costs
    for n in args.dims:
        x0 = torch.tensor([-1.2, 1.0] * (n // 2) + [-1.2] * (n % 2), dtype=torch.float64)
        t_alg = algebra_time(n, args.m, 5 * args.repeats)
        runs = {
            "BFGS": (lambda x0=x0: bfgs(rosenbrock, x0, **kw), n * n),
            "L-BFGS": (lambda x0=x0: lbfgs(rosenbrock, x0, m=args.m, **kw), 2 * args.m * n),
        }
        for (name, (run, floats)), alg in zip(runs.items(), t_alg, strict=True):
            t, res = best_of(run, args.repeats)
            mib = floats * 8 / 2**20
            memory = f"{mib:.2f} MiB" if mib >= 0.01 else f"{floats * 8 / 1024:.2f} KiB"
            print(
                f"| {n} | {name} | {1e3 * t / res.nit:.3f} | {res.nfev / res.nit:.2f} "
                f"| {1e3 * alg:.3f} | {memory} |"
            )


if __name__ == "__main__":
    main()
