"""axe-core's WCAG 2.0 / 2.1 level A and AA rules over every built page, in the theme's light and
dark colour modes: no serious or critical violation.

axe-core comes from npm, pinned in package.json / package-lock.json and installed by `npm ci`
(`make test-browser` does it); the test reads ``node_modules/axe-core/axe.min.js`` and injects it
into each page, so nothing is fetched while the tests run. No rule is switched off.

Both audits run on the page's one desktop visit (page_visits.py): first in the light mode it
opens in, then after the reader's colour-mode button has switched the page to dark (the test
checks that the page then really shows the dark theme).
"""

from __future__ import annotations

import pytest
from conftest import by_page, content_pages, open_page
from page_visits import BLOCKING, audit, blocking, switch_mode

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("rel", by_page(content_pages()))
def test_no_serious_accessibility_violations(visits, rel, mode):
    visits.desktop(rel, f"axe-{mode}").verify(rel)


def test_the_audit_can_fail(browser, axe_source):
    """The same audit flags a page with a known serious violation (an unlabelled button, an
    image without alt text), so a pass above means something."""
    page = browser.new_page()
    try:
        page.set_content('<html lang="en"><head><title>t</title></head><body><main>'
                         '<button><svg width="10" height="10"></svg></button><img src="x.png">'
                         "</main></body></html>")
        ids = {v["id"] for v in audit(page, axe_source) if v["impact"] in BLOCKING}
        assert {"button-name", "image-alt"} <= ids, ids
    finally:
        page.close()


def test_the_dark_audit_sees_the_dark_theme(browser, server, axe_source):
    """After the colour-mode switch the audit reads the dark theme's colours: dark grey text,
    readable on the light theme's background, fails contrast once the same page is dark."""
    page, _ = open_page(browser, server + "genindex.html", color_mode="light")
    try:
        page.evaluate("""() => { const p = document.createElement('p');
            p.id = 'grey-text'; p.textContent = 'Dark grey text'; p.style.color = '#333';
            document.querySelector('article').append(p); }""")

        def flagged():
            return [p for p in blocking(audit(page, axe_source)) if "#grey-text" in p]

        assert flagged() == [], "dark grey text on the light theme should pass"
        switch_mode(page, "dark")
        assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
        found = flagged()
        assert found and found[0].startswith("color-contrast"), found
    finally:
        page.close()
