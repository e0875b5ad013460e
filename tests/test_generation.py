import pytest
import torch

from selfcorrect_cli.config import ModelConfig, SamplingConfig, WorldConfig
from selfcorrect_cli.rollout import static_decoder, token_choice
from selfcorrect_cli.rollout.chat import prompt_ids
from selfcorrect_cli.rollout.generate_strategy import Generate
from selfcorrect_cli.rollout.generation import pick_strategy, rollout, sample_turn
from selfcorrect_cli.rollout.host_loop import HostLoop
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.rollout.token_choice import inverse_cdf_draw, next_tokens
from selfcorrect_cli.world.tiny_model import build_tokenizer
from selfcorrect_cli.tasks.division import DivisionTask
from tests.conftest import random_decoder


def sample(model, tokenizer, prompts, sampling, generator) -> list[list[int]]:
    return sample_turn(model, tokenizer, prompts, sampling, generator)[0]


def _setup(tiny_base):
    model, tokenizer = load_model(ModelConfig(path=str(tiny_base), device="cpu"))
    task = DivisionTask(WorldConfig())
    return model, tokenizer, task, task.load("test")[:12]


def test_our_sampler_matches_generate_at_greedy(tiny_base):
    model, tokenizer, task, problems = _setup(tiny_base)
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": task.first_prompt(p)}],
                                             tokenize=False, add_generation_prompt=True)
               for p in problems]
    prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    ours = sample(model, tokenizer, prompts, SamplingConfig(backend="sampler"), torch.Generator())
    ref = sample(model, tokenizer, prompts, SamplingConfig(backend="hf"), torch.Generator())
    assert ours == ref


def test_rollout_shapes_stops_and_reproducibility(tiny_base):
    model, tokenizer, task, problems = _setup(tiny_base)
    problems = problems[:4]
    sampling = SamplingConfig(temperature=1.0, n_samples=2, attempts=3, batch_size=4,
                              max_new_tokens=40)
    first = rollout(model, tokenizer, task, problems, sampling, torch.Generator().manual_seed(1),
                    progress=False)
    again = rollout(model, tokenizer, task, problems, sampling, torch.Generator().manual_seed(1),
                    progress=False)
    assert len(first) == len(problems) * 2
    assert all(len(t.attempts) == 3 for t in first)
    assert [a.response for t in first for a in t.attempts] == \
           [a.response for t in again for a in t.attempts]
    end = tokenizer.eos_token_id
    for t in first:
        for attempt in t.attempts:
            ids = attempt.response_ids
            assert len(ids) <= 40
            assert end not in ids[:-1]  # nothing generated after the end of turn
            assert attempt.reward in (0.0, 1.0)
    # the second attempt's prompt holds the first attempt and the correction instruction
    second_prompt = tokenizer.decode(first[0].attempts[1].prompt_ids)
    assert first[0].attempts[0].response in second_prompt
    assert second_prompt.endswith(f"{task.correction_instruction}<|end|><|assistant|>")


def test_given_first_attempts_are_used_verbatim(tiny_base):
    model, tokenizer, task, problems = _setup(tiny_base)
    given = ["1:1*0=0,1*1+0=1,10+10=20,A1"] * len(problems)
    out = rollout(model, tokenizer, task, problems, SamplingConfig(), torch.Generator(),
                  progress=False, first_attempts=given)
    assert [t.attempts[0].response for t in out] == given


def test_repeated_prompts_are_prefilled_once_and_sampled_as_if_apart(tiny_base, monkeypatch):
    """A problem's n samples share their prompt: one prefill row serves them all, and the
    tokens are the same as when every prompt is prefilled on its own (greedy)."""
    model, tokenizer, task, problems = _setup(tiny_base)
    distinct = [prompt_ids(tokenizer, [{"role": "user", "content": task.first_prompt(p)}])
                for p in problems[:3]]
    prompts = [distinct[i] for i in (0, 1, 0, 2, 1, 0)]
    widths = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda **kw: widths.append(len(kw["input_ids"]))
                        or forward(**kw))
    together = sample(model, tokenizer, prompts, SamplingConfig(), torch.Generator())
    assert widths[0] == 3  # the prefill saw each distinct prompt once
    apart = [sample(model, tokenizer, [p], SamplingConfig(), torch.Generator())[0] for p in prompts]
    assert together == apart


def test_inverse_cdf_draws_follow_the_weights_and_never_pick_a_zero():
    weights = torch.tensor([[0.0, 0.2, 0.0, 0.3, 0.5, 0.0]]).repeat(4000, 1)
    draws = inverse_cdf_draw(weights, torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=6).float() / len(draws)
    assert counts[[0, 2, 5]].sum() == 0
    # each frequency within 4 standard errors of its weight (SE at p = 0.5: 0.0079)
    assert torch.allclose(counts[[1, 3, 4]], torch.tensor([0.2, 0.3, 0.5]), atol=4 * 0.0079)


