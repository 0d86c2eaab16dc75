"""Execute the book's notebooks into Jupyter Book's execution cache, one per CPU core at a time.

Jupyter Book 1 (myst-nb, ``execute_notebooks: cache``) executes the notebooks that have no
cached run one after another while it builds. ``make book`` first runs this script, which
executes the same notebooks with jupyter-cache's own process worker (each notebook in its own
folder, as myst-nb would) into the same cache, one per core at a time; the build then finds
every notebook cached and only renders. The longest notebooks start first (their times on the
Performance page, ``book/performance_table.md``) and each worker takes the next notebook when it
is free, which keeps the cores busy until the end (jupyter-cache's ``local-parallel`` executor
hands out notebooks in pairs, in file order). Notebooks whose code has not changed since their cached
run are not executed again (the cache is keyed by a hash of the code cells).

A notebook that fails here is left uncached: the build executes it again and reports the error
with its traceback (``nb_execution_raise_on_error``), so this script never hides a failure; it
only prints what failed and exits 0.

Usage: ``python tools/execute_notebooks.py [--cache _build/.jupyter_cache] NOTEBOOK...``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import time
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData

ROOT = Path(__file__).resolve().parents[1]


def book_timeout() -> int:
    """The per-cell timeout of ``_config.yml`` (``execute.timeout``), so both runs agree."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return int(config.get("execute", {}).get("timeout", 30))


def expected_seconds() -> dict[str, float]:
    """Each notebook's execution time as last measured by ``make bench`` (file name → seconds)."""
    table = ROOT / "book" / "performance_table.md"
    text = table.read_text() if table.exists() else ""
    return {name: float(sec) for name, sec in re.findall(r"\| execute `([^`]+)` \| ([\d.]+) s", text)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    args = parser.parse_args(argv)

    cache = get_cache(str(args.cache))
    uris = [str(nb.resolve()) for nb in args.notebooks]
    for uri in uris:
        cache.add_nb_to_project(uri)
    stale = cache.list_unexecuted(filter_uris=uris)
    print(f"execute_notebooks: {len(uris) - len(stale)} cached, {len(stale)} to execute")
    if not stale:
        return 0
    known = expected_seconds()
    stale.sort(key=lambda r: -known.get(Path(r.uri).name, Path(r.uri).stat().st_size / 2e3))
    jobs = [ProcessData(r.pk, r.uri, cache, book_timeout(), False) for r in stale]
    start = time.perf_counter()
    with multiprocessing.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        outcomes = list(pool.imap_unordered(ExecutionWorkerLocalMProc(), jobs, chunksize=1))
    succeeded = [uri for code, uri in outcomes if code == 0]
    failed = [uri for code, uri in outcomes if code != 0]
    print(f"execute_notebooks: {len(succeeded)} executed in {time.perf_counter() - start:.0f} s wall")
    for uri in failed:
        print(f"execute_notebooks: FAILED {Path(uri).relative_to(ROOT)} (the build will re-run it "
              "and show the error)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
