"""axe-core's WCAG 2.0 / 2.1 level A and AA rules over every built page, in the theme's light and
dark colour modes: no serious or critical violation.

axe-core comes from npm, pinned in package.json / package-lock.json and installed by `npm ci`
(`make test-browser` does it); the test reads ``node_modules/axe-core/axe.min.js`` and injects it
into each page, so nothing is fetched while the tests run. No rule is switched off.
"""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, content_pages, fail_with_screenshot, open_page

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test-browser does) to install axe-core")
    version = json.loads((AXE.parent / "package.json").read_text())["version"]
    pinned = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/axe-core"]
    assert version == pinned["version"], f"node_modules has axe-core {version}, the lock file pins {pinned}"
    return AXE.read_text()


def audit(page, axe_source: str) -> list[dict]:
    """axe's violations on the page as it is now, each rule with its impact and failing nodes."""
    page.add_script_tag(content=axe_source)
    return page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                               resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), impact: n.impact,
                                          summary: n.failureSummary}))}));
        }""",
        TAGS,
    )


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("rel", content_pages())
def test_no_serious_accessibility_violations(browser, server, axe_source, rel, mode):
    page, _ = open_page(browser, server + rel, color_mode=mode)
    try:
        shown = page.evaluate("() => document.documentElement.dataset.theme")
        assert shown == mode, f"{rel}: asked for the {mode} colour mode, the page shows {shown!r}"
        if page.locator(".math").count():  # audit the typeset equations, not the TeX source
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise")
        problems = []
        for v in audit(page, axe_source):
            nodes = [n for n in v["nodes"] if (n["impact"] or v["impact"]) in BLOCKING]
            if nodes:
                where = "; ".join(f"{n['target']} ({n['summary'].splitlines()[-1].strip()})"
                                  for n in nodes[:5])
                problems.append(f"{v['id']} [{v['impact']}] x{len(nodes)}: {v['help']}: {where}")
        if problems:
            fail_with_screenshot(page, rel, problems, suffix=f"-axe-{mode}")
    finally:
        page.close()


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
