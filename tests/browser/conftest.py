"""Shared by the browser tests: the built book served over HTTP, one headless Chromium, the lists
of pages, a page loader that records console errors and failed requests, and ``visits``: each
page's checks gathered on one visit per screen (page_visits.py), kept for the tests of that page.

The tests import the helpers with ``from conftest import ...`` (pytest puts this folder on
``sys.path``); the fixtures are found by pytest itself. All tests of one page run on the same
xdist worker (``-n 2 --dist loadgroup``: by_page and the scheduler below), so that worker visits
the page once; without xdist, or with another ``--dist``, every check still runs, a page is just
visited once per worker that has a test of it.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import json
import os
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("OPTBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
# sphinx-thebe 0.3.1 includes its configuration script twice on every page; harmless.
KNOWN_NOISE = ("Identifier 'THEBE_JS_URL' has already been declared",)
DESKTOP = {"width": 1280, "height": 900}


def content_pages() -> list[str]:
    """Every HTML page of the built book a reader can open (index.html only redirects)."""
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built book at {SITE}: run `make book` first")
    pages = []
    for path in sorted(SITE.rglob("*.html")):
        rel = path.relative_to(SITE).as_posix()
        if rel.startswith(("_static/", "_sources/", "_images/")) or rel == "index.html":
            continue  # index.html only redirects to the intro
        pages.append(rel)
    return pages


@functools.cache
def _article_has_image(rel: str) -> bool:
    html = (SITE / rel).read_text()
    start = html.find("<article")
    return start >= 0 and "<img" in html[start:html.find("</article>", start)]


def figure_pages() -> list[str]:
    """Pages with an image in the article (not just the launch menu's logos)."""
    return [rel for rel in content_pages() if _article_has_image(rel)]


def scrubber_pages() -> list[str]:
    return [rel for rel in content_pages() if "optbook-scrubber" in (SITE / rel).read_text()]


def notebook_pages() -> list[str]:
    return [rel for rel in content_pages() if rel.startswith("notebooks/")]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site as a static host does (GitHub Pages, Netlify, ReadTheDocs): text files
    gzip-compressed when the browser accepts it, so measured transfer sizes are a reader's."""

    COMPRESSIBLE = (".html", ".js", ".css", ".json", ".svg", ".txt", ".map", ".inv")
    _gzipped: dict = {}

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if (path.suffix.lower() not in self.COMPRESSIBLE or not path.is_file()
                or "gzip" not in self.headers.get("Accept-Encoding", "")):
            return super().send_head()
        key = (str(path), path.stat().st_mtime_ns)
        if key not in self._gzipped:
            self._gzipped[key] = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
        body = self._gzipped[key]
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@contextlib.contextmanager
def serve_site():
    """The built book on a free loopback port; yields its base URL."""
    handler = functools.partial(_Handler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="session")
def server():
    with serve_site() as url:
        yield url


def wait_for_mathjax(page, wait=True) -> None:
    """Until MathJax has typeset the page (``wait``: until MathJax has even started)."""
    if wait:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")


def response_sizes(page) -> tuple[int, list[tuple[int, str]]]:
    """The sum of every response the page has received so far, body as sent (compressed where the
    server compresses) and headers, and the per-URL sizes, largest first."""
    rows = []
    for response in page._optbook_responses:
        sizes = response.request.sizes()
        rows.append((sizes["responseBodySize"] + sizes["responseHeadersSize"], response.url))
    rows.sort(reverse=True)
    return sum(n for n, _ in rows), rows


def transfer_bytes(browser, url, **kw) -> tuple[int, list[tuple[int, str]]]:
    """What a first visit to ``url`` downloads (empty cache, 2x screen unless told): the sum of
    every response's body as sent (compressed where the server compresses) and headers, and the
    per-URL sizes, largest first. (The tests take the same measurement on their shared visit.)"""
    kw.setdefault("device_scale_factor", 2)
    page, _ = open_page(browser, url, **kw)
    try:
        # every image, including those below the fold, and MathJax's fonts
        wait_for_mathjax(page, wait=False)
        page.wait_for_load_state("networkidle")
        return response_sizes(page)
    finally:
        page.context.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url, *, viewport=None, device_scale_factor=1, color_mode=None, on_response=None):
    """Load ``url`` and return (page, problems) with console errors and failed loads.

    ``color_mode`` ("light" or "dark") is stored where the theme looks for the reader's choice
    before the page loads. ``on_response`` is called with every response (e.g. to add up sizes).
    """
    page, problems = start_page(browser, url, viewport=viewport, device_scale_factor=device_scale_factor,
                                color_mode=color_mode, on_response=on_response)
    finish_loading(page)
    return page, problems


