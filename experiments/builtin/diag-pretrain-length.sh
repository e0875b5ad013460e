#!/bin/bash
# The diagnostic after the powered study (README, "Results of the powered study"): SCoRe (100 +
# 100, today's defaults) on tuning seed 100 from three bases, validation split only, greedy
# evaluation of 512 problems every 25 iterations: 800 steps with misreads (the study's world),
# 800 steps without, 2000 steps without. Needs the first two bases from the calibration
# (docs/built-in-world.md, rules 1 and 2); pretrains the third. Run from the repository root.
set -euo pipefail
SC=".venv/bin/selfcorrect"
export OMP_NUM_THREADS=1 TQDM_MININTERVAL=30
score() {  # name base-model-folder
  $SC train -c experiments/builtin/rl/score.yaml --set run.seed=100 --set run.out_dir=runs/diag/$1 \
    --set train.base_model=$2 --set score.eval_every=25 --set score.eval_problems=512 \
    > runs/diag/$1.log 2>&1 && echo "$1 done"
}
mkdir -p runs/diag
( $SC pretrain -c experiments/builtin/base.yaml --set run.seed=100 --set pretrain.steps=2000 \
    --set world.misread=0 --set run.out_dir=runs/calib/steps2000/seed100/base \
    > runs/diag/pretrain2000.log 2>&1 && score s2000-m0 runs/calib/steps2000/seed100/base/model ) &
( score s800-m0.3 runs/calib/m0.3/seed100/base/model
  score s800-m0 runs/calib/steps800/seed100/base/model ) &
wait
