"""Notebooks Colab can show, generated from the book's MyST notebooks (``make colab``).

Colab renders CommonMark + HTML only: the MyST of ``notebooks/*.ipynb`` (roles, directives,
labels) shows there as raw markup. This script writes one notebook per chapter notebook into
``colab/``, with the same code cells and the markdown rewritten:

* ``{cite:t}`k``` / ``{cite:p}`k``` -> author-year text from ``book/references.bib``, in the
  book's style (``Goodfellow et al. [2016]``, ``[Goodfellow et al., 2016]``);
* ``{numref}`` / ``{eq}`` -> the number the published book gives (``Fig. 8.3.2``, ``(8.3.1)``;
  per-section numbering as ``book/_ext/chapter_figure_numbers.py`` does), as a link into the
  published book when the target is on another page; ``{ref}`` / ``{doc}`` -> the target's title,
  linked into the published book;
* ``$$ ... $$ (eq-x)`` -> ``$$ ... \\tag{8.3.1} $$``; ``(label)=`` lines are dropped;
* admonitions -> blockquotes with a bold title; ``:class: dropdown`` (the exercise solutions)
  -> ``<details>``, collapsed until clicked;
* ``{glue:figure}`` -> a sentence naming the figure above and its caption; a figure made by a
  code cell (caption in the cell's ``mystnb.figure`` metadata) gets its caption in a markdown
  cell right after it.

Code cells are copied unchanged (ids, tags and sources), so what runs on Colab is what the tests
run. The hidden checks (cells tagged ``remove-cell``) stay: they are the claims' evidence, run in a
second, and fail loudly if a claim does not hold on Colab's CPU; they are folded on Colab
(``#@title`` + ``cellView: form``). A first cell installs optbook from the repository when it is
missing (Colab), and does nothing where it is installed.

The published book's address is ``_config.yml``'s ``html.baseurl`` when set, otherwise the GitHub
Pages address of ``repository.url`` (where ``.github/workflows/book.yml`` publishes it).

The same pass writes ``tools/labextension/static/book.json`` (citations, figure and equation
numbers, glue captions), which the small JupyterLab extension in ``tools/labextension`` uses to
finish what jupyterlab-myst cannot resolve inside one notebook (see its README).

Usage: ``python tools/colab.py`` (writes), ``python tools/colab.py --check`` (exit 1 when the
committed files differ from what the sources give).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "colab"
BIB = ROOT / "book" / "references.bib"
LAB_DATA = ROOT / "tools" / "labextension" / "static" / "book.json"

_SECTION = re.compile(r"^(\d+)_(\d+)_")
_ROLE = re.compile(r"\{(cite:t|cite:p|cite|numref|eq|ref|doc)\}`([^`]*)`")
_LABEL_LINE = re.compile(r"^\(([^()\s]+)\)=\s*$")
_EQ_LABEL = re.compile(r"^(\s*)\$\$\s*\(([^()\s]+)\)\s*$")
_DIRECTIVE = re.compile(r"^(\s*)(`{3,}|:{3,})\{([\w:-]+)\}\s*(.*?)\s*$")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_OPTION = re.compile(r"^\s*:([\w-]+):\s*(.*?)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


# --------------------------------------------------------------------------- configuration
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def repository() -> tuple[str, str]:
    """(``https://github.com/org/repo``, branch) from ``_config.yml``."""
    repo = config().get("repository", {})
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def book_url() -> str:
    """Base URL of the published book, ending in ``/``."""
    base = (config().get("html") or {}).get("baseurl") or ""
    if base:
        return base.rstrip("/") + "/"
    url, _ = repository()
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?", url)
    if not m:
        raise ValueError(f"set html.baseurl in _config.yml: cannot derive a Pages URL from {url}")
    return f"https://{m[1].lower()}.github.io/{m[2]}/"


# --------------------------------------------------------------------------- citations
def citations(bib: Path = BIB) -> dict[str, dict[str, str]]:
    """``{key: {"author": "Goodfellow et al.", "year": "2016"}}`` for every entry of ``bib``:
    last names of one or two authors (``A and B``), the first author's and "et al." for more,
    as sphinxcontrib-bibtex's author-year style labels them."""
    from pybtex.backends.plaintext import Backend
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    text = Backend()  # render_as("text") would look the backend up among the entry points each call

    def plain(latex: str) -> str:
        return Text.from_latex(latex).render(text).strip()

    out = {}
    for key, entry in parse_file(str(bib)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        if not names:
            author = plain(entry.fields.get("organization", entry.fields.get("title", key)))
        elif len(names) == 1:
            author = names[0]
        elif len(names) == 2:
            author = f"{names[0]} and {names[1]}"
        else:
            author = f"{names[0]} et al."
        out[key] = {"author": author, "year": plain(entry.fields.get("year", "n.d."))}
    return out


def cite_text(kind: str, keys: list[str], cites: dict) -> str:
    for k in keys:
        if k not in cites:
            raise KeyError(f"citation key {k!r} is not in {BIB.relative_to(ROOT)}")
    if kind == "cite:t":
        return "; ".join(f"{cites[k]['author']} [{cites[k]['year']}]" for k in keys)
    return "[" + "; ".join(f"{cites[k]['author']}, {cites[k]['year']}" for k in keys) + "]"


# --------------------------------------------------------------------------- targets
@dataclass
class Target:
    kind: str  # "figure", "equation", "section", "document"
    doc: str  # "notebooks/08_3_basic_algorithms"
    number: str = ""  # "8.3.2"
    title: str = ""  # a section's or document's title

    def text(self) -> str:
        if self.kind == "figure":
            return f"Fig. {self.number}"
        if self.kind == "equation":
            return f"({self.number})"
        return self.title


def chapter_prefix(name: str) -> str:
    m = _SECTION.match(name)
    return f"{int(m[1])}.{int(m[2])}." if m else ""


def _cells(nb_path: Path) -> list[dict]:
    return json.loads(nb_path.read_text())["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _shows_figure(cell: dict) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    fig = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
    return bool(fig.get("caption")) and not {"remove-cell", "remove-output"} & set(tags)


def targets(notebooks: list[Path]) -> dict[str, Target]:
    """Every label the notebooks define, with the number or title the book gives it. Figures
    and equations are counted per page in document order, prefixed with the section number of
    the file name (as ``book/_ext/chapter_figure_numbers.py`` renumbers Sphinx's counts)."""
    index: dict[str, Target] = {}
    for path in notebooks:
        doc = f"notebooks/{path.stem}"
        prefix = chapter_prefix(path.name)
        n_fig = n_eq = 0
        pending: list[str] = []  # (label)= lines waiting for their heading
        title = ""
        for cell in _cells(path):
            if cell["cell_type"] == "code":
                if _shows_figure(cell):
                    n_fig += 1
                    name = cell["metadata"]["mystnb"]["figure"].get("name")
                    if name:
                        index[name] = Target("figure", doc, f"{prefix}{n_fig}")
                continue
            if cell["cell_type"] != "markdown":
                continue
            for line in _source(cell).splitlines():
                if m := _LABEL_LINE.match(line):
                    pending.append(m[1])
                elif m := _HEADING.match(line):
                    text = _inline_plain(m[2])
                    title = title or text
                    for label in pending:
                        index[label] = Target("section", doc, title=text)
                    pending = []
                elif m := _EQ_LABEL.match(line):
                    n_eq += 1
                    index[m[2]] = Target("equation", doc, f"{prefix}{n_eq}")
                elif (m := _DIRECTIVE.match(line)) and m[3] == "glue:figure":
                    n_fig += 1
                    index[m[4]] = Target("figure", doc, f"{prefix}{n_fig}")
        index[doc] = Target("document", doc, title=title)
    return index


def _inline_plain(text: str) -> str:
    return re.sub(r"[*_`]", "", text).strip()


# --------------------------------------------------------------------------- conversion
class Converter:
    def __init__(self, doc: str, index: dict[str, Target], cites: dict, base: str):
        self.doc, self.index, self.cites, self.base = doc, index, cites, base

    def link(self, label: str, target: Target) -> str:
        page = f"{self.base}{target.doc}.html"
        if target.kind == "document":
            return page
        # Sphinx's anchor of a labelled equation is "equation-<label>"; of the others, the label.
        return f"{page}#equation-{label}" if target.kind == "equation" else f"{page}#{label}"

    def role(self, m: re.Match) -> str:
        name, content = m[1], m[2]
        if name.startswith("cite"):
            keys = [k.strip() for k in content.split(",") if k.strip()]
            return cite_text("cite:t" if name == "cite:t" else "cite:p", keys, self.cites)
        explicit = re.fullmatch(r"(.*?)\s*<([^<>]+)>", content, re.S)
        text, label = (explicit[1], explicit[2]) if explicit else (None, content.strip())
        if name == "doc":
            label = "notebooks/" + label.split("/")[-1].removesuffix(".ipynb")
        target = self.index.get(label)
        if target is None:
            raise KeyError(f"{self.doc}: {{{name}}}`{content}` names no label the notebooks define")
        shown = target.text()
        if text:
            shown = text.replace("%s", target.number) if name == "numref" else text
        if name in ("numref", "eq") and target.doc == self.doc:
            return shown  # the figure or equation is on this very page
        return f"[{shown}]({self.link(label, target)})"

    def inline(self, text: str) -> str:
        return _ROLE.sub(self.role, text)

    def glue_sentence(self, name: str, caption: str) -> str:
        target = self.index[name]
        return (f"**{target.text()}** (above: the figure precomputed for a grid of values, which "
                f"the scrubber's controls step through; the live sliders further up answer once "
                f"their cell has run). "
                + self.inline(" ".join(caption.split())))

    def block(self, lines: list[str]) -> list[str]:
        """Convert MyST block syntax in ``lines`` (one markdown cell or a directive's body)."""
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if _LABEL_LINE.match(line):
                i += 1
                continue
            if m := _DIRECTIVE.match(line):
                indent, fence, name, arg = m[1], m[2], m[3], m[4]
                j = i + 1
                closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
                while j < len(lines) and not closing.match(lines[j]):
                    j += 1
                body = lines[i + 1:j]
                options = {}
                while body and (o := _OPTION.match(body[0])):
                    options[o[1]] = o[2]
                    body = body[1:]
                out.extend(self.directive(name, arg, options, body, indent))
                i = j + 1
                continue
            if m := _FENCE.match(line):  # a code block: copied verbatim
                j = i + 1
                closing = re.compile(rf"^\s*{re.escape(m[2][0])}{{{len(m[2])},}}\s*$")
                while j < len(lines) and not closing.match(lines[j]):
                    j += 1
                out.extend(lines[i:j + 1])
                i = j + 1
                continue
            if line.lstrip().startswith("$$"):  # display math: tag labelled equations
                j = i
                if "$$" not in line.strip()[2:]:  # not a one-line block: find its closing $$
                    j = i + 1
                    while j < len(lines) and not lines[j].lstrip().startswith("$$"):
                        j += 1
                math = lines[i:j + 1]
                if math and (e := _EQ_LABEL.match(math[-1])):
                    number = self.index[e[2]].number
                    math = math[:-1] + [f"{e[1]}\\tag{{{number}}}", f"{e[1]}$$"]
                out.extend(math)
                i = j + 1
                continue
            out.append(self.inline(line))
            i += 1
        return out

    def directive(self, name, arg, options, body, indent) -> list[str]:
        body = self.block(body)
        while body and not body[0].strip():
            body = body[1:]
        while body and not body[-1].strip():
            body = body[:-1]
        if name == "glue:figure":
            return [indent + self.glue_sentence(arg, "\n".join(body))]
        if name in ("admonition", "note", "tip", "warning", "important", "caution", "hint",
                    "seealso", "attention", "danger", "error"):
            title = self.inline(arg) if name == "admonition" else name.capitalize()
            if "dropdown" in options.get("class", "").split():
                return [f"{indent}<details>", f"{indent}<summary>{_html_inline(title)}</summary>", "",
                        *body, "", f"{indent}</details>"]
            quoted = [f"> **{title}**", ">"] + [f"> {b}".rstrip() for b in body]
            return [indent + q for q in quoted]
        raise ValueError(f"{self.doc}: no CommonMark form for the directive {{{name}}}")


def _html_inline(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<![*\w])\*(.+?)\*(?!\w)", r"<i>\1</i>", text)


INSTALL_CELL = """\
# Colab: install the book's library from its repository (about a minute); where optbook is
# already installed (a clone with `make lab`, Binder) this cell does nothing.
import importlib.util

if importlib.util.find_spec("optbook") is None:
    %pip install --quiet git+{repo}"""

CHECK_TITLE = "#@title Hidden check of the claims above (the book hides it; run it to verify them)"


def convert(path: Path, index: dict[str, Target], cites: dict, base: str) -> dict:
    """The Colab notebook for ``path`` (a dict in nbformat 4)."""
    nb = json.loads(path.read_text())
    conv = Converter(f"notebooks/{path.stem}", index, cites, base)
    repo, _ = repository()
    cells = [{
        "cell_type": "code", "execution_count": None, "id": "colab-install",
        "metadata": {"tags": ["colab-install"]}, "outputs": [],
        "source": INSTALL_CELL.format(repo=repo),
    }]
    title = index[conv.doc].title
    cells.append({"cell_type": "markdown", "id": "colab-origin", "metadata": {}, "source": (
        f"*This is the Colab copy of [{title}]({base}{conv.doc}.html), generated from "
        f"`notebooks/{path.name}` by `make colab`; the published book has the same text with "
        f"live links.*")})
    for cell in nb["cells"]:
        cell = copy.deepcopy(cell)
        src = _source(cell)
        if cell["cell_type"] == "markdown":
            cell["source"] = "\n".join(conv.block(src.split("\n")))
            cells.append(cell)
            continue
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if "remove-cell" in cell.get("metadata", {}).get("tags", []):
                cell["source"] = f"{CHECK_TITLE}\n{src}"
                cell["metadata"]["cellView"] = "form"
            else:
                cell["source"] = src
            cells.append(cell)
            if _shows_figure(cell):
                fig = cell["metadata"]["mystnb"]["figure"]
                number = index[fig["name"]].text() if fig.get("name") in index else "Figure"
                cells.append({
                    "cell_type": "markdown", "id": f"{cell['id']}-caption"[:64], "metadata": {},
                    "source": f"**{number}.** " + conv.inline(" ".join(fig["caption"].split()))})
            continue
        cells.append(cell)
    meta = copy.deepcopy(nb.get("metadata", {}))
    meta["colab"] = {"provenance": [], "name": path.name}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def lab_data(notebooks: list[Path], index: dict[str, Target], cites: dict) -> dict:
    """What the JupyterLab extension needs: citations, every label's book number or title,
    and the caption of every glued figure (MyST, rendered there by jupyterlab-myst)."""
    glue = {}
    for path in notebooks:
        for cell in _cells(path):
            if cell["cell_type"] != "markdown":
                continue
            lines = _source(cell).split("\n")
            for i, line in enumerate(lines):
                m = _DIRECTIVE.match(line)
                if m and m[3] == "glue:figure":
                    body, j = [], i + 1
                    while j < len(lines) and not lines[j].strip().startswith(m[2]):
                        if not _OPTION.match(lines[j]):
                            body.append(lines[j])
                        j += 1
                    glue[m[4]] = " ".join(" ".join(body).split())
    labels = {k: {"kind": t.kind, "number": t.number, "title": t.title, "doc": t.doc,
                  "text": t.text()} for k, t in sorted(index.items())}
    return {"generated_by": "tools/colab.py (make colab)", "citations": cites,
            "labels": labels, "glue": glue}


def generate(notebooks: list[Path] | None = None) -> dict[Path, str]:
    """Every file this script writes, path -> text (nothing is written)."""
    notebooks = notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    index, cites, base = targets(notebooks), citations(), book_url()
    files = {OUT / p.name: dumps(convert(p, index, cites, base)) for p in notebooks}
    files[LAB_DATA] = json.dumps(lab_data(notebooks, index, cites), indent=1,
                                 ensure_ascii=False, sort_keys=True) + "\n"
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed files instead of writing them")
    args = parser.parse_args(argv)
    files = generate()
    stale = [p for p in sorted(OUT.glob("*.ipynb")) if p not in files]
    if args.check:
        bad = [p for p, text in files.items() if not p.exists() or p.read_text() != text] + stale
        for p in bad:
            print(f"out of date: {p.relative_to(ROOT)} (run `make colab`)")
        return 1 if bad else 0
    for p in stale:
        p.unlink()
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    print(f"wrote {len(files) - 1} notebooks to {OUT.relative_to(ROOT)}/ and "
          f"{LAB_DATA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
