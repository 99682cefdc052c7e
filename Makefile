# Two commands do all set-up: `make run` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHECKOV_VENV := $(VENV)/tools/checkov
NODE_STAMP   := node_modules/.installed

.PHONY: run test lint typecheck pytest infra-scan venv clean

# The bundled samples; independent.json is published twice to show a suppressed duplicate.
SAMPLES := samples/shared-cosell.json samples/independent.json samples/private-deal.json \
           samples/microsoft-2019-create.json samples/microsoft-2024-private.json \
           samples/services-cosell.json samples/invalid.jsonl samples/independent.json

run: $(STAMP)
	$(BIN)/referral-relay run --sandbox $(SAMPLES)

test: lint typecheck pytest infra-scan

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --config-settings editable_mode=compat -e .
	@touch $@

venv: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt | $(STAMP)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict shared
	$(BIN)/mypy function_app.py create_referral connect_referral update_referral $(wildcard partner_sandbox local_host relay_cli bench/*.py tests)

pytest: $(STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/pytest

infra-scan: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework bicep -d infra

clean:
	rm -rf $(VENV) node_modules .mypy_cache .pytest_cache .ruff_cache
