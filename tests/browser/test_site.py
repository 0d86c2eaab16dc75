"""The built book as a reader meets it: every page in headless Chromium, served over HTTP.

Run after `make book` (``make test-browser`` does both). Fails on console errors, failed
requests, images that did not load, equations MathJax did not typeset, broken internal links,
images without alt text, figures without captions, and static scrubbers whose frame does
not change when moved; checks that every notebook page can be launched on Binder, Colab and
Thebe, and that the site search finds every chapter. Screenshots of failing pages
go to ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
from conftest import ROOT, SITE, content_pages, fail_with_screenshot, open_page

pytestmark = pytest.mark.browser

# The server and browser fixtures, the page list and the page loader are shared with the other
# browser tests: see conftest.py.


@pytest.mark.parametrize("rel", content_pages())
def test_page_loads_cleanly(browser, server, rel):
    page, problems = open_page(browser, server + rel)
    try:
        broken = page.eval_on_selector_all(
            "img",
            "imgs => imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80))",
        )
        problems += [f"image did not load: {src}" for src in broken]
        # Every image says what it shows, and every figure has a caption.
        no_alt = page.eval_on_selector_all(
            "article img",
            "imgs => imgs.filter(i => !(i.alt || '').trim() || /\\.(png|jpe?g|svg)$/.test(i.alt))"
            ".map(i => i.src.slice(0, 80))",
        )
        problems += [f"image without alt text: {src}" for src in no_alt]
        uncaptioned = page.eval_on_selector_all(
            "article figure", "fs => fs.filter(f => !f.querySelector('figcaption')).length"
        )
        if uncaptioned:
            problems.append(f"{uncaptioned} figure(s) without a caption")
        if page.locator(".math").count():
            # Equations are typeset by the vendored MathJax, with no TeX errors.
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise")
            if page.locator("mjx-container").count() == 0:
                problems.append("MathJax did not typeset the equations")
            errors = page.locator("mjx-merror").all_text_contents()
            problems += [f"TeX error: {e}" for e in errors]
        hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
        for href in hrefs:
            target, _ = urldefrag(href)
            if urlparse(target).netloc != urlparse(server).netloc:
                continue  # external links are not followed (no network)
            local = SITE / urlparse(target).path.lstrip("/")
            if local.is_dir():
                local = local / "index.html"
            if not local.exists():
                problems.append(f"broken internal link: {href}")
        if problems:
            fail_with_screenshot(page, rel, problems)
    finally:
        page.close()


def scrubber_pages() -> list[str]:
    return [rel for rel in content_pages() if "optbook-scrubber" in (SITE / rel).read_text()]


def test_some_page_has_a_scrubber():
    assert scrubber_pages(), "no static scrubber found in the built book"


@pytest.mark.parametrize("rel", scrubber_pages())
def test_scrubbers_change_frame(browser, server, rel):
    page, problems = open_page(browser, server + rel)
    try:
        scrubbers = page.locator(".optbook-scrubber")
        assert scrubbers.count() > 0
        for i in range(scrubbers.count()):
            scrubber = scrubbers.nth(i)
            scrubber.scroll_into_view_if_needed()
            img = scrubber.locator("img")
            for j in range(scrubber.locator("input[type=range]").count()):
                slider = scrubber.locator("input[type=range]").nth(j)
                output = scrubber.locator("output").nth(j)
                before_src, before_text = img.get_attribute("src"), output.text_content()
                # Move the control as a reader would: focus it and press an arrow key.
                key = "ArrowLeft" if slider.input_value() == slider.get_attribute("max") else "ArrowRight"
                slider.focus()
                page.keyboard.press(key)
                if img.get_attribute("src") == before_src:
                    problems.append(f"scrubber {i}, control {j}: the frame did not change")
                if output.text_content() == before_text:
                    problems.append(f"scrubber {i}, control {j}: the value label did not change")
                natural = img.evaluate("i => i.complete && i.naturalWidth")
                if not natural:
                    problems.append(f"scrubber {i}, control {j}: the new frame did not load")
        if problems:
            fail_with_screenshot(page, rel, problems)
    finally:
        page.close()


def notebook_pages() -> list[str]:
    return [rel for rel in content_pages() if rel.startswith("notebooks/")]


def repository() -> str:
    """owner/name of the repository that _config.yml names (the launch buttons point there)."""
    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    return urlparse(url).path.strip("/")


@pytest.mark.parametrize("rel", notebook_pages())
def test_notebook_pages_launch_binder_colab_and_thebe(browser, server, rel):
    """The launch menu of every notebook page opens this very notebook on Binder, its Colab copy
    (colab/, made by `make colab`: Colab cannot render MyST) on Colab, and offers Thebe's live
    code; the menu opens when clicked."""
    page, problems = open_page(browser, server + rel)
    try:
        nb = rel.removesuffix(".html") + ".ipynb"
        repo = repository()
        hrefs = page.eval_on_selector_all(".dropdown-launch-buttons a", "as => as.map(a => a.href)")
        want = {
            "Binder": f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{nb}",
            "Colab": f"https://colab.research.google.com/github/{repo}/blob/main/colab/"
                     f"{nb.removeprefix('notebooks/')}",
        }
        for name, url in want.items():
            if url not in hrefs:
                problems.append(f"no {name} launch link to {url} (links: {hrefs})")
        page.locator(".dropdown-launch-buttons button.dropdown-toggle").click()
        thebe = page.locator(".dropdown-launch-buttons button.btn-launch-thebe")
        if thebe.count() != 1 or not thebe.is_visible():
            problems.append("no visible Thebe 'Live Code' button in the open launch menu")
        if problems:
            fail_with_screenshot(page, rel, problems)
    finally:
        page.close()


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


@pytest.mark.parametrize("chapter,term", sorted(SEARCH_TERMS.items()))
def test_search_finds_each_chapter(browser, server, chapter, term):
    page, problems = open_page(browser, urljoin(server, f"search.html?q={term}"))
    try:
        page.wait_for_selector("#search-results li", timeout=15000)
        hits = page.eval_on_selector_all("#search-results li a", "as => as.map(a => a.href)")
        assert any(f"notebooks/{chapter}.html" in h for h in hits), (term, hits)
        assert not problems, problems
    finally:
        page.close()
