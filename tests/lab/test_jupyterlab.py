"""The notebooks in a real JupyterLab (what `make lab` and Binder give a reader), driven from
headless Chromium: the MyST prose renders (jupyterlab-myst + the book's ``optbook-lab``
extension), every cell runs without an error output, and every live figure answers its slider.

JupyterLab serves a temporary copy of ``notebooks/`` (running cells never writes into the
sources). Notebooks run two at a time: the whole module takes about as long as executing the
notebooks once (``make test-lab`` prints the time of each).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import colab  # noqa: E402  (tools/colab.py: the book's numbers and citations, from the sources)
import driver  # noqa: E402

pytestmark = pytest.mark.lab

NOTEBOOKS = driver.notebooks()
PARALLEL = 2

# MyST that must not be visible as text once rendered.
RAW = {
    "role": re.compile(r"\{[a-z]+(?::[a-z]+)?\}`"),
    "directive fence": re.compile(r"(?:```|:::)\s*\{[\w:-]+\}"),
    "directive option": re.compile(r"^\s*:(?:class|name|label):", re.M),
    "label line": re.compile(r"^\([\w-]+\)=\s*$", re.M),
    "equation label": re.compile(r"\$\$\s*\([\w-]+\)"),
}
UNRESOLVED = ('[title="Citation Not Found"]', '[title="Cross Reference Not Found"]')


def expected(path: Path) -> dict:
    """What the source says the reader must see: citations, equation numbers, solutions."""
    md = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                   if c["cell_type"] == "markdown")
    index, cites = colab.targets([path]), colab.citations()
    cited = []
    for kind, content in re.findall(r"\{(cite:t|cite:p)\}`([^`]*)`", md):
        keys = [k.strip() for k in content.split(",")]
        cited.append((colab.cite_text(kind, keys, cites), keys))
    equations = [index[label].text() for label in re.findall(r"^\s*\$\$\s*\(([\w-]+)\)\s*$", md, re.M)]
    return {
        "citations": cited,
        "equations": equations,
        "solutions": len(re.findall(r"^:class:\s*dropdown\s*$", md, re.M)),
        "glue": [index[n].text() for n in re.findall(r"\{glue:figure\}\s*(\S+)", md)],
    }


def check_prose(page, path: Path) -> list[str]:
    """Problems with the rendered markdown of ``path`` (the served copy) open in ``page``."""
    want, problems = expected(path), []
    solutions = page.eval_on_selector_all(
        ".jp-MarkdownCell details", """els => els.filter(d => /Solution/.test(
            d.querySelector('summary').textContent)).map(d => d.open)""")
    if len(solutions) != want["solutions"] or any(solutions):
        problems.append(f"{want['solutions']} solutions expected collapsed, found open states "
                        f"{solutions}")
    driver.open_all_details(page)
    text = "\n".join(driver.markdown_text(page))
    for name, pattern in RAW.items():
        for m in pattern.finditer(text):
            problems.append(f"raw MyST ({name}) visible: {text[max(0, m.start() - 40):m.end() + 40]!r}")
    for selector in UNRESOLVED:
        for t in page.eval_on_selector_all(f".jp-MarkdownCell {selector}",
                                           "els => els.map(e => e.textContent)"):
            problems.append(f"unresolved {selector}: {t!r}")
    if "Unknown Directive" in text:
        problems.append("an unknown directive is shown")
    for shown, keys in want["citations"]:
        if shown not in text:
            problems.append(f"citation {keys} not shown as {shown!r}")
    for key in {k for _, keys in want["citations"] for k in keys}:
        if re.search(rf"\b{re.escape(key)}\b", text):
            problems.append(f"bibliography key {key!r} visible")
    numbers = page.eval_on_selector_all(  # the numbers shown (an unlabelled equation has none)
        '.jp-MarkdownCell a[title="Link to this Equation"]',
        "els => els.filter(e => e.offsetParent !== null).map(e => e.textContent)")
    if numbers != want["equations"]:
        problems.append(f"equation numbers {numbers}, expected {want['equations']}")
    captions = page.eval_on_selector_all(".optbook-glue-caption", "els => els.map(e => e.innerText)")
    if [c.split(" (")[0] for c in captions] != want["glue"]:
        problems.append(f"glued figure captions {[c[:40] for c in captions]}, expected {want['glue']}")
    problems += [f"caption not rendered as MyST (math shown raw): {c[:80]!r}" for c in captions if "$" in c]
    return problems


@pytest.fixture(scope="module")
def lab_results():
    """Open, check, run every notebook (PARALLEL at a time); collect what each test asserts."""
    results = {}
    with driver.jupyterlab() as (url, served), driver.chromium() as browser:
        for start in range(0, len(NOTEBOOKS), PARALLEL):
            batch = NOTEBOOKS[start:start + PARALLEL]
            pages = {rel: driver.open_notebook(browser, url, rel) for rel in batch}
            for rel, page in pages.items():
                results[rel] = {"prose": check_prose(page, served / rel)}
                results[rel]["source"] = (served / rel).read_text()
                results[rel]["t0"] = time.perf_counter()
                driver.start_run_all(page)
            for rel, page in pages.items():
                driver.wait_until_done(page, timeout=300)
                r = results[rel]
                r["seconds"] = time.perf_counter() - r.pop("t0")
                r["errors"] = driver.error_outputs(page)
                # ArrowRight; ArrowLeft where the slider starts at its maximum.
                r["sliders"] = [driver.slider_round_trip(page, i)
                                or driver.slider_round_trip(page, i, key="ArrowLeft")
                                for i in range(driver.count_live_figures(page))]
                driver.close_notebook(page)
    width = max(map(len, NOTEBOOKS))
    print("\nJupyterLab, run all cells (two notebooks at a time):")
    for rel, r in results.items():
        print(f"  {rel:<{width}} {r['seconds']:6.1f} s, {len(r['sliders'])} live figures")
    return results


@pytest.mark.parametrize("rel", NOTEBOOKS)
def test_prose_renders(lab_results, rel):
    """No raw role, directive or label; citations author-year; the book's equation numbers;
    solutions collapsed; glued figures named with their number and caption."""
    assert not lab_results[rel]["prose"], "\n".join(lab_results[rel]["prose"])


@pytest.mark.parametrize("rel", NOTEBOOKS)
def test_runs_without_errors(lab_results, rel):
    errors = lab_results[rel]["errors"]
    assert not errors, "\n---\n".join(errors)


@pytest.mark.parametrize("rel", NOTEBOOKS)
def test_live_figures_answer_the_keyboard(lab_results, rel):
    """ArrowRight on the first slider of every live figure brings a new image; every notebook
    whose source builds a slider shows at least one live figure."""
    trips = lab_results[rel]["sliders"]
    src = lab_results[rel]["source"]
    if "Slider(" in src and ".widget(" in src:
        assert trips, "the notebook builds a live figure, but none was found in JupyterLab"
    assert all(t is not None for t in trips), f"live figures whose image did not change: {trips}"


def test_jupyterlab_myst_is_compatible():
    """`jupyter labextension list` says OK for jupyterlab-myst: its @jupyter/ydoc agrees with
    this JupyterLab's (requirements.txt pins both)."""
    out = subprocess.run([str(driver.JUPYTER), "labextension", "list"], capture_output=True,
                         text=True, check=True)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    assert re.search(r"jupyterlab-myst v[\d.]+ enabled OK", listing), listing
    assert "not compatible" not in listing, listing
