"""Figures as a reader sees them on a 2x screen and on a phone, and what each page downloads.

* Sharp: every figure bitmap has >= 1.5 bitmap pixels per CSS pixel where it is shown, on a
  2x screen in a 1280-px window (an SVG passes by nature).
* Legible: the smallest text in each figure measures >= 9 CSS px where it is shown, in that
  window and in a 400-px phone viewport. The text size comes from the figure itself: optbook's
  renderer records the smallest font it drew, in bitmap pixels (points x dpi / 72), in a PNG
  text chunk (``optbook.viz.plotting.TEXT_SIZE_KEY``); the browser tells how many CSS px the
  bitmap's pixels are shown at (clientWidth / naturalWidth). A figure bitmap without that record
  did not come through optbook's renderer and fails.
* Phone: each figure fits the 400-px viewport, or sits in a box that scrolls sideways to show
  all of it (the page itself does not scroll sideways).
* Light: a first visit downloads <= 3 MB (served gzip-compressed as a static host does).
"""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlparse

import pytest
from conftest import SITE, content_pages, fail_with_screenshot, open_page, transfer_bytes

from optbook.viz.plotting import MIN_TEXT_CSS_PX, TEXT_SIZE_KEY, png_text

pytestmark = pytest.mark.browser

MIN_PIXEL_RATIO = 1.5
MAX_PAGE_BYTES = 3_000_000
PHONE = {"width": 400, "height": 800}

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


def figure_pages() -> list[str]:
    """Pages with an image in the article (not just the launch menu's logos)."""
    pages = []
    for rel in content_pages():
        html = (SITE / rel).read_text()
        start = html.find("<article")
        if start >= 0 and "<img" in html[start:html.find("</article>", start)]:
            pages.append(rel)
    return pages


def test_some_page_has_figures():
    assert len(figure_pages()) >= 5, figure_pages()


@pytest.mark.parametrize("rel", figure_pages())
def test_figures_sharp_and_legible_on_a_2x_screen(browser, server, rel):
    page, _ = open_page(browser, server + rel, device_scale_factor=2)
    try:
        figs = figures(page)
        assert figs, f"{rel}: no figure shown"
        problems = []
        for f in figs:
            if not f["svg"] and f["natural"] / f["shown"] < MIN_PIXEL_RATIO:
                problems.append(f"{f['label']}: {f['natural']} bitmap px shown over {f['shown']:.0f} CSS px "
                                f"({f['natural'] / f['shown']:.2f} per CSS px < {MIN_PIXEL_RATIO})")
        problems += text_problems(figs)
        if problems:
            fail_with_screenshot(page, rel, problems, suffix="-2x")
    finally:
        page.close()


@pytest.mark.parametrize("rel", figure_pages())
def test_figures_readable_on_a_phone(browser, server, rel):
    page, _ = open_page(browser, server + rel, viewport=PHONE, device_scale_factor=2)
    try:
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
        if problems:
            fail_with_screenshot(page, rel, problems, suffix="-phone")
    finally:
        page.close()


@pytest.mark.parametrize("rel", content_pages())
def test_page_transfer_size(browser, server, rel):
    total, rows = transfer_bytes(browser, server + rel)
    largest = ", ".join(f"{urlparse(u).path.rsplit('/', 1)[-1][:40]} {n / 1e3:.0f} kB" for n, u in rows[:5])
    assert total <= MAX_PAGE_BYTES, f"{rel}: a first visit downloads {total / 1e6:.2f} MB; largest: {largest}"
