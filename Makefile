# Two commands on a fresh machine: `make reproduce` (the built-in study, CPU, no network)
# and `make test`. Each creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SC := TQDM_MININTERVAL=5 $(BIN)/selfcorrect

.PHONY: install test reproduce clean-runs

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch lies on this machine's disk; pin it before anything pulls CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALLED)

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

# --- the built-in reproduction: file targets, so a rerun skips finished stages ---------------
BASE := runs/builtin/base/model/config.json

$(BASE): $(INSTALLED) experiments/builtin/base.yaml
	$(SC) pretrain -c experiments/builtin/base.yaml

runs/builtin/eval/%/metrics.json: $(BASE) experiments/builtin/eval-%.yaml
	$(SC) eval -c experiments/builtin/eval-$*.yaml

results/base.md: runs/builtin/eval/base-greedy/metrics.json runs/builtin/eval/base-t1/metrics.json
	$(SC) table --out $@ --title "Built-in world: base model, two attempts" \
		greedy=runs/builtin/eval/base-greedy t1.0=runs/builtin/eval/base-t1

reproduce: results/base.md
	@cat results/base.md

clean-runs:
	rm -rf runs
