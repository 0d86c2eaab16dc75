"""Drop repeated <script> entries from every page.

sphinx-thebe 0.3.1 registers its inline configuration script twice, so every page raised
"Identifier 'THEBE_JS_URL' has already been declared" in the browser console. Keeping the
first of each identical script fixes that without touching the extension itself.
"""


def _key(js):
    attributes = getattr(js, "attributes", {}) or {}
    # Inline scripts come with filename None or "" depending on who added them.
    return (getattr(js, "filename", str(js)) or "", tuple(sorted(attributes.items())))


def dedupe_script_files(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = _key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique  # in place: later handlers (MathJax) append to this same list


def setup(app):
    # Early: html-page-context stops at the first handler that returns a template name.
    app.connect("html-page-context", dedupe_script_files, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
