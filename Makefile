# wa-notify: `make dev` runs the whole system locally; `make test` runs every test tier.
SHELL := /bin/bash
PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0

CHROMIUM ?= /usr/bin/chromium

.PHONY: browser dev test install unit functional infra e2e lint build validate clean openapi examples demo bench soak

$(VENV)/.installed: pyproject.toml
	@PYBIN=$$(command -v pyenv >/dev/null && pyenv which python 2>/dev/null || command -v python$(basename $(PYTHON_VERSION)) || command -v python3); \
	 if [ -z "$$PYBIN" ]; then echo "Python $(PYTHON_VERSION) not found: install it with pyenv"; exit 1; fi; \
	 echo "using $$PYBIN ($$($$PYBIN --version))"; \
	 [ -x $(PY) ] || $$PYBIN -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

dev: install  ## the local stack on 127.0.0.1:$(PORT), no AWS or Meta account
	$(PY) -m infra.local --port $(PORT)

test: install browser  ## every tier: unit, functional, infra, end-to-end
	$(PY) -m pytest tests

browser:  ## Debian's Chromium for the dashboard test (headless), installed once when apt-get can
	@if [ -x "$(CHROMIUM)" ] || command -v chromium >/dev/null; then :; \
	 elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	   echo "installing Debian's chromium for the dashboard test"; \
	   (apt-get install -y -qq chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	 else echo "no Chromium and no root apt-get: the dashboard browser test will be skipped (CI requires it)"; fi

unit: install
	$(PY) -m pytest tests/unit

functional: install
	$(PY) -m pytest tests/functional

infra: install
	$(PY) -m pytest tests/infra

e2e: install
	$(PY) -m pytest tests/e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/sam validate --lint

build: install  ## sam build (needs python3.13 on PATH: pyenv with .python-version gives it)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/sam build --parallel

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache

openapi: install  ## regenerate docs/openapi.json (a test fails when it drifts from the code)
	$(PY) -m infra.openapi

examples: install  ## load the six verticals' templates and flows into the running `make dev` stack
	$(PY) -m infra.examples load --url http://127.0.0.1:$(PORT)

demo: install  ## book a clinic appointment on a local stack, move the clock, watch each message arrive
	$(PY) -m infra.examples demo $(or $(VERTICAL),clinic)

bench: install  ## throughput, priority, requests and cost per message, cold imports, rendering, dispatch -> .bench/report.json
	$(PY) -m infra.bench.run $(if $(QUICK),--quick,)

N ?= 1000
soak: install  ## the chaos suite at N messages -> .bench/soak.json (make test runs it at 150)
	$(PY) -m infra.bench.soak $(N)
