# Every target runs `python -m pipeline STAGE` inside .venv, which `make install` builds on demand.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The builds that lie on this machine's disk; override for another platform.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
DATASET_DIR := /usr/share/datasets/fashion-mnist
# The Debian packages the test suite starts besides .venv, each as `package:command` with the
# command that shows it is there (on PATH or in PostgreSQL's versioned bin/, as the tests look):
# headless Chromium for the browser tests, PostgreSQL for the scale-out tests.
TEST_PACKAGES ?= chromium:chromium postgresql:initdb

# make train: each flag is passed only when given, so FROM_RUN=<run id> takes the rest from that run
# (the CLI's defaults otherwise: relu, lr 0.001, 13 epochs, all cores). Its variables, each as
# VARIABLE:flag; any other training flag (one per key of the training config, generated from it:
# `python -m pipeline train --help`) goes in ARGS: ARGS='--label-smoothing 0.1 --batch-size 32'.
TRAIN_VARIABLES := FROM_RUN:from-run ACT:activation LR:lr EPOCHS:epochs OPTIMIZER:optimizer \
  INIT:init LR_SCHEDULE:lr-schedule PRECISION:precision THREADS:threads
ACT ?=
LR ?=
EPOCHS ?=
THREADS ?=
FROM_RUN ?=
OPTIMIZER ?=
LR_SCHEDULE ?=
PRECISION ?=
INIT ?=
MODEL ?= models:/activations@champion
SWEEP ?= sweeps/activations.yaml
WORKERS ?=
# Sweep-file keys for one run, each KEY=VALUE without spaces: SET='max_epochs=1 lr=[0.01,0.1]'.
SET ?=
SET_FLAGS = $(foreach item,$(SET),--set $(call q,$(item)))
SEEDS ?=
PORT ?=
EXPERIMENT ?= activation-study
# The dataset: empty for Fashion-MNIST (or the sweep file's `dataset:`), a folder of four IDX
# files (DATA=./kmnist, DATA=/data/kmnist) or a name whose folder is data/NAME.
DATA ?=
DATASET_FLAG = $(if $(DATA),--dataset $(call q,$(DATA)))
PYTEST_ARGS ?=
# A variable's value as one shell word, whatever it holds (spaces, quotes): EXPERIMENT='my exp'.
# ARGS and PYTEST_ARGS alone are split into words, being lists of flags.
q = '$(subst ','\'',$(1))'
# `--flag 'value'` for each VARIABLE:flag of a list whose variable is set.
given_flags = $(foreach pair,$(1),$(call given_flag,$(word 1,$(subst :, ,$(pair))),$(word 2,$(subst :, ,$(pair)))))
given_flag = $(if $($(1)),--$(2) $(call q,$($(1))))
# Test processes (pytest-xdist): a whole test file to each, so a module's fixture is built once.
TEST_PROCESSES ?= auto
PYTEST := $(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile
ARGS ?=

.PHONY: help install dataset-package test-packages data train evaluate sweep worker status drain report \
	confirm promote \
	curves probe analyze figures bench device-kit ui dashboard serve test test-fast lint format clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## build .venv with the package (editable), dev tools, psycopg, MLflow auth

# pip compiles what it unpacks one file at a time (PyTorch alone brings thousands); compileall
# does it on every core, about 30 s sooner here, and for this project's own modules too. Without
# the bytecode every process would compile what it imports wherever PYTHONDONTWRITEBYTECODE is
# set (the test suite starts hundreds). A few of torch's own test files are for a newer Python
# and fail to compile, as they do under pip: harmless, hence the `|| true`.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install --no-compile $(TORCH_SPEC)
	# [postgres]: the psycopg driver, for a study or MLflow store on PostgreSQL (and its test);
	# [auth]: MLflow's login app, for a tracking server with users (and its test)
	$(VENV)/bin/pip install --no-compile -e '.[dev,postgres,auth]'
	$(VENV)/bin/python -m compileall -qq -j 0 $(VENV)/lib pipeline tests benchmarks || true
	touch $@

# Debian's package holds the official files; install it when no other source is there (and the
# dataset is Fashion-MNIST: DATA empty or fashion-mnist).
dataset-package:
	@if [ -z "$(filter-out fashion-mnist,$(DATA))" ] && [ -z "$$FASHION_MNIST_DIR" ] \
	    && [ ! -f data/FashionMNIST/raw/train-images-idx3-ubyte ] \
	    && [ ! -f $(DATASET_DIR)/train-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q \
	      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist; \
	  else echo "note: run 'sudo apt-get install dataset-fashion-mnist' or set FASHION_MNIST_DIR"; fi; \
	fi

# What the suite needs and this machine lacks: installed as root, else one line saying what to run.
test-packages:
	@missing=""; for entry in $(TEST_PACKAGES); do \
	  command -v $${entry#*:} >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/$${entry#*:}" \
	    >/dev/null || missing="$$missing $${entry%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q$$missing; \
	  else echo "note: run 'sudo apt-get install$$missing' (tests that need them skip until then)"; \
	  fi; \
	fi

data: install dataset-package ## find, verify and load the dataset: make data DATA=./kmnist
	$(PY) -m pipeline data $(DATASET_FLAG)

train: install dataset-package ## train one model: make train ACT=relu LR=0.001 EPOCHS=13 OPTIMIZER=adam LR_SCHEDULE=cosine PRECISION=bf16-mixed THREADS=1 DATA=... ARGS='--label-smoothing 0.1'; FROM_RUN=<id> redoes a run
	$(PY) -m pipeline train --experiment $(call q,$(EXPERIMENT)) $(call given_flags,$(TRAIN_VARIABLES)) \
	  $(DATASET_FLAG) $(ARGS)

evaluate: install dataset-package ## test accuracy of a logged model: make evaluate MODEL=runs:/<id>/model
	$(PY) -m pipeline evaluate --model-uri $(call q,$(MODEL)) $(DATASET_FLAG)

sweep: install dataset-package ## the study: make sweep SWEEP=sweeps/quick.yaml WORKERS=2 SET='max_epochs=1' ARGS=--dry-run
	$(PY) -m pipeline sweep --config $(call q,$(SWEEP)) \
	  $(if $(WORKERS),--workers $(call q,$(WORKERS))) $(DATASET_FLAG) $(SET_FLAGS) $(ARGS)

worker: install dataset-package ## join a prepared sweep from this machine: make worker SWEEP=... THREADS=2 WORKERS=2
	$(PY) -m pipeline worker --config $(call q,$(SWEEP)) \
	  $(if $(THREADS),--threads $(call q,$(THREADS))) $(if $(WORKERS),--workers $(call q,$(WORKERS))) \
	  $(DATASET_FLAG) $(SET_FLAGS)

status: install ## a study's live workers, their trials and its queue: make status SWEEP=...
	$(PY) -m pipeline status --config $(call q,$(SWEEP)) $(SET_FLAGS)

drain: install ## this machine's workers on a study finish their trials, then exit: make drain SWEEP=...
	$(PY) -m pipeline drain --config $(call q,$(SWEEP)) $(SET_FLAGS)

report: install ## rebuild a study's report in reports/<study>/ from MLflow: make report SWEEP=...
	$(PY) -m pipeline report --config $(call q,$(SWEEP)) $(SET_FLAGS)

confirm: install dataset-package ## more replicate seeds per activation: make confirm SEEDS=5
	$(PY) -m pipeline confirm --config $(call q,$(SWEEP)) $(if $(SEEDS),--seeds $(call q,$(SEEDS))) \
	  $(if $(WORKERS),--workers $(call q,$(WORKERS))) $(DATASET_FLAG) $(SET_FLAGS)

curves: install ## each activation and its derivative (seed's Figure 2), tracked
	$(PY) -m pipeline curves --experiment $(call q,$(EXPERIMENT)) $(ARGS)

probe: install dataset-package ## weight gradients at initialisation (seed's Figure 3), tracked
	$(PY) -m pipeline probe --experiment $(call q,$(EXPERIMENT)) $(DATASET_FLAG) $(ARGS)

analyze: install dataset-package ## layer outputs of trained models (Figure 4): make analyze ARGS=--best
	$(PY) -m pipeline analyze --experiment $(call q,$(EXPERIMENT)) $(DATASET_FLAG) $(ARGS)

figures: install dataset-package ## curves + probe + analyze + training dynamics; PNGs in reports/figures/
	$(PY) -m pipeline figures --experiment $(call q,$(EXPERIMENT)) --figures-dir reports/figures \
	  $(DATASET_FLAG) $(ARGS)

bench: install dataset-package ## time the training stage against its references -> reports/bench.*
	$(PY) -m pipeline bench --out reports

# For a GPU host without a package index: the wheels it lacks (pinned to .venv's versions) and
# the data, in .device/, a bundle small enough to copy (64 MiB with the working tree). Copy the
# working tree with .device/ to the host and run `bash benchmarks/gpu_check.sh` there
# (docs/performance.md, Stacked trials).
device-kit: install dataset-package ## wheels + data for benchmarks/gpu_check.sh on an offline GPU host -> .device/
	$(PY) -m benchmarks.device_kit

ui: install ## compare runs in the MLflow UI on 127.0.0.1: make ui PORT=5000 (HOST=... to share)
	$(PY) -m pipeline ui --port $(call q,$(or $(PORT),5000)) --experiment $(call q,$(EXPERIMENT)) \
	  $(if $(HOST),--host $(call q,$(HOST)))

# Its own default port (optuna-dashboard's), so the MLflow UI and the dashboard run side by side.
dashboard: install ## watch a sweep's study live: make dashboard SWEEP=... PORT=8080
	$(PY) -m pipeline dashboard --config $(call q,$(SWEEP)) --port $(call q,$(or $(PORT),8080)) \
	  $(if $(HOST),--host $(call q,$(HOST)))

promote: install ## put a study's model on another name: make promote MODEL=models:/quick@relu TO=fashion-prod@champion REASON='...'
	$(PY) -m pipeline promote --model-uri $(call q,$(MODEL)) --to $(call q,$(TO)) \
	  --reason $(call q,$(REASON))

serve: install ## a model's MLflow scoring server on 127.0.0.1: make serve MODEL=<uri> PORT=5001
	$(PY) -m pipeline serve --model-uri $(call q,$(MODEL)) --port $(call q,$(or $(PORT),5001)) \
	  $(if $(HOST),--host $(call q,$(HOST)))

test: install dataset-package test-packages ## run the test suite (installs what it needs as root)
	$(PYTEST) $(PYTEST_ARGS)

test-fast: install ## the suite without the slow tests, for quick edits
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

lint: install ## ruff check and format check, mypy --strict on pipeline/ (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install ## ruff fix and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## remove caches (keeps .venv, data/, mlflow.db and mlruns/)
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
