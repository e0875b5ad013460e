"""The KV cache carried from one attempt into the next (rollout/turn_cache.py): the logits after
the continued prompt equal a fresh forward pass, padding after a stop stays invisible, and
rollouts sample the same tokens with and without it, through the host loop and through the
device loop (run eagerly here; on CUDA its step is a graph)."""

import pytest
import torch

from selfcorrect_cli.config import ModelConfig, SamplingConfig, WorldConfig
from selfcorrect_cli.rollout import device_loop, host_loop, static_decoder
from selfcorrect_cli.rollout.device_loop import DeviceLoop
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.rollout.host_loop import HostLoop
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.rollout.prefill import prefill as fresh_prefill
from selfcorrect_cli.rollout.turn_cache import TurnCache
from selfcorrect_cli.tasks.division import DivisionTask
from selfcorrect_cli.world.tiny_model import build_tokenizer
from tests.conftest import random_decoder


@pytest.mark.parametrize("family", ["llama-gqa", "qwen2"])
def test_continued_prompt_gives_the_logits_of_a_fresh_forward(family):
    """Ragged prompts, three decode steps where row 1 stops after its first token (its later
    slots hold padding), then ragged rests of the next prompt right-aligned in one block: each
    row's logits equal the model's forward over that row's real tokens alone."""
    model = random_decoder(family, build_tokenizer())
    prompts = [[7, 8, 9, 10, 11], [12, 13], [14, 15, 16]]
    prefill = fresh_prefill(model, 0, prompts)
    decoder = static_decoder.HostDecoder(model, prefill.cache, prefill.mask, 4)
    sampled = torch.tensor([[20, 21, 22], [23, 0, 0], [24, 25, 26]])  # row 1: pads after 23
    real = sampled != 0
    position = prefill.next_position
    for column in range(3):
        decoder.step(sampled[:, column], position, real[:, column])
        position = position + 1
    held = [p + [t for t in row if t] for p, row in zip(prompts, sampled.tolist())]
    cache = TurnCache(decoder, held)
    rest = [[30, 31], [32, 33, 34, 35], [36]]
    logits, next_position = cache.extend(rest, pad_id=0, max_new_tokens=5)
    for row in range(3):
        whole = torch.tensor([held[row] + rest[row]])
        expected = model(input_ids=whole).logits[0, -1]
        assert torch.allclose(logits[row], expected, atol=1e-5), row
        assert int(next_position[row]) == whole.shape[1]
    assert decoder.capacity >= decoder.length + 5  # room for the next attempt's tokens


def test_rest_refuses_prompts_that_do_not_continue_the_cache():
    cache = TurnCache(decoder=None, held=[[1, 2, 3], [4, 5]])
    assert cache.rest([[1, 2, 3, 9], [4, 5, 6, 7]]) == [[9], [6, 7]]
    assert cache.rest([[1, 2, 3, 9], [4, 6, 6, 7]]) is None  # row 1 was re-tokenized otherwise
    assert cache.rest([[1, 2, 3], [4, 5, 6]]) is None  # nothing left to feed in row 0
    assert cache.rest([[1, 2, 3, 9]]) is None  # another batch


def _setup(tiny_base):
    model, tokenizer = load_model(ModelConfig(path=str(tiny_base), device="cpu"))
    task = DivisionTask(WorldConfig())
    return model, tokenizer, task, task.load("test")[:6]


LOOPS = {"host": (HostLoop(), host_loop), "device": (DeviceLoop(graphs=False), device_loop)}


@pytest.mark.parametrize("loop", list(LOOPS))
@pytest.mark.parametrize("attempts,second", [(2, 1), (3, 1), (2, 3)],
                         ids=["two-turn", "three-turn", "tree"])
def test_rollouts_sample_the_same_with_and_without_the_carried_cache(tiny_base, monkeypatch,
                                                                     attempts, second, loop):
    model, tokenizer, task, problems = _setup(tiny_base)
    sampling = SamplingConfig(temperature=0.0, n_samples=2, attempts=attempts, batch_size=12,
                              max_new_tokens=40)
    strategy, module = LOOPS[loop]
    prefills = []
    monkeypatch.setattr(module, "prefill", lambda *a: prefills.append(1) or fresh_prefill(*a))
    carried = rollout(model, tokenizer, task, problems, sampling, torch.Generator(),
                      progress=False, second_attempts=second, strategy=strategy)
    assert len(prefills) == 1  # only the first attempt was prefilled
    monkeypatch.setattr(TurnCache, "rest", lambda self, prompts: None)
    alone = rollout(model, tokenizer, task, problems, sampling, torch.Generator(),
                    progress=False, second_attempts=second, strategy=strategy)
    assert len(prefills) == 1 + attempts
    assert [[a.response_ids for a in t.attempts] for t in carried] == \
           [[a.response_ids for a in t.attempts] for t in alone]
    assert [[a.prompt_ids for a in t.attempts] for t in carried] == \
           [[a.prompt_ids for a in t.attempts] for t in alone]
