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


# In-page state of the notebook a page shows (window.__optbook): its panel, when its DOM last
# changed, and its run-all command. A page shows one notebook at a time, so the selectors below
# (`.jp-NotebookPanel ...`) and JupyterLab's "current notebook" are that notebook's.
_OPEN_JS = """(rel) => {
    const app = window.jupyterapp;
    const st = window.__optbook = {rel, panel: null, error: null, lastChange: performance.now(),
                                   run: null};
    app.commands.execute('docmanager:open', {path: rel, factory: 'Notebook'}).then(w => {
        st.panel = w;
        new MutationObserver(() => { st.lastChange = performance.now(); }).observe(
            w.node, {childList: true, subtree: true, characterData: true, attributes: true});
        st.lastChange = performance.now();
    }, e => { st.error = String(e); });
}"""

# What the page shows of its notebook: opened, kernel idle, every markdown cell rendered, the
# milliseconds since its DOM last changed, how its run-all went (and the seconds from the command
# to its last cell's reply), cells still waiting or running,
# widget outputs not rendered yet, and how many notebook panels the page holds.
_STATE_JS = """() => {
    const st = window.__optbook;
    if (!st) return null;
    const w = st.panel;
    const out = {error: st.error, opened: !!w, run: st.run,
                 run_seconds: st.runEnd ? (st.runEnd - st.runStart) / 1000 : null,
                 panels: document.querySelectorAll('.jp-NotebookPanel').length};
    if (!w) return out;
    const k = w.sessionContext.session && w.sessionContext.session.kernel;
    out.idle = !!k && k.status === 'idle';
    if (st.run === 'running') return out;  // nothing more to know until its command returns
    const md = [...w.node.querySelectorAll('.jp-MarkdownCell')];
    out.rendered = md.length > 0 && md.every(c => c.classList.contains('jp-mod-rendered'));
    out.quiet_ms = performance.now() - st.lastChange;
    out.busy_cells = [...w.node.querySelectorAll('.jp-InputPrompt')]
        .filter(p => p.textContent.includes('*')).length;
    if (st.run !== 'done') return out;
    let views = 0;  // widget outputs in the notebook's model, to compare with the views shown
    for (const cell of w.content.widgets) {
        if (cell.model.type !== 'code') continue;
        const outputs = cell.model.outputs;
        for (let i = 0; i < outputs.length; i++) {
            const data = outputs.get(i).data;
            if (data && data['application/vnd.jupyter.widget-view+json']) views++;
        }
    }
    out.widgets_pending = views - w.node.querySelectorAll(
        '.jp-OutputArea-output > .jupyter-widgets').length;
    return out;
}"""

# How long a notebook's DOM must stay unchanged, once every markdown cell is rendered, before
# its prose is read: jupyterlab-myst, MathJax and the optbook-lab extension keep rewriting the
# rendered cells for a moment after they are marked rendered.
SETTLE_MS = 750


_APP_READY_JS = """() => {
    const app = window.jupyterapp;
    if (!app || !app.commands.hasCommand('docmanager:open')) return false;
    if (!window.__optbookRestored) {
        window.__optbookRestored = 'waiting';
        app.restored.then(() => {
            for (const w of [...app.shell.widgets('main')]) w.dispose();  // the Launcher
            window.__optbookRestored = 'yes';
        });
    }
    return window.__optbookRestored === 'yes';
}"""


def lab_page(browser, url: str, name: str, timeout: float = 60.0, wait: bool = True):
    """A new page with JupyterLab loaded on a fresh workspace of its own (``name``): no notebook
    open yet (the empty workspace's Launcher is closed). Notebooks are opened in it with
    ``begin_open``: the app loads once per page, not once per notebook. ``wait=False``: return
    as soon as the page starts loading (then ``app_ready`` says when it has)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(timeout * 1000)
    page.goto(f"{url}/lab/workspaces/{re.sub(r'[^A-Za-z0-9_-]', '-', name)}?reset",
              wait_until="load" if wait else "commit")
    if wait:
        page.wait_for_function(_APP_READY_JS)
    return page


def app_ready(page) -> bool:
    """Whether JupyterLab has loaded and restored its workspace in ``page``."""
    from playwright.sync_api import Error

    try:
        return page.evaluate(_APP_READY_JS)
    except Error:  # the page is still navigating
        return False


def begin_open(page, rel: str) -> None:
    """Ask JupyterLab in ``page`` (a ``lab_page`` showing no notebook) to open ``rel`` (path
    relative to the server root) with its kernel; returns at once (see ``opened``)."""
    page.evaluate(_OPEN_JS, rel)


def state(page) -> dict | None:
    """The page's notebook as ``_STATE_JS`` describes it (None when none was opened)."""
    return page.evaluate(_STATE_JS)


