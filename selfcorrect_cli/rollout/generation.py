"""The one place that samples: batched multi-turn rollouts with a KV cache.

`rollout` runs every trajectory attempt by attempt: all first attempts of a batch together,
then every second attempt, and so on. Each attempt's prompt is the whole conversation so far,
rendered by the tokenizer's chat template (prompts.conversation), so a real chat model and the
built-in model take the same path. Two backends share that loop:
- "sampler": our own decoding loop over the model's forward with a KV cache (`pick_loop` says
  which: on CUDA the step runs as a CUDA graph, docs/gpu-rollouts.md); on the CPU loop each
  attempt continues the previous attempt's cache (rollout/turn_cache.py);
- "hf": transformers' `model.generate`, the reference the benchmark compares against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from selfcorrect_cli.config import SamplingConfig
from selfcorrect_cli.rollout import device_loop, static_decoder
from selfcorrect_cli.rollout.chat import prompt_ids
from selfcorrect_cli.rollout.models import stop_token_ids
from selfcorrect_cli.rollout.turn_cache import TurnCache
from selfcorrect_cli.tasks.base import Problem, Task
from selfcorrect_cli.tasks.prompts import conversation


@dataclass
class Attempt:
    prompt_ids: list[int]
    response_ids: list[int]
    """Sampled ids, the stop token included when the model emitted one."""
    response: str
    reward: float = 0.0
    answer: str | None = None


@dataclass
class Trajectory:
    problem: Problem
    sample_index: int
    attempts: list[Attempt] = field(default_factory=list)

    def messages(self, task: Task) -> list[dict]:
        """The conversation that asks for the next attempt."""
        return conversation(
            task.first_prompt(self.problem), [a.response for a in self.attempts],
            task.correction_instruction,
        )


def rollout(model, tokenizer, task: Task, problems: list[Problem], sampling: SamplingConfig,
            generator: torch.Generator, progress: bool = True,
            first_attempts: list[str] | None = None, second_attempts: int = 1) -> list[Trajectory]:
    """`sampling.n_samples` trajectories of `sampling.attempts` attempts for each problem.

    With `first_attempts` (one per trajectory, in problem-major order) the first attempt is
    given instead of sampled: this is how one measures correction of fixed offline attempts.
    With `second_attempts` m > 1 the trajectories are trees: each first attempt is followed by
    m sampled second attempts, m trajectories that share it (sample_index = first * m + sibling).
    """
    trajectories = [Trajectory(p, k) for p in problems for k in range(sampling.n_samples)]
    total = len(trajectories) * (1 + second_attempts * (sampling.attempts - 1))
    bar = tqdm(total=total, desc="sampling", unit="attempt", disable=not progress, leave=False)
    grown = []
    for start in range(0, len(trajectories), sampling.batch_size):
        batch = trajectories[start:start + sampling.batch_size]
        cache = None  # the previous attempt's KV cache, where the decoding loop keeps one
        for turn in range(sampling.attempts):
            if turn == 1 and second_attempts > 1:
                batch = [Trajectory(t.problem, t.sample_index * second_attempts + j, list(t.attempts))
                         for t in batch for j in range(second_attempts)]
                cache = cache.repeat_rows(second_attempts) if cache is not None else None
            prompts = _prompts(tokenizer, [t.messages(task) for t in batch])
            if turn == 0 and first_attempts is not None:
                given = first_attempts[start:start + len(batch)]
                responses = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in given]
            else:
                responses, cache = sample_turn(model, tokenizer, prompts, sampling, generator,
                                               cache)
            texts = tokenizer.batch_decode(responses, skip_special_tokens=True)
            rewards = task.grade([t.problem for t in batch], texts)
            for t, ids, p, text, reward in zip(batch, responses, prompts, texts, rewards):
                answer = task.extract_answer(text)
                t.attempts.append(Attempt(p, ids, text, float(reward), answer))
            bar.update(len(batch))
        grown.extend(batch)
    bar.close()
    return grown


def _prompts(tokenizer, conversations: list[list[dict]]) -> list[list[int]]:
    """Each conversation's next-attempt prompt ids; a conversation that repeats (the n samples
    of a problem share their first prompt) is rendered and tokenized once."""
    rendered: dict[tuple, list[int]] = {}
    prompts = []
    for messages in conversations:
        key = tuple((m["role"], m["content"]) for m in messages)
        if key not in rendered:
            rendered[key] = prompt_ids(tokenizer, messages)
        prompts.append(rendered[key])
    return prompts


def sample(model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
           generator: torch.Generator) -> list[list[int]]:
    """One response per prompt, through the configured backend."""
    if sampling.backend == "hf":
        return sample_with_generate(model, tokenizer, prompts, sampling, generator)
    if sampling.backend == "sampler":
        return sample_with_cache(model, tokenizer, prompts, sampling, generator)
    raise ValueError(f"unknown sampling.backend {sampling.backend!r} (sampler or hf)")


def _left_pad(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    return ids.to(device), mask.to(device)


def next_tokens(logits: torch.Tensor, sampling: SamplingConfig,
                generator: torch.Generator) -> torch.Tensor:
    """Greedy when temperature is 0, else temperature and nucleus (top-p) sampling.

    logits: (B, V) -> (B,)
    """
    if sampling.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)  # (B, V)
    if sampling.top_p >= 1.0:
        return inverse_cdf_draw(probs, generator)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs > sampling.top_p  # keep the first token
    picked = inverse_cdf_draw(sorted_probs.masked_fill(outside, 0.0), generator)
    return order.gather(-1, picked[:, None]).squeeze(-1)


def inverse_cdf_draw(weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row, drawn with probability proportional to `weights` (B, V) >= 0.

    One uniform per row against the running sum: cheaper on a CPU than torch.multinomial, which
    draws an exponential for every vocabulary entry (`benchmarks/bench_sampling.py --tables
    draw`).

    >>> inverse_cdf_draw(torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]), torch.Generator())[0]
    tensor(1)
    """
    running = weights.cumsum(-1)  # (B, V)
    uniform = torch.rand((len(weights), 1), generator=generator, device=weights.device)
    # the first index whose running sum exceeds u * total: a zero weight is never picked, as
    # its running sum equals its predecessor's, except past the end when u * total rounds up
    # to the total, which the last positive weight's index catches
    picked = (running <= uniform * running[:, -1:]).sum(-1)
    last_positive = weights.shape[-1] - 1 - (weights.flip(-1) > 0).to(torch.uint8).argmax(-1)
    return torch.minimum(picked, last_positive)


