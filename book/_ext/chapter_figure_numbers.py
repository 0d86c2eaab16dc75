"""Number figures, tables and listings per chapter: "Fig. 8.5.3", not "Fig. 37".

Sphinx numbers captioned figures book-wide unless the table of contents is ``numbered``, and a
numbered table of contents would also prefix every heading with its own count (1, 2, ...),
which is not the book's 8.1 ... 8.7. So this extension keeps Sphinx's order and restarts the
count on every page, prefixed with the section number in the page's file name
(``notebooks/08_5_adaptive_learning_rates`` gives 8.5.1, 8.5.2, ...). A page whose name
carries no section number counts 1, 2, ... on its own. Cross-references ({numref}) and captions
both read these numbers.
"""

import re

_SECTION = re.compile(r"(?:^|/)(\d+)_(\d+)_[^/]*$")


def chapter_prefix(docname: str) -> tuple[int, ...]:
    """``(8, 5)`` for ``notebooks/08_5_adaptive_learning_rates``; ``()`` when there is none."""
    m = _SECTION.search(docname)
    return (int(m[1]), int(m[2])) if m else ()


def renumber(app, env):
    # Runs after Sphinx's TocTreeCollector has numbered everything book-wide (priority 500).
    for docname, by_type in env.toc_fignumbers.items():
        prefix = chapter_prefix(docname)
        for numbers in by_type.values():
            for k, fig_id in enumerate(sorted(numbers, key=numbers.get), start=1):
                numbers[fig_id] = (*prefix, k)
    return []


def setup(app):
    app.connect("env-get-updated", renumber, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
