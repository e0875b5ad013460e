"""Load any Hugging Face causal LM and its tokenizer, ready for batched multi-turn sampling."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from selfcorrect_cli.config import ModelConfig
from selfcorrect_cli.errors import UsageError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[name]


def resolve_model_path(path: str) -> str:
    """Local folders and hub names pass through; known aliases map to a local checkpoint."""
    from selfcorrect_cli.rollout import smollm2  # the one alias so far: the offline real model

    return smollm2.resolve_model_path(path)


def load_tokenizer(path: str):
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.chat_template is None:
        raise UsageError(f"{path}: the tokenizer has no chat template; use an instruct/chat model")
    if tokenizer.pad_token_id is None:
        # Batched generation needs a pad token; padding is masked, so the end-of-turn token is safe.
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(cfg: ModelConfig):
    """(model, tokenizer) for `cfg.path`, in eval mode on the configured device and dtype."""
    path = resolve_model_path(cfg.path)
    looks_local = path.startswith((".", "/", "~")) or Path(path).exists() or path.count("/") != 1
    if looks_local and not Path(path).expanduser().is_dir():
        raise UsageError(f"model checkpoint not found: {path} (run `selfcorrect pretrain` first?)")
    # every Hugging Face checkpoint folder has a config.json; without it transformers falls
    # through to guessing a tokenizer and fails far from the cause
    if looks_local and not (Path(path).expanduser() / "config.json").is_file():
        raise UsageError(f"{path} holds no model checkpoint (no config.json); expected a "
                         f"folder written by `selfcorrect pretrain` or `train`")
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.dtype, device)
    try:
        tokenizer = load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as exc:
        raise UsageError(f"cannot load model {path}: {str(exc).splitlines()[0]}") from None
    model.to(device).eval()
    return model, tokenizer


def stop_token_ids(model, tokenizer) -> list[int]:
    """Token ids that end an assistant turn: the tokenizer's eos and the model's eos ids."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return sorted(i for i in ids if i is not None)
