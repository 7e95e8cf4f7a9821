# enishi — two commands matter: `make demo` and `make test`. Everything installs into ./.venv and ./node_modules.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install test test-long demo local synth bench bench-winback bench-analytics bench-campaign load profile-demo screenshots clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need Python 3.11+ as '$(PY)' (set PY=...)"; exit 1; }
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml package.json
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[infra,dev]'
	npm install --no-audit --no-fund --silent
	$(BIN)/python -m layers.build
	touch $(STAMP)

install: $(STAMP)

# the gates (issue 10), each runnable alone; `make -k lint` reports every failing gate, not just the first
.PHONY: lint lint-ruff lint-format lint-types lint-complexity
lint: lint-ruff lint-format lint-types lint-complexity

lint-ruff: $(STAMP)
	$(BIN)/ruff check .

lint-format: $(STAMP)
	$(BIN)/ruff format --check .

# packages and the pydantic plugin come from [tool.mypy] in pyproject.toml
lint-types: $(STAMP)
	$(BIN)/mypy

# no function, method or closure above radon's grade C (cyclomatic complexity 20)
lint-complexity: $(STAMP)
	$(BIN)/python scripts/complexity.py

test: lint
	$(BIN)/python -m pytest -n 2 -q

# the same suite with larger hypothesis / schemathesis budgets (property tests, fuzzing of the HTTP API)
test-long: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -n 2 -q

demo: $(STAMP)
	$(BIN)/enishi demo

local: $(STAMP)
	$(BIN)/enishi local

synth: $(STAMP)
	npx cdk synth --quiet

bench: $(STAMP)
	$(BIN)/python -m bench

# the daily win-back job at 100k vs 10k imported customers, the same number due (goal ≤ 1.2×)
bench-winback: $(STAMP)
	$(BIN)/python -m bench.bench_winback --sizes 10000 100000 --due 100

# the daily analytics job at 10k and 100k customers on the local stack, modelled at 1M on AWS (docs/analytics.md)
bench-analytics: $(STAMP)
	$(BIN)/python -m bench.analytics --customers 10000 100000

# a campaign to 100k recipients: orchestration cost per message ÷ SES price, modelled time at the SES rate (docs/campaigns.md)
bench-campaign: $(STAMP)
	$(BIN)/python -m bench.bench_campaign --recipients 100000 --rate 14 --rate 100 --rate 1000

# a few thousand signed webhooks at a fixed rate against the local stack on loopback (bench/load.py)
load: $(STAMP)
	$(BIN)/python -m bench.load --webhooks 3000 --rate 20 --threads 4

# where the demo's time goes, every thread (py-spy); e.g. make profile-demo PROFILE_ARGS="--customers 120 --days 60"
profile-demo: $(STAMP)
	$(BIN)/python -m bench.profile_demo $(PROFILE_ARGS)

clean:
	rm -rf cdk.out out .pytest_cache
