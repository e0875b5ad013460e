"""Stage II started from another run's Stage I (score.stage1_from).

Stage I reads neither alpha, nor the credit assignment, nor the Stage-II update, advantage
scale, turn-2 baseline or KL controller (methods/policy_update.py), and every step's problems
and samples are a fixed function of (seed, step, process) (methods/score.py). So score,
score-return, no-shaping and star-stage2 of one seed train the very same Stage I. The study
trains it once, in the `score` run (which keeps its end-of-Stage-I checkpoint,
score.keep_stage1), and the others start from that checkpoint:
its weights, optimizer state and log lines, the same as training Stage I again
(tests/test_score.py compares the final weights bitwise) at none of its cost.

"The same" holds as resuming does: with the same number of processes, torch threads, library
versions and processor (README, "Determinism"); those are not in the config and not checked.
Trackers (run.report_to) of the sharing run see Stage II only; its train_log.jsonl has both.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from selfcorrect_cli.config import config_to_dict
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.checkpoints import STAGE1, STATE, load_checkpoint
from selfcorrect_cli.io.run_dir import log_lines_before, write_atomic

# What may differ from the source run: settings only Stage II reads, and the run's own name,
# trackers and checkpointing (a checkpoint in Stage I changes no weight).
MAY_DIFFER = {"run": {"out_dir", "report_to"}, "train": {"method"},
              "score": {"alpha", "credit", "stage2_update", "stage2_steps", "stage1_from",
                        "checkpoint_every", "keep_stage1", "advantage_norm", "turn2_baseline",
                        "kl_target_turn1", "kl_target_turn2", "kl_adapt_rate"}}


def stage1_differences(ours: dict, theirs: dict) -> list[str]:
    """Dotted names of the settings, outside MAY_DIFFER, on which two configs disagree.

    >>> stage1_differences({"score": {"lr": 1, "alpha": 1}}, {"score": {"lr": 2, "alpha": 0}})
    ['score.lr']
    """
    differ = []
    for section in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(section) or {}, theirs.get(section) or {}
        for key in sorted(set(mine) | set(other)):
            if key not in MAY_DIFFER.get(section, ()) and mine.get(key) != other.get(key):
                differ.append(f"{section}.{key}")
    return differ


def check_shared_stage1(cfg, log_name: str) -> Path:
    """The end-of-Stage-I checkpoint of run `cfg.score.stage1_from`, once it is known to be this
    run's Stage I; refuses (UsageError) before anything is written or loaded otherwise."""
    source = Path(cfg.score.stage1_from)  # a run with both stages (config_values.py checks)
    snapshot = source / "checkpoints" / STAGE1
    if not all(p.exists() for p in (snapshot / STATE, snapshot / "config.yaml", source / log_name)):
        raise UsageError(f"score.stage1_from: {source} has no end-of-Stage-I checkpoint with its "
                         f"log (train it with score.keep_stage1=true, or drop score.stage1_from)")
    theirs = yaml.safe_load((snapshot / "config.yaml").read_text()) or {}
    differ = stage1_differences(config_to_dict(cfg), theirs)
    if differ:
        raise UsageError(f"score.stage1_from: {source} trained another Stage I "
                         f"({', '.join(differ)} differ)")
    return snapshot


def load_shared_stage1(cfg, snapshot: Path, policy, optimizer, log_names: tuple[str, ...],
                       write_log: bool) -> int:
    """Load `snapshot` (from check_shared_stage1) into `policy` and `optimizer`, copy the source's
    Stage-I lines of each log in `log_names` (the train log, the sample conversations) into this
    run's (when `write_log`; a log the source lacks is skipped); -> the step to continue at."""
    step = load_checkpoint(snapshot, policy, optimizer, chooser=None)
    source = snapshot.parent.parent
    for name in log_names if write_log else ():
        if (source / name).exists():
            write_atomic(Path(cfg.run.out_dir) / name, log_lines_before(source / name, step))
    return step
