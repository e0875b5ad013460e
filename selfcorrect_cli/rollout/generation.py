"""The one place that samples: batched multi-turn rollouts, one attempt at a time.

`rollout` runs every trajectory attempt by attempt: all first attempts of a batch together,
then every second attempt, and so on. Each attempt's prompt is the whole conversation so far,
rendered by the tokenizer's chat template (prompts.conversation), so a real chat model and the
built-in model take the same path. `sample_turn` samples one attempt for a batch of prompts
through a strategy, each in its own file (docs/architecture.md, "Rollouts"):
- Generate (rollout/generate_strategy.py): transformers' `generate`, the reference;
- HostLoop (rollout/host_loop.py): our loop, one token per step checked by the host, through
  the lean decoder or, for other architectures, the model's own forward;
- DeviceLoop (rollout/device_loop.py): our loop with every step on the device, as a CUDA graph.
All share one temperature and top-p filter (rollout/token_choice.py); both of our loops hand
their KV cache on to the next attempt of the same rows (rollout/turn_cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from tqdm.auto import tqdm

from selfcorrect_cli.config import SamplingConfig
from selfcorrect_cli.rollout import static_decoder
from selfcorrect_cli.rollout.chat import prompt_ids
from selfcorrect_cli.rollout.device_loop import DeviceLoop
from selfcorrect_cli.rollout.generate_strategy import Generate
from selfcorrect_cli.rollout.host_loop import HostLoop
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
            first_attempts: list[str] | None = None, second_attempts: int = 1,
            strategy: Strategy | None = None) -> list[Trajectory]:
    """`sampling.n_samples` trajectories of `sampling.attempts` attempts for each problem.

    With `first_attempts` (one per trajectory, in problem-major order) the first attempt is
    given instead of sampled: this is how one measures correction of fixed offline attempts.
    With `second_attempts` m > 1 the trajectories are trees: each first attempt is followed by
    m sampled second attempts, m trajectories that share it (sample_index = first * m + sibling).
    `strategy`: how attempts are sampled (default: `pick_strategy`'s for the model).
    """
    strategy = strategy or pick_strategy(model, sampling)
    trajectories = [Trajectory(p, k) for p in problems for k in range(sampling.n_samples)]
    total = len(trajectories) * (1 + second_attempts * (sampling.attempts - 1))
    bar = tqdm(total=total, desc="sampling", unit="attempt", disable=not progress, leave=False)
    grown = []
    for start in range(0, len(trajectories), sampling.batch_size):
        batch = trajectories[start:start + sampling.batch_size]
        cache = None  # the previous attempt's KV cache, where the strategy keeps one
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
                responses, cache = strategy.sample(model, tokenizer, prompts, sampling,
                                                   generator, cache)
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


class Strategy(Protocol):
    """A way to sample one attempt for a batch of prompts (Generate, HostLoop, DeviceLoop)."""

    name: str

    def sample(self, model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
               generator: torch.Generator,
               previous: TurnCache | None) -> tuple[list[list[int]], TurnCache | None]:
        """-> one response per prompt (sampled ids, the stop token kept) and, where the strategy
        keeps one, the cache the next attempt of the same rows can continue (`previous`: the
        one the previous attempt left, or None)."""


def pick_strategy(model, sampling: SamplingConfig) -> Strategy:
    """The strategy a configuration runs for `model`; each gives `generate`'s tokens at greedy:
    - Generate: sampling.backend "hf", the reference;
    - DeviceLoop: on CUDA, for a model the lean decoder supports (rollout/static_decoder.py),
      with its step recorded as a CUDA graph (eagerly when `sampling.cuda_graphs` is off);
    - HostLoop: everywhere else (CPU, other architectures)."""
    if sampling.backend == "hf":
        return Generate()
    if model.device.type == "cuda" and static_decoder.supports(model):
        return DeviceLoop(graphs=sampling.cuda_graphs)
    return HostLoop()


def sample_turn(model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
                generator: torch.Generator, previous: TurnCache | None = None,
                strategy: Strategy | None = None) -> tuple[list[list[int]], TurnCache | None]:
    """One attempt for every prompt, through `strategy` (default: `pick_strategy`'s); -> the
    responses and the cache a next attempt of the same rows can continue, or None."""
    strategy = strategy or pick_strategy(model, sampling)
    return strategy.sample(model, tokenizer, prompts, sampling, generator, previous)
