"""One reader's visits to the built book, shared by the browser tests: each page is opened once per
screen, every check of that screen runs on that one visit, and the tests read the findings.

A page at the desktop size (1280-px window, 2x screen, light colour mode, empty cache) is checked in
this order, read-only steps first and steps that change the page last:

1. ``transfer``: what the first visit downloaded (every response until MathJax has typeset and the
   network is idle), before anything else could fetch more;
2. ``loads``: the page loaded cleanly (console errors, failed requests, images, alt text,
   captions, MathJax, internal links);
3. ``axe-light``: axe-core in the light colour mode;
4. ``axe-dark``: the reader's colour-mode button (the theme's own, clicked until the mode is dark),
   then axe-core again once the theme's colour transitions have ended; then back to light;
5. ``figures-2x``: figures sharp and legible (opens every collapsed block);
6. ``scrubbers``: moves every static scrubber's controls;
7. ``launch``: the launch menu's links, then opens it.

The phone checks need a page laid out in a 400-px viewport from the start (the theme and MathJax
lay out at load time; resizing a desktop page is not the same), so they get a visit of their own,
in a second tab (its own context, empty cache, 2x) that loads while the desktop checks run. The site
search is one tab navigated to each term in turn.

Every finding keeps the console errors and failed requests a test saw before: ``loads``,
``scrubbers``, ``launch`` and each search include those of the page's load; every step also
reports those raised during the step itself (the phone step: during the phone tab's load too). An
exception inside a step is kept and raised again by the test that reads that step, so a broken step
fails its own test, not its neighbours.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
from conftest import (
    DESKTOP,
    ROOT,
    SITE,
    figure_pages,
    finish_loading,
    notebook_pages,
    open_page,
    response_sizes,
    screenshot,
    scrubber_pages,
    start_page,
    wait_for_mathjax,
)

from optbook.viz.plotting import MIN_TEXT_CSS_PX, TEXT_SIZE_KEY, png_text

MIN_PIXEL_RATIO = 1.5
PHONE = {"width": 400, "height": 800}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
# OPTBOOK_VISIT_TIMES=1 prints how long each step of each visit took (to stderr; use pytest -s).
TIMES = bool(os.environ.get("OPTBOOK_VISIT_TIMES"))


@dataclass
class Finding:
    """What one check found on one visit: problems (with a screenshot of the page as it was when
    they were found), the exception that stopped the check, and a value (the transfer size)."""

    problems: list[str] = field(default_factory=list)
    error: BaseException | None = None
    shot: Path | None = None
    value: object = None

    def verify(self, rel: str) -> None:
        if self.error is not None:
            raise self.error
        if self.problems:
            where = f" (screenshot: {self.shot})" if self.shot else ""
            pytest.fail(f"{rel}: " + "; ".join(self.problems) + where)


class _Steps:
    """Runs the checks of one visit in order, each into its own Finding."""

    def __init__(self, page, console: list[str], rel: str):
        self.page, self.console, self.rel = page, console, rel
        self.load_problems = list(console)  # what the page's load reported (see loaded())
        self.findings: dict[str, Finding] = {}
        self.t = time.perf_counter()

    def loaded(self):
        """The page's load ends here (after MathJax and the network's idle): what the console
        said until now is the load's."""
        self.load_problems = list(self.console)

    def run(self, name, check, *, with_load=False, shot_suffix=None, console=True):
        finding = self.findings[name] = Finding()
        start = len(self.console) if console else None
        try:
            result = check()
        except Exception as e:  # kept for the test that reads this step
            finding.error = e
            result = []
        if isinstance(result, tuple):
            result, finding.value = result
        finding.problems = (self.load_problems if with_load else []) + list(result)
        if console:
            finding.problems += self.console[start:]
        if finding.problems and shot_suffix is not None and finding.error is None:
            try:
                # the figure checks' pictures at the screen's 2x, the others at CSS size as before
                scale = "device" if shot_suffix in ("-2x", "-phone") else "css"
                finding.shot = screenshot(self.page, self.rel, shot_suffix, scale)
            except Exception as e:  # the failure is the finding; a missing picture is a footnote
                finding.problems.append(f"(no screenshot: {e})")
        if TIMES:
            now = time.perf_counter()
            print(f"[visit] {self.rel} {name}: {now - self.t:.2f} s", file=sys.stderr)
            self.t = now
        return finding


