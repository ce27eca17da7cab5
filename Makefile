# Two commands for a new user; both create .venv and install sdqkd into it first.
#   make run   — the main job: the built-in Madrid network, running (sdqkd up; Ctrl-C stops it)
#   make test  — lint, type-check and the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast fuzz-deep lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sdqkd up --topology madrid --run-dir run/madrid

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m 'not slow' -q

fuzz-deep: $(STAMP)
	SDQKD_FUZZ_EXAMPLES=$${SDQKD_FUZZ_EXAMPLES:-500} $(BIN)/pytest -m fuzz tests/fuzz -q

bench: $(STAMP)
	$(BIN)/python benchmarks/physics_bench.py
	$(BIN)/python benchmarks/emulator_bench.py
	$(BIN)/python benchmarks/kme_bench.py
	$(BIN)/python benchmarks/startup_bench.py
	$(BIN)/python benchmarks/controller_bench.py
	$(BIN)/python benchmarks/relay_bench.py
	$(BIN)/python benchmarks/reroute_bench.py
	$(BIN)/python benchmarks/optical_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
