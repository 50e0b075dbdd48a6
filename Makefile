# xkd developer tasks. `make help` lists them.
# Everything runs inside .venv (created on first use). torch is installed FIRST and pinned to
# 2.13.0 (see DEVELOPERS.md), so pip never resolves torch>=2.4 to a CUDA build.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.xkd-installed
BROWSER_STAMP := $(VENV)/.xkd-browser
PORT   ?= 8501

.DEFAULT_GOAL := help
.PHONY: help install browser app demo test test-lowest fast check format bench bench-quick clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[app,dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install xkd with app and dev extras (torch first)

$(BROWSER_STAMP):
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }
	mkdir -p $(VENV) && touch $(BROWSER_STAMP)

browser: $(BROWSER_STAMP)  ## install Debian's Chromium for the browser tests

app: install  ## run the app on the built-in offline demo (http://localhost:$(PORT))
	$(VENV)/bin/xkd app --demo --port $(PORT)

demo: install  ## train the offline demo from the command line
	$(VENV)/bin/xkd train --preset demo

test: install browser  ## run every test: unit, slow and browser (the CI command)
	$(PY) -m pytest -q -m "" --timeout=1200

# The lowest transformers pyproject.toml declares, in its own venv: the model, sentence-transformers
# and export tests (loading, classifier teachers, exports reloaded in transformers and
# sentence-transformers). Keep LOWEST_TRANSFORMERS equal to the bound in pyproject.toml.
LOWEST_TRANSFORMERS ?= 5.0.0
LOWEST := .venv-lowest
test-lowest:  ## the model/export tests with the lowest declared transformers (CI runs it)
	test -x $(LOWEST)/bin/python || python3 -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q --upgrade pip
	$(LOWEST)/bin/python -m pip install -q torch==2.13.0
	$(LOWEST)/bin/python -m pip install -q -e ".[dev]" "transformers==$(LOWEST_TRANSFORMERS)"
	$(LOWEST)/bin/python -c "import transformers as t; assert t.__version__ == '$(LOWEST_TRANSFORMERS)', t.__version__"
	$(LOWEST)/bin/python -m pytest -q -m "" -p no:cacheprovider --timeout=1200 \
	  tests/test_exports.py tests/test_sentence_transformers.py tests/test_classifier_teacher.py \
	  tests/test_models.py tests/test_model_limits.py

fast: install  ## quick tests only (no slow, no browser)
	$(PY) -m pytest -q -m "not slow and not browser" -x

check: install  ## lint and format check (ruff)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

BENCH_STAMP := $(VENV)/.xkd-bench
$(BENCH_STAMP): $(STAMP) benchmarks/requirements.txt
	$(PY) -m pip install -q -r benchmarks/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## run every benchmark (prints name=value lines, writes benchmarks/results/)
	$(PY) -m benchmarks

bench-quick: $(BENCH_STAMP)  ## short smoke version of the benchmarks (CI runs it)
	$(PY) -m benchmarks --quick

clean:  ## remove caches (keeps runs/ and .venv)
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