def test_inverse_cdf_never_runs_past_the_last_positive_weight(monkeypatch):
    """u * total can round up to the total when u is just below 1: the draw must still be a
    token with positive weight, not a zero-weight one at the end of the vocabulary."""
    monkeypatch.setattr(token_choice.torch, "rand",
                        lambda shape, **kw: torch.full(shape, 1.0 - 2.0 ** -24))
    weights = torch.tensor([[0.1, 0.7, 0.2, 0.0, 0.0], [0.3, 0.3, 0.3, 0.0, 0.1]])
    assert inverse_cdf_draw(weights, torch.Generator()).tolist() == [2, 4]
    monkeypatch.setattr(token_choice.torch, "rand", lambda shape, **kw: torch.zeros(shape))
    assert inverse_cdf_draw(weights, torch.Generator()).tolist() == [0, 0]


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))
    sampling = SamplingConfig(temperature=1.0, top_p=0.5)
    draws = {int(next_tokens(logits, sampling, torch.Generator().manual_seed(s))) for s in range(30)}
    assert draws == {0}


@pytest.mark.parametrize("family", ["llama-gqa", "qwen2"])
def test_lean_decoder_matches_generate_and_the_model_forward(family):
    """rollout/static_decoder.py recomputes the model by hand: random weights, grouped-query
    attention, Qwen2's q/k/v biases, ragged left-padded prompts; greedy output must equal
    generate's, and each step's logits the model's own forward."""
    tokenizer = build_tokenizer()
    model = random_decoder(family, tokenizer)
    assert static_decoder.supports(model)
    prompts = [[7, 8, 9, 10, 11], [12, 13], [14, 15, 16]]
    sampling = SamplingConfig(max_new_tokens=12)
    ours = sample(model, tokenizer, prompts, sampling, torch.Generator())
    ref = sample(model, tokenizer, prompts, SamplingConfig(max_new_tokens=12, backend="hf"),
                 torch.Generator())
    assert ours == ref
    # one lean step against a full forward over the same (unpadded) sequence
    ids = torch.tensor([prompts[0]])
    out = model(input_ids=ids[:, :-1], use_cache=True)
    decoder = static_decoder.HostDecoder(model, out.cache, torch.ones_like(ids[:, :-1]), 4)
    step = decoder.step(ids[:, -1], torch.tensor([[ids.shape[1] - 1]]))
    full = model(input_ids=ids).logits[:, -1]
    assert torch.allclose(step, full, atol=1e-5)


def test_tree_rollouts_share_first_attempts(tiny_base):
    model, tokenizer, task, problems = _setup(tiny_base)
    sampling = SamplingConfig(temperature=1.0, n_samples=2, attempts=2, batch_size=64,
                              max_new_tokens=40)
    out = rollout(model, tokenizer, task, problems[:3], sampling, torch.Generator().manual_seed(0),
                  progress=False, second_attempts=3)
    assert len(out) == 3 * 2 * 3
    assert [t.sample_index for t in out[:6]] == [0, 1, 2, 3, 4, 5]
    for first in range(0, len(out), 3):  # siblings: same problem and first attempt
        siblings = out[first:first + 3]
        assert len({t.problem.id for t in siblings}) == 1
        assert len({t.attempts[0].response for t in siblings}) == 1
        assert all(len(t.attempts) == 2 for t in siblings)


def _outside_the_lean_families(family: str, tokenizer):
    """A tiny randomly initialised GPT-2 or GPT-NeoX (learned or partial rotary positions,
    LayerNorm, GELU): architectures the lean decoder does not cover, built locally."""
    from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

    ids = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    if family == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128, **ids))
    else:
        model = GPTNeoXForCausalLM(GPTNeoXConfig(hidden_size=32, intermediate_size=64,
                                                 num_hidden_layers=2, num_attention_heads=4,
                                                 max_position_embeddings=128, **ids))
    return model.eval()


@pytest.mark.parametrize("family", ["gpt2", "gpt-neox"])
def test_plain_forward_fallback_matches_generate(family):
    """A model outside the lean decoder's families takes the host loop on its own forward and
    Hugging Face cache: ragged left-padded prompts, rows ending at different steps; greedy
    tokens must equal generate's, and no cache is handed on to a next attempt."""
    tokenizer = build_tokenizer()
    model = _outside_the_lean_families(family, tokenizer)
    assert not static_decoder.supports(model)
    sampling = SamplingConfig(max_new_tokens=16)
    assert pick_strategy(model, sampling).name == "host"
    prompts = [[7, 8, 9, 10, 11], [12, 13], [14, 15, 16]]
    free, _ = sample_turn(model, tokenizer, prompts, sampling, torch.Generator(),
                          strategy=Generate())
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, free[0][3], free[1][6]]
    ref, _ = sample_turn(model, tokenizer, prompts, sampling, torch.Generator(),
                         strategy=Generate())
    assert ref != free and len(ref[0]) <= 4  # the stops end rows early, at different steps
    ours, cache = sample_turn(model, tokenizer, prompts, sampling, torch.Generator(),
                              strategy=HostLoop())
    assert ours == ref
    assert cache is None
