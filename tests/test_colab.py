"""The Colab copies (``colab/``, made by ``make colab`` from ``notebooks/``): in step with the
sources, CommonMark + HTML only, the same code, and they run.

What executes them: the smallest copy runs here with nbclient (offline, in a fresh kernel); every
copy's code cells are checked equal to its source's, and the sources run in ``make book``
(whose outputs ``make test-notebooks`` checks) and in JupyterLab (``make test-lab``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import colab  # noqa: E402

SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))
MYST = {
    "role": re.compile(r"\{[\w:-]+\}`"),
    "directive fence": re.compile(r"^\s*(?:`{3,}|:{3,})\s*\{[\w:-]+\}", re.M),
    "directive option": re.compile(r"^\s*:(?:class|name|label|alt|width):", re.M),
    "target label": re.compile(r"^\s*\([^()\s]+\)=\s*$", re.M),
    "equation label": re.compile(r"\$\$\s*\([^()\s]+\)\s*$", re.M),
    "substitution": re.compile(r"\{\{.*?\}\}"),
}


@pytest.fixture(scope="module")
def generated():
    return colab.generate()


def test_committed_copies_are_in_step(generated):
    stale = [p.relative_to(ROOT).as_posix() for p, text in generated.items()
             if not p.exists() or p.read_text() != text]
    extra = [p.name for p in (ROOT / "colab").glob("*.ipynb") if p not in generated]
    assert not stale and not extra, f"out of date: {stale}, without a source: {extra}; run `make colab`"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_markdown_is_commonmark(generated, src):
    nb = json.loads(generated[colab.OUT / src.name])
    problems = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for name, pattern in MYST.items():
            for m in pattern.finditer(cell["source"]):
                problems.append(f"{name}: {cell['source'][max(0, m.start() - 30):m.end() + 30]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_same_code_and_structure(generated, src):
    """Every source cell is there, in order, ids kept; code unchanged except the folded checks'
    ``#@title`` line; one install cell first; solutions in <details>, as many as dropdowns."""
    source = json.loads(src.read_text())
    copy = json.loads(generated[colab.OUT / src.name])
    assert copy["cells"][0]["id"] == "colab-install"
    assert 'find_spec("optbook") is None' in copy["cells"][0]["source"]
    assert "%pip install --quiet git+" + colab.repository()[0] in copy["cells"][0]["source"]
    by_id = {c["id"]: c for c in copy["cells"]}
    ids = [c["id"] for c in copy["cells"]]
    assert [c["id"] for c in source["cells"]] == [i for i in ids if i in {c["id"] for c in source["cells"]}]
    for cell in source["cells"]:
        if cell["cell_type"] != "code":
            continue
        got = by_id[cell["id"]]["source"]
        want = "".join(cell["source"])
        if "remove-cell" in cell["metadata"].get("tags", []):
            assert got == f"{colab.CHECK_TITLE}\n{want}"
            assert by_id[cell["id"]]["metadata"]["cellView"] == "form"
        else:
            assert got == want
        assert by_id[cell["id"]]["outputs"] == []
    md_src = "\n".join("".join(c["source"]) for c in source["cells"] if c["cell_type"] == "markdown")
    md_copy = "\n".join(c["source"] for c in copy["cells"] if c["cell_type"] == "markdown")
    dropdowns = len(re.findall(r"^:class:\s*dropdown\s*$", md_src, re.M))
    assert md_copy.count("<details>") == md_copy.count("</details>") == dropdowns
    tags = re.findall(r"\\tag\{([\d.]+)\}", md_copy)
    assert len(tags) == len(re.findall(r"^\s*\$\$\s*\([^()\s]+\)\s*$", md_src, re.M))
    assert len(set(tags)) == len(tags)


def _converter(doc="notebooks/08_3_basic_algorithms"):
    index = {
        "eq-a": colab.Target("equation", doc, "8.3.1"),
        "fig-a": colab.Target("figure", doc, "8.3.2"),
        "fig-b": colab.Target("figure", "notebooks/08_5_x", "8.5.1"),
        "sec-b": colab.Target("section", "notebooks/08_5_x", title="Adam"),
        "eq-b": colab.Target("equation", "notebooks/08_5_x", "8.5.2"),
        "notebooks/08_5_x": colab.Target("document", "notebooks/08_5_x", title="8.5 Adaptive"),
    }
    cites = {"k1": {"author": "Kingma and Ba", "year": "2015"},
             "k2": {"author": "Goodfellow et al.", "year": "2016"}}
    return colab.Converter(doc, index, cites, "https://example.org/book/")


