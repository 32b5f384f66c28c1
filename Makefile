# tagport — the two commands that matter come first: `make demo` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_HOME ?= $(CURDIR)/.tagport
AXE     := node_modules/axe-core/axe.min.js

.PHONY: demo test test-fast mutate lint format install browser clean

# Python keeps its compiled modules and pytest its rewritten asserts in __pycache__ unless told
# not to; a shell that says PYTHONDONTWRITEBYTECODE makes every test process compile them again
# (1.6 s of each test process's start, measured in docs/testing.md).
unexport PYTHONDONTWRITEBYTECODE

demo: $(STAMP)  ## Install, build the demo warehouse, publish and run exports, serve
	TAGPORT_HOME=$(DEMO_HOME) scripts/demo.sh

test: $(STAMP) $(AXE)  ## Run the whole suite (unit, integration against PostgreSQL/MariaDB, e2e), 2 processes
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-fast: $(STAMP)  ## The edit loop: unit and integration tests on SQLite metadata, no slow ones, a quarter of the examples
	TAGPORT_FAST=1 $(BIN)/pytest -m "not slow and not browser and not pg_metadata" -n 2 --dist worksteal \
		-p no:playwright -p no:schemathesis tests/unit tests/integration $(PYTEST_ARGS)

MUTATE ?= tagport.errors* tagport.services.scheduling* tagport.services.instances* \
	tagport.services.publication* tagport.targets.sql* tagport.targets.base* \
	tagport.warehouse.queries* tagport.domain.*
mutate: $(STAMP)  ## Mutation testing of the core (slow; not in `make test`): MUTATE="tagport.errors*"
	$(BIN)/python -m pip install --quiet -e '.[dev,mutate]'
	for module in $(MUTATE); do TAGPORT_FAST=1 $(BIN)/mutmut run --max-children 2 "$$module" || exit 1; done
	$(BIN)/mutmut results

lint: $(STAMP)  ## ruff, ruff format --check, mypy --strict on src/
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff check --fix src tests $(wildcard bench)
	$(BIN)/ruff format src tests $(wildcard bench)

install: $(STAMP)

browser:  ## Debian's chromium for the browser tests (Playwright drives it; never `playwright install`)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

$(AXE): package-lock.json  ## axe-core from the npm registry, injected by the accessibility tests
	npm ci --no-audit --no-fund --silent

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis src/*.egg-info
