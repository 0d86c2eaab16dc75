"""Speed of the book, measured: prints a markdown table (and writes benchmarks/results.json).

    make bench            # or: .venv/bin/python benchmarks/run.py [--markdown FILE]

Rows:
* each notebook's execution time in a fresh kernel (target: <= 30 s on a 2-core CPU);
* slider latency of every live figure in every notebook: one control at a time is moved
  through its range, as a reader would, and each update (compute + JPEG render, exactly what
  the widget does) is timed; median and worst of 24 moves (target: <= 50 ms);
* optbook.optim.SGD step time against torch.optim.SGD on about 1M float32 parameters
  (target: <= 1.1x), median of 200 alternating steps;
* the round trip a reader feels in a real JupyterLab (key press on a slider -> new image in the
  page; kernel, server and browser included) per notebook, median and worst of 12 moves of
  every live figure's first slider (target: median <= 50 ms, worst <= 150 ms). Skip with --no-lab;
* the cached HTML build: every page rebuilt from scratch, every notebook found in the execution
  cache that `make book` filled (target: <= 60 s). Skip it with --no-build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_adaptive  # benchmarks/ is on sys.path when this script runs
import torch

ROOT = Path(__file__).resolve().parents[1]


# Appended to each notebook when it is timed: finds every LiveFigure that has live controls and
# moves one control at a time through its range, as a reader would, timing each update
# (compute + JPEG render, exactly what the widget does). Prints one JSON line.
SLIDER_PROBE = r"""
import itertools as _it
import json as _json
import statistics as _st
import time as _time

import numpy as _np

from optbook.viz.widgets import LiveFigure as _LiveFigure


def _choices(c, n=8):
    if type(c).__name__ == "SelectMultiple":
        k = max(1, len(c.value))
        return [tuple(x) for x in _it.islice(_it.combinations(list(c.options), k), n)]
    if hasattr(c, "options"):
        return [o[1] if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str) else o
                for o in c.options]
    if hasattr(c, "min") and hasattr(c, "max"):
        # n values spread over the range, each on the slider's step grid: only those can be set
        steps = _np.round(_np.linspace(0, (c.max - c.min) / c.step, n))
        vals = c.min + steps * c.step
        if type(c).__name__ == "FloatLogSlider":
            return [float(c.base ** e) for e in vals]
        return [int(round(v)) for v in vals] if isinstance(c.value, int) else [float(v) for v in vals]
    if isinstance(c.value, bool):
        return [False, True]
    return [c.value]


_out = {}
for _name, _fig in list(globals().items()):
    if not isinstance(_fig, _LiveFigure) or not _fig.controls:
        continue
    _values = {k: c.value for k, c in _fig.controls.items()}
    _options = {k: _choices(c) for k, c in _fig.controls.items()}
    _times = []
    for _i in range(24):
        _k = list(_options)[_i % len(_options)]
        _opts = _options[_k]
        _values[_k] = _opts[(_i // len(_options) + 1) % len(_opts)]
        _t = _time.perf_counter()
        _fig.render("jpeg", **_values)
        _times.append(_time.perf_counter() - _t)
    _out[_name] = {"median_ms": _st.median(_times) * 1e3, "max_ms": max(_times) * 1e3}
print("OPTBOOK_SLIDERS " + _json.dumps(_out))
"""


def time_notebooks(pattern: str = "*.ipynb") -> list[tuple[str, float, dict]]:
    """Each notebook's execution time in a fresh kernel, and the latency of its live figures."""
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in sorted((ROOT / "notebooks").glob(pattern)):
        nb = nbformat.read(path, as_version=4)
        n_cells = len(nb.cells)
        nb.cells.append(nbformat.v4.new_code_cell(SLIDER_PROBE))
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        starts: dict = {}

        def on_start(cell, cell_index, starts=starts, n_cells=n_cells, **_):
            if cell_index == n_cells:
                starts["probe"] = time.perf_counter()

        client.on_cell_start = on_start
        t0 = time.perf_counter()
        client.execute()
        seconds = starts["probe"] - t0  # kernel start-up included, the slider probe excluded
        text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
        line = next(ln for ln in text.splitlines() if ln.startswith("OPTBOOK_SLIDERS "))
        rows.append((path.name, seconds, json.loads(line.split(" ", 1)[1])))
    return rows


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


def parallel_execution_seconds() -> float:
    """Wall time of executing every notebook as ``make book`` does (``tools/execute_notebooks.py``:
    one per core at a time), into a fresh temporary cache so that nothing is taken from a
    previous run."""
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), "--cache", cache,
                        *map(str, sorted((ROOT / "notebooks").glob("*.ipynb")))],
                       check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - t0


def cached_build_seconds() -> float:
    """Wall time of a full HTML build whose notebooks all come from the execution cache.

    The HTML and Sphinx's doctrees are removed first, so every page is read and written again;
    the cache (``_build/.jupyter_cache``) is kept. Fails if the build had to execute a notebook
    (then the cache was not filled: run ``make book`` first) or if it did not succeed."""
    build = ROOT / "_build"
    if not (build / ".jupyter_cache").is_dir():
        raise SystemExit("no execution cache: run `make book` before timing the cached build")
    for sub in ("html", ".doctrees", "jupyter_execute"):
        shutil.rmtree(build / sub, ignore_errors=True)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--builder", "html",
           "--warningiserror", "--nitpick", "--keep-going"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"the cached build failed:\n{log[-3000:]}")
    if "Executing notebook" in log:
        raise SystemExit("the build executed a notebook: the cache was stale; run `make book` first")
    return seconds


