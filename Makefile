# wa-notify: `make dev` runs the whole system locally; `make test` runs every test tier.
SHELL := /bin/bash
PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0

CHROMIUM ?= /usr/bin/chromium

.PHONY: browser dev test install lock unit functional infra e2e lint checkov build validate clean openapi examples demo clicks bench soak

# What CI installs is requirements-dev.lock (every package, pinned with its hashes), then the
# project itself without dependencies; a changed lock (or pyproject) installs again.
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	@PYBIN=$$(command -v pyenv >/dev/null && pyenv which python 2>/dev/null || command -v python$(basename $(PYTHON_VERSION)) || command -v python3); \
	 if [ -z "$$PYBIN" ]; then echo "Python $(PYTHON_VERSION) not found: install it with pyenv"; exit 1; fi; \
	 echo "using $$PYBIN ($$($$PYBIN --version))"; \
	 [ -x $(PY) ] || $$PYBIN -m venv $(VENV)
	@# phonenumberslite replaced phonenumbers (same import name): uninstalling either after the other is in
	@# place deletes the files they share, so a venv holding phonenumbers drops both and installs lite afresh.
	if $(PY) -m pip show -q phonenumbers 2>/dev/null; then $(PY) -m pip uninstall -q -y phonenumbers phonenumberslite; fi
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

install: $(VENV)/.installed

# checkov (make lint) lives in its own venv: its pins (boto3, botocore, pydantic...) are not the
# project's, so it never shares requirements-dev.lock. Pinned with hashes in requirements-checkov.lock
# (`make lock` compiles it from requirements-checkov.in); a changed lock installs again.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	@PYBIN=$$(command -v pyenv >/dev/null && pyenv which python 2>/dev/null || command -v python$(basename $(PYTHON_VERSION)) || command -v python3); \
	 if [ -z "$$PYBIN" ]; then echo "Python $(PYTHON_VERSION) not found: install it with pyenv"; exit 1; fi; \
	 [ -x $(CHECKOV_VENV)/bin/python ] || $$PYBIN -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --require-hashes --no-deps -r requirements-checkov.lock
	@touch $@

checkov: $(CHECKOV_VENV)/.installed  ## template.yaml's security checks (0 failed; each skip in the template names its reason)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

# `make lock` after changing a dependency in pyproject.toml (or layers/shared/requirements.in);
# versions already pinned are kept unless UPGRADE=1. The layer's requirements.txt is compiled
# with the dev lock as constraints, so SAM builds the layer at exactly the versions tested.
# The layer's list leaves out what the Lambda python3.13 runtime ships (boto3 and what it runs on):
# one boto3 with its own botocore, never the runtime's boto3 on a layer's botocore (issue 19);
# layers/shared/Makefile installs the list with --no-deps, so nothing comes back transitively.
LAMBDA_RUNTIME_PACKAGES := boto3 botocore s3transfer jmespath urllib3 python-dateutil six
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --universal --python-version $(basename $(PYTHON_VERSION)) $(if $(UPGRADE),--upgrade,)
lock: install  ## regenerate requirements-dev.lock and layers/shared/requirements.txt (UPGRADE=1: newest allowed versions)
	$(UV_COMPILE) pyproject.toml --extra dev --generate-hashes -o requirements-dev.lock
	$(UV_COMPILE) requirements-checkov.in --generate-hashes -o requirements-checkov.lock
	$(UV_COMPILE) layers/shared/requirements.in -c requirements-dev.lock --annotation-style line \
	  $(foreach p,$(LAMBDA_RUNTIME_PACKAGES),--no-emit-package $(p)) -o layers/shared/requirements.txt

dev: install  ## the local stack on 127.0.0.1:$(PORT), no AWS or Meta account
	$(PY) -m infra.local --port $(PORT)

test: lint browser  ## make lint, then every tier: unit, functional, infra, end-to-end
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

infra: install $(CHECKOV_VENV)/.installed
	$(PY) -m pytest tests/infra

e2e: install
	$(PY) -m pytest tests/e2e

lint: install checkov  ## checkov, ruff, mypy ([tool.mypy] in pyproject.toml: strict for the domain) and the SAM template's lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/sam validate --lint

build: install  ## sam build (needs python3.13 on PATH: pyenv with .python-version gives it)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/sam build --parallel

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache

openapi: install  ## regenerate docs/openapi.json (a test fails when it drifts from the code)
	$(PY) -m infra.openapi

examples: install  ## load the six verticals' templates and flows into the running `make dev` stack
	$(PY) -m infra.examples load --url http://127.0.0.1:$(PORT)

demo: install  ## VERTICAL=clinic|salon|restaurant|school|shop|bank (clinic by default) on its own local stack: its sample events, the clock moved, each message as the phone receives it
	$(PY) -m infra.examples demo $(or $(VERTICAL),clinic)

clicks: install  ## every use case's seeds on a local stack, each tracked link tapped once: click rates per vertical and template
	$(PY) -m infra.examples clicks $(VERTICALS)

bench: install  ## throughput, priority, requests and cost per message, cold imports, rendering, dispatch -> .bench/report.json
	$(PY) -m infra.bench.run $(if $(QUICK),--quick,)

N ?= 1000
soak: install  ## the chaos suite at N messages (SEED=7) -> .bench/soak.json with seconds and max_rss_mb (make test: N=150, report in a temp dir)
	$(PY) -m infra.bench.soak $(N) --seed $(or $(SEED),7)