def opened(s: dict | None) -> bool:
    """Whether a notebook in state ``s`` is open and ready to be read and run: kernel idle, every
    markdown cell rendered and the page unchanged for ``SETTLE_MS``. Raises if opening failed or
    the page holds another notebook too (the selectors would read both)."""
    if s and s["error"]:
        raise RuntimeError(f"JupyterLab could not open the notebook: {s['error']}")
    if not (s and s["opened"] and s["idle"] and s["rendered"] and s["quiet_ms"] >= SETTLE_MS):
        return False
    if s["panels"] != 1:
        raise RuntimeError(f"the page shows {s['panels']} notebooks, expected one")
    return True


def wait_opened(page, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not opened(state(page)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"notebook not opened and rendered within {timeout:.0f} s: "
                               f"{state(page)}")
        page.wait_for_timeout(100)


def open_notebook(browser, url: str, rel: str, timeout: float = 60.0):
    """Open ``rel`` (path relative to the server root) in JupyterLab in a page of its own; wait
    until every markdown cell is rendered and settled and the kernel is idle. Returns the page."""
    page = lab_page(browser, url, Path(rel).stem, timeout)
    begin_open(page, rel)
    wait_opened(page, timeout)
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
    """Ask JupyterLab to run every cell of the page's notebook (returns at once; see ``done``)."""
    page.evaluate("""() => {
        const app = window.jupyterapp, st = window.__optbook;
        if (!st || !st.panel || app.shell.currentWidget !== st.panel)
            throw new Error('the notebook to run is not the current widget');
        st.run = 'running';
        st.runStart = performance.now();
        app.commands.execute('notebook:run-all-cells').then(
            () => { st.run = 'done'; st.runEnd = performance.now(); },
            e => { st.run = 'failed: ' + e; });
    }""")


def done(s: dict) -> bool:
    """Whether the run-all started by ``start_run_all`` is over (its command has returned, the
    kernel is idle, no cell waits or runs)."""
    if s["run"] and s["run"].startswith("failed"):
        raise RuntimeError(f"run all cells: {s['run']}")
    return s["run"] == "done" and s["idle"] and not s["busy_cells"]


def widgets_pending(page, timeout: float = 10.0) -> int:
    """Wait (at most ``timeout`` s) until every widget output of the page's notebook shows its
    view (ipywidgets renders them asynchronously); the number still not shown."""
    deadline = time.monotonic() + timeout
    while (n := state(page)["widgets_pending"]) > 0 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return n


def wait_until_done(page, timeout: float = 300.0) -> None:
    """Wait until the run-all started by ``start_run_all`` is over (see ``done``)."""
    deadline = time.monotonic() + timeout
    while not done(state(page)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"run all cells not done within {timeout:.0f} s: {state(page)}")
        page.wait_for_timeout(100)


def run_all(page, timeout: float = 300.0) -> float:
    """Run every cell and wait until done and every widget shown; the seconds it took."""
    t0 = time.perf_counter()
    start_run_all(page)
    wait_until_done(page, timeout)
    widgets_pending(page)
    return time.perf_counter() - t0


def close_in(page, wait: bool = False) -> None:
    """Ask the server to shut the page's notebook's kernel down (``wait``: until it has) and
    close the notebook unsaved (the served copy stays as it was); the page can open another."""
    page.evaluate("""async (wait) => {
        const w = window.__optbook && window.__optbook.panel;
        window.__optbook = null;
        if (!w) return;
        if (wait) {
            await w.sessionContext.shutdown();
        } else if (w.sessionContext.session) {
            // Through the app's session manager, which outlives the notebook closed below.
            window.jupyterapp.serviceManager.sessions.shutdown(w.sessionContext.session.id)
                .catch(e => console.error('optbook: kernel shutdown', e));
        }
        w.context.model.dirty = false;
        w.dispose();
    }""", wait)


def close_notebook(page) -> None:
    """Shut the notebook's kernel down and close the page."""
    close_in(page, wait=True)
    page.close()


def error_outputs(page) -> list[str]:
    """Every error output of the page's notebook (cell number, exception and the end of its
    traceback). Read from the notebook's model: JupyterLab renders an error output with the mime
    type of stderr, so the page cannot tell it from a warning by its mime type."""
    errors = page.evaluate("""() => {
        const st = window.__optbook;
        const w = (st && st.panel) || window.jupyterapp.shell.currentWidget;
        const found = [];
        w.content.widgets.forEach((cell, index) => {
            if (cell.model.type !== 'code') return;
            const outputs = cell.model.outputs;
            for (let i = 0; i < outputs.length; i++) {
                const o = outputs.get(i).toJSON();
                if (o.output_type === 'error')
                    found.push({index, ename: o.ename, evalue: o.evalue,
                                traceback: (o.traceback || []).join('\\n')});
            }
        });
        return found;
    }""")
    return [f"cell {e['index']}: {e['ename']}: {e['evalue']}\n"
            + re.sub(r"\x1b\[[0-9;]*m", "", e["traceback"])[-2000:] for e in errors]


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
