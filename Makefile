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

# Until the default checkpoint lands, the demo judges the bundled example solutions in the sandbox.
demo: $(STAMP)
	@for problem in examples/*.json; do \
		for solution in examples/$$(basename $$problem .json)/solution.*; do \
			echo "== $$solution"; \
			$(BIN)/alphacode judge $$solution --problem $$problem | tail -n 1 || exit 1; \
		done; \
	done

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/execution.py

# Retrain the bundled model from scratch on this machine (about two hours on 2 cores; resumable).
default-checkpoint: $(STAMP)
	$(BIN)/python -m finetune.recipe --preset cpu --workdir runs/default-model --export alphacode/default_model

clean:
	rm -rf $(VENV) build *.egg-info
