# Secretum: one set of scripts, used by people and by CI alike. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo's instance. Tests never use it: each test run makes a throwaway instance of its own.
SECRETUM_HOME ?= $(CURDIR)/var
DEMO_PATIENTS ?= 50
DEMO_SEED ?= 2026

.PHONY: help venv sbom system-deps demo serve test lint typecheck unit unit-core unit-core-1 unit-core-2 unit-e2e coverage e2e test-postgresql bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Installs the Debian packages listed in $$missing: as root with apt-get, else prints the command.
APT_INSTALL = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing$$missing (Debian packages)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "Secretum needs:$$missing — run: sudo apt-get install$$missing"; exit 1; fi

# The tools and the demo (requirements-dev.txt includes requirements-demo.txt: Faker). A production
# install is `pip install .` alone: no Faker, no tool.
$(BIN)/secretum: requirements.txt requirements-dev.txt requirements-demo.txt pyproject.toml
	@missing=""; $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing=" python3-venv"; \
	if [ -n "$$missing" ]; then $(APT_INSTALL); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m secretum.lib.sbom --output sbom.cdx.json
	@touch $@

venv: $(BIN)/secretum ## install Secretum and its pinned dependencies into .venv

sbom: venv ## write sbom.cdx.json, the CycloneDX bill of materials of .venv (G2)
	$(BIN)/python -m secretum.lib.sbom --output sbom.cdx.json

# What the tests need from Debian beside Python: Chromium for the browser tests (Playwright drives
# it; it never downloads a browser), pg_dump for the dump test (E10) and the backups on PostgreSQL
# (I1), the sqlite3 client for `secretum dbshell` (G1), pdftotext and pdfinfo to read PDFs back as a reader
# would (their text, their tags), OpenSSH's sshd and sftp for the backups' SFTP target, tested against a real server on
# loopback (I1, I4), clamd for the antivirus tests (E2: the tests start their own daemon in the
# foreground, the package's service need not run), npm for axe-core (the accessibility test installs
# its pinned lock file), SoftHSM2 for the PKCS#11 key provider (E10, O2: a software token, made
# afresh by each test, that keeps the KEK inside it), age and age-keygen to open the encrypted
# exports as their recipients do and to make files ours must open (E7, M3). tests/test_make.py
# checks that every program a test looks for is here.
# Installed when missing and when we may (root on Debian); otherwise the command to run is printed.
TEST_PROGRAMS := chromium:chromium pg_dump:postgresql-client sqlite3:sqlite3 pdftotext:poppler-utils pdfinfo:poppler-utils sshd:openssh-server sftp:openssh-client clamd:clamav-daemon npm:npm softhsm2-util:softhsm2 age:age age-keygen:age
system-deps: ## install Debian's chromium, postgresql-client, sqlite3, poppler-utils, OpenSSH, clamav-daemon, npm, softhsm2, age when missing (root)
	@missing=""; \
	for pair in $(TEST_PROGRAMS); do \
	  command -v "$${pair%%:*}" >/dev/null || case " $$missing " in \
	    *" $${pair#*:} "*) ;; *) missing="$$missing $${pair#*:}" ;; esac; \
	done; \
	if [ -n "$$missing" ]; then $(APT_INSTALL); fi

demo: venv ## create a demo instance (first time only) and serve it at https://127.0.0.1:8443
	@if [ ! -f "$(SECRETUM_HOME)/secretum.key" ]; then \
	  SECRETUM_HOME="$(SECRETUM_HOME)" $(BIN)/secretum init && \
	  SECRETUM_HOME="$(SECRETUM_HOME)" $(BIN)/secretum demo --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED); \
	fi
	SECRETUM_HOME="$(SECRETUM_HOME)" $(BIN)/secretum serve --host 127.0.0.1 --port 8443

lint: venv ## ruff (lint and format check)
	$(BIN)/ruff check secretum tests bench
	$(BIN)/ruff format --check secretum tests bench

typecheck: venv ## mypy with django-stubs
	$(BIN)/mypy secretum

