# tlbook's one entry point. Each target sets up .venv itself on a fresh machine.
#
#   make book       build the rendered book into _build/html, its Chinese edition into _build/html/zh_CN
#   make pdf        each edition as one PDF, _build/pdf/tlbook.pdf and tlbook-zh_CN.pdf (headless Chromium)
#   make translations  after changing English text: refresh locale/zh_CN/LC_MESSAGES/*.po (see README)
#   make test       run every test, stopping at the first stage that fails: make lint (seconds),
#                   the fast tier (make unit), the slow tier with the notebooks under nbval,
#                   then the book in headless Chromium (make browser-test)
#   make lint       ruff (lint and format check, one configuration in pyproject.toml) and mypy on src/
#   make grader-deps  Debian's bubblewrap, the grader's sandbox (make test installs it before the slow tier)
#   make unit       the fast tier: everything but the slow end-to-end tests (a minute or two)
#   make notebooks  rebuild every generated notebook from its source (book/, exercises/, examples/)
#   make reproduce  re-measure the strategies study behind the README's main claim (cpu preset, 5 seeds, ~75 min)
#   make benchmark  pipeline speed against the source's loop, and TF padding's cost (ratios)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tlbook-installed
# nbval re-runs the committed notebooks in the smoke preset and compares the
# outputs of cells tagged nbval-check-output.
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with .ci/nbval-sanitize.cfg

.PHONY: setup book translations pdf test lint unit slow notebooks timings browser-test browser-deps grader-deps reproduce benchmark clean

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing tlbook and its dependencies into $(VENV) (about 6 GB with the CUDA build of torch; see README)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on \
	    -c .ci/constraints.txt -e '.[book,test,export]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import tlbook, torch, torchvision, timm, jupyter_book, nbval, hypothesis, ruff, mypy, onnxruntime, onnxscript"
	touch $@

setup: $(STAMP)

book: $(STAMP)
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python tools/editions.py html

# The messages of the English book into the catalogues: new ones untranslated, changed ones fuzzy (with the
# old translation as a draft); it lists what is left to translate. Then edit the .po files.
translations: $(STAMP)
	$(BIN)/python tools/editions.py update

test: $(STAMP)
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) grader-deps
	$(MAKE) slow
	$(MAKE) browser-test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	TLBOOK_PRESET=smoke $(BIN)/python -m pytest -q tests src/tlbook tools _ext -m "not slow" --ignore=tests/browser

# End to end (subprocesses, kernels, torchrun, virtual environments) and every notebook under nbval.
slow: $(STAMP)
	TLBOOK_PRESET=smoke $(BIN)/python -m pytest -q tests $(wildcard book/*.ipynb) $(NBVAL) -m slow \
	    --ignore=tests/browser

# The single-page HTML book, printed to A4 by headless Chromium with local MathJax (tools/print_pdf.py).
pdf: $(STAMP) browser-deps
	rm -rf _build/singlehtml _build/pdf
	$(BIN)/jupyter-book build . --builder singlehtml -n --keep-going
	$(BIN)/python tools/print_pdf.py
	$(BIN)/python tools/editions.py singlehtml
	$(BIN)/python tools/print_pdf.py --site _build/zh_CN/singlehtml --out _build/pdf/tlbook-zh_CN.pdf

# Every chapter re-executed in the cpu preset, one after another in fresh kernels, each one's wall time
# recorded in its notebook; the opening boxes, README and instructors' page quote those records. Run it on
# a quiet machine: a busy one makes every time longer (the records say so).
timings: $(STAMP)
	$(BIN)/python tools/build_notebooks.py --timings
	$(BIN)/python tools/claims.py

# Chapters re-executed in the cpu preset (see make timings for how long), student notebooks, sample submissions.
notebooks: $(STAMP)
	$(BIN)/python tools/build_notebooks.py
	$(BIN)/python tools/make_sample_submissions.py

# The rendered book in headless Chromium: pages load without JavaScript errors,
# figures load, equations are typeset (MathJax served locally); screenshots of
# every page go to _build/screenshots/; the PDF holds every chapter and figure.
browser-test: book pdf browser-deps
	$(BIN)/python -m pytest -q tests/browser

browser-deps:
	@if command -v chromium >/dev/null && test -f /usr/share/javascript/mathjax/MathJax.js && \
	    fc-list :lang=zh | grep -q .; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium, libjs-mathjax and fonts-noto-cjk for the browser test and the PDFs"; \
	    apt-get install -y --no-install-recommends chromium libjs-mathjax fonts-noto-cjk >/dev/null 2>&1 || \
	    (apt-get update >/dev/null && \
	     apt-get install -y --no-install-recommends chromium libjs-mathjax fonts-noto-cjk >/dev/null); \
	else echo "browser test: install Debian's chromium, libjs-mathjax and fonts-noto-cjk (apt-get) to run it"; fi

# The grader runs each submission under bubblewrap (tlbook.sandbox); it refuses to grade without it.
grader-deps:
	@if command -v bwrap >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's bubblewrap for the grader's sandbox"; \
	    apt-get install -y --no-install-recommends bubblewrap >/dev/null 2>&1 || \
	    (apt-get update >/dev/null && apt-get install -y --no-install-recommends bubblewrap >/dev/null); \
	else echo "grader: install Debian's bubblewrap (apt-get install bubblewrap) to grade in a sandbox"; fi

reproduce: $(STAMP)
	$(BIN)/python -m tlbook study strategies --preset cpu --out src/tlbook/results/strategies-cpu.json
	$(BIN)/python tools/claims.py

benchmark: $(STAMP)
	dev=$$($(BIN)/python -c "import torch; print('gpu' if torch.cuda.is_available() else 'cpu')") && \
	$(BIN)/python benchmarks/pipeline_speed.py --out src/tlbook/results/benchmark-efficientnet_lite0-$$dev.json && \
	$(BIN)/python benchmarks/pipeline_speed.py --backbone resnet18 --out src/tlbook/results/benchmark-resnet18-$$dev.json && \
	$(BIN)/python benchmarks/padding_speed.py --out src/tlbook/results/padding-$$dev.json

clean:
	rm -rf _build runs
