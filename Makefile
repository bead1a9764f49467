# The two commands of the README: `make app` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: app test system-deps bench

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

## Start the app on http://localhost:8501 (synthetic data and bundled hierarchies; nothing downloaded).
## It listens on 127.0.0.1 only: see README "Running the app for a group" before exposing it.
app: $(STAMP)
	$(BIN)/python -m streamlit run app/main.py --server.port 8501 --server.address 127.0.0.1

## Debian packages the tests need: chromium (browser tests) and Fashion-MNIST's idx files.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi; \
	fi

## Run the whole test suite: unit, fidelity (needs ../shared/reference), app and browser tests.
test: $(STAMP) system-deps
	$(BIN)/python -m pytest

## Benchmarks: each prints timings and ratios against a baseline run in the same process.
bench: $(STAMP)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done
