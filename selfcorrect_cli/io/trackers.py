"""Experiment trackers (`run.report_to`): TensorBoard and Weights & Biases, beside the JSONL logs.

The JSONL logs (pretrain_log.jsonl, train_log.jsonl) stay the record that reports read;
trackers only mirror the same rows, under the same metric names, for a person watching a run.
Both write inside the run directory: TensorBoard event files in <run_dir>/tb, wandb's run in
<run_dir>/wandb (with WANDB_MODE=offline it needs no network; `wandb sync` uploads it later).

The trackers are accelerate's, used through one API by every stage that logs (pretraining, SFT,
SCoRe): `start_trackers` on the main process, `log_row` for each JSONL row, `finish_trackers`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from selfcorrect_cli.config import config_to_dict
from selfcorrect_cli.config_values import split_names
from selfcorrect_cli.errors import UsageError

TENSORBOARD_DIR = "tb"
"""TensorBoard's folder inside the run directory: `tensorboard --logdir <run_dir>/tb`."""
WANDB_PROJECT = "selfcorrect"
"""wandb project when WANDB_PROJECT is not set."""


def tracker_names(report_to: str | list[str]) -> list[str]:
    """The trackers that `run.report_to` asks for ("none" asks for nothing), each checked to
    be installed, so a missing package stops the run before it writes anything.

    >>> tracker_names("none"), tracker_names([])
    ([], [])
    """
    names = [name for name in split_names(report_to) if name != "none"]
    for name in names:
        # torch.utils.tensorboard, which accelerate writes with, needs the tensorboard package
        if importlib.util.find_spec(name) is None:
            raise UsageError(f"run.report_to={name} needs the {name} package: "
                             f"pip install {name} (or pip install 'selfcorrect[{name}]')")
    return list(dict.fromkeys(names))


def _make_trackers(cfg, run_dir: Path) -> list:
    """accelerate trackers for `run.report_to`, not yet started."""
    from accelerate.tracking import TensorBoardTracker, WandBTracker

    trackers = []
    for name in tracker_names(cfg.run.report_to):
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(TENSORBOARD_DIR, Path(run_dir)))
        else:
            trackers.append(WandBTracker(os.environ.get("WANDB_PROJECT", WANDB_PROJECT),
                                         dir=str(run_dir), name=run_name(cfg, run_dir)))
    return trackers


def run_name(cfg, folder: Path) -> str:
    """The name a tracker shows for the logs in `folder`: the run directory's name, and the
    folder's inside it when a stage logs per fine-tuning run (STaR's rounds).

    >>> from selfcorrect_cli.config import load_config
    >>> cfg = load_config(None, ["run.out_dir=runs/star-seed0"])
    >>> run_name(cfg, Path("runs/star-seed0")), run_name(cfg, Path("runs/star-seed0/round-2"))
    ('star-seed0', 'star-seed0/round-2')
    """
    root, folder = Path(cfg.run.out_dir), Path(folder)
    return root.name if folder == root else f"{root.name}/{folder.name}"


def start_trackers(cfg, run_dir: Path) -> list:
    """Started trackers with the run's config stored; call on the main process only."""
    trackers = _make_trackers(cfg, run_dir)
    if trackers:
        from accelerate import PartialState

        # accelerate's trackers log through its process state. SFT's Trainer and SCoRe's
        # Accelerator have set it up already (then this is a no-op); pretraining, one process
        # on the CPU, has not.
        PartialState(cpu=True)
    for tracker in trackers:
        tracker.start()
        tracker.store_init_configuration(flat_config(cfg))
    return trackers


def log_row(trackers: list, row: dict) -> None:
    """One JSONL log row to every tracker, at the row's "step"."""
    for tracker in trackers:
        tracker.log(metric_values(row), step=row.get("step"))


def metric_values(row: dict) -> dict:
    """A JSONL log row less its "step", which trackers take as the x axis instead.

    >>> metric_values({"step": 3, "train/loss": 0.5})
    {'train/loss': 0.5}
    """
    return {key: value for key, value in row.items() if key != "step"}


def finish_trackers(trackers: list) -> None:
    for tracker in trackers:
        tracker.finish()


def flat_config(cfg) -> dict:
    """The config as dotted keys with plain values, the form trackers store as hyperparameters.

    >>> from selfcorrect_cli.config import load_config
    >>> flat = flat_config(load_config(None, ["run.report_to=[tensorboard]"]))
    >>> flat["run.report_to"], flat["run.seed"]
    ('tensorboard', 0)
    """
    flat = {}
    for section, values in config_to_dict(cfg).items():
        for key, value in values.items():
            if isinstance(value, (list, tuple)):
                value = ",".join(str(item) for item in value)
            flat[f"{section}.{key}"] = value
    return flat
