"""The notebooks in a real JupyterLab (what `make lab` and Binder give a reader), driven from
headless Chromium: the MyST prose renders (jupyterlab-myst + the book's ``optbook-lab``
extension), every cell runs without an error output, and every live figure answers its slider.

JupyterLab serves a temporary copy of ``notebooks/`` (running cells never writes into the
sources). Notebooks run two at a time, longest first, each as soon as a core is free, in pages
that load JupyterLab once; the next notebook opens and its prose is checked while two run, so
the whole module takes little more than executing the notebooks once on two cores
(``make test-lab`` prints the time of each).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
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
from execute_notebooks import expected_seconds  # noqa: E402  (the Performance page's times)

pytestmark = pytest.mark.lab

NOTEBOOKS = driver.notebooks()
# `make test` names a file here: it is created once the last notebook has started and a core is
# free (the run's tail), and the browser tests start then instead of after this module.
TAIL_FILE = os.environ.get("OPTBOOK_LAB_TAIL_FILE")
PARALLEL = 2  # notebooks running their cells at the same time: one per core of a 2-core machine
PAGES = PARALLEL + 1  # JupyterLab pages: one more opens and reads the next notebook meanwhile
OPEN_TIMEOUT, RUN_TIMEOUT = 90, 300  # seconds, per notebook

# MyST that must not be visible as text once rendered.
RAW = {
    "role": re.compile(r"\{[a-z]+(?::[a-z]+)?\}`"),
    "directive fence": re.compile(r"(?:```|:::)\s*\{[\w:-]+\}"),
    "directive option": re.compile(r"^\s*:(?:class|name|label):", re.M),
    "label line": re.compile(r"^\([\w-]+\)=\s*$", re.M),
    "equation label": re.compile(r"\$\$\s*\([\w-]+\)"),
}
UNRESOLVED = ('[title="Citation Not Found"]', '[title="Cross Reference Not Found"]')


@functools.cache
def bibliography() -> dict:
    """The book's references (parsing the .bib file takes seconds: once per run)."""
    return colab.citations()


def expected(path: Path) -> dict:
    """What the source says the reader must see: citations, equation numbers, solutions."""
    md = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                   if c["cell_type"] == "markdown")
    index, cites = colab.targets([path]), bibliography()
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


def longest_first(notebooks: list[str]) -> list[str]:
    """The notebooks, longest to execute first (their times on the Performance page, as
    ``make book`` orders them; a notebook not listed there yet counts as long)."""
    known = expected_seconds()
    return sorted(notebooks, key=lambda rel: -known.get(Path(rel).name, 1e9))


class Slot:
    """A browser page with JupyterLab loaded once, which opens, checks, runs and closes one
    notebook after another."""

    def __init__(self, page):
        self.page, self.rel, self.phase = page, None, "loading"
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + OPEN_TIMEOUT


