"""Model cards: the README.md of every model folder a stage writes (<run>/model, STaR's rounds).

A card in Hugging Face's format (YAML front matter, then Markdown), as TRL's trainers write
them, so that a folder can go to the Hub with `huggingface-cli upload` as it is and a reader of
the folder alone knows what it is: the method and its settings, the commit and the command
that made it, and what the run measured. Pretraining, SFT (methods/sft.py) and SCoRe
(io/checkpoints.py's publish_model) all write theirs here.

`base_model` goes into the front matter only when it is a Hub name: the Hub refuses a card
whose base_model is not a model id, and a local folder (the built-in base model) means
nothing there. The body names it either way.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import yaml

from selfcorrect_cli.io.run_dir import git_commit

CARD = "README.md"

# What each stage's model is, the config sections that set it, and its Hub tags.
STAGES = {
    "pretrain": ("the built-in world's tiny base model, trained from scratch on the "
                 "capability-limited solver's one- and two-attempt conversations",
                 ("pretrain", "world"), ["pretraining"]),
    "sft": ("fine-tuned from its base model on its own corrections with TRL's SFTTrainer "
            "(STaR: filtered rounds of its own traces; Pair-SFT: pairs of a wrong and a right "
            "attempt), the second attempt as the only target", ("train", "sft"), ["trl", "sft"]),
    "rl": ("trained for intrinsic self-correction with SCoRe's two-stage multi-turn RL "
           "(Kumar et al. 2024), or the ablation that train.method names; the checkpoint with "
           "the best training reward", ("train", "score"), ["reinforcement-learning"]),
}


def hub_id(name: str) -> str | None:
    """`name` if it reads as a Hub model id (owner/name) and is no local folder, else None.

    >>> hub_id("Qwen/Qwen2.5-1.5B-Instruct"), hub_id("runs/builtin/base/model")
    ('Qwen/Qwen2.5-1.5B-Instruct', None)
    """
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", name) or Path(name).exists():
        return None
    return name


def render_card(config: dict, stage: str, metrics: dict, commit: str, command: str,
                details: dict | None = None) -> str:
    """The card's text: `config` is the run's resolved config (config.yaml), `metrics` what
    the run measured (name -> number), `details` extra facts about this model (its round).

    >>> from selfcorrect_cli.config import config_to_dict, load_config
    >>> config = config_to_dict(load_config(None, ["train.method=score"]))
    >>> card = render_card(config, "rl", {"eval/acc_t2": 0.5}, "abc123", "selfcorrect train")
    >>> print(card[:card.index("# ")].strip())
    ---
    library_name: transformers
    pipeline_tag: text-generation
    tags:
    - selfcorrect
    - self-correction
    - score
    - reinforcement-learning
    ---
    >>> "| eval/acc_t2 | 0.5 |" in card and "| score.alpha | 10.0 |" in card
    True
    """
    what, sections, tags = STAGES[stage]
    method = "pretrain" if stage == "pretrain" else config["train"]["method"]
    base = None if stage == "pretrain" else config["train"]["base_model"]
    front = {"base_model": hub_id(base) if base else None, "library_name": "transformers",
             "pipeline_tag": "text-generation",
             "tags": ["selfcorrect", "self-correction", method, *tags]}
    front = {key: value for key, value in front.items() if value is not None}
    task = config["task"]
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {method}: {Path(config['run']['out_dir']).name}", "",
             f"A causal language model {what}, written by selfcorrect.", "",
             f"- base model: `{base}`" if base else "- base model: none (trained from scratch)",
             f"- task: {task['name']}" + (f" ({task['data']})" if task["data"] else ""),
             f"- seed: {config['run']['seed']}"]
    lines += [f"- {key}: {value}" for key, value in (details or {}).items()]
    lines += ["", "## Method and settings", "", f"`train.method={method}`" if base else
              "`selfcorrect pretrain`", "", "| setting | value |", "|---|---|"]
    lines += [f"| {section}.{key} | {_cell(value)} |"
              for section in sections for key, value in config[section].items()]
    lines += ["", "## Results", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {name} | {_cell(value)} |" for name, value in metrics.items()]
        if any(name.startswith("eval/") for name in metrics):
            lines += ["", "eval/: the greedy two-attempt evaluation on score.eval_problems "
                      "held-out problems at training step eval/step (train_log.jsonl)."]
    else:
        lines.append("This run measured nothing on held-out problems.")
    lines += ["", "`selfcorrect eval --set model.path=<this folder>` measures Accuracy@t1, "
              "Accuracy@t2 and Delta with confidence intervals.", "",
              "## How it was made", "", f"- commit: `{commit}`", "- command:", "",
              "```", command, "```", "",
              "## Use", "", "```python",
              "from transformers import AutoModelForCausalLM, AutoTokenizer",
              "", 'tokenizer = AutoTokenizer.from_pretrained("<this folder>")',
              'model = AutoModelForCausalLM.from_pretrained("<this folder>")', "```", ""]
    return "\n".join(lines)


def model_card(config: dict, stage: str, metrics: dict, details: dict | None = None) -> str:
    """`render_card` for this process: the commit it runs and the command it was given (as
    command.txt and git_commit.txt record them)."""
    command = shlex.join(["selfcorrect", *sys.argv[1:]])
    return render_card(config, stage, metrics, git_commit(), command, details)


def rl_card(run_dir: Path, chosen: dict | None) -> str:
    """The card of an RL run's final model, from its run directory: config.yaml, and from
    train_log.jsonl the last periodic evaluation the chosen checkpoint had seen."""
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = {}
    if chosen:
        metrics = {"checkpoint/step": chosen["step"], "checkpoint/train_reward": chosen["reward"]}
    metrics.update(last_evaluation(run_dir / "train_log.jsonl", chosen["step"] if chosen else None))
    return model_card(config, "rl", metrics)


def last_evaluation(log: Path, before: int | None) -> dict:
    """The eval/ values of the last log row that has them, among the rows of steps below
    `before` (a checkpoint at step k holds steps 0..k-1; None: all rows), and its step.

    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "train_log.jsonl"
    >>> _ = log.write_text('{"step": 0, "eval/acc_t1": 0.25}\\n{"step": 1}\\n'
    ...                    '{"step": 2, "eval/acc_t1": 0.5}\\n')
    >>> last_evaluation(log, before=2), last_evaluation(log, before=None)
    ({'eval/acc_t1': 0.25, 'eval/step': 0}, {'eval/acc_t1': 0.5, 'eval/step': 2})
    """
    found = {}
    if not log.exists():
        return found
    for line in log.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a last line cut by a crash
            continue
        values = {k: v for k, v in row.items() if k.startswith("eval/")}
        if values and (before is None or row["step"] < before):
            found = {**values, "eval/step": row["step"]}
    return found


def _cell(value) -> str:
    """A table cell: lists joined, pipes escaped."""
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    return str(value).replace("|", "\\|") if value != "" else "(empty)"
