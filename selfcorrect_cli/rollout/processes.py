"""Several processes under `accelerate launch`: each one's device, its share of the work, and
bringing the shares back to the main process, the only one that writes files.

Without a launch there is one process, its own device is the configured one, and gathering
returns the list unchanged: collect, eval and SFT then run exactly as they would without
accelerate.
"""

from __future__ import annotations

import copy

import torch
from accelerate import PartialState
from accelerate.utils import gather_object

from selfcorrect_cli.config import ModelConfig


def process_state(model_cfg: ModelConfig) -> PartialState:
    """accelerate's state of this process (rank, number of processes, device)."""
    # Without cpu=True accelerate ignores a multi-process launch on a machine with no GPU.
    on_cpu = model_cfg.device == "cpu" or (model_cfg.device == "auto"
                                           and not torch.cuda.is_available())
    return PartialState(cpu=on_cpu)


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