@pytest.fixture(scope="module")
def lab_results():
    """Open, check, run every notebook; collect what each test asserts.

    A work queue, longest notebook first: PARALLEL notebooks run their cells at a time (one per
    core) and each starts as soon as a core is free. PAGES pages each have JupyterLab loaded once
    (not once per notebook); while PARALLEL pages run their notebooks, the other opens the next
    notebook, waits for its prose to render and checks it, so that a free core never waits for a
    notebook to open. A notebook's sliders are moved after its run, while the next one runs."""
    results: dict[str, dict] = {}
    started = time.perf_counter()
    with driver.jupyterlab() as (url, served), driver.chromium() as browser:
        slots: list[Slot] = []
        queue, order = longest_first(NOTEBOOKS), {}
        running = 0

        def failed(slot: Slot, message: str) -> None:
            r = results.setdefault(slot.rel, {"prose": [], "source": (served / slot.rel).read_text()})
            r.setdefault("seconds", float("nan"))
            if "open_seconds" not in r:  # it failed before its prose could be read
                r["prose"] = [message]
            r["errors"], r["sliders"], r["widgets_pending"] = [message], [], 0
            with contextlib.suppress(Exception):
                driver.close_in(slot.page)
            slot.rel, slot.phase = None, "free"

        def start_runs() -> None:
            nonlocal running
            while running < PARALLEL:
                ready = [s for s in slots if s.phase == "ready"]
                if not ready:
                    return
                slot = min(ready, key=lambda s: order[s.rel])
                slot.phase, slot.t0 = "running", time.perf_counter()
                slot.deadline = slot.t0 + RUN_TIMEOUT
                try:
                    driver.start_run_all(slot.page)
                except Exception as e:  # noqa: BLE001  (reported by this notebook's tests)
                    failed(slot, f"run all {slot.rel}: {type(e).__name__}: {e}")
                    continue
                running += 1

        tail_marked = False
        while queue or any(s.rel for s in slots):
            if (TAIL_FILE and not tail_marked and not queue and running < PARALLEL
                    and all(s.phase not in ("loading", "opening", "ready") for s in slots)):
                Path(TAIL_FILE).touch()  # nothing left to start: a core is free until the end
                tail_marked = True
            if queue and len(slots) < PAGES and all(s.phase != "loading" for s in slots):
                # one page loads at a time, while the notebooks of the others open and run
                slots.append(Slot(driver.lab_page(browser, url, f"slot-{len(slots)}", wait=False)))
            for slot in slots:
                now = time.perf_counter()
                if slot.phase == "loading":
                    if driver.app_ready(slot.page):
                        slot.phase = "free"
                    elif now > slot.deadline:
                        raise TimeoutError(f"JupyterLab did not load in a page within {OPEN_TIMEOUT} s")
                if slot.phase == "free":
                    if queue:
                        slot.rel = queue.pop(0)
                        order[slot.rel] = len(order)
                        slot.phase, slot.t0, slot.deadline = "opening", now, now + OPEN_TIMEOUT
                        driver.begin_open(slot.page, slot.rel)
                    continue
                if slot.phase == "ready":  # waits for a core
                    continue
                try:
                    state = driver.state(slot.page)
                    if slot.phase == "opening" and driver.opened(state):
                        results[slot.rel] = {"prose": check_prose(slot.page, served / slot.rel),
                                             "source": (served / slot.rel).read_text(),
                                             "open_seconds": now - slot.t0}
                        slot.phase = "ready"
                        start_runs()
                    elif slot.phase == "running" and driver.done(state):
                        r = results[slot.rel]
                        r["seconds"] = state["run_seconds"]  # in the page: command to last reply
                        running -= 1
                        slot.phase = "checking"
                        start_runs()  # the next notebook runs while this one's sliders move
                        r["errors"] = driver.error_outputs(slot.page)
                        r["widgets_pending"] = driver.widgets_pending(slot.page)
                        # ArrowRight; ArrowLeft where the slider starts at its maximum.
                        r["sliders"] = [driver.slider_round_trip(slot.page, i)
                                        or driver.slider_round_trip(slot.page, i, key="ArrowLeft")
                                        for i in range(driver.count_live_figures(slot.page))]
                        driver.close_in(slot.page)
                        slot.rel, slot.phase = None, "free"
                    elif slot.phase in ("opening", "running") and now > slot.deadline:
                        if slot.phase == "running":
                            running -= 1
                        failed(slot, f"{slot.phase} {slot.rel}: not done within "
                                     f"{OPEN_TIMEOUT if slot.phase == 'opening' else RUN_TIMEOUT} s"
                                     f" ({state})")
                        start_runs()
                except Exception as e:  # noqa: BLE001  (reported by this notebook's tests)
                    if slot.phase == "running":
                        running -= 1
                    failed(slot, f"{slot.phase} {slot.rel}: {type(e).__name__}: {e}")
                    start_runs()
            slots[0].page.wait_for_timeout(200)
    width = max(map(len, NOTEBOOKS))
    print(f"\nJupyterLab: {len(results)} notebooks in {time.perf_counter() - started:.0f} s wall"
          f" ({PARALLEL} running at a time, longest first; opened and read while others run):")
    for rel, r in results.items():
        print(f"  {rel:<{width}} run all {r['seconds']:5.1f} s, opened in "
              f"{r.get('open_seconds', float('nan')):4.1f} s, {len(r['sliders'])} live figures")
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
    pending = lab_results[rel]["widgets_pending"]
    assert not pending, f"{pending} widget outputs never showed their widget"


def test_jupyterlab_myst_is_compatible():
    """`jupyter labextension list` says OK for jupyterlab-myst: its @jupyter/ydoc agrees with
    this JupyterLab's (requirements.txt pins both)."""
    out = subprocess.run([str(driver.JUPYTER), "labextension", "list"], capture_output=True,
                         text=True, check=True)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    assert re.search(r"jupyterlab-myst v[\d.]+ enabled OK", listing), listing
    assert "not compatible" not in listing, listing