# --- what the page loaded --------------------------------------------------------------------------

def transfer_rows(page) -> tuple[int, list[tuple[int, str]]]:
    """The first visit's downloads, from the page's responses so far (the page was opened with an
    empty cache): every image, including those below the fold, and MathJax's fonts."""
    wait_for_mathjax(page, wait=False)
    page.wait_for_load_state("networkidle")
    return response_sizes(page)


def load_problems(page, server: str) -> list[str]:
    """Images that did not load, images without alt text, figures without captions, equations
    MathJax did not typeset or could not parse, and internal links to missing pages."""
    problems = []
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
        wait_for_mathjax(page)
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
    return problems


# --- accessibility ---------------------------------------------------------------------------------

def audit(page, axe_source: str) -> list[dict]:
    """axe's violations on the page as it is now, each rule with its impact and failing nodes."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source)
    return page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                               resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), impact: n.impact,
                                          summary: n.failureSummary}))}));
        }""",
        AXE_TAGS,
    )


def blocking(violations: list[dict]) -> list[str]:
    """The serious and critical ones, each rule with its first five nodes."""
    problems = []
    for v in violations:
        nodes = [n for n in v["nodes"] if (n["impact"] or v["impact"]) in BLOCKING]
        if nodes:
            where = "; ".join(f"{n['target']} ({n['summary'].splitlines()[-1].strip()})" for n in nodes[:5])
            problems.append(f"{v['id']} [{v['impact']}] x{len(nodes)}: {v['help']}: {where}")
    return problems


# The theme's colour-mode button cycles light -> auto -> dark (on a light-preferring screen): click
# it, as a reader does, until the mode is the one asked for. The click is the DOM's (the theme
# listens for it), not a pointer's, so no hover tooltip is left in the page for the audit to read.
# Then wait for the colour transitions the switch started (buttons fade over 0.15-0.25 s): axe reads
# computed colours, and a half-faded button is neither mode.
SWITCH_MODE_JS = """async (mode) => {
  const button = document.querySelector('.theme-switch-button');
  if (!button) return 'no colour-mode button (.theme-switch-button) on the page';
  for (let i = 0; i < 3 && document.documentElement.dataset.mode !== mode; i++) button.click();
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await Promise.all(document.getAnimations().filter(a => a instanceof CSSTransition)
                            .map(a => a.finished.catch(() => null)));
  return null;
}"""


def switch_mode(page, mode: str) -> None:
    error = page.evaluate(SWITCH_MODE_JS, mode)
    assert error is None, error


def axe_problems(page, axe_source: str, rel: str, mode: str) -> list[str]:
    shown = page.evaluate("() => document.documentElement.dataset.theme")
    assert shown == mode, f"{rel}: asked for the {mode} colour mode, the page shows {shown!r}"
    if page.locator(".math").count():  # audit the typeset equations, not the TeX source
        wait_for_mathjax(page)
    return blocking(audit(page, axe_source))


# --- figures -----------------------------------------------------------------------------------

