# cellkiosk — the front door. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint format bench simulate helm-check train evaluate clean compose-up compose-down test-compose

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# tensorflow-serving-api declares the full `tensorflow`; we have tensorflow-cpu, so skip its deps
	$(BIN)/pip install -q --no-deps tensorflow-serving-api==2.21.0
	touch $(STAMP)

install: $(STAMP) ## create .venv and install (only when pyproject.toml changed)

run: $(STAMP) ## run the whole platform (PORT=8000): embedded valkey, local storage, in-process TF
	CELLKIOSK_PORT=$(PORT) $(BIN)/cellkiosk up

test: $(STAMP) ## run the whole test suite (real valkey, SeaweedFS, gRPC, TensorFlow; make helm-check's steps too)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## the suite without the tests marked slow (under 2 minutes)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check services tests benchmarks
	$(BIN)/ruff format --check services tests benchmarks
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix services tests benchmarks
	$(BIN)/ruff format services tests benchmarks

bench: $(STAMP) ## speed, accuracy and load benchmarks (records in benchmarks/results/, quoted in the README)
	$(BIN)/python benchmarks/segmentation_speed.py
	$(MAKE) simulate  # the capacity record reads postprocess s/MP from segmentation_speed.json (a test compares)
	$(BIN)/python benchmarks/platform_throughput.py
	$(BIN)/python benchmarks/size_job_share.py
	$(BIN)/python -m benchmarks.error_kinds
	$(BIN)/python benchmarks/tracking_speed.py
	$(BIN)/python benchmarks/tracking_end_to_end.py
	$(BIN)/python benchmarks/division_settle.py
	$(BIN)/python benchmarks/size_head_probe.py
	$(BIN)/python -m benchmarks.e2e --images 12
	$(BIN)/python -m benchmarks.e2e --images 12 --diameter 110
	$(BIN)/python benchmarks/watershed_speed.py --before 19c1ee1
	$(BIN)/python -m benchmarks.viewer_latency
	$(BIN)/python -m benchmarks.backends
	$(BIN)/python -m benchmarks.precision
	$(BIN)/python -m benchmarks.tiling
	$(BIN)/python -m benchmarks.gateway
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.perf_tables
	$(BIN)/python benchmarks/load_test.py

helm-check: $(STAMP) ## the Helm chart offline: lint --strict, template 4 values files, kubernetes-validate 1.32, KEDA schema, tests
	bash helm/check.sh .cache/helm/rendered
	CELLKIOSK_HELM_RENDERED=.cache/helm/rendered $(BIN)/pytest -q -p no:cacheprovider tests/helm $(PYTEST_ARGS)

simulate: $(STAMP) ## capacity and cost of 10^6 1-MP images on Kubernetes (benchmarks/results/million-1mp.*, docs/capacity/)
	$(BIN)/cellkiosk simulate benchmarks/scenarios/million-1mp.yaml --sweep-gpus 5 10 40 --sweep-gpu-s-per-mp 0.025 0.1 0.2

train: $(STAMP) ## train (or resume) nuclear:3's recipe into runs/nuclear-v3 (docs/nuclear-model.md)
	$(BIN)/cellkiosk train --out runs/nuclear-v3 --init models/nuclear/2 --diameter 17 --ctc-seg \
	  --ctc ../shared/data/ctc/Fluo-N2DH-SIM+/01 --ctc ../shared/data/ctc/Fluo-N2DH-GOWT1/01 --ctc-share 0.2 \
	  --object-gain 0.5 --epochs 10 --steps 100 --lr 5e-4 --min-lr 2e-5

evaluate: $(STAMP) ## score the default nuclear model (a job with no params) on DSB2018 val and on coelho2009
	$(BIN)/cellkiosk evaluate --model models/nuclear/3 --split val
	$(BIN)/cellkiosk evaluate --model models/nuclear/3 --data ../shared/data/coelho2009 --split test --group-by cell_line

clean: ## remove the embedded platform's state (.cellkiosk/) and caches
	rm -rf .cellkiosk .pytest_cache .mypy_cache .ruff_cache

# The docker compose stack (docker-compose.yml) on whatever daemon DOCKER_HOST names; see README
# "Deploy on one host with docker compose". STANDINS=1 builds local stand-ins for the upstream images.
compose-up: ## build the images, start the compose stack, print its URL (COMPOSE_PORT=8080, STANDINS=1)
	$(if $(COMPOSE_PORT),COMPOSE_PORT=$(COMPOSE_PORT)) STANDINS=$(STANDINS) bash docker/compose.sh up

compose-down: ## stop the compose stack, remove its containers (PURGE=1: its data volumes too)
	PURGE=$(PURGE) bash docker/compose.sh down

test-compose: $(STAMP) ## the compose stack for real: stand-ins, jobs, a killed consumer, a Valkey restart
	CELLKIOSK_TEST_COMPOSE=1 $(BIN)/pytest tests/compose -p no:cacheprovider $(PYTEST_ARGS)
