"""The built-in world's tokenizer and tiny decoder, both built locally (no hub, no network).

The tokenizer spells text one character per token and carries a chat template, so the tiny
model is driven exactly like a real chat model: AutoTokenizer.from_pretrained(folder) and
tokenizer.apply_chat_template(messages) work on the saved checkpoint.
"""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from selfcorrect_cli.config import PretrainConfig

PAD, UNK, END = "<pad>", "<unk>", "<|end|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
CHARACTERS = string.digits + string.ascii_letters + " +-*/=,.:;?!()'\"#$%&<>[]_{}|~^@\n"

# {% generation %} marks the assistant's tokens, so return_assistant_tokens_mask works too.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "<|assistant|>{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}"
    "{%- else -%}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A character tokenizer: a BPE model with no merges, so every character is one token."""
    specials = [PAD, UNK, END, *ROLE_TOKENS]
    vocab = {token: i for i, token in enumerate(specials + list(CHARACTERS))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()  # join characters without spaces on decode
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        unk_token=UNK,
        eos_token=END,
        additional_special_tokens=ROLE_TOKENS,
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
    )
    return tokenizer


def build_tiny_model(tokenizer: PreTrainedTokenizerFast, cfg: PretrainConfig) -> LlamaForCausalLM:
    """A small Llama decoder initialised from scratch."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
