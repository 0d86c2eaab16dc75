"""The built book as a reader meets it: every page in headless Chromium, served over HTTP.

Run after `make book` (``make test-browser`` does both). Fails on console errors, failed
requests, images that did not load, equations MathJax did not typeset, broken internal links,
images without alt text, figures without captions, and static scrubbers whose frame does
not change when moved; checks that every notebook page can be launched on Binder, Colab and
Thebe, and that the site search finds every chapter. Screenshots of failing pages
go to ``test-artifacts/``.

The checks of a page run on its one desktop visit, shared with the figure and accessibility tests
(page_visits.py has them, in the order they run); the searches share one tab.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SITE, by_page, content_pages, notebook_pages, scrubber_pages

pytestmark = pytest.mark.browser

# The server and browser fixtures, the page list and the page loader are shared with the other
# browser tests: see conftest.py.


@pytest.mark.parametrize("rel", by_page(content_pages()))
def test_page_loads_cleanly(visits, rel):
    visits.desktop(rel, "loads").verify(rel)


def test_some_page_has_a_scrubber():
    assert scrubber_pages(), "no static scrubber found in the built book"


@pytest.mark.parametrize("rel", by_page(scrubber_pages()))
def test_scrubbers_change_frame(visits, rel):
    """Every control of every static scrubber, moved as a reader would (focus it, press an arrow
    key), changes the frame and the value label, and the new frame loads."""
    visits.desktop(rel, "scrubbers").verify(rel)


@pytest.mark.parametrize("rel", by_page(notebook_pages()))
def test_notebook_pages_launch_binder_colab_and_thebe(visits, rel):
    """The launch menu of every notebook page opens this very notebook on Binder, its Colab copy
    (colab/, made by `make colab`: Colab cannot render MyST) on Colab, and offers Thebe's live
    code; the menu opens when clicked."""
    visits.desktop(rel, "launch").verify(rel)


@pytest.mark.parametrize("rel", notebook_pages())
def test_figures_are_numbered_per_chapter(rel):
    """Captions read "Fig. 8.5.1", "Fig. 8.5.2", ... on the page of section 8.5 (the local
    extension book/_ext/chapter_figure_numbers.py), and "Fig. 1", ... on a page without one."""
    import re

    html = (SITE / rel).read_text()
    numbers = re.findall(r'<span class="caption-number">Fig\. ([\d.]+) </span>', html)
    assert numbers, f"{rel}: no numbered figure"
    m = re.match(r"notebooks/(\d+)_(\d+)_", rel)
    prefix = f"{int(m[1])}.{int(m[2])}." if m else ""
    assert numbers == [f"{prefix}{k}" for k in range(1, len(numbers) + 1)], numbers
    # every {numref} names the number its target figure's caption shows, on whichever page
    refs = re.findall(r'href="([^"]*)"><span class="std std-numref">Fig\. ([\d.]+)</span>', html)
    for href, shown in refs:
        page, _, anchor = href.partition("#")
        target = html if not page else (SITE / rel).parent.joinpath(page).resolve().read_text()
        caption = re.search(rf'id="{re.escape(anchor)}".*?<span class="caption-number">Fig\. ([\d.]+) ',
                            target, flags=re.S)
        assert caption and caption[1] == shown, (href, shown, caption and caption[1])


# A term only one chapter explains, for each chapter: the site search must find that page.
SEARCH_TERMS = {
    "08_1_learning_vs_optimisation": "surrogate",
    "08_2_challenges": "cliff",
    "08_3_basic_algorithms": "Nesterov",
    "08_4_initialisation": "Glorot",
    "08_5_adaptive_learning_rates": "AdaGrad",
    "08_6_second_order": "BFGS",
    "08_7_strategies": "normalisation",
    "08_8_since_the_book": "Muon",
    "11_4_hyperparameters": "hyperparameter",
    "11_5_debugging": "debugging",
    "12_1_beyond_one_machine": "Hogwild",
    "rbm_contrastive_divergence": "contrastive",
}


def test_every_chapter_has_a_search_term():
    chapters = {Path(rel).stem for rel in content_pages() if rel.startswith("notebooks/")}
    assert chapters == set(SEARCH_TERMS), chapters ^ set(SEARCH_TERMS)


@pytest.mark.parametrize("chapter,term", [pytest.param(c, t, marks=pytest.mark.xdist_group("search"))
                                          for c, t in sorted(SEARCH_TERMS.items())])
def test_search_finds_each_chapter(visits, chapter, term):
    finding = visits.search(term, [t for _, t in sorted(SEARCH_TERMS.items())])
    if finding.error is not None:
        raise finding.error
    hits = finding.value
    assert any(f"notebooks/{chapter}.html" in h for h in hits), (term, hits)
    assert not finding.problems, finding.problems
