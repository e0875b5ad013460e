from selfcorrect_cli.rollout.chat import encode_with_targets, prompt_ids
from selfcorrect_cli.tasks.prompts import conversation
from selfcorrect_cli.world.tiny_model import build_tokenizer


def _text(tokenizer, ids):
    return tokenizer.decode(ids)


def test_targets_are_exactly_the_assistant_turns():
    tok = build_tokenizer()
    messages = conversation("9/3", ["3:A3"], "retry") + [{"role": "assistant", "content": "2:A2"}]
    ids, mask = encode_with_targets(tok, messages)
    targets = "".join(tok.decode([i]) for i, m in zip(ids, mask) if m)
    assert targets == "3:A3<|end|>2:A2<|end|>"
    assert _text(tok, ids) == tok.apply_chat_template(messages, tokenize=False)


def test_only_chosen_turns_are_targets():
    tok = build_tokenizer()
    messages = conversation("9/3", ["3:A3"], "retry") + [{"role": "assistant", "content": "2:A2"}]
    ids, mask = encode_with_targets(tok, messages, train_turns={1})
    assert "".join(tok.decode([i]) for i, m in zip(ids, mask) if m) == "2:A2<|end|>"


def test_prompt_ids_end_with_the_generation_prompt():
    tok = build_tokenizer()
    ids = prompt_ids(tok, conversation("9/3", ["3:A3"], "retry"))
    assert _text(tok, ids).endswith("<|user|>retry<|end|><|assistant|>")
