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

.PHONY: deps
deps: ## install the system packages the project needs (containerd, runc, buildah, redis-server, ...)
	hack/install-deps.sh

.PHONY: tools
tools: ## build the control plane, kubelet, kube-proxy, kubectl, etcd, helm, CoreDNS and the registry into .bin/ (cached)
	hack/build-tools.sh

.PHONY: cluster
cluster: deps venv tools ## start the local single-node cluster (real kubelet and containerd; idempotent; root)
	$(PY) hack/cluster.py up

.PHONY: cluster-down
cluster-down: ## stop the local cluster and undo what it did to the host
	$(PYTHON) hack/cluster.py down

.PHONY: images
images: cluster ## build the operator, runtime and Redis images and push them to the cluster's registry (cached)
	hack/images.sh

.PHONY: operator
operator: images ## run the operator in the foreground against .cluster/kubeconfig (tasks run in pods)
	source .cluster/env && kubectl apply -f crds/
	source .cluster/env && source .cluster/images.env && exec $(VENV)/bin/kubecanvas-operator --liveness http://127.0.0.1:18080/healthz

# `make deploy`: the Helm chart on the local cluster with the images `make images` built: the
# operator, its webhook and the bundled Redis (on a volume of the cluster's storage class) run as
# pods, exactly as `helm install` on any cluster.
DEPLOY_RELEASE ?= kubecanvas
DEPLOY_NAMESPACE ?= kubecanvas-system
DEMO_NAMESPACE ?= default
DEMO_TIMEOUT ?= 180

.PHONY: deploy
deploy: images ## install or upgrade the Helm chart into the local cluster (webhook on, bundled Redis)
	source .cluster/env && source .cluster/images.env && kubectl apply -f charts/kubecanvas/crds/ \
	  && helm upgrade --install $(DEPLOY_RELEASE) charts/kubecanvas \
	  --namespace $(DEPLOY_NAMESPACE) --create-namespace --take-ownership \
	  --set-string operator.image.repository="$${KUBECANVAS_OPERATOR_IMAGE%:*}" \
	  --set-string operator.image.tag="$${KUBECANVAS_OPERATOR_IMAGE##*:}" \
	  --set-string tasks.image.repository="$${KUBECANVAS_RUNTIME_IMAGE%:*}" \
	  --set-string tasks.image.tag="$${KUBECANVAS_RUNTIME_IMAGE##*:}" \
	  --set webhook.enabled=true --set operator.logFormat=text \
	  --wait --timeout 5m
	source .cluster/env && kubectl -n $(DEPLOY_NAMESPACE) wait deployment --for=condition=Available --timeout=2m \
	  -l app.kubernetes.io/instance=$(DEPLOY_RELEASE),app.kubernetes.io/component=operator

.PHONY: undeploy
undeploy: ## uninstall the chart from the local cluster (the CRDs and Workflows stay)
	source .cluster/env && helm uninstall $(DEPLOY_RELEASE) --namespace $(DEPLOY_NAMESPACE) --wait --ignore-not-found

.PHONY: demo
demo: deploy ## deploy the chart on the local cluster, run examples/quickstart.yaml and print its result
	source .cluster/env && kubectl -n $(DEMO_NAMESPACE) create configmap conftasks \
	  --from-file=examples/conftasks.py --dry-run=client -o yaml | kubectl apply -f -
	source .cluster/env && kubectl -n $(DEMO_NAMESPACE) delete workflow quickstart --ignore-not-found --wait
	source .cluster/env && kubectl -n $(DEMO_NAMESPACE) apply -f examples/quickstart.yaml
	@source .cluster/env && deadline=$$((SECONDS + $(DEMO_TIMEOUT))); phase=; \
	while (( SECONDS < deadline )); do \
	  phase=$$(kubectl -n $(DEMO_NAMESPACE) get workflow quickstart -o jsonpath='{.status.phase}'); \
	  case "$$phase" in Succeeded|Failed|Revoked) break ;; esac; sleep 1; \
	done; \
	kubectl -n $(DEMO_NAMESPACE) get workflows; \
	echo "result: $$(kubectl -n $(DEMO_NAMESPACE) get workflow quickstart -o jsonpath='{.status.result}')"; \
	if [[ "$$phase" != Succeeded ]]; then \
	  echo "the quickstart workflow did not succeed within $(DEMO_TIMEOUT)s (phase: $${phase:-none}):" >&2; \
	  kubectl -n $(DEMO_NAMESPACE) get workflow quickstart -o jsonpath='{.status.message}{"\n"}' >&2; \
	  echo "operator log: kubectl -n $(DEPLOY_NAMESPACE) logs -l app.kubernetes.io/instance=$(DEPLOY_RELEASE),app.kubernetes.io/component=operator" >&2; \
	  exit 1; \
	fi

# `make bench`: reproducible benchmarks on the local cluster (hop latency, fan-out, chord, chunks,
# a 10,000-task group) with Celery on this machine and Argo Workflows on the same cluster alongside;
# bench/results.json and results.md. Argo's binaries and images are built here only (hack/images.sh
# argo: a ~10 min cold Go build that `make test` and CI do not pay for).
# BENCH_ARGS passes options to bench/run.py, e.g. BENCH_ARGS='--scale 2000' or
# BENCH_ARGS='--cluster-dir /path/to/.cluster' (see docs/benchmarks.md). About an hour on 2 cores.
BENCH_ARGS ?=

.PHONY: bench
bench: images ## benchmarks on the local cluster, Celery and Argo Workflows alongside (bench/results.md; BENCH_ARGS=...)
	$(PY) -m pip install --quiet -c hack/constraints.txt -e '.[dev,bench]'
	hack/images.sh argo
	$(PY) bench/run.py $(BENCH_ARGS)

# `make chaos`: faults on the local cluster while workflows run (operator kill -9 x30, the API
# server down 15 s and 60 s, Redis restarted and flushed, task pods deleted and OOM-killed, the kubelet
# restarted; and the chart in HA mode, its leader pod deleted during `kubectl create`s), at full
# size; the report is .cluster/chaos/report.md. `make test` runs the same scenarios small.
CHAOS_WEBHOOK = test_ha_operator_pods_deleted_during_applies_refuse_no_valid_workflow_and_admit_no_invalid_one
.PHONY: chaos
chaos: images ## the fault suite at full size on the local cluster (report: .cluster/chaos/report.md)
	KUBECANVAS_CHAOS=full $(PY) -m pytest tests/e2e/test_chaos.py \
	  tests/chart/test_chart_cluster.py::$(CHAOS_WEBHOOK) -o timeout=3600 $(PYTEST_ARGS)

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
test: images ## lint, then the whole suite against the real local cluster (started if not running)
	$(MAKE) lint
	$(PY) -m pytest $(PYTEST_ARGS)
