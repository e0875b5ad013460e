"""Several processes under `accelerate launch`: each one's device, its share of the work, and
bringing the shares back to the main process, the only one that writes files.

The one place that asks accelerate about processes, and decides the same way for every stage
whether they run on the CPU: `process_state` for the stages that only share out work (collect,
eval, SFT around TRL's Trainer, which makes its own Accelerator), `training_accelerator` for
SCoRe's own loop, which also needs DDP's gradients and reductions.

Without a launch there is one process, its own device is the configured one, and gathering
returns the list unchanged: collect, eval and SFT then run exactly as they would without
accelerate.
"""

from __future__ import annotations

import copy

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import gather_object

from selfcorrect_cli.config import ModelConfig


def runs_on_cpu(model_cfg: ModelConfig) -> bool:
    """Whether the processes run on the CPU: device "cpu", or "auto" without a GPU. accelerate
    must be told: without cpu=True it ignores a multi-process launch on a machine with no GPU."""
    return model_cfg.device == "cpu" or (model_cfg.device == "auto"
                                         and not torch.cuda.is_available())


def process_state(model_cfg: ModelConfig) -> PartialState:
    """accelerate's state of this process (rank, number of processes, device)."""
    return PartialState(cpu=runs_on_cpu(model_cfg))


def training_accelerator(model_cfg: ModelConfig) -> Accelerator:
    """accelerate's Accelerator for a training loop of our own (SCoRe): the processes of
    `process_state`, plus DDP (prepare, backward), gradient clipping and reductions."""
    return Accelerator(cpu=runs_on_cpu(model_cfg))


def on_own_device(model_cfg: ModelConfig, state: PartialState) -> ModelConfig:
    """`model_cfg` placed on this process's device: under a launch each process has its own
    (cuda:<local rank>) rather than all of them loading onto cuda:0; one process keeps the
    configured device."""
    if state.num_processes == 1:
        return model_cfg
    placed = copy.copy(model_cfg)
    placed.device = str(state.device)
    return placed


def gather_lists(items: list, state: PartialState) -> list:
    """Every process's `items`, concatenated in process order; the same list on every process.

    With one process: `items` itself.
    """
    if state.num_processes == 1:
        return items
    return gather_object(items)
