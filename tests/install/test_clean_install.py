"""optbook installs and imports from ``pyproject.toml`` alone, as a Colab reader gets it.

A fresh virtual environment (no system site-packages) outside the repository, a
*non-editable* ``pip install`` of the repository, then every module of the installed package
imported from a folder that is not the repository. Whatever optbook imports but
``pyproject.toml`` does not declare fails here, even when the project's own ``.venv`` has it
through some other package. Versions are held to ``requirements.txt`` (``-c``, constraints
only: nothing is installed that pyproject does not ask for), so torch stays the pinned CPU
build.

Needs the package registry (it installs); ``make test-install`` runs it. About half a minute on a
quiet machine, most of it unpacking torch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
import optbook
found = []
for info in pkgutil.walk_packages(optbook.__path__, "optbook."):
    importlib.import_module(info.name)
    found.append(info.name)
print(json.dumps({"file": optbook.__file__, "modules": found}))
"""


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory):
    where = tmp_path_factory.mktemp("clean-install")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    # --no-compile: byte-compiling every installed file (torch's thousands) is about 15 s of CPU
    # that the test does not need; the imports below compile what they load.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile",
         "-c", str(ROOT / "requirements.txt"), str(ROOT)],
        check=True, cwd=where, env=env,
    )
    return python, where, env


def test_every_module_imports_from_a_non_editable_install(clean_env):
    python, where, env = clean_env
    out = subprocess.run([str(python), "-c", IMPORT_ALL], cwd=where, env=env, check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    installed = Path(result["file"]).resolve()
    assert ROOT not in installed.parents, f"imported the repository's copy {installed}, not the install"
    in_repo = sorted(p.relative_to(ROOT / "lib").with_suffix("").as_posix().replace("/", ".")
                     .removesuffix(".__init__") for p in (ROOT / "lib" / "optbook").rglob("*.py"))
    installed_modules = sorted(result["modules"] + ["optbook"])
    assert installed_modules == in_repo, (
        f"installed but not in lib/optbook: {sorted(set(installed_modules) - set(in_repo))}; "
        f"in lib/optbook but not installed: {sorted(set(in_repo) - set(installed_modules))}")


DIRECT_IMPORTS = r"""
import ast, importlib.metadata, json, pathlib, sys
import optbook
top = set()
for path in pathlib.Path(optbook.__file__).parent.rglob("*.py"):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top.add(node.module.split(".")[0])
top -= set(sys.stdlib_module_names) | {"optbook"}
dists = importlib.metadata.packages_distributions()
print(json.dumps({name: dists.get(name, []) for name in sorted(top)}))
"""

# Imported only inside a ``try: ... except ImportError`` with a fallback, so optional:
# myst_nb (glue a figure for the web book; on Colab the figure is simply displayed).
OPTIONAL = {"myst_nb"}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def test_every_direct_import_is_declared(clean_env):
    """Every third-party module that optbook's source imports (anywhere, lazily too) belongs
    to a distribution named in pyproject's dependencies, not one that arrives only as some
    other package's dependency (scipy came only through scikit-learn before)."""
    python, where, env = clean_env
    out = subprocess.run([str(python), "-c", DIRECT_IMPORTS], cwd=where, env=env, check=True,
                         capture_output=True, text=True)
    imports = json.loads(out.stdout.strip().splitlines()[-1])
    declared = {_norm(re.split(r"[<>=!~; \[]", d, maxsplit=1)[0])
                for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    undeclared = {m: d for m, d in imports.items()
                  if m not in OPTIONAL and not {_norm(x) for x in d} & declared}
    assert not undeclared, f"imported by optbook but not declared in pyproject.toml: {undeclared}"
    assert "scipy" in imports and "torch" in imports  # the scan sees the imports it must


def test_only_declared_distributions_were_installed(clean_env):
    """The environment holds what pyproject declares and their dependencies, nothing the
    project's .venv added: the import test above is therefore a test of the declaration."""
    python, where, env = clean_env
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert declared, "pyproject.toml declares no dependencies"
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], cwd=where, env=env,
                         check=True, capture_output=True, text=True)
    names = {d["name"].lower().replace("_", "-") for d in json.loads(out.stdout)}
    for absent in ("jupyter-book", "nbval", "pytest", "playwright", "ruff"):
        assert absent not in names, f"{absent} is a tool of the repository, not a need of optbook"