def device_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on `device` seeded from `generator`: sampling stays on the GPU (no copy of
    the (B, V) probabilities per step) and stays reproducible from the caller's seed."""
    if generator.device == device:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


LOOPS = ("host", "device", "graph")


def pick_loop(model, sampling: SamplingConfig) -> str:
    """The decoding loop `sample_with_cache` runs for `model` (greedy, each equals `generate`):
    - "graph": on CUDA, for a model the lean decoder supports (rollout/static_decoder.py): the
      device loop (rollout/device_loop.py) with its step recorded once as a CUDA graph;
    - "device": the same loop run eagerly, when `sampling.cuda_graphs` is off (for debugging);
    - "host": everywhere else (CPU, other architectures): one step at a time, the host checking
      the stop tokens after each; on CPU, checks cost nothing and this loop is the fastest.
    """
    if model.device.type != "cuda" or not static_decoder.supports(model):
        return "host"
    return "graph" if sampling.cuda_graphs else "device"


@dataclass
class Prefill:
    """The prompts' forward pass, which every loop starts from."""

    cache: object  # the model's KV cache over the prompts
    mask: torch.Tensor  # (B, T) 1 for prompt tokens, 0 for left padding
    logits: torch.Tensor  # (B, V) next-token logits after each prompt
    next_position: torch.Tensor  # (B, 1) position of the first generated token


@torch.no_grad()
def sample_with_cache(model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
                      generator: torch.Generator) -> list[list[int]]:
    """Our decoding loop: one prefill, then one token per step for the whole batch, through
    the loop `pick_loop` names."""
    return sample_with_loop(model, tokenizer, prompts, sampling, generator,
                            pick_loop(model, sampling))


@torch.no_grad()
def sample_with_loop(model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
           generator: torch.Generator, loop: str) -> list[list[int]]:
    """`sample_with_cache` through a named loop (one of LOOPS; all but "graph" run anywhere)."""
    return _sample_turn(model, tokenizer, prompts, sampling, generator, loop, None)[0]


@torch.no_grad()
def sample_turn(model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
                generator: torch.Generator,
                previous: TurnCache | None) -> tuple[list[list[int]], TurnCache | None]:
    """One attempt for every prompt, through the configured backend; -> the responses and, where
    the loop keeps one, the cache the next attempt of the same rows can continue from
    (rollout/turn_cache.py). `previous`: the cache the previous attempt left, or None."""
    if sampling.backend == "sampler":
        return _sample_turn(model, tokenizer, prompts, sampling, generator,
                            pick_loop(model, sampling), previous)
    return sample(model, tokenizer, prompts, sampling, generator), None


