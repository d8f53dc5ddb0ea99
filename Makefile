# Two entry points: `make demo` and `make test`. Both build .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench default-checkpoint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Sample 64 programs for a bundled problem with the bundled model, filter, cluster, print the picks.
# The problem is from the fine-tuning split and the batches ask for Python only: on held-out problems,
# and in C++, this small model passes no example test yet (README, "The default model").
DEMO_PROBLEM ?= data/contest/amoeba-doubling.json
demo: $(STAMP)
	$(BIN)/alphacode solve $(DEMO_PROBLEM) --samples 64 --max-tokens 256 --python-fraction 1.0 --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/execution.py

# Retrain the bundled model from scratch on this machine instead of an accelerator (about two hours on 2 cores;
# resumable): the recipe's CPU experiments (configs/default_*_cpu.py, a smaller model than the shipped one,
# which came from the GPU experiments: docs/training.md), the second exporting into the package. The model it gives
# is far weaker than the shipped one (docs/results.md#the-cpu-variant): for when no accelerator-trained one is at hand.
default-checkpoint: $(STAMP)
	$(BIN)/alphacode pretrain --experiment default-pretrain-cpu
	$(BIN)/alphacode finetune --experiment default-finetune-cpu --set data.export=alphacode/default_model

clean:
	rm -rf $(VENV) build *.egg-info
