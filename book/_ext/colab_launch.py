"""The Colab launch button opens the page's Colab copy (``colab/<name>.ipynb``, made by
``make colab``), not the MyST source in ``notebooks/``, which Colab cannot render.

sphinx-book-theme builds its launch buttons in an ``html-page-context`` handler (priority 501)
as ``{colab_url}/github/{org}/{repo}/blob/{branch}/{path of the page's notebook}``. This handler
runs after it and points the Colab link at ``colab/`` when that copy exists; Binder and Thebe
keep the source notebook (JupyterLab renders its MyST with jupyterlab-myst).
"""

from pathlib import Path


def point_colab_at_copy(app, pagename, templatename, context, doctree):
    if not pagename.startswith("notebooks/"):
        return
    name = pagename.split("/", 1)[1] + ".ipynb"
    if not (Path(app.srcdir) / "colab" / name).exists():
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                button["url"] = button["url"].replace(f"/{pagename}.ipynb", f"/colab/{name}")


def setup(app):
    app.connect("html-page-context", point_colab_at_copy, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
