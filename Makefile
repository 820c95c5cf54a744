# alsstrat — every verb of the lifecycle. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
DEMO_DIR ?= out/demo

.PHONY: help install lock demo test test-fast lint format typecheck bench serve bento clean browser postgres java

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Re-runs only when the lock or the project metadata changed, so a second `make install` costs nothing.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/uv
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip sync --quiet requirements.lock
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv/ with the locked dependencies and the project (editable)

lock: | $(BIN)/uv ## re-resolve requirements.lock (dev group and team-server extra included) and its serving subset
	$(BIN)/uv pip compile pyproject.toml --group dev --extra team-server --python-version 3.11 --universal \
		-o requirements.lock -q
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --universal -c requirements.lock \
		-o requirements-serving.lock -q

demo: install ## simulate a cohort, build it, train, promote, serve and score over HTTP (end to end)
	$(BIN)/python -m training.cli.demo --out $(DEMO_DIR)

# The audit report test renders HTML in headless Chromium (Debian's package). As root (CI), install it when missing;
# elsewhere the test says it is skipped and why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the report rendering test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed; the report rendering test will be skipped"; \
	fi

# The team tracking server test runs a real PostgreSQL (Debian's package; initdb/pg_ctl as an unprivileged user).
# As root (CI), install it when missing; elsewhere the test says it is skipped and why.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing postgresql for the team tracking server test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
		|| echo "postgresql could not be installed; the team tracking server test will be skipped"; \
	fi

test: install browser postgres java ## the full test suite (what CI runs)
	$(BIN)/python -m pytest -q

test-fast: install ## tests without the slow (training/server) ones
	$(BIN)/python -m pytest -q -m "not slow"

lint: install ## ruff + mypy + the import contract (import-linter)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install ## apply ruff's safe fixes (import sorting); the code keeps its hand-wrapped 120-column style
	$(BIN)/ruff check --fix .

bench: install ## performance benchmarks; writes bench/results/*.md
	$(BIN)/python -m bench.run

serve: install ## serve the champion model over HTTP on port 3000 (needs ALSSTRAT_API_TOKENS)
	$(BIN)/alsstrat serve --port 3000

bento: install ## build a self-contained Bento with the champion model frozen in it
	$(BIN)/python -m serving.bento

clean: ## remove build outputs and demo data (keeps .venv and mlruns)
	rm -rf out build dist .pytest_cache .ruff_cache .mypy_cache

# The Spark local-mode test of mlflow.pyfunc.spark_udf (docs/batch-scoring.md) needs a Java runtime (Debian's
# headless JRE; pyspark itself comes with the dev group). As root (CI), install it when missing; elsewhere the test
# says it is skipped and why.
java:
	@if ! command -v java >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing a headless Java runtime for the Spark test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
		|| echo "a Java runtime could not be installed; the Spark test will be skipped"; \
	fi

