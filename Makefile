# cellkiosk — the front door. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint format bench train evaluate clean compose-up compose-down test-compose

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

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

test: $(STAMP) ## run the whole test suite (real valkey, SeaweedFS, gRPC, TensorFlow)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## the suite without slow tests
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check services tests benchmarks
	$(BIN)/ruff format --check services tests benchmarks
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix services tests benchmarks
	$(BIN)/ruff format services tests benchmarks

bench: $(STAMP) ## speed and accuracy benchmarks (figures quoted in the README)
	$(BIN)/python benchmarks/segmentation_speed.py
	$(BIN)/python benchmarks/platform_throughput.py
	$(BIN)/python benchmarks/tracking_speed.py
	$(BIN)/python benchmarks/tracking_end_to_end.py

train: $(STAMP) ## train (or resume) the nuclear model into runs/nuclear
	$(BIN)/cellkiosk train --out runs/nuclear

evaluate: $(STAMP) ## score the shipped nuclear model on the DSB2018 val split
	$(BIN)/cellkiosk evaluate --model models/nuclear/1 --split val

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
