# Two commands do all set-up on a fresh machine (Python 3.11 and the package registries):
#   make book   create .venv, install everything pinned, execute the notebooks (cached), build _build/html
#   make test   library tests + every notebook under nbval + a headless-browser check of the built pages
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := book

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# One thread per BLAS / torch pool: the book's tensors are small, and on a 2-core machine with
# other work running, thread pools oversubscribe and run 10-100x slower. Also makes results
# independent of the core count.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

# Executing notebooks and building the site never needs the network: prove it.
OFFLINE := .ci/offline

.PHONY: book lab colab test test-lib test-install test-notebooks test-browser test-lab test-portable bench refresh lint clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(LINK_LABEXT)
	touch $@

# Build the site: notebooks are executed through jupyter-cache and re-run only when they change,
# one per core at a time (tools/execute_notebooks.py), then the build renders from the cache.
book: $(STAMP)
	$(OFFLINE) $(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)
	$(OFFLINE) $(BIN)/jupyter-book build . --builder html --warningiserror --nitpick --keep-going
	touch $(BUILT)
	@echo "Open _build/html/index.html"

# The tests read the built book: `make book` runs again only when a source is newer than the last
# successful build (an up-to-date rebuild still costs about 10 s).
BUILT := _build/html/.built
BOOK_SOURCES := $(NOTEBOOKS) _config.yml _toc.yml tools/execute_notebooks.py \
  $(shell find book colab -type f 2>/dev/null)
$(BUILT): $(STAMP) $(BOOK_SOURCES)
	$(MAKE) --no-print-directory book

# JupyterLab renders the notebooks' MyST with jupyterlab-myst (requirements.txt) and the book's
# small extension tools/labextension (citations, the book's figure and equation numbers).
LINK_LABEXT = mkdir -p $(VENV)/share/jupyter/labextensions && \
  ln -sfn $(CURDIR)/tools/labextension $(VENV)/share/jupyter/labextensions/optbook-lab
lab: $(STAMP)
	$(LINK_LABEXT)
	$(BIN)/jupyter lab notebooks/

# Colab copies of the notebooks (CommonMark + HTML; see tools/colab.py) and the data of the
# JupyterLab extension. Run after editing a notebook; tests/test_colab.py checks they are in step.
colab: $(STAMP)
	$(BIN)/python tools/colab.py

# The clean-install test mostly waits on the package registry (about 10 s of CPU in 25-45 s), so
# it runs in the background while the others run; its output comes at the end. The browser tests
# start in the JupyterLab test's tail (its last notebook running, a core free: it creates
# $$tail), and their output follows the JupyterLab test's.
test: lint
	log=$$(mktemp); $(MAKE) --no-print-directory test-install > $$log 2>&1 & install=$$!; \
	status=0; $(MAKE) --no-print-directory test-lib test-notebooks || status=$$?; \
	tail=$$(mktemp -u); blog=$$(mktemp); \
	OPTBOOK_LAB_TAIL_FILE=$$tail $(MAKE) --no-print-directory test-lab & lab=$$!; \
	while [ ! -e $$tail ] && kill -0 $$lab 2>/dev/null; do sleep 1; done; \
	$(MAKE) --no-print-directory test-browser > $$blog 2>&1 || status=$$?; \
	wait $$lab || status=$$?; echo "--- test-browser (started in the JupyterLab test's tail):"; \
	cat $$blog; wait $$install || status=$$?; echo "--- test-install (ran in the background):"; \
	cat $$log; rm -f $$log $$blog $$tail; exit $$status

test-lib: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests --ignore=tests/browser --ignore=tests/lab \
	  --ignore=tests/notebooks --ignore=tests/install

# optbook from pyproject.toml alone: a clean venv outside the repository, a non-editable install,
# every module imported, every direct import declared (needs the package registry).
test-install: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/install

# The notebooks in a real JupyterLab driven from headless Chromium: prose rendered, every cell
# run without errors, every live figure answers its slider (tests/lab/test_jupyterlab.py).
# The kernels run on AVX2 kernels (torch, MKL, oneDNN): this second execution of every notebook,
# hidden checks included, is also the portability check of `make test` (see test-portable).
test-lab: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
	  $(OFFLINE) $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/lab

# `make book` ran every notebook in a fresh kernel (a failing hidden check fails the build); this
# compares the cells marked NBVAL_CHECK_OUTPUT with that run, as nbval-lax would with a second one.
test-notebooks: $(BUILT)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/notebooks

# The notebooks again, as other CPUs would compute them: torch, MKL and oneDNN restricted to AVX2
# kernels, then torch's plain (unvectorised) kernels. Float32 rounding then differs from this
# machine's; a checked output or a claim that fails here is too fragile for another CI machine.
# `make test` runs the AVX2 path once, in JupyterLab (test-lab); run this after adding a notebook.
NBVAL := $(BIN)/python -m pytest -q -n 2 --dist loadfile --nbval-lax -p no:cacheprovider
test-portable: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
	  $(OFFLINE) $(NBVAL) $(NOTEBOOKS)
	ATEN_CPU_CAPABILITY=default $(OFFLINE) $(NBVAL) $(NOTEBOOKS)

# Test-only JavaScript (axe-core for the accessibility audit), pinned by package-lock.json and
# installed from the npm registry at set-up time; the tests themselves read it from node_modules.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-browser: $(BUILT) $(NODE_STAMP)
	$(OFFLINE) $(BIN)/python -m pytest -q -n 2 --dist loadgroup tests/browser

# Prints the speed table and rewrites book/performance_table.md, which the book's Performance page
# shows. Needs the built book: its last row times a rebuild from the execution cache.
bench: book
	$(OFFLINE) $(BIN)/python benchmarks/run.py --markdown book/performance_table.md

# After editing a notebook: execute it, then strip all outputs except those of cells whose
# metadata says keep_output (the NBVAL_CHECK_OUTPUT cells), so diffs stay readable. Execution
# counts stay: nbval only compares the outputs of cells that have one.
refresh: $(STAMP)
	for nb in $(NOTEBOOKS); do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb"; \
	  $(BIN)/nbstripout --keep-id --keep-count "$$nb"; \
	done

lint: $(STAMP)
	$(BIN)/ruff check lib tests benchmarks notebooks tools

clean:
	rm -rf _build .jupyter_cache
