"""Drive a real JupyterLab from headless Chromium: the notebooks as a reader of `make lab` or
Binder meets them.

Shared by ``tests/lab/test_jupyterlab.py`` (rendered prose, run all cells, sliders answer) and
``benchmarks/run.py`` (round trip from a key press on a slider to the new image in the page).

JupyterLab is started from the project's ``.venv`` on loopback, without a token, with its own
config, runtime, settings and workspace directories (the reader's own settings play no part).
Settings written there: every cell rendered (``windowingMode: none``, otherwise JupyterLab 4 only
renders the cells in view) and no "official Jupyter news" toast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JUPYTER = Path(sys.executable).parent / "jupyter"
LABEXT_NAME = "optbook-lab"
CHROMIUM = os.environ.get("OPTBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(timeout: float = 90.0):
    """Start JupyterLab on a copy of ``notebooks/`` (served as ``notebooks/...``; running cells
    in a browser must never write outputs into the sources, and autosave is off too); yield
    (its base URL, the served copy's root); stop it (and its kernels) after."""
    tmp = Path(tempfile.mkdtemp(prefix="optbook-lab-"))
    root = tmp / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for rel, value in SETTINGS.items():
        path = tmp / "settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    # The book's own small extension (tools/labextension): `make lab` and Binder link it into the
    # environment; where that link is missing, JUPYTER_PATH points JupyterLab at it.
    extra_path = []
    if not (Path(sys.prefix) / "share/jupyter/labextensions" / LABEXT_NAME).exists():
        (tmp / "data/labextensions").mkdir(parents=True)
        (tmp / "data/labextensions" / LABEXT_NAME).symlink_to(ROOT / "tools/labextension")
        extra_path = [str(tmp / "data")]
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_DATA_DIR=str(tmp / "userdata"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    if extra_path:
        env["JUPYTER_PATH"] = os.pathsep.join(extra_path + [env.get("JUPYTER_PATH", "")]).strip(
            os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    port = _free_port()
    cmd = [str(JUPYTER), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (tmp / "server.log").read_text()[-3000:]) from None
                time.sleep(0.3)
        yield url, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def chromium():
    """A headless Chromium (Debian's, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium`")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_notebook(browser, url: str, rel: str, timeout: float = 60.0):
    """Open ``rel`` (path relative to the server root) in JupyterLab; wait until every markdown
    cell is rendered and the kernel is idle. Returns the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(timeout * 1000)
    # A workspace of its own per notebook, reset: a second page must not restore the first's tabs.
    workspace = re.sub(r"\W", "-", Path(rel).stem)
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{rel}?reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", state="attached")
    page.wait_for_function("""() => {
        const app = window.jupyterapp; const w = app && app.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return k && k.status === 'idle';
    }""")
    # jupyterlab-myst renders a notebook's markdown once all its cells are there; wait until no
    # markdown cell is left unrendered and the rendering has settled.
    page.wait_for_function("""() => {
        const md = document.querySelectorAll('.jp-NotebookPanel .jp-MarkdownCell');
        return md.length > 0 && [...md].every(c => c.classList.contains('jp-mod-rendered'));
    }""")
    page.wait_for_timeout(1500)
    return page


def open_all_details(page) -> None:
    """Unfold every collapsed block (solutions), so that their text can be read too."""
    page.eval_on_selector_all(".jp-NotebookPanel .jp-MarkdownCell details",
                              "els => els.forEach(d => { d.open = true; })")


def markdown_text(page) -> list[str]:
    """The rendered text of every markdown cell, in order (what a reader sees; the text inside
    collapsed blocks only once they are open: see ``open_all_details``)."""
    return page.eval_on_selector_all(
        ".jp-NotebookPanel .jp-MarkdownCell .jp-Cell-inputArea > .myst, "
        ".jp-NotebookPanel .jp-MarkdownCell .jp-RenderedMarkdown",
        "els => els.map(e => e.innerText)")


def start_run_all(page) -> None:
    """Ask JupyterLab to run every cell (returns at once)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_timeout(300)


def wait_until_done(page, timeout: float = 300.0) -> None:
    """Wait until the kernel is idle and no cell waits or runs."""
    page.wait_for_function("""() => {
        const w = window.jupyterapp.shell.currentWidget;
        const k = w.sessionContext.session && w.sessionContext.session.kernel;
        if (!k || k.status !== 'idle') return false;
        const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-InputPrompt')];
        return !prompts.some(p => p.textContent.includes('*'));
    }""", timeout=timeout * 1000, polling=250)


def run_all(page, timeout: float = 300.0) -> float:
    """Run every cell and wait until done; the seconds it took."""
    t0 = time.perf_counter()
    start_run_all(page)
    wait_until_done(page, timeout)
    return time.perf_counter() - t0


def close_notebook(page) -> None:
    """Shut the notebook's kernel down and close the page."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    page.close()


def error_outputs(page) -> list[str]:
    return page.eval_on_selector_all(
        '.jp-NotebookPanel [data-mime-type="application/vnd.jupyter.error"]',
        "els => els.map(e => e.innerText.slice(0, 2000))")


# Every live figure (LiveFigure.widget) is a VBox whose first child holds the sliders and whose
# last child is the image the kernel redraws.
_LIVE_FIGURES = """() => [...document.querySelectorAll('.jp-NotebookPanel .widget-vbox')]
    .filter(v => v.querySelector(':scope > .widget-hbox .noUi-handle')
                 && v.querySelector(':scope > .widget-image'))"""


def count_live_figures(page) -> int:
    return page.evaluate(f"() => ({_LIVE_FIGURES})().length")


def slider_round_trip(page, index: int, timeout_ms: float = 10_000,
                      key: str = "ArrowRight") -> float | None:
    """Focus the first slider handle of live figure ``index``, press ``key`` and return the
    milliseconds until that figure's image shows a new picture (``None`` when it never changes).
    Timed in the page: from the key event to the image's ``load`` event with the new source."""
    page.evaluate(f"""(i) => {{
        const fig = ({_LIVE_FIGURES})()[i];
        const img = fig.querySelector(':scope > .widget-image');
        const handle = fig.querySelector('.noUi-handle');
        handle.scrollIntoView({{block: 'center'}});
        window.__optbookTrip = {{done: null, start: null, src: img.src}};
        handle.addEventListener('keydown', () => {{ window.__optbookTrip.start = performance.now(); }},
                                {{once: true, capture: true}});
        const onload = () => {{
            if (img.src !== window.__optbookTrip.src && window.__optbookTrip.start !== null) {{
                window.__optbookTrip.done = performance.now();
                img.removeEventListener('load', onload);
            }}
        }};
        img.addEventListener('load', onload);
        handle.focus();
    }}""", index)
    # Let the page settle after scrolling (a reader's hand takes longer than this to reach a key).
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(250)
    page.keyboard.press(key)
    try:
        page.wait_for_function("() => window.__optbookTrip.done !== null", timeout=timeout_ms,
                               polling="raf")
    except Exception:  # playwright's TimeoutError: the image never changed
        return None
    return page.evaluate("() => window.__optbookTrip.done - window.__optbookTrip.start")


def notebooks() -> list[str]:
    """Every chapter notebook, as the path JupyterLab serves it under."""
    return sorted(f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb"))
