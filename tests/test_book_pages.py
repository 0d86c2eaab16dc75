"""The notebooks as the book's pages: each is in the table of contents, opens with the cell that
tells a reader without optbook how to install it (from the repository that _config.yml names), and
imports the library instead of redefining it."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def _code_cells(path):
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    listed = set(re.findall(r"file:\s*notebooks/(\S+)", toc))
    assert listed == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_says_how_to_install_optbook_from_the_configured_repository(path):
    first = _code_cells(path)[0]
    head, sep, _ = first.partition("try:\n    import optbook")
    assert sep, f"{path.name}: the first code cell does not try to import optbook"
    assert set(re.findall(r"^(?:import|from) (\w+)", head, flags=re.M)) <= {"os"}, (
        f"{path.name}: only os (to set thread counts) may be imported before optbook")
    assert "raise ModuleNotFoundError(" in first and "make lab" in first
    urls = re.findall(r"pip install git\+(\S+?)`", first)
    assert urls == [CONFIG["repository"]["url"]], (
        f"{path.name}: the install hint names {urls}; _config.yml's repository is "
        f"{CONFIG['repository']['url']} (change both together)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_optbook_rather_than_redefine_it(path):
    defined = set()
    for src in _code_cells(path):
        defined |= set(re.findall(r"^(?:def|class) (\w+)", src, flags=re.M))
    library = _library_names()
    clash = sorted(defined & library)
    assert not clash, f"{path.name} redefines library functions or classes: {clash}"


def _library_names() -> set[str]:
    names = set()
    for py in (ROOT / "lib" / "optbook").rglob("*.py"):
        names |= {n for n in re.findall(r"^(?:def|class) (\w+)", py.read_text(), flags=re.M)
                  if not n.startswith("_")}
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_hidden_checks_are_folded_in_jupyterlab(path):
    """The web book drops cells tagged ``remove-cell``; JupyterLab ignores the tag, so their
    code is folded there (``jupyter.source_hidden``), one click away but out of the prose's way."""
    cells = json.loads(path.read_text())["cells"]
    unfolded = [i for i, c in enumerate(cells)
                if c["cell_type"] == "code" and "remove-cell" in c["metadata"].get("tags", [])
                and not c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert not unfolded, f"{path.name}: hidden checks shown open in JupyterLab, cells {unfolded}"
