# Two commands on a fresh machine: `make reproduce` (the built-in study, CPU, no network)
# and `make test`. Each creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SC := TQDM_MININTERVAL=5 $(BIN)/selfcorrect

.PHONY: install test reproduce clean-runs table-sft table-main table-ablations

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

# --- SCoRe and its ablations: paper Table 2 (main) and Table 4 (ablations) ----------------------
# The main table reuses the SFT baselines' runs above (Self-Refine, STaR D+, Pair-SFT D) by their
# make targets; offline-turn1 reuses their base-model traces.
RL := runs/builtin/rl
RL_EXP := experiments/builtin/rl
RL_METHODS := score score-per-turn single-turn-rl no-stage1 no-shaping star-stage2 offline-turn1

$(RL)/%/model/config.json: $(BASE) $(RL_EXP)/%.yaml
	$(SC) train -c $(RL_EXP)/$*.yaml

$(RL)/offline-turn1/model/config.json: $(SFT)/traces/traces.jsonl

$(RL)/%/eval/metrics.json: $(RL)/%/model/config.json $(SFT_EXP)/eval.yaml
	$(SC) eval -c $(SFT_EXP)/eval.yaml --set model.path=$(RL)/$*/model --set run.out_dir=$(RL)/$*/eval

results/table-main.md: runs/builtin/eval/base-greedy/metrics.json $(SFT)/eval/self-refine/metrics.json \
		$(SFT)/eval/star-dplus/metrics.json $(SFT)/eval/pair-d/metrics.json $(RL)/score/eval/metrics.json
	$(SC) score-table main --out $@ --title "Built-in world vs paper Table 2 (MATH)" \
		Base=runs/builtin/eval/base-greedy Self-Refine=$(SFT)/eval/self-refine \
		STaR=$(SFT)/eval/star-dplus Pair-SFT=$(SFT)/eval/pair-d SCoRe=$(RL)/score/eval

results/table-ablations.md: $(RL_METHODS:%=$(RL)/%/eval/metrics.json)
	$(SC) score-table ablations --out $@ --title "Built-in world vs paper Table 4 (ablations)" \
		SCoRe=$(RL)/score/eval "w/o multi-turn training=$(RL)/single-turn-rl/eval" \
		"w/o Stage I=$(RL)/no-stage1/eval" "w/o reward shaping=$(RL)/no-shaping/eval" \
		"STaR instead of REINFORCE in Stage II=$(RL)/star-stage2/eval" \
		"w/o online turn-1 samples=$(RL)/offline-turn1/eval" \
		"SCoRe, per-turn credit=$(RL)/score-per-turn/eval"

results/score-curves.png: $(RL_METHODS:%=$(RL)/%/model/config.json)
	$(SC) score-curves --out $@ $(foreach m,$(RL_METHODS),$(m)=$(RL)/$(m))

table-main: results/table-main.md
	@cat results/table-main.md

table-ablations: results/table-ablations.md results/score-curves.png
	@cat results/table-ablations.md

# Everything above, two stages at a time with one thread each (tiny models gain little from
# intra-op threads, and two processes keep both cores busy).
REPRODUCED := results/base.md results/table-sft.md results/sft-collapse.png \
	results/sft-mismatch.png results/table-main.md results/table-ablations.md results/score-curves.png

reproduce: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 $(REPRODUCED)
	@cat results/base.md results/table-sft.md results/table-main.md results/table-ablations.md

clean-runs:
	rm -rf runs
