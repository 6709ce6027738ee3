# One entry point for a newcomer: `make up` installs everything and starts the local default,
# `make test` runs the whole suite. See README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install up down test lint format bench

install: $(BIN)/sre node_modules/.package-lock.json
	@bash scripts/install-system-tools.sh

# The charting library the lab's SLO page and the SLO report load (package.json, locked).
node_modules/.package-lock.json: package.json package-lock.json
	@bash scripts/install-system-tools.sh
	npm ci --no-audit --no-fund --loglevel=error

$(BIN)/sre: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

up: install
	$(BIN)/sre lab up

down:
	$(BIN)/sre lab down

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench:
	$(BIN)/python benchmarks/bench_compile.py
	$(BIN)/python benchmarks/bench_rule_cost.py
	$(BIN)/python benchmarks/bench_dashboards.py
	$(BIN)/python benchmarks/bench_stack_render.py
	$(BIN)/python benchmarks/bench_lab_load.py
	$(BIN)/python benchmarks/bench_self_healing.py
	$(BIN)/python benchmarks/bench_releases.py