def _sample_turn(model, tokenizer, prompts, sampling, generator, loop: str,
                 previous: TurnCache | None) -> tuple[list[list[int]], TurnCache | None]:
    if loop not in LOOPS:
        raise ValueError(f"unknown decoding loop {loop!r} ({', '.join(LOOPS)})")
    device = model.device
    generator = device_generator(generator, device)
    stops = torch.tensor(stop_token_ids(model, tokenizer), device=device)
    if loop != "host":  # the device loop decodes from a fresh prefill and keeps no cache
        prefill = _prefill(model, tokenizer.pad_token_id, prompts)
        decoder = static_decoder.StaticDecoder(model, prefill.cache, prefill.mask,
                                               sampling.max_new_tokens, fold_groups=True, round_to=16)
        prefill.cache = None  # copied into the decoder's buffers; free it before decoding
        choice = device_loop.Choice(sampling.temperature, sampling.top_p, tokenizer.pad_token_id,
                                    stops)
        rows = device_loop.decode(decoder, prefill.logits, prefill.next_position,
                                  sampling.max_new_tokens, choice, generator,
                                  graphs=loop == "graph").tolist()
        return _trim(rows, stops.tolist()), None
    rest = previous.rest(prompts) if previous is not None else None
    if rest is not None:  # the cache holds each prompt's start: feed only the rest
        logits, next_position = previous.extend(rest, tokenizer.pad_token_id,
                                                sampling.max_new_tokens)
        decoder, prefill = previous.decoder, Prefill(None, None, logits, next_position)
    else:
        decoder, prefill = None, _prefill(model, tokenizer.pad_token_id, prompts)
    rows, decoder, fed = _host_loop(model, tokenizer.pad_token_id, stops, prefill, sampling,
                                    generator, decoder)
    rows = _trim(rows, stops.tolist())
    if decoder is None:  # a model the lean decoder does not support: no cache to hand on
        return rows, None
    return rows, TurnCache(decoder, [p + r[:fed] for p, r in zip(prompts, rows)])


def _prefill(model, pad_id: int, prompts: list[list[int]]) -> Prefill:
    """The prompts' forward pass, each distinct prompt once (a problem's n samples share
    theirs), its cache rows then copied out to every row that asked for it."""
    distinct: dict[tuple, int] = {}
    row_of = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
    unique = [list(p) for p in distinct]
    ids, mask = _left_pad(unique, pad_id, model.device)  # (U, T)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding must not shift positions
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                logits_to_keep=1)
    cache, logits = out.cache, out.logits[:, -1]
    del out
    if len(unique) < len(prompts):
        index = torch.tensor(row_of, device=model.device)
        cache.reorder_cache(index)  # index_select along the batch: an expansion here
        mask, logits, positions = mask[index], logits[index], positions[index]
    return Prefill(cache, mask, logits, positions[:, -1:] + 1)


def _host_loop(model, pad_id: int, stops: torch.Tensor, prefill: Prefill,
               sampling: SamplingConfig, generator: torch.Generator,
               decoder: static_decoder.StaticDecoder | None):
    """One token per step, the host checking after each whether every row has stopped.

    Continues `decoder` when given (its cache already holds the prompts), else starts from the
    prefill, with the lean decoder where the model allows. -> (rows of sampled ids, the decoder
    or None, how many sampled columns were fed back: the cache holds each row's first `fed`
    response tokens, padding after a stop kept out of attention)."""
    cache, mask, logits = prefill.cache, prefill.mask, prefill.logits
    next_position = prefill.next_position
    if decoder is None and static_decoder.supports(model):
        decoder = static_decoder.StaticDecoder(model, cache, mask, sampling.max_new_tokens)
    finished = torch.zeros(len(logits), dtype=torch.bool, device=logits.device)
    generated = []
    fed = 0
    for step in range(sampling.max_new_tokens):
        token = next_tokens(logits, sampling, generator)
        token = token.masked_fill(finished, pad_id)
        generated.append(token)
        real = ~finished
        finished |= torch.isin(token, stops)
        if bool(finished.all()) or step == sampling.max_new_tokens - 1:
            break
        if decoder is not None:
            logits = decoder.step(token, next_position, real)
            fed += 1
        else:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            out = model(input_ids=token[:, None], attention_mask=mask, position_ids=next_position,
                        cache=cache, use_cache=True)
            cache = out.cache
            logits = out.logits[:, -1]
        next_position = next_position + 1
    return torch.stack(generated, dim=1).tolist(), decoder, fed


@torch.no_grad()
def sample_with_generate(model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
                         generator: torch.Generator) -> list[list[int]]:
    """The reference backend: transformers' generate with the same settings."""
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id, model.device)
    greedy = sampling.temperature <= 0
    # generate draws from the global RNG; seed it from our generator to stay reproducible
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    out = model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=sampling.max_new_tokens,
        do_sample=not greedy, temperature=None if greedy else sampling.temperature,
        top_p=None if greedy else sampling.top_p, top_k=None,
        eos_token_id=stop_token_ids(model, tokenizer), pad_token_id=tokenizer.pad_token_id,
    )
    return _trim(out[:, ids.shape[1]:].tolist(), stop_token_ids(model, tokenizer))


def _trim(rows: list[list[int]], stops: list[int]) -> list[list[int]]:
    """Cut each row after its first stop token (kept) or at the end."""
    trimmed = []
    for row in rows:
        end = next((i + 1 for i, tok in enumerate(row) if tok in stops), len(row))
        trimmed.append(row[:end])
    return trimmed
