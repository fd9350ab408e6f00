# One command per routine task. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The stamp changes with the pinned requirements and with the install recipe's version (bump -v2 when it changes).
STAMP := $(VENV)/.installed-v2-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
# AIRFLOW_PORT (api-server port, default 8080) passes through from the environment or the command line;
# status, env and stop use the port `make run` recorded when it is not given
# Azurite (the Azure Storage emulator of the integration tests), installed locally with npm
AZURITE_VERSION := 3.37.0
AZURITE := .tools/azurite/node_modules/.bin/azurite-blob

.PHONY: help venv chromium prometheus run stop status test test-unit test-e2e bench bench-scale lint format docs lock clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

$(AZURITE):
	@command -v npm >/dev/null || { echo "npm not found: the Azure integration tests will skip (fail under CI=true)"; exit 0; }; \
	npm install --prefix .tools/azurite --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)

venv: $(STAMP) $(AZURITE)  ## create .venv and install the pinned requirements (and Azurite for the tests)

chromium:  ## install Debian's chromium when missing (the e2e tier opens the quality report in it)
	@command -v chromium >/dev/null || { SUDO=; sudo -n true 2>/dev/null && SUDO=sudo; \
		$$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }

prometheus:  ## install Debian's Prometheus (with promtool) and Pushgateway when missing (the metrics tests run them)
	@command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v prometheus-pushgateway >/dev/null || \
		{ SUDO=; sudo -n true 2>/dev/null && SUDO=sudo; \
		$$SUDO apt-get install -y prometheus prometheus-pushgateway || \
		{ $$SUDO apt-get update && $$SUDO apt-get install -y prometheus prometheus-pushgateway; }; }

run: venv  ## start Airflow locally and run orders_pipeline end to end (Airflow stays up for the UI)
	$(BIN)/python include/scripts/local_airflow.py demo

stop:  ## stop the Airflow started by `make run`
	@test -x $(BIN)/python && $(BIN)/python include/scripts/local_airflow.py stop || true

status:  ## every component (running, pid, health) and the last run of each DAG; exit 3 when Airflow is down
	$(BIN)/python include/scripts/local_airflow.py status

test: venv chromium prometheus  ## run every test tier (unit, dags, integration, e2e)
	$(BIN)/python -m pytest

test-unit: venv  ## only the fast tiers
	$(BIN)/python -m pytest tests/unit tests/dags

test-e2e: venv chromium  ## only the end-to-end tests (a real Airflow)
	$(BIN)/python -m pytest tests/e2e

bench: venv  ## benchmarks against a baseline in the same run: ingest connectors (1M rows), the pipeline (1M, 5M), validate and store (5M), Kafka
	$(BIN)/python include/benchmarks/bench_ingest.py
	$(BIN)/python include/benchmarks/bench_pipeline.py
	$(BIN)/python include/benchmarks/bench_validate.py --rows 5000000
	$(BIN)/python include/benchmarks/bench_store.py --rows 5000000
	$(BIN)/python include/benchmarks/bench_kafka.py

bench-scale: venv  ## beyond RAM: the pipeline's four steps on 50M generated rows (~5 GB CSV), each within 1.2 GB (not in make test)
	$(BIN)/python include/benchmarks/bench_pipeline.py --rows 50000000 --no-baseline --memory-limit-mb 1200

lint: venv  ## ruff lint (with the security rules) and format check, mypy type check of plugins/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: venv  ## regenerate docs/transforms.md from the transform catalogue (a test checks it is current)
	PYTHONPATH=plugins $(BIN)/python -m dataframe_pipeline.core.catalogue > docs/transforms.md

lock: venv  ## re-resolve requirements*.txt from requirements*.in
	$(BIN)/uv pip compile requirements.in --python-version 3.11 -o requirements.txt
	$(BIN)/uv pip compile requirements-dev.in --python-version 3.11 -o requirements-dev.txt

clean: stop  ## remove the local Airflow home and all pipeline data (keeps .venv)
	rm -rf .airflow data
