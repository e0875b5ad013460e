# The someone-else's-traces experiment (docs/built-in-world.md, "Kinds of mistakes";
# analyses/someone_else.py), included by the Makefile after its study rules (it uses RUNS,
# RESULTS, SEEDS, SC, SFT_EXP and the per-seed runs they build). Per base seed s of
# MISMATCH_SEEDS, with s' the next seed of SEEDS (cyclic):
#   own.json:   Pair-SFT D and STaR D+ of seed s (the main study's), collector = seed s's base,
#               and SCoRe of seed s beside them as the on-policy reference (every seed of SEEDS);
#   other.json: Pair-SFT D and STaR D+ trained from seed s's base on seed s''s traces,
#               collector = seed s''s base.
# `make mismatch-study` builds them and writes $(RESULTS)/mismatch-experiment.md.
MISMATCH_SEEDS ?= $(wordlist 1,5,$(SEEDS))
MISMATCH_EXP := $(SFT_EXP)/mismatch-experiment.yaml
# "0:1 1:2 2:0" for SEEDS = 0 1 2: each seed with the next one, the last with the first
MISMATCH_NEXT := $(join $(SEEDS),$(addprefix :,$(wordlist 2,$(words $(SEEDS)),$(SEEDS)) $(firstword $(SEEDS))))
next_seed = $(patsubst $(1):%,%,$(filter $(1):%,$(MISMATCH_NEXT)))

.PHONY: mismatch-study mismatch-study-runs

# MISMATCH_RULES(s, s'): the seed's other arm (its own arm is OWN_RULES, below).
define MISMATCH_RULES
$(RUNS)/seed$(1)/mismatch-exp/other/%/model/config.json: $(RUNS)/seed$(2)/sft/traces/traces.jsonl \
		$(RUNS)/seed$(1)/base/model/config.json $(SFT_EXP)/%.yaml
	$(SC) train -c $(SFT_EXP)/$$*.yaml --set run.seed=$(1) \
		--set run.out_dir=$(RUNS)/seed$(1)/mismatch-exp/other/$$* \
		--set train.base_model=$(RUNS)/seed$(1)/base/model \
		--set train.traces=$(RUNS)/seed$(2)/sft/traces/traces.jsonl $(SFT_SET)

$(RUNS)/seed$(1)/mismatch-exp/other.json: $(RUNS)/seed$(1)/mismatch-exp/other/pair-d/model/config.json \
		$(RUNS)/seed$(1)/mismatch-exp/other/star-dplus/model/config.json \
		$(RUNS)/seed$(2)/base/model/config.json $(MISMATCH_EXP)
	$(SC) mismatch-experiment -c $(MISMATCH_EXP) --set run.seed=$(1) --out $$@ \
		--collector $(RUNS)/seed$(2)/base/model \
		pair_sft=$(RUNS)/seed$(1)/mismatch-exp/other/pair-d/model \
		star=$(RUNS)/seed$(1)/mismatch-exp/other/star-dplus/model $(EVAL_SET)
endef
$(foreach s,$(MISMATCH_SEEDS),$(eval $(call MISMATCH_RULES,$(s),$(call next_seed,$(s)))))

# OWN_RULES(s): the own arm, on every seed of the study (findings v2 judges its mismatch claims
# on it; `make reproduce` builds it).
define OWN_RULES
$(RUNS)/seed$(1)/mismatch-exp/own.json: $(RUNS)/seed$(1)/sft/pair-d/model/config.json \
		$(RUNS)/seed$(1)/sft/star-dplus/model/config.json $(RUNS)/seed$(1)/rl/score/model/config.json \
		$(MISMATCH_EXP)
	$(SC) mismatch-experiment -c $(MISMATCH_EXP) --set run.seed=$(1) --out $$@ \
		--collector $(RUNS)/seed$(1)/base/model pair_sft=$(RUNS)/seed$(1)/sft/pair-d/model \
		star=$(RUNS)/seed$(1)/sft/star-dplus/model score=$(RUNS)/seed$(1)/rl/score/model $(EVAL_SET)
endef
$(foreach s,$(SEEDS),$(eval $(call OWN_RULES,$(s))))

MISMATCH_INPUTS := $(foreach s,$(MISMATCH_SEEDS),$(RUNS)/seed$(s)/mismatch-exp/own.json \
	$(RUNS)/seed$(s)/mismatch-exp/other.json)

$(RESULTS)/mismatch-experiment.md: $(MISMATCH_INPUTS)
	$(SC) mismatch-report --runs $(RUNS) --seeds "$(MISMATCH_SEEDS)" --out $@

mismatch-study-runs: $(MISMATCH_INPUTS)

# JOBS stages at a time with one thread each, as `make reproduce` runs the study.
mismatch-study: $(INSTALLED)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j$(JOBS) $(RESULTS)/mismatch-experiment.md
	@cat $(RESULTS)/mismatch-experiment.md
