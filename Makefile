# The two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv and install what they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# The CPU wheel of torch that these machines carry; installed first so that no
# requirement can pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test check bench install browser-deps ears-model clean

$(STAMP): pyproject.toml examples/plugin/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q -e examples/plugin
	touch $(STAMP)

install: $(STAMP)

# The ears' pocketsphinx model adapted to espeak speech (`acoustic_model: espeak`), and
# their word classifier for it: built once per machine into ~/.cache/microturn (about two
# and ten minutes), so that no test waits for them. graphs/assistant.yaml hears with the
# phone network that the package ships (`acoustic_model: phonenet`), which needs no
# build, so the demo does not wait for them either. See docs/ears.md.
ears-model: $(STAMP)
	@$(PY) -m nodes.asr.espeak_model >/dev/null
	@$(PY) -m nodes.asr.wordcheck_build >/dev/null

# The main job: graphs/assistant.yaml hears the bundled monologue in real time and answers.
demo: $(STAMP)
	@mkdir -p out
	@echo "demo: examples/media/demo.wav played in real time into graphs/assistant.yaml (about 65 s)"
	$(VENV)/bin/microturn run graphs/assistant.yaml --stats
	@echo "demo: the replies, on the input's timeline, are in $(CURDIR)/out/demo.wav"
	@echo "      listen: aplay out/demo.wav (Linux), afplay out/demo.wav (macOS), or open it in a browser"

test: $(STAMP) browser-deps ears-model
	$(PY) -m pytest

# Debian's chromium for the browser test, when missing (CI runs as root).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

check: $(STAMP)
	$(VENV)/bin/ruff check flow nodes tests bench examples
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