def finish_loading(page) -> None:
    """Until the page has loaded and the network has been idle for half a second."""
    page.wait_for_load_state("load")
    page.wait_for_load_state("networkidle")


def start_page(browser, url, *, viewport=None, device_scale_factor=1, color_mode=None, on_response=None):
    """open_page's first half: a new tab (with an empty cache) that has started loading ``url``;
    finish_loading(page) waits for the rest. Tabs started one after another load side by side."""
    page = browser.new_page(viewport=viewport or DESKTOP, device_scale_factor=device_scale_factor)
    if color_mode:
        page.add_init_script(f"localStorage.setItem('mode', '{color_mode}');")
    problems: list[str] = []

    def on_console(msg):
        if msg.type == "error" and not any(n in msg.text for n in KNOWN_NOISE):
            problems.append(f"console error: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    responses: list = []  # every response, for transfer_bytes
    page._optbook_responses = responses
    page.on("response", lambda r: responses.append(r))
    if on_response is not None:
        page.on("response", on_response)
    page.goto(url, wait_until="commit")
    return page, problems


def screenshot(page, rel, suffix="", scale="device") -> Path:
    """A full-page screenshot of the page as it is now, in test-artifacts/ (``scale="css"``: one
    pixel per CSS pixel, a quarter of a 2x screen's: quicker for a long page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / (rel.replace("/", "__") + suffix + ".png")
    page.screenshot(path=str(shot), full_page=True, scale=scale)
    return shot


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from node_modules (`npm ci`), the version package-lock.json pins."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test-browser does) to install axe-core")
    version = json.loads((AXE.parent / "package.json").read_text())["version"]
    pinned = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/axe-core"]
    assert version == pinned["version"], f"node_modules has axe-core {version}, the lock file pins {pinned}"
    return AXE.read_text()


class Visits:
    """This worker's visits, each made the first time a test asks for one of its findings."""

    def __init__(self, browser, server, axe_source):
        self.browser, self.server, self.axe_source = browser, server, axe_source
        self._desktop: dict = {}
        self._search: dict | None = None

    def desktop(self, rel: str, check: str):
        """The finding of ``check`` on the visit of ``rel`` (page_visits.desktop_visit; its phone
        checks are ``check="phone"``)."""
        import page_visits

        if rel not in self._desktop:
            self._desktop[rel] = page_visits.desktop_visit(self.browser, self.server, rel, self.axe_source)
        return self._desktop[rel][check]

    def search(self, term: str, terms: list[str]):
        import page_visits

        if self._search is None:
            self._search = page_visits.search_visits(self.browser, self.server, terms)
        return self._search[term]


@pytest.fixture(scope="session")
def visits(browser, server, axe_source) -> Visits:
    return Visits(browser, server, axe_source)


def by_page(pages: list[str]) -> list:
    """``pages`` as pytest parameters, each in the xdist group of its page, so that all the tests
    of one page run on the same worker (``--dist loadgroup``) and share its visit."""
    return [pytest.param(rel, id=rel, marks=pytest.mark.xdist_group(rel)) for rel in pages]


@functools.cache
def _pages_longest_first() -> tuple[str, ...]:
    return tuple(sorted(content_pages(), key=len, reverse=True))


def page_of(nodeid: str) -> str:
    """The xdist group of a test, from its id: the page in its parameters, "search" for the
    searches, else the test itself (by_page's groups, as the controller sees them)."""
    params = nodeid.partition("[")[2].removesuffix("]")
    if "::test_search_finds_each_chapter[" in nodeid:
        return "search"
    for rel in _pages_longest_first():
        if params == rel or params.startswith(rel + "-") or params.endswith("-" + rel):
            return rel
    return nodeid


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` as xdist means it: pytest-xdist 3.8 puts a test's group in
    ``item._nodeid``, which pytest 9 no longer reads, so its loadgroup hands out tests one by one
    and every worker would visit every page. This scheduler hands out the groups of page_of."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByPage(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return page_of(nodeid)

    return ByPage(config, log)

