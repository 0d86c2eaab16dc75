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

The 2x checks and the transfer size are taken on the page's one desktop visit (a first visit with
an empty cache, on a 2x screen); the phone checks on a visit in the phone viewport, which loads in
a second tab meanwhile (page_visits.py has the checks themselves).
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from conftest import by_page, content_pages, figure_pages

pytestmark = pytest.mark.browser

MAX_PAGE_BYTES = 3_000_000


def test_some_page_has_figures():
    assert len(figure_pages()) >= 5, figure_pages()


@pytest.mark.parametrize("rel", by_page(figure_pages()))
def test_figures_sharp_and_legible_on_a_2x_screen(visits, rel):
    visits.desktop(rel, "figures-2x").verify(rel)


@pytest.mark.parametrize("rel", by_page(figure_pages()))
def test_figures_readable_on_a_phone(visits, rel):
    visits.desktop(rel, "phone").verify(rel)


@pytest.mark.parametrize("rel", by_page(content_pages()))
def test_page_transfer_size(visits, rel):
    finding = visits.desktop(rel, "transfer")
    finding.verify(rel)
    total, rows = finding.value
    largest = ", ".join(f"{urlparse(u).path.rsplit('/', 1)[-1][:40]} {n / 1e3:.0f} kB" for n, u in rows[:5])
    assert total <= MAX_PAGE_BYTES, f"{rel}: a first visit downloads {total / 1e6:.2f} MB; largest: {largest}"
