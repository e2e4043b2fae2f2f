# cranium-etl: `make demo` and `make test` set up everything they need on a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: install demo dev test chaos-soak benchmark lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/cranium-etl demo

dev: install
	$(BIN)/cranium-etl dev

test: install
	$(BIN)/pytest

# The chaos test with many more rounds; override e.g. `make chaos-soak CHAOS_DURATION=3600`.
CHAOS_ROUNDS ?= 5000
CHAOS_DURATION ?= 900
CHAOS_REPORT ?= data/chaos-soak.json

chaos-soak: install
	CHAOS_ROUNDS=$(CHAOS_ROUNDS) CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_REPORT=$(CHAOS_REPORT) \
		$(BIN)/pytest tests/test_chaos.py -q -s -p no:cacheprovider

# Benchmarks print Markdown tables; their recorded figures are in benchmarks/README.md.
benchmark: install
	$(BIN)/python benchmarks/quota.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/sync_memory.py
	$(BIN)/python benchmarks/snapshot_memory.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf data dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
