"""Shared fixtures: a tiny built-in base model trained through the real CLI, once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Small enough to train in seconds on a contended CPU; big enough to emit the attempt format.
TINY_PRETRAIN = [
    "pretrain.steps=60", "pretrain.batch_size=32", "pretrain.hidden_size=32",
    "pretrain.intermediate_size=64", "pretrain.layers=1", "pretrain.heads=2",
    "pretrain.warmup_steps=5", "pretrain.lr=1e-2", "pretrain.log_every=20",
]


@pytest.fixture
def tiny_pretrain() -> list[str]:
    """TINY_PRETRAIN's KEY=VALUE settings, for tests that pretrain through other routes."""
    return list(TINY_PRETRAIN)


def run_cli(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `selfcorrect` entry point in a subprocess."""
    full_env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    result = subprocess.run([sys.executable, "-m", "selfcorrect_cli", *args],
                            capture_output=True, text=True, env=full_env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"selfcorrect {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def run_main(*args: str) -> tuple[int, str, str]:
    """Run the CLI's entry point in this process (faster than a subprocess): (code, out, err)."""
    import contextlib
    import io

    from selfcorrect_cli.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["selfcorrect", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def with_sets(*pairs: str) -> list[str]:
    out = []
    for pair in pairs:
        out += ["--set", pair]
    return out


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """Folder of a tiny pretrained built-in model (an ordinary HF checkpoint)."""
    run_dir = tmp_path_factory.mktemp("tiny-base")
    run_cli("pretrain", *with_sets(f"run.out_dir={run_dir}", *TINY_PRETRAIN))
    return run_dir / "model"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained 1-layer built-in model: enough to check plumbing, not behaviour."""
    import torch

    from selfcorrect_cli.config import PretrainConfig
    from selfcorrect_cli.io.checkpoints import save_model
    from selfcorrect_cli.world.tiny_model import build_tiny_model, build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    model = build_tiny_model(tokenizer, PretrainConfig(hidden_size=32, intermediate_size=64,
                                                       layers=1, heads=2))
    folder = tmp_path_factory.mktemp("tiny") / "model"
    save_model(model, tokenizer, folder)
    return folder


def random_decoder(family: str, tokenizer, device: str = "cpu", dtype=None):
    """A tiny randomly initialised decoder built from a config (no download), seed 0: Llama
    with grouped-query attention ("llama-gqa"), with one key/value head per query head
    ("llama-mha"), or Qwen2 (biases on q, k, v: "qwen2"), in eval mode."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                 num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4 if family == "llama-mha" else 2,
                 max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                 eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = (Qwen2ForCausalLM(Qwen2Config(**shape)) if family == "qwen2"
             else LlamaForCausalLM(LlamaConfig(**shape)))
    return model.to(device=device, dtype=dtype or torch.float32).eval()
