# cdlstore — every command of README.md. DATABASE_URL, when set, replaces the local cluster.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDLSTORE := $(BIN)/cdlstore
TESTDB := $(BIN)/python -m cdlstore.dev.testdb
TEMPLATE := cdlstore_test_template
PGTAP_DB := cdlstore_test_pgtap
PGTAP_FILES ?= db/tests/*.sql
PYTEST_ARGS ?=

.PHONY: setup db db-stop db-url app-url migrate rollback demo test template pgtap pytest lint smoke stress crash schema bench bench-peers clean \
	cluster cluster-url cluster-shard-urls cluster-stop test-cluster bench-cluster

setup: $(VENV)/.installed
	@scripts/setup-pg-tools.sh $(CDLSTORE)

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

db: setup
	@$(CDLSTORE) db start

db-stop: setup
	@$(CDLSTORE) db stop

db-url: setup
	@$(CDLSTORE) db-url

# the local cluster's application login: a member of cdlstore_app bound to the tenant default
app-url: setup
	@$(CDLSTORE) app-url

migrate: db
	@$(CDLSTORE) migrate

rollback: db
	@$(CDLSTORE) rollback

# as the application login (DATABASE_URL, when set, is used as it is)
demo: migrate
	@url=$${DATABASE_URL:-$$($(CDLSTORE) app-url)} && \
	  DATABASE_URL=$$url $(BIN)/python examples/demo.py && \
	  DATABASE_URL=$$url $(CDLSTORE) character search "storm lighthouse" --limit 3 && \
	  DATABASE_URL=$$url $(CDLSTORE) version

# A freshly migrated template database, then pgTAP, pytest and lint on clones of it, and the
# wheel smoke test. make runs the template step once even when several targets are asked for.
test: pgtap pytest lint smoke

template: db
	@$(TESTDB) template $(TEMPLATE)

pgtap: template
	@exports=$$($(TESTDB) clone $(TEMPLATE) $(PGTAP_DB) --pgtap --env) && eval "$$exports" && \
	  PATH="$$($(CDLSTORE) db bindir):$$PATH" pg_prove $(PGTAP_FILES)

pytest: template
	@CDLSTORE_TEST_TEMPLATE=$(TEMPLATE) $(BIN)/pytest $(PYTEST_ARGS)

lint: template
	@$(BIN)/ruff check pybind tests bench examples scripts
	@$(BIN)/ruff format --check --quiet pybind tests bench examples scripts
	@$(BIN)/mypy
	@$(TESTDB) plpgsql-check $(TEMPLATE)

# Build the sdist and the wheel, install the wheel into a fresh venv outside the checkout,
# migrate a fresh database with it and use it from there (scripts/wheel_smoke.py).
smoke: db
	@$(BIN)/python scripts/wheel_smoke.py

# Bigger runs of the concurrency and crash tests that make test runs small.
stress: template
	@STRESS_CLIENTS=32 STRESS_ROUNDS=100 CDLSTORE_TEST_TEMPLATE=$(TEMPLATE) $(BIN)/pytest -q tests/test_stress.py

crash: template
	@CDLSTORE_TEST_TEMPLATE=$(TEMPLATE) $(BIN)/pytest -q tests/test_crash.py

schema: db
	@$(TESTDB) schema

bench: db
	@$(BIN)/python -m bench.characters
	@$(BIN)/python -m bench.workflows
	@$(BIN)/python -m bench.documents
	@$(BIN)/python -m bench.operations
	@$(BIN)/python -m bench.clients
	@$(BIN)/python -m bench.feeds
	@$(BIN)/python -m bench.tenancy

# the queue beside pgqueuer and procrastinate (installed from PyPI by the bench extra)
bench-peers: db
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	@$(BIN)/python -m bench.peers

# A PL/Proxy proxy in front of SHARDS shard clusters (pybind/cdlstore/dev/cluster.py).
SHARDS ?= 2
CLUSTER := $(BIN)/python -m cdlstore.dev.cluster

cluster: setup
	@$(CLUSTER) start --shards $(SHARDS)

cluster-url: setup
	@$(CLUSTER) url

cluster-shard-urls: setup
	@$(CLUSTER) shard-urls

cluster-stop: setup
	@$(CLUSTER) stop

# Numbers of the proxy hop and of 1 vs 2 shards, on databases of their own.
bench-cluster: setup
	@$(BIN)/python -m bench.cluster
	@$(BIN)/python -m bench.cluster_reads

# The sharded scenarios on a proxy and 2 shards of their own databases (tests/cluster/).
test-cluster: template
	@CDLSTORE_TEST_TEMPLATE=$(TEMPLATE) CDLSTORE_TEST_CLUSTER=1 $(BIN)/pytest -q tests/cluster

clean: db-stop cluster-stop
	rm -rf $(VENV) .pgdata .pgcluster .pytest_cache .mypy_cache .ruff_cache