# Coverage of lines and branches, printed by every test run; it must never fall below this figure.
COVERAGE_MIN ?= 96
unit: venv system-deps ## the test suite on SQLite (browser tests included), with coverage
	env -u SECRETUM_HOME -u SECRETUM_DATABASE_URL $(BIN)/pytest --cov=secretum --cov-branch \
	  --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_MIN)

# Only what depends on the session's engine (--engine-only, tests/conftest.py): the tests that open
# its database, and those marked postgresql. The others (code without a database, instances of
# their own on SQLite started as subprocesses) would run here exactly as in the SQLite run.
test-postgresql: venv ## the tests that depend on the database engine, on PostgreSQL (SECRETUM_TEST_DATABASE_URL)
	@if [ -n "$$SECRETUM_TEST_DATABASE_URL" ]; then \
	  env -u SECRETUM_HOME SECRETUM_DATABASE_URL="$$SECRETUM_TEST_DATABASE_URL" $(BIN)/pytest \
	    -m "not e2e" --engine-only $(DURATIONS); \
	else echo "SECRETUM_TEST_DATABASE_URL is not set: PostgreSQL tests skipped."; fi

# `make test` runs the SQLite suite in three parts: the browser tests (which mostly wait, on
# Chromium and on the idle lock's timers) apart, and the rest in two halves (which mostly wait
# too: on the instances, servers, daemons and fsyncs their tests start); each measures coverage
# into a data file of its own; they are combined and judged once at the end, as `make unit` judges
# its one. The first half is CORE_FIRST's folders, the second every other test (nothing is left
# out when a folder is added).
# The tests marked postgresql, which make databases of their own on the PostgreSQL server, run in
# both: here their processes' coverage counts (the PostgreSQL run measures none).
CORE_MARKS := not e2e
CORE_FIRST := tests/access tests/accounts tests/audit tests/backup tests/breaches tests/crypto
# The slowest tests of each run are printed with its outcome: where the time went, when it grows.
DURATIONS := --durations=15
unit-core: unit-core-1 unit-core-2

unit-core-1: venv system-deps
	env -u SECRETUM_HOME -u SECRETUM_DATABASE_URL COVERAGE_FILE=.coverage.core1 $(BIN)/pytest \
	  -m "$(CORE_MARKS)" --cov=secretum --cov-branch --cov-report= $(DURATIONS) $(CORE_FIRST)

unit-core-2: venv system-deps
	env -u SECRETUM_HOME -u SECRETUM_DATABASE_URL COVERAGE_FILE=.coverage.core2 $(BIN)/pytest \
	  -m "$(CORE_MARKS)" --cov=secretum --cov-branch --cov-report= $(DURATIONS) \
	  $(addprefix --ignore=,$(CORE_FIRST))

unit-e2e: venv system-deps
	env -u SECRETUM_HOME -u SECRETUM_DATABASE_URL COVERAGE_FILE=.coverage.e2e $(BIN)/pytest \
	  -m e2e --cov=secretum --cov-branch --cov-report= $(DURATIONS)

coverage: venv ## combine the SQLite parts' coverage and judge it (after make test's runs)
	$(BIN)/coverage combine .coverage.core1 .coverage.core2 .coverage.e2e
	$(BIN)/coverage report --skip-covered --fail-under=$(COVERAGE_MIN)

# The four runs side by side: each is one pytest process that keeps a core busy part of the time
# (the rest is waiting), so on two cores each fits in the others' gaps. --output-sync prints each
# run's output whole when it ends, never interleaved; make fails if any run fails, and then
# judges the coverage.
test: lint typecheck ## everything: lint, types, then the tests on SQLite and PostgreSQL side by side
	$(MAKE) --no-print-directory -j4 --output-sync=target unit-core-1 unit-core-2 unit-e2e test-postgresql
	$(MAKE) --no-print-directory coverage

bench: venv ## the performance benchmarks (print figures; see bench/README.md)
	$(BIN)/python bench/chart_search.py
	$(BIN)/python bench/audit_bench.py

clean: ## remove the virtual environment (never the instance in var/)
	rm -rf $(VENV) .mypy_cache .ruff_cache
