"""Model folders, written whole; SCoRe's checkpoints: resume points, and the final model chosen
by training reward.

save_model writes any stage's Hugging Face model folder (pretraining, SFT); SCoRe's
checkpoints below write theirs the same way, with the trainer state beside the weights:

<run>/checkpoints/last   the newest checkpoint: a Hugging Face model folder plus
                         trainer_state.pt (step, optimizer, chooser); a resumed run starts here
<run>/checkpoints/best   the model of the checkpoint with the best training reward so far
<run>/checkpoints/stage1 with score.keep_stage1: the checkpoint at the end of Stage I, whole,
                         with the config.yaml of the run that wrote it; methods whose Stage I
                         is the same start their Stage II from it (score.stage1_from). It holds
                         the optimizer state too: three times the weights on disk
<run>/model              the final model (a copy of best), written when training ends
<run>/checkpoint_choice.json   the selection rule, every candidate and the one chosen
A checkpoint is written into a temporary folder and renamed into place, so a crash leaves the
previous one whole. The random stream needs no saving: score.py seeds every step's sampling
from (seed, step, process).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import torch

from selfcorrect_cli.io.model_card import CARD, rl_card
from selfcorrect_cli.io.run_dir import write_json_atomic

STATE = "trainer_state.pt"
STAGE1 = "stage1"


class CheckpointChooser:
    """The paper's rule: keep the checkpoint with the best training reward.

    Candidates are the checkpoints of the final stage; each is scored by the mean training
    reward of the last trained turn (r2, or r1 for single-turn RL) over the steps since the
    previous checkpoint. The latest wins ties.
    """

    def __init__(self, selection_turn: int, final_stage: int):
        self.key = f"train/reward_t{selection_turn}"
        self.final_stage = final_stage
        self.window: list[float] = []
        self.candidates: list[dict] = []
        self.best: dict | None = None

    @property
    def rule(self) -> str:
        return (f"highest mean {self.key} over the steps since the previous checkpoint, among "
                f"stage-{self.final_stage} checkpoints (latest on ties)")

    def observe(self, stage: int, stats: dict) -> None:
        if stage == self.final_stage:
            self.window.append(stats[self.key])

    def consider(self, step: int) -> bool:
        """Score the checkpoint about to be written at `step`; True when it is the best."""
        if not self.window:
            return False
        candidate = {"step": step, "reward": sum(self.window) / len(self.window)}
        self.window = []
        self.candidates.append(candidate)
        best_reward = self.best["reward"] if self.best else -math.inf
        if candidate["reward"] >= best_reward:
            self.best = candidate
            return True
        return False

    def state_dict(self) -> dict:
        return {"window": self.window, "candidates": self.candidates, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.window, self.candidates, self.best = state["window"], state["candidates"], state["best"]


def save_model(model, tokenizer, folder: Path, card: str | None = None) -> None:
    """`folder` as a Hugging Face model folder (weights, tokenizer, `card` as README.md,
    io/model_card.py), written into a temporary sibling and renamed: a crash never leaves half
    a model."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    _write_model(model, tokenizer, tmp, card)
    _replace(folder, tmp)


def _write_model(model, tokenizer, folder: Path, card: str | None = None) -> None:
    """save_pretrained of both into `folder`, emptied first."""
    _fresh(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if card is not None:
        (folder / CARD).write_text(card)


def save_checkpoint_dir(run_dir: Path, model, tokenizer, optimizer, chooser: CheckpointChooser,
                        step: int, is_best: bool, end_of_stage1: bool = False,
                        extras: dict | None = None) -> None:
    """`extras`: name -> object with state_dict() (e.g. the KL controller), saved beside the
    optimizer and restored by load_checkpoint."""
    folder = Path(run_dir) / "checkpoints"
    tmp = folder / "last.tmp"
    _write_model(model, tokenizer, tmp)
    extra_states = {name: obj.state_dict() for name, obj in (extras or {}).items()}
    torch.save({"step": step, "optimizer": optimizer.state_dict(),
                "chooser": chooser.state_dict(), "extras": extra_states}, tmp / STATE)
    if end_of_stage1:  # before `last` moves on: a resumed run never passes this step again
        # whole, with the run's config.yaml: what a shared Stage I is checked against, even
        # if the run folder is reused later
        _copy_model(tmp, folder / STAGE1, keep_state=True, also=Path(run_dir) / "config.yaml")
    last, old = folder / "last", folder / "last.old"
    if last.exists():
        _fresh(old).rmdir()
        last.rename(old)
    tmp.rename(last)
    if is_best:
        _copy_model(last, folder / "best")
    if old.exists():
        shutil.rmtree(old)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The folder a resumed run starts from, or None when the run has no checkpoint yet."""
    folder = Path(run_dir) / "checkpoints"
    last = folder / "last"
    if not last.exists() and (folder / "last.old").exists():
        last = folder / "last.old"  # a crash between the two renames of save_checkpoint_dir
    return last if (last / STATE).exists() else None


def load_last_checkpoint(run_dir: Path, model, optimizer, chooser: CheckpointChooser,
                         extras: dict | None = None) -> int:
    """Restore weights, optimizer, chooser and extras from the last checkpoint; the step to
    resume at (0 when there is none)."""
    last = last_checkpoint(run_dir)
    return 0 if last is None else load_checkpoint(last, model, optimizer, chooser, extras)


def load_checkpoint(folder: Path, model, optimizer, chooser: CheckpointChooser | None,
                    extras: dict | None = None) -> int:
    """Restore weights, optimizer, (unless None) chooser and the `extras` objects that the
    checkpoint holds from checkpoint `folder`; the step it was written at."""
    saved = type(model).from_pretrained(folder, dtype=next(model.parameters()).dtype)
    model.load_state_dict(saved.state_dict())
    state = torch.load(folder / STATE, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    if chooser is not None:
        chooser.load_state_dict(state["chooser"])
    for name, obj in (extras or {}).items():
        if name in state.get("extras", {}):
            obj.load_state_dict(state["extras"][name])
    return int(state["step"])


def publish_model(run_dir: Path, chooser: CheckpointChooser, out: Path) -> None:
    """Copy the chosen checkpoint to `out`, with its model card, and record why it was chosen."""
    folder = Path(run_dir) / "checkpoints"
    source = folder / "best" if (folder / "best").exists() else folder / "last"
    _copy_model(source, out, card=rl_card(run_dir, chooser.best))
    write_json_atomic(Path(run_dir) / "checkpoint_choice.json", {
        "rule": chooser.rule, "chosen": chooser.best, "candidates": chooser.candidates,
    })


def _copy_model(source: Path, target: Path, keep_state: bool = False,
                also: Path | None = None, card: str | None = None) -> None:
    """Copy checkpoint `source` to `target` (without its trainer state unless `keep_state`,
    with file `also` beside it, `card` as its README.md) through a temporary folder and a
    rename."""
    tmp = _fresh(target.with_name(target.name + ".tmp"))
    tmp.rmdir()
    shutil.copytree(source, tmp, ignore=None if keep_state else shutil.ignore_patterns(STATE))
    if also is not None:
        shutil.copy(also, tmp / also.name)
    if card is not None:
        (tmp / CARD).write_text(card)
    _replace(target, tmp)


def _replace(target: Path, tmp: Path) -> None:
    """Put the finished `tmp` where `target` was."""
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder
