# kubecanvas developer entry points. The two that must always work on a fresh machine:
#   make demo    set everything up and run the quickstart workflow on a local cluster
#   make test    build what is missing, start the local cluster, run the whole suite
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KUBECONFIG_LOCAL := $(CURDIR)/.cluster/kubeconfig
export PATH := $(CURDIR)/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml hack/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c hack/constraints.txt -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create .venv with kubecanvas installed in editable mode

.PHONY: constraints
constraints: venv ## re-pin hack/constraints.txt after changing dependencies in pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' hack/constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^kubecanvas'; } > hack/constraints.txt.new
	mv hack/constraints.txt.new hack/constraints.txt

.PHONY: tools
tools: ## build kube-apiserver, kube-controller-manager, kubectl, etcd and helm into .bin/ (cached)
	hack/build-tools.sh

.PHONY: cluster
cluster: venv tools ## start the local control plane, redis and the node agent (idempotent)
	$(PY) hack/cluster.py up

.PHONY: cluster-down
cluster-down: ## stop every process `make cluster` started
	$(PYTHON) hack/cluster.py down

.PHONY: operator
operator: cluster ## run the operator in the foreground against .cluster/kubeconfig
	source .cluster/env && kubectl apply -f crds/ -f hack/dev/task-clusterrole.yaml
	source .cluster/env && exec $(VENV)/bin/kubecanvas-operator --liveness http://127.0.0.1:18080/healthz

.PHONY: lint
lint: venv ## ruff, mypy and the import-layering contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: unit
unit: venv ## the tests that need no cluster
	$(PY) -m pytest -m 'not cluster' $(PYTEST_ARGS)

.PHONY: test
test: venv tools ## lint, then the whole suite against a real local cluster (started and stopped if not running)
	$(MAKE) lint
	$(PY) -m pytest $(PYTEST_ARGS)
