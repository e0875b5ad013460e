# Two commands on a fresh machine: `make reproduce` (the built-in study, CPU, no network)
# and `make test`. Each creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SC := TQDM_MININTERVAL=5 $(BIN)/selfcorrect

.PHONY: install test reproduce clean-runs table-sft

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

# --- SFT baselines: paper Table 1 (STaR, Pair-SFT), Figure 3 (collapse), Figure 4 (mismatch) ----
SFT := runs/builtin/sft
SFT_EXP := experiments/builtin/sft
SFT_MODELS := star-d star-dplus pair-d pair-dplus

$(SFT)/traces/traces.jsonl: $(BASE) $(SFT_EXP)/collect-train.yaml
	$(SC) collect -c $(SFT_EXP)/collect-train.yaml

$(SFT)/%/model/config.json: $(SFT)/traces/traces.jsonl $(SFT_EXP)/%.yaml
	$(SC) train -c $(SFT_EXP)/$*.yaml

$(SFT)/eval/self-refine/metrics.json: $(BASE) $(SFT_EXP)/self-refine.yaml
	$(SC) self-refine -c $(SFT_EXP)/self-refine.yaml

$(SFT)/eval/%/metrics.json: $(SFT)/%/model/config.json $(SFT_EXP)/eval.yaml
	$(SC) eval -c $(SFT_EXP)/eval.yaml --set model.path=$(SFT)/$*/model --set run.out_dir=$(SFT)/eval/$*

results/table-sft.md: runs/builtin/eval/base-greedy/metrics.json $(SFT)/eval/self-refine/metrics.json \
		$(SFT_MODELS:%=$(SFT)/eval/%/metrics.json)
	$(SC) table-sft --out $@ Base=runs/builtin/eval/base-greedy \
		"STaR on D_STaR=$(SFT)/eval/star-d" "STaR on D+_STaR=$(SFT)/eval/star-dplus" \
		"Pair-SFT on D_SFT=$(SFT)/eval/pair-d" "Pair-SFT on D+_SFT=$(SFT)/eval/pair-dplus" \
		Self-Refine=$(SFT)/eval/self-refine

results/sft-collapse.png: $(SFT_MODELS:%=$(SFT)/%/model/config.json) $(SFT_EXP)/collapse.yaml
	$(SC) analyze-collapse -c $(SFT_EXP)/collapse.yaml --out results/sft-collapse \
		Base=runs/builtin/base/model "STaR D_STaR=$(SFT)/star-d/model" \
		"STaR D+_STaR=$(SFT)/star-dplus/model" "Pair-SFT D_SFT=$(SFT)/pair-d/model" \
		"Pair-SFT D+_SFT=$(SFT)/pair-dplus/model"

results/sft-mismatch.png: $(SFT)/traces/traces.jsonl $(SFT_EXP)/mismatch.yaml
	$(SC) analyze-mismatch -c $(SFT_EXP)/mismatch.yaml --out results/sft-mismatch

table-sft: results/table-sft.md results/sft-collapse.png results/sft-mismatch.png
	@cat results/table-sft.md

reproduce: results/base.md
	@cat results/base.md

clean-runs:
	rm -rf runs