# Every image in the article, after opening every collapsed block; its pixels, its shown size and
# where it sits, and the nearest ancestor that scrolls sideways (if any).
FIGURES_JS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  return Array.from(document.querySelectorAll('article img')).map(img => {
    const r = img.getBoundingClientRect();
    let box = img.parentElement, scroller = null;
    while (box && box !== document.body) {
      const o = getComputedStyle(box).overflowX;
      if ((o === 'auto' || o === 'scroll') && box.scrollWidth > box.clientWidth + 1) {
        const b = box.getBoundingClientRect();
        scroller = {left: b.left, right: b.right, scrollWidth: box.scrollWidth};
        break;
      }
      box = box.parentElement;
    }
    return {src: img.currentSrc || img.src, natural: img.naturalWidth, shown: r.width,
            left: r.left, right: r.right, complete: img.complete, scroller};
  });
}"""


def image_bytes(src: str) -> bytes:
    if src.startswith("data:"):
        header, _, data = src.partition(",")
        return base64.b64decode(data) if header.endswith(";base64") else unquote(data).encode()
    return (SITE / unquote(urlparse(src).path).lstrip("/")).read_bytes()


def figures(page) -> list[dict]:
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    out = page.evaluate(FIGURES_JS)
    for fig in out:
        src = fig["src"]
        fig["label"] = f"data URI ({src[:22]}…)" if src.startswith("data:") else src[:60]
        data = image_bytes(fig["src"])
        fig["svg"] = fig["src"].split("?")[0].endswith(".svg") or fig["src"].startswith("data:image/svg")
        fig["stamp"] = None if fig["svg"] else png_text(data).get(TEXT_SIZE_KEY)
    return [f for f in out if f["shown"] > 0]  # an image that is not displayed is not read


def text_problems(figs: list[dict]) -> list[str]:
    problems = []
    for f in figs:
        if f["svg"]:
            continue
        if f["stamp"] is None:
            problems.append(f"{f['label']}: no text-size record ({TEXT_SIZE_KEY}); not drawn by optbook")
        elif f["stamp"] != "none":
            css = float(f["stamp"]) * f["shown"] / f["natural"]
            if css < MIN_TEXT_CSS_PX - 0.05:
                problems.append(f"{f['label']}: smallest text {css:.1f} CSS px < {MIN_TEXT_CSS_PX}")
    return problems


def sharp_problems(page, rel: str) -> list[str]:
    """At 2x in the desktop window: >= 1.5 bitmap px per CSS px, text >= 9 CSS px."""
    figs = figures(page)
    assert figs, f"{rel}: no figure shown"
    problems = []
    for f in figs:
        if not f["svg"] and f["natural"] / f["shown"] < MIN_PIXEL_RATIO:
            problems.append(f"{f['label']}: {f['natural']} bitmap px shown over {f['shown']:.0f} CSS px "
                            f"({f['natural'] / f['shown']:.2f} per CSS px < {MIN_PIXEL_RATIO})")
    return problems + text_problems(figs)


def phone_problems(page) -> list[str]:
    """In the phone viewport: text >= 9 CSS px, each figure fits or scrolls, the page does not."""
    figs = figures(page)
    problems = text_problems(figs)
    width = PHONE["width"]
    for f in figs:
        fits = f["left"] >= -0.5 and f["right"] <= width + 0.5
        box = f["scroller"]
        scrolls = box is not None and box["left"] >= -0.5 and box["right"] <= width + 0.5 \
            and box["scrollWidth"] + 0.5 >= f["shown"]
        if not (fits or scrolls):
            problems.append(f"{f['label']}: {f['shown']:.0f} CSS px wide at x = {f['left']:.0f}, "
                            "neither inside the 400-px viewport nor in a box that scrolls to it")
    page_width = page.evaluate("() => document.documentElement.scrollWidth")
    if page_width > width + 1:
        problems.append(f"the page scrolls sideways: {page_width} CSS px wide in a {width}-px viewport")
    return problems


# --- interactive parts ---------------------------------------------------------------------------

def scrubber_problems(page) -> list[str]:
    """Every control of every static scrubber, moved as a reader would (focus, arrow key), changes
    the frame and the value label, and the new frame loads."""
    problems = []
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
    return problems


def repository() -> str:
    """owner/name of the repository that _config.yml names (the launch buttons point there)."""
    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    return urlparse(url).path.strip("/")


def launch_problems(page, rel: str) -> list[str]:
    """Binder and Colab links to this notebook (its Colab copy), and a Thebe button in the menu
    once it is open."""
    problems = []
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
    return problems


# --- the visits ----------------------------------------------------------------------------------

def desktop_visit(browser, server: str, rel: str, axe_source: str) -> dict[str, Finding]:
    """Every desktop check of ``rel`` on one visit (see the module's docstring for the order), and
    the phone checks on a visit that loads in a second tab meanwhile (``phone``, figure pages)."""
    t0 = time.perf_counter()
    page, console = start_page(browser, server + rel, viewport=DESKTOP, device_scale_factor=2,
                               color_mode="light")
    phone = None
    if rel in figure_pages():
        try:
            phone = start_page(browser, server + rel, viewport=PHONE, device_scale_factor=2)
        except Exception as e:  # the phone test reports it
            phone = e
    try:
        finish_loading(page)
        steps = _Steps(page, console, rel)
        if TIMES:
            print(f"[visit] {rel} open: {steps.t - t0:.2f} s", file=sys.stderr)
        steps.run("transfer", lambda: ([], transfer_rows(page)), console=False)
        steps.loaded()
        steps.run("loads", lambda: load_problems(page, server), with_load=True, shot_suffix="")
        steps.run("axe-light", lambda: axe_problems(page, axe_source, rel, "light"), shot_suffix="-axe-light")

        def dark():
            switch_mode(page, "dark")
            return axe_problems(page, axe_source, rel, "dark")

        steps.run("axe-dark", dark, shot_suffix="-axe-dark")

        def light_again():
            switch_mode(page, "light")
            return []

        back = steps.run("light-again", light_again)
        steps.findings["axe-dark"].problems += back.problems  # raised while switching back

        def in_light(check):
            """The figure, scrubber and launch checks run on the page in light mode, as before."""
            def run():
                shown = page.evaluate("() => document.documentElement.dataset.theme")
                assert shown == "light", (f"{rel}: the colour-mode button did not bring the page back "
                                          f"to the light mode (it shows {shown!r})")
                return check()
            return run

        if rel in figure_pages():
            steps.run("figures-2x", in_light(lambda: sharp_problems(page, rel)), shot_suffix="-2x")
        if rel in scrubber_pages():
            steps.run("scrubbers", in_light(lambda: scrubber_problems(page)), with_load=True, shot_suffix="")
        if rel in notebook_pages():
            steps.run("launch", in_light(lambda: launch_problems(page, rel)), with_load=True, shot_suffix="")
        findings = steps.findings
    finally:
        page.context.close()
    if isinstance(phone, Exception):
        findings["phone"] = Finding(error=phone)
    elif phone is not None:
        findings["phone"] = phone_checks(*phone, rel)
    return findings


def phone_checks(page, console: list[str], rel: str) -> Finding:
    """The figures in the 400-px viewport of a page started by start_page."""
    try:
        steps = _Steps(page, console, rel)
        steps.run("phone", lambda: (finish_loading(page), phone_problems(page))[1], shot_suffix="-phone")
        return steps.findings["phone"]
    finally:
        page.context.close()


def search_visits(browser, server: str, terms: list[str]) -> dict[str, Finding]:
    """search.html?q=term for each term, in one tab (a new one, then navigated from term to term,
    its cache warm after the first): each finding's value is the result links, its problems the
    console errors and failed requests of that term's page load."""
    findings = {}
    page, console = open_page(browser, urljoin(server, "search.html?q=" + terms[0]))
    try:
        for k, term in enumerate(terms):
            start = len(console) if k else 0  # the first term's load was open_page's
            finding = findings[term] = Finding()
            try:
                if k:
                    page.goto(urljoin(server, f"search.html?q={term}"), wait_until="load")
                    page.wait_for_load_state("networkidle")
                page.wait_for_selector("#search-results li", timeout=15000)
                finding.value = page.eval_on_selector_all("#search-results li a", "as => as.map(a => a.href)")
            except Exception as e:
                finding.error = e
            finding.problems = console[start:]
    finally:
        page.context.close()
    return findings