@pytest.mark.parametrize("myst, commonmark", [
    ("as {cite:t}`k1` show", "as Kingma and Ba [2015] show"),
    ("rule {cite:p}`k1,k2`.", "rule [Kingma and Ba, 2015; Goodfellow et al., 2016]."),
    ("see {numref}`fig-a` and {eq}`eq-a`", "see Fig. 8.3.2 and (8.3.1)"),
    ("see {numref}`Figure %s <fig-a>`", "see Figure 8.3.2"),
    ("see {numref}`fig-b`", "see [Fig. 8.5.1](https://example.org/book/notebooks/08_5_x.html#fig-b)"),
    ("in {ref}`sec-b`", "in [Adam](https://example.org/book/notebooks/08_5_x.html#sec-b)"),
    ("by {eq}`eq-b`", "by [(8.5.2)](https://example.org/book/notebooks/08_5_x.html#equation-eq-b)"),
    ("read {doc}`08_5_x`", "read [8.5 Adaptive](https://example.org/book/notebooks/08_5_x.html)"),
])
def test_roles(myst, commonmark):
    assert _converter().block([myst]) == [commonmark]


def test_blocks():
    conv = _converter()
    src = """(sec-here)=
## Here

$$
x = 1
$$ (eq-a)

:::{admonition} Algorithm 1 — {cite:t}`k1`
:class: note
**Require:** $x$.
:::

::::{admonition} Solution
:class: dropdown
Since {eq}`eq-a`:
```python
print({cite:t}`k1`)
```
::::

```{glue:figure} fig-a
:name: fig-a

A caption with $x$.
```""".split("\n")
    assert "\n".join(conv.block(src)) == """## Here

$$
x = 1
\\tag{8.3.1}
$$

> **Algorithm 1 — Kingma and Ba [2015]**
>
> **Require:** $x$.

<details>
<summary>Solution</summary>

Since (8.3.1):
```python
print({cite:t}`k1`)
```

</details>

**Fig. 8.3.2** (above: the figure precomputed for a grid of values, which the scrubber's \
controls step through; the live sliders further up answer once their cell has run). A caption \
with $x$."""


def test_unknown_label_and_key_are_errors():
    with pytest.raises(KeyError, match="fig-missing"):
        _converter().block(["{numref}`fig-missing`"])
    with pytest.raises(KeyError, match="nokey"):
        _converter().block(["{cite:p}`nokey`"])
    with pytest.raises(ValueError, match="no CommonMark form for the directive"):
        _converter().block([":::{figure} x.png", ":::"])


def test_citations_from_the_bibliography():
    cites = colab.citations()
    assert cites["goodfellow2016deep"] == {"author": "Goodfellow et al.", "year": "2016"}
    assert cites["kingma2015adam"] == {"author": "Kingma and Ba", "year": "2015"}
    assert cites["polyak1964some"] == {"author": "Polyak", "year": "1964"}


def test_book_numbers_restart_per_section():
    index = colab.targets(SOURCES)
    nb83 = [t for t in index.values() if t.doc == "notebooks/08_3_basic_algorithms"]
    assert sorted(t.number for t in nb83 if t.kind == "equation")[0] == "8.3.1"
    assert index["fig-race"].number.startswith("8.3.")


# The smallest copy, run start to end as Colab would (the install cell finds optbook and skips):
# what differs between a copy and its source is the install cell, the folded checks' `#@title`
# line and the working folder (colab/), the same for every copy; test_same_code_and_structure
# holds every other code cell equal to its source, and the sources run in `make book` and in
# JupyterLab (`make test-lab`), so a second copy would only run the same code a third time.
@pytest.mark.parametrize("name", ["11_5_debugging.ipynb"])
def test_copy_executes(generated, name):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.reads(generated[colab.OUT / name], as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "colab")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
