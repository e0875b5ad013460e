"""Chat messages to token ids, through the tokenizer's own chat template.

Every stage (pretraining, SFT, RL, sampling) tokenizes conversations here, so prompts and
training targets agree with what the model sees at generation time.
"""

from __future__ import annotations


def render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids that ask the model for the next assistant message."""
    text = render(tokenizer, messages, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_with_targets(
    tokenizer, messages: list[dict], train_turns: set[int] | None = None
) -> tuple[list[int], list[int]]:
    """Token ids of a whole conversation and a 0/1 mask of the tokens to train on.

    Assistant message k (0-based among assistant messages) is a target when `train_turns` is
    None or contains k; its target span is what the template writes for it after the
    generation prompt, end-of-turn marker included. Works for any template that renders a
    conversation's prefix as a prefix of the whole (all common chat templates do).
    Each span is tokenized on its own, so a BPE merge never straddles a turn boundary.

    With the built-in tokenizer (one token per character, `<|x|>` one token each):
    user "1/1", assistant "1:A1" -> ids of `<|user|>1/1<|end|><|assistant|>` masked 0, then
    `1:A1<|end|>` masked 1.
    """
    ids: list[int] = []
    mask: list[int] = []
    done = ""  # text already encoded
    turn = 0
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], add_generation_prompt=True)
        through = render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not (before.startswith(done) and through.startswith(before)):
            raise ValueError("the chat template does not render prefixes consistently")
        train = train_turns is None or turn in train_turns
        for text, flag in ((before[len(done):], 0), (through[len(before):], int(train))):
            piece = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            ids += piece
            mask += [flag] * len(piece)
        done = through
        turn += 1
    tail = render(tokenizer, messages, add_generation_prompt=False)[len(done):]
    if tail:
        piece = tokenizer(tail, add_special_tokens=False)["input_ids"]
        ids += piece
        mask += [0] * len(piece)
    return ids, mask
