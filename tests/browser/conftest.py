"""Shared by the browser tests: the built book served over HTTP, one headless Chromium, the list
of pages, and a page loader that records console errors and failed requests.

The tests import the helpers with ``from conftest import ...`` (pytest puts this folder on
``sys.path``); the ``server`` and ``browser`` fixtures are found by pytest itself.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
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


def transfer_bytes(browser, url, **kw) -> tuple[int, list[tuple[int, str]]]:
    """What a first visit to ``url`` downloads (empty cache, 2x screen unless told): the sum of
    every response's body as sent (compressed where the server compresses) and headers, and the
    per-URL sizes, largest first."""
    kw.setdefault("device_scale_factor", 2)
    page, _ = open_page(browser, url, **kw)
    try:
        # every image, including those below the fold, and MathJax's fonts
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.wait_for_load_state("networkidle")
        rows = []
        for response in page._optbook_responses:
            sizes = response.request.sizes()
            rows.append((sizes["responseBodySize"] + sizes["responseHeadersSize"], response.url))
    finally:
        page.close()
    rows.sort(reverse=True)
    return sum(n for n, _ in rows), rows


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
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, problems


def fail_with_screenshot(page, rel, problems, suffix=""):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / (rel.replace("/", "__") + suffix + ".png")
    page.screenshot(path=str(shot), full_page=True)
    pytest.fail(f"{rel}: " + "; ".join(problems) + f" (screenshot: {shot})")
