# The only commands a developer needs. Each target installs what it needs first.
#   make test   lint, type-check, import contracts, then the test suite against real servers
#   make demo   run examples/quickstart.py on the zero-config local default
#   make bench  run every benchmark under bench/ and print its tables

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup test lint demo bench up down clean redis-server weaviate-server weaviate-oldest postgresql-server

setup: $(STAMP) redis-server weaviate-server

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "agentmem needs Python >= 3.10; run make PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

# Debian's plain redis-server (no modules). Installed with apt-get when missing and we are root.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || test -x /usr/bin/redis-server || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's redis-server"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing: run 'sudo apt-get install redis-server' (Debian/Ubuntu) or 'brew install redis' (macOS), or set AGENTMEM_REDIS_BIN"; \
	    exit 1; \
	  fi; }

# The pinned Weaviate: found, or built once with Go into the cache (~/.cache/agentmem), or downloaded.
weaviate-server: $(STAMP)
	@$(BIN)/agentmem install

lint: $(STAMP)
	$(BIN)/ruff check agentmem langchain_agentmem llamaindex_agentmem tests examples bench
	$(BIN)/ruff format --check agentmem langchain_agentmem llamaindex_agentmem tests examples bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The Redis memories' suites run a second time, unchanged, against a 3-master Redis Cluster.
CLUSTER_SUITES = $(wildcard tests/test_loops_and_forks.py tests/test_telemetry.py tests/test_sessions*.py tests/test_*chat*.py tests/test_checkpoint*.py tests/test_workflow*.py tests/test_forget.py tests/test_export.py tests/test_consolidation.py tests/test_*_memory.py tests/test_doctor.py)

# The long-term memory suites run a third time on a 3-node Weaviate cluster (replication factor 3,
# consistency ALL, so searches read their own writes; QUORUM with a node down has its own test).
WEAVIATE_CLUSTER_SUITES = $(wildcard tests/test_longterm*.py tests/test_*vector*.py tests/test_langgraph_store*.py tests/test_cross_framework.py tests/test_export.py tests/test_consolidation.py tests/test_*_memory.py tests/test_doctor.py)

# The long-term memory suites also run once more, single node, on the oldest supported Weaviate
# (agentmem.local.OLDEST_WEAVIATE_VERSION), built once with Go into its own cache folder like the pin.
OLDEST_WEAVIATE = $(BIN)/python -c 'from agentmem.local import OLDEST_WEAVIATE_VERSION as v; print(v)'

weaviate-oldest: $(STAMP)
	@$(BIN)/agentmem install --weaviate-version "$$($(OLDEST_WEAVIATE))" --path-only >/dev/null

test: setup weaviate-oldest lint
	$(BIN)/pytest
	@if [ -n "$(CLUSTER_SUITES)" ]; then \
	  echo "== the same Redis suites on a Redis Cluster"; \
	  AGENTMEM_TEST_REDIS_MODE=cluster $(BIN)/pytest -q $(CLUSTER_SUITES); fi
	@if [ -n "$(WEAVIATE_CLUSTER_SUITES)" ]; then \
	  echo "== the same long-term memory suites on a 3-node Weaviate cluster"; \
	  AGENTMEM_TEST_WEAVIATE_MODE=cluster $(BIN)/pytest -q -m "not single_node" $(WEAVIATE_CLUSTER_SUITES); fi
	@if [ -n "$(WEAVIATE_CLUSTER_SUITES)" ]; then \
	  version=$$($(OLDEST_WEAVIATE)) && \
	  binary=$$($(BIN)/agentmem install --weaviate-version "$$version" --path-only) && \
	  echo "== the same long-term memory suites on the oldest supported Weaviate, $$version" && \
	  AGENTMEM_WEAVIATE_BIN="$$binary" AGENTMEM_TEST_WEAVIATE_VERSION="$$version" \
	    $(BIN)/pytest -q $(WEAVIATE_CLUSTER_SUITES); fi

demo: setup
	$(BIN)/python examples/quickstart.py

BENCH_STAMP := $(VENV)/.installed-bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@touch $@

# The checkpoint benchmark measures PostgresSaver on Debian's PostgreSQL (a throwaway cluster).
postgresql-server:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's postgresql (for the checkpoint benchmark)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "PostgreSQL is missing: 'sudo apt-get install postgresql' (the checkpoint benchmark compares with PostgresSaver)"; \
	  fi; }

bench: setup $(BENCH_STAMP) postgresql-server
	@echo "== what this run measured on"; $(BIN)/python bench/_machine.py
	@set -e; found=0; for f in bench/bench_*.py; do \
	  [ -e "$$f" ] || continue; found=1; echo "== $$f"; $(BIN)/python "$$f"; done; \
	  [ $$found = 1 ] || echo "no benchmarks under bench/ yet"

up: setup
	$(BIN)/agentmem up

down: $(STAMP)
	$(BIN)/agentmem down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