def lab_round_trips(moves: int = 12) -> dict[str, list[float]]:
    """In a real JupyterLab driven from headless Chromium (tests/lab/driver.py, the driver of
    `make test-lab`): run each notebook, then press ArrowRight / ArrowLeft on the first slider of
    every live figure ``moves`` times and time key press -> new image loaded in the page. This is
    the round trip a reader feels: browser, server, kernel (compute + JPEG) and back.
    Returns {notebook: [ms, ...]} (notebooks without a live figure are left out)."""
    sys.path.insert(0, str(ROOT / "tests" / "lab"))
    import driver

    trips: dict[str, list[float]] = {}
    with driver.jupyterlab() as (url, _), driver.chromium() as browser:
        for rel in driver.notebooks():
            page = driver.open_notebook(browser, url, rel)
            driver.run_all(page)
            times = []
            for i in range(driver.count_live_figures(page)):
                for k in range(moves):
                    t = driver.slider_round_trip(page, i, key="ArrowRight" if k % 2 == 0 else "ArrowLeft")
                    if t is not None:
                        times.append(t)
            driver.close_notebook(page)
            if times:
                trips[Path(rel).name] = times
    return trips


def page_transfer_sizes() -> dict[str, tuple[int, list[tuple[int, str]]]]:
    """What a first visit to each built page downloads, in bytes, on a 2x screen in a 1280-px
    window, served gzip-compressed as a static host does (tests/browser/conftest.py, the same
    measurement as tests/browser/test_figures.py). Returns {page: (total, [(bytes, url), ...])}."""
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from conftest import CHROMIUM, CHROMIUM_ARGS, content_pages, serve_site, transfer_bytes
    from playwright.sync_api import sync_playwright

    sizes = {}
    with serve_site() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for rel in content_pages():
            sizes[rel] = transfer_bytes(browser, url + rel)
        browser.close()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--notebooks", default="*.ipynb", help="glob of notebooks to time")
    parser.add_argument("--no-build", action="store_true", help="skip timing the cached HTML build")
    parser.add_argument("--no-pages", action="store_true", help="skip the page transfer sizes")
    parser.add_argument("--no-lab", action="store_true",
                        help="skip the slider round trips in a real JupyterLab")
    args = parser.parse_args()
    n_params = 1000 * 784 + 1000 + 200 * 1000 + 200 + 10 * 200 + 10
    results: dict = {"torch_threads": torch.get_num_threads(), "notebooks": {}, "sliders": {}}
    lines = ["| measurement | value | target |", "|---|---:|---:|"]

    for name, seconds, sliders in time_notebooks(args.notebooks):
        results["notebooks"][name] = seconds
        lines.append(f"| execute `{name}` | {seconds:.1f} s | ≤ 30 s |")
        for fig, t in sliders.items():
            results["sliders"][f"{name}:{fig}"] = t
            lines.append(f"| slider `{fig}` in `{name}` (median / worst of 24 moves) | "
                         f"{t['median_ms']:.0f} / {t['max_ms']:.0f} ms | ≤ 50 ms |")
    total = sum(results["notebooks"].values())
    lines.append(f"| execute all notebooks, one after another (sum of the above) | {total:.0f} s | — |")
    if not args.no_build:
        results["parallel_execution_s"] = parallel_execution_seconds()
        lines.append(f"| execute all notebooks as `make book` does (one per core; wall) | "
                     f"{results['parallel_execution_s']:.0f} s | ≤ 120 s |")
    if not args.no_lab:
        results["lab_round_trip_ms"] = {}
        for name, times in lab_round_trips().items():
            med, worst = statistics.median(times), max(times)
            results["lab_round_trip_ms"][name] = {"median_ms": med, "max_ms": worst, "n": len(times)}
            lines.append(f"| JupyterLab: key press on a slider → new image, `{name}` "
                         f"(median / worst of {len(times)} moves) | {med:.0f} / {worst:.0f} ms | "
                         f"≤ 50 / 150 ms |")
    if not args.no_pages:
        results["page_transfer_bytes"] = {}
        for rel, (total, rows) in page_transfer_sizes().items():
            results["page_transfer_bytes"][rel] = total
            largest = ", ".join(f"{Path(u.split('?')[0]).name[:28]} {n / 1e3:.0f} kB" for n, u in rows[:2])
            lines.append(f"| first visit to `{rel}` (2x screen, gzip; largest: {largest}) | "
                         f"{total / 1e6:.2f} MB | ≤ 3 MB |")
    results["sgd_step_ms"] = {}
    for label, ours, ref in sgd_step_times():
        results["sgd_step_ms"][label] = {"optbook": ours, "torch": ref}
        lines.append(f"| SGD step, {label}, {n_params / 1e6:.2f}M params: optbook / torch.optim | "
                     f"{ours:.3f} / {ref:.3f} ms = {ours / ref:.2f}× | ≤ 1.1× |")
    results["optimiser_step_ms"] = {}
    for label, ours, ref, _note in bench_adaptive.measure(["AdamW", "RAdam", "Muon, NS in bfloat16",
                                                           "Muon, NS in float32"]):
        results["optimiser_step_ms"][label] = {"optbook": ours, "torch": ref}
        target = "≤ 1.1×" if "float32" not in label else "— (torch computes NS in bfloat16)"
        lines.append(f"| {label} step, about 1M params: optbook / torch.optim | "
                     f"{ours:.3f} / {ref:.3f} ms = {ours / ref:.2f}× | {target} |")
    if not args.no_build:
        results["cached_build_s"] = cached_build_seconds()
        lines.append(f"| cached HTML build (every page, notebooks from the cache) | "
                     f"{results['cached_build_s']:.0f} s | ≤ 60 s |")
    table = "\n".join(lines)
    print(table)
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
