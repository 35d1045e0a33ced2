# Two entry points (see README):
#   make drill   install, then run the complete local DR drill (no cloud account)
#   make test    install, then run every test: unit, scripts and integration
# Everything lands in .venv; system packages (PostgreSQL 15, a JDK) are installed
# only when missing, and only when we are allowed to (root with apt-get).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
# checkov pins an older boto3 than the runbook: it gets a virtualenv of its own.
TOOLS       := .venv-tools
STAMP_TOOLS := $(TOOLS)/.installed

.PHONY: drill test plan lint bench system-deps keycloak kube kube-background clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(STAMP_DEV): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP_RUN) $@

$(STAMP_TOOLS): requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

system-deps:
	@bash .ci/system-deps.sh

drill: system-deps $(STAMP_RUN)
	$(PY) -m scripts drill --local

plan: $(STAMP_RUN)
	$(PY) -m scripts plan --stack prod

# The layout's guards: lint (with complexity and size rules), one format, the import contracts of
# CONTRIBUTING.md's map (no cycles, no lab/sandbox in runbook commands, components never import
# scripts), and the type check of the Pulumi program and the contract.
lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy components contract policy

# The integration tests run a real Keycloak: fetch it from Maven Central (SHA-1 verified) and build
# it once into the cache first, so a slow download shows here rather than as a hanging test.
keycloak: $(STAMP_RUN)
	$(PY) -m scripts.lab.keycloak prepare

# The Kubernetes tests run a real control plane (kube-apiserver, controller-manager, scheduler, etcd, kwok),
# built from the Go module proxy into the cache once (pins: tools/kube; minutes the first time).
kube: $(STAMP_RUN)
	$(PY) -m scripts.lab.kube_plane prepare

# make test starts the build in the background (niced, beside the tests); tests/kube run last and wait for it.
kube-background: $(STAMP_RUN)
	$(PY) -m scripts.lab.kube_plane prepare --background

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure.
# IDP_DR_REQUIRE_INTEGRATION=1 turns "PostgreSQL/Keycloak missing" into a failure instead of a skip.
test: system-deps $(STAMP_DEV) kube-background $(STAMP_TOOLS) keycloak lint
	IDP_DR_REQUIRE_INTEGRATION=1 $(PY) -m pytest

bench: system-deps $(STAMP_DEV)
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
