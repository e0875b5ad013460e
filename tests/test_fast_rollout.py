"""The GPU decoding loop (rollout/device_loop.py) and the loop choice, tested on the CPU.

The device loop is the code a CUDA graph records; here it runs eagerly on tiny randomly
initialised Llama and Qwen2 models (built from a config, no download) and must give
`generate`'s greedy tokens: ragged left-padded prompts, stop tokens ending rows at different
steps, the early stop when every row has ended. The tests marked gpu run the same checks with
the step captured as a CUDA graph; they are skipped without CUDA.
"""

import math
import warnings
from types import SimpleNamespace

import pytest
import torch

from selfcorrect_cli.config import SamplingConfig
from selfcorrect_cli.rollout import device_loop, static_decoder
from selfcorrect_cli.rollout.device_loop import DeviceLoop
from selfcorrect_cli.rollout.generate_strategy import Generate
from selfcorrect_cli.rollout.generation import pick_strategy, sample_turn
from selfcorrect_cli.rollout.host_loop import HostLoop
from selfcorrect_cli.rollout.token_choice import choose
from selfcorrect_cli.world.tiny_model import build_tokenizer
from tests.conftest import random_decoder

FAMILIES = ["llama-gqa", "qwen2", "llama-mha"]
PROMPTS = [[7, 8, 9, 10, 11], [12, 13], [14, 15, 16], [20, 21, 22, 23, 24, 25, 26, 27, 28]]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
STRATEGIES = {"host": HostLoop(), "device": DeviceLoop(graphs=False), "graph": DeviceLoop(graphs=True)}


def _generate(model, tokenizer, prompts, max_new_tokens: int) -> list[list[int]]:
    return sample_turn(model, tokenizer, prompts, SamplingConfig(max_new_tokens=max_new_tokens),
                       torch.Generator(), strategy=Generate())[0]


def _ours(model, tokenizer, loop: str, sampling: SamplingConfig, seed: int = 0,
          prompts=PROMPTS) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    return sample_turn(model, tokenizer, prompts, sampling, generator,
                       strategy=STRATEGIES[loop])[0]


def _stop_at(model, tokenizer, stops: set[int]) -> None:
    """Make `stops` (with the tokenizer's end of turn) end a turn, for both backends."""
    model.generation_config.eos_token_id = sorted(stops | {tokenizer.eos_token_id})


@pytest.mark.parametrize("family", FAMILIES)
def test_device_loop_matches_generate_at_greedy(family):
    tokenizer = build_tokenizer()
    model = random_decoder(family, tokenizer)
    ref = _generate(model, tokenizer, PROMPTS, 24)
    for loop in ("device", "host"):
        assert _ours(model, tokenizer, loop, SamplingConfig(max_new_tokens=24)) == ref, loop
    one = _ours(model, tokenizer, "device", SamplingConfig(max_new_tokens=1))
    assert one == _generate(model, tokenizer, PROMPTS, 1)


@pytest.mark.parametrize("family", ["llama-gqa", "qwen2"])
def test_fixed_width_folded_step_matches_the_model_forward(family):
    """What the graph records: a step at the full buffer width, query heads folded onto their
    key/value head, unwritten slots masked; its logits equal a full forward's, left pads too."""
    tokenizer = build_tokenizer()
    model = random_decoder(family, tokenizer)
    ids = torch.tensor([[0, 0, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])  # row 0 left-padded
    mask = (ids != 0).long()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    prefix = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1],
                   position_ids=positions[:, :-1], use_cache=True)
    decoder = static_decoder.DeviceDecoder(model, prefix.cache, mask[:, :-1], 5)
    assert decoder.capacity == 16
    slot = torch.tensor([ids.shape[1] - 1])
    step = decoder.forward(ids[:, -1], positions[:, -1:], slot)
    full = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1]
    assert torch.allclose(step, full, atol=1e-5)


@pytest.mark.parametrize("family", ["llama-gqa", "qwen2"])
def test_stop_tokens_end_rows_at_different_steps(family):
    tokenizer = build_tokenizer()
    model = random_decoder(family, tokenizer)
    free = _generate(model, tokenizer, PROMPTS, 12)
    _stop_at(model, tokenizer, {free[0][3]})  # row 0 ends at step 3, the others when they say it
    ref = _generate(model, tokenizer, PROMPTS, 12)
    assert len(ref[0]) <= 4 and ref != free
    assert _ours(model, tokenizer, "device", SamplingConfig(max_new_tokens=12)) == ref


def test_the_device_loop_stops_at_the_first_check_after_every_row_ended(monkeypatch):
    tokenizer = build_tokenizer()
    model = random_decoder("llama-gqa", tokenizer)
    free = _generate(model, tokenizer, PROMPTS, 40)
    stops = {row[min(5, len(row) - 1)] for row in free}
    _stop_at(model, tokenizer, stops)
    last_end = max(next(i for i, t in enumerate(row) if t in stops | {tokenizer.eos_token_id})
                   for row in free)  # the step at which the last row ends
    ref = _generate(model, tokenizer, PROMPTS, 40)
    calls = []
    advance = device_loop.advance
    monkeypatch.setattr(device_loop, "CHECK_EVERY", 4)
    monkeypatch.setattr(device_loop, "advance", lambda *a: calls.append(1) or advance(*a))
    ours = _ours(model, tokenizer, "device", SamplingConfig(max_new_tokens=40))
    assert ours == ref
    assert len(calls) == 4 * math.ceil(last_end / 4) < 39  # ran on to the next check, then stopped


