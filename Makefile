# Rollcall: `make run` starts everything, `make test` proves it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit test-integration test-e2e test-browser test-faults lint format migrate seed bench rehearse clean

# The virtualenv, installed from pyproject.toml; redone when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## migrate, seed the demo event, start every process; Ctrl-C stops them
	$(BIN)/rollcall run

test: $(STAMP)  ## the whole suite: unit, integration (real Redis, databases, Celery), e2e
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -m integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -m e2e

test-browser: $(STAMP)  ## needs Debian's chromium; skipped with a reason without it (failed in CI)
	$(BIN)/python -m pytest -m browser

test-faults: $(STAMP)  ## the crash proofs at full size: 200 mails and a SIGKILL, 30 s without SMTP
	$(BIN)/python -m pytest -m faults -s

bench: $(STAMP)  ## the system as deployed under load: table + bench/results/*.json (BENCH_ARGS=--quick)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The dress rehearsal on a private system (REHEARSE_ARGS: --delegates 200000 --gates 100,
# --replicas 2 --database-url postgresql://…, --demo-json var/demo.json for a running one).
rehearse: $(STAMP)  ## the forum's morning: 800 delegates, plots and report in var/rehearsal/
	$(BIN)/rollcall rehearse $(REHEARSE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	$(BIN)/rollcall migrate

seed: migrate
	$(BIN)/rollcall seed-demo

clean:
	rm -rf var .pytest_cache .ruff_cache
