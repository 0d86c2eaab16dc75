"""Time per step of optbook's adaptive optimisers against their torch.optim counterparts.

    .venv/bin/python benchmarks/bench_adaptive.py [--steps 30] [--warmup 5] [--rounds 5]

The parameters are an MLP's worth of float32 tensors (784-1000-200-10 with biases, about 1M
numbers) with fixed random gradients. Each timed step is one ``opt.step()``; the table reports
the median over ``rounds × steps`` steps, optbook's and torch's steps alternating so that a
busy machine slows both alike. Torch runs with its defaults, which on CPU is its per-tensor
("single tensor") loop, the same shape as ours; on CUDA torch defaults to its multi-tensor
``foreach`` kernels, which a per-tensor loop does not try to match.

The target (issue 4) is optbook within 1.1x of torch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optbook.optim import AdaDelta, AdaGrad, Adam, AdamW, Muon, RAdam, RMSProp

SHAPES = [(1000, 784), (1000,), (200, 1000), (200,), (10, 200), (10,)]

# name: (optbook factory, torch factory, note); the options are matched where the maths is.
PAIRS = {
    "AdaGrad": (
        lambda p: AdaGrad(p, lr=0.01, eps=1e-7),
        lambda p: torch.optim.Adagrad(p, lr=0.01, eps=1e-7),
        "",
    ),
    "RMSProp": (
        lambda p: RMSProp(p, lr=1e-3, rho=0.9, eps=1e-6),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-6),
        "δ inside √ (book) vs outside (torch)",
    ),
    "RMSProp, eps_in_sqrt=False": (
        lambda p: RMSProp(p, lr=1e-3, rho=0.9, eps=1e-6, eps_in_sqrt=False),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-6),
        "same maths",
    ),
    "RMSProp, momentum": (
        lambda p: RMSProp(p, lr=1e-3, rho=0.9, eps=1e-6, momentum=0.9, eps_in_sqrt=False),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-6, momentum=0.9),
        "same maths",
    ),
    "RMSProp, Nesterov": (
        lambda p: RMSProp(p, lr=1e-3, rho=0.9, eps=1e-6, momentum=0.9, nesterov=True),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-6, momentum=0.9),
        "torch has no Nesterov RMSprop: vs its momentum",
    ),
    "AdaDelta": (
        lambda p: AdaDelta(p, lr=1.0, rho=0.9, eps=1e-6),
        lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6),
        "",
    ),
    "Adam": (
        lambda p: Adam(p, lr=1e-3),
        lambda p: torch.optim.Adam(p, lr=1e-3),
        "",
    ),
    "AdamW": (
        lambda p: AdamW(p, lr=1e-3, weight_decay=1e-2),
        lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2),
        "",
    ),
    "RAdam": (
        lambda p: RAdam(p, lr=1e-3),
        lambda p: torch.optim.RAdam(p, lr=1e-3),
        "",
    ),
    # Muon takes the three weight matrices only (986,000 numbers), both sides.
    "Muon, NS in bfloat16": (
        lambda p: Muon(_matrices(p), lr=0.02, ns_dtype=torch.bfloat16),
        lambda p: torch.optim.Muon(_matrices(p), lr=0.02),
        "matrices only; same arithmetic as torch",
    ),
    "Muon, NS in float32": (
        lambda p: Muon(_matrices(p), lr=0.02),
        lambda p: torch.optim.Muon(_matrices(p), lr=0.02),
        "matrices only; our default (parameter's dtype) vs torch's bfloat16",
    ),
}


def _matrices(params):
    return [p for p in params if p.ndim == 2]


def _params(device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for shape in SHAPES:
        p = (0.05 * torch.randn(shape, generator=gen)).to(device).requires_grad_(True)
        p.grad = (0.01 * torch.randn(shape, generator=gen)).to(device)
        params.append(p)
    return params


def _time_step(opt, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(names=None, *, steps=30, warmup=5, rounds=5, device="cpu") -> list[tuple[str, float, float, str]]:
    """(name, optbook ms/step, torch.optim ms/step, note) for the rows of ``PAIRS`` in ``names``
    (all by default): medians of ``rounds × steps`` alternating single steps after ``warmup``."""
    device = torch.device(device)
    rows = []
    for name, (ours, theirs, note) in PAIRS.items():
        if names and name not in names:
            continue
        opts = {"optbook": ours(_params(device)), "torch": theirs(_params(device))}
        for _ in range(warmup):
            for opt in opts.values():
                opt.step()
        times = {"optbook": [], "torch": []}
        for r in range(rounds * steps):
            # Alternate single steps, and which goes first, so load from elsewhere hits both.
            for key in ("optbook", "torch") if r % 2 == 0 else ("torch", "optbook"):
                times[key].append(_time_step(opts[key], device))
        rows.append((name, 1e3 * statistics.median(times["optbook"]),
                     1e3 * statistics.median(times["torch"]), note))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of steps")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", default=None, help="names of rows to run")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    n = sum(p.numel() for p in _params("cpu"))

    print(
        f"{n:,} float32 parameters in {len(SHAPES)} tensors on {args.device}; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; median of "
        f"{args.rounds}×{args.steps} steps after {args.warmup} warm-up steps.\n"
    )
    print("| optimiser | optbook (ms/step) | torch.optim (ms/step) | ratio | note |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, ours, ref, note in measure(args.only, steps=args.steps, warmup=args.warmup,
                                        rounds=args.rounds, device=args.device):
        print(f"| {name} | {ours:.3f} | {ref:.3f} | {ours / ref:.2f} | {note} |", flush=True)


if __name__ == "__main__":
    main()