def test_exponential_race_samples_the_distribution_within_the_nucleus():
    probs = torch.tensor([0.6, 0.3, 0.1])
    logits = torch.log(probs).expand(20000, 3)
    noise = torch.empty(20000, 3).exponential_(generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(choose(logits, 1.0, 1.0, noise), minlength=3)
    assert torch.allclose(counts / 20000, probs, atol=0.015)
    assert set(choose(logits, 1.0, 0.5, noise).tolist()) == {0}
    hot = torch.bincount(choose(logits, 2.0, 1.0, noise), minlength=3) / 20000
    flat = probs.sqrt() / probs.sqrt().sum()  # temperature 2 takes the square root
    assert torch.allclose(hot, flat, atol=0.015)
    zero = torch.tensor([[1.0, 0.0, 1.0]])  # a zero draw must not pick a token outside the nucleus
    assert int(choose(logits[:1], 1.0, 0.5, zero)) == 0


def test_device_loop_sampling_is_seeded():
    tokenizer = build_tokenizer()
    model = random_decoder("qwen2", tokenizer)
    sampling = SamplingConfig(max_new_tokens=20, temperature=1.0, top_p=0.9)
    runs = [_ours(model, tokenizer, "device", sampling, seed) for seed in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]


def test_the_loop_is_picked_by_device_architecture_and_switch():
    supported = SimpleNamespace(model_type="llama", hidden_act="silu",
                                rope_parameters={"rope_type": "default"})
    dynamic = SimpleNamespace(model_type="llama", rope_parameters={"rope_type": "dynamic"})
    on, off = SamplingConfig(), SamplingConfig(cuda_graphs=False)
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    assert pick_strategy(SimpleNamespace(device=gpu, config=supported), on).name == "graph"
    assert pick_strategy(SimpleNamespace(device=gpu, config=supported), off).name == "device"
    assert pick_strategy(SimpleNamespace(device=gpu, config=dynamic), on).name == "host"
    assert pick_strategy(SimpleNamespace(device=cpu, config=supported), on).name == "host"


@pytest.mark.parametrize("replays", [True, False], ids=["captured", "capture-failed"])
def test_the_loop_around_a_capture_keeps_the_tokens(replays, monkeypatch):
    """capture_graph's contract, stood in for on the CPU: it runs the step once (the warm-up
    is the real next step) and returns a replay of it, or None when capture failed; either
    way the graph loop gives the device loop's tokens, and tries to capture once per call."""
    tries = []

    def capture(step, device):
        tries.append(device)
        step()
        return step if replays else None

    monkeypatch.setattr(device_loop, "capture_graph", capture)
    tokenizer = build_tokenizer()
    model = random_decoder("qwen2", tokenizer)
    for sampling in (SamplingConfig(max_new_tokens=30),
                     SamplingConfig(max_new_tokens=30, temperature=1.0, top_p=0.9)):
        tries.clear()
        runs = [_ours(model, tokenizer, loop, sampling) for loop in ("graph", "device")]
        assert runs[0] == runs[1] and len(tries) == 1


def test_graphs_are_refused_off_cuda():
    tokenizer = build_tokenizer()
    model = random_decoder("llama-gqa", tokenizer)
    with pytest.raises(ValueError, match="CUDA"):
        _ours(model, tokenizer, "graph", SamplingConfig(max_new_tokens=4))


# ---- on a GPU: the same step, captured as a CUDA graph ----

def _captured(monkeypatch) -> list:
    """Record each capture's result (None means it failed and the loop ran eagerly)."""
    results, capture = [], device_loop.capture_graph
    monkeypatch.setattr(device_loop, "capture_graph",
                        lambda *a: results.append(capture(*a)) or results[-1])
    return results


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("family", FAMILIES)
def test_cuda_graph_loop_matches_generate_at_greedy(family, monkeypatch):
    tokenizer = build_tokenizer()
    model = random_decoder(family, tokenizer, device="cuda")
    assert pick_strategy(model, SamplingConfig()).name == "graph"
    captured = _captured(monkeypatch)
    free = _generate(model, tokenizer, PROMPTS, 40)
    assert _ours(model, tokenizer, "graph", SamplingConfig(max_new_tokens=40)) == free
    _stop_at(model, tokenizer, {free[0][3], free[1][9]})  # ragged ends, then the early stop
    ref = _generate(model, tokenizer, PROMPTS, 40)
    assert sample_turn(model, tokenizer, PROMPTS, SamplingConfig(max_new_tokens=40),
                       torch.Generator())[0] == ref
    assert len(captured) == 2 and all(r is not None for r in captured)


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_graph_replays_equal_the_eager_device_loop(dtype, monkeypatch):
    """Same kernels with and without the graph, same noise from the seed: same tokens."""
    tokenizer = build_tokenizer()
    model = random_decoder("qwen2", tokenizer, device="cuda", dtype=dtype)
    captured = _captured(monkeypatch)
    for sampling in (SamplingConfig(max_new_tokens=40),
                     SamplingConfig(max_new_tokens=40, temperature=1.0, top_p=0.9)):
        runs = [_ours(model, tokenizer, loop, sampling, prompts=PROMPTS * 8)
                for loop in ("graph", "device")]
        assert runs[0] == runs[1]
    assert len(captured) == 2 and all(r is not None for r in captured)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="CUDA graph capture failed")
        _ours(model, tokenizer, "graph", SamplingConfig(max_new_tokens=8))
