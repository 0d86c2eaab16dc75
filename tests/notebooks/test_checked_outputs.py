"""The notebooks' checked outputs, compared with the run the book build just made.

``make book`` executes every notebook in a fresh kernel (through jupyter-cache; a notebook whose
hidden ``assert`` fails, or which raises anywhere, fails the build). What that run cannot check
by itself is that the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` are still the ones
stored in the notebook by ``make refresh``. This test does exactly what ``pytest --nbval-lax``
does for those cells — nbval's own comparison (``coalesce_streams``, then
``IPyNbCell.compare_outputs``: the same fields skipped, streams merged the same way) — but
against the build's cached outputs instead of a second execution, which would prove nothing
new. The cache is keyed by a hash of the code cells,
so the outputs compared always come from running the code as it is now.

Run after ``make book`` (``make test-notebooks`` does both). A second execution of every notebook,
on other CPU kernels (AVX2), happens in the JupyterLab test; ``make test-portable`` runs nbval
itself on two more kernel paths.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache
from nbval.plugin import IPyNbCell, coalesce_streams, find_comment_markers

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("OPTBOOK_JUPYTER_CACHE", ROOT / "_build" / ".jupyter_cache"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SKIP_COMPARE = (  # nbval 0.11's defaults without --nbdime
    "metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
    "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg",
)


def _comparator() -> types.SimpleNamespace:
    """The minimal ``self`` that nbval's ``compare_outputs`` reads (no sanitizers, no colours)."""
    stub = types.SimpleNamespace(
        parent=types.SimpleNamespace(skip_compare=SKIP_COMPARE, sanitize_patterns={}),
        colors=types.SimpleNamespace(FAIL="", ENDC="", OKBLUE="", OKGREEN=""),
        comparison_traceback=[],
    )
    stub.sanitize = lambda s: IPyNbCell.sanitize(stub, s)
    stub.format_output_compare = lambda key, left, right: stub.comparison_traceback.append(
        f"{key!r}: stored\n{left}\nbut the build's run gave\n{right}")
    return stub


def checked_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and dict(find_comment_markers(c.source)).get("check")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_checked_outputs_equal_the_builds_run(path):
    if not CACHE.exists():
        pytest.fail(f"no execution cache at {CACHE}: run `make book` first")
    stored = nbformat.read(path, as_version=4)
    try:
        _, executed = get_cache(str(CACHE)).merge_match_into_notebook(stored)
    except KeyError:
        pytest.fail(f"{path.name} has no cached run of its current code: did `make book` execute it?")
    stored = nbformat.read(path, as_version=4)  # merge_match_into_notebook may share objects
    for i in checked_cells(stored):
        # as nbval does: streams of one name merged, in the fresh run and in the stored outputs
        ref, test = coalesce_streams(stored.cells[i].outputs), coalesce_streams(executed.cells[i].outputs)
        assert ref, f"{path.name} cell {i} is marked NBVAL_CHECK_OUTPUT but stores no output"
        cmp = _comparator()
        assert IPyNbCell.compare_outputs(cmp, test, ref), (
            f"{path.name} cell {i}:\n" + "\n".join(map(str, cmp.comparison_traceback)))


def test_the_comparison_can_fail():
    """nbval's comparison, as called here, tells different text apart and ignores images."""
    out = [nbformat.v4.new_output("stream", name="stdout", text="loss 0.125\n")]
    other = [nbformat.v4.new_output("stream", name="stdout", text="loss 0.126\n")]
    assert IPyNbCell.compare_outputs(_comparator(), out, out)
    assert not IPyNbCell.compare_outputs(_comparator(), other, out)
    png = [nbformat.v4.new_output("display_data", data={"image/png": "AAAA", "text/plain": "<Figure>"})]
    png2 = [nbformat.v4.new_output("display_data", data={"image/png": "BBBB", "text/plain": "<Figure>"})]
    assert IPyNbCell.compare_outputs(_comparator(), png2, png)
