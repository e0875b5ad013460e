"""Rollout throughput: our KV-cache sampler against transformers' `generate`.

Same model, same prompts, same batch and sampling settings, both backends in one run,
alternating repeats so that machine noise hits both alike. Three parts:
- tokens: one batch of first-turn prompts in one call, generated tokens per second of each
  backend and the ratio (`measure_throughput`, which benchmarks/gpu_check.py also calls);
- rollouts: two-turn rollouts (`rollout`), trajectories and tokens per second, and the ratio;
- draw (a line): one T=1 sampling step's draw, ours against torch.multinomial.
Our sampler picks its decoding loop by device (generation.pick_strategy): on CUDA the decode step
is a CUDA graph (docs/gpu-rollouts.md), elsewhere the host loop; the header says which ran.

    python benchmarks/bench_sampling.py --model runs/builtin/seed0/base/model
    python benchmarks/bench_sampling.py --model smollm2-135m-instruct --temperatures 1 --repeats 2
    python benchmarks/bench_sampling.py --model smollm2-135m-instruct --task gsm8k --data ...
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from selfcorrect_cli.config import ExperimentConfig, SamplingConfig
from selfcorrect_cli.rollout.chat import prompt_ids
from selfcorrect_cli.rollout.generation import Trajectory, pick_strategy, rollout, sample_turn
from selfcorrect_cli.rollout.token_choice import next_tokens
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.tasks import build_task


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/builtin/seed0/base/model")
    parser.add_argument("--task", default="division")
    parser.add_argument("--data", default="")
    parser.add_argument("--problems", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--temperatures", default="0,1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--tables", default="tokens,rollouts,draw",
                        help="what to measure: tokens, rollouts, draw (comma-separated)")
    return parser.parse_args()


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed_sample(model, tokenizer, prompts, sampling: SamplingConfig, backend: str,
                  seed: int) -> tuple[float, list[list[int]]]:
    sampling.backend = backend
    _synchronize()
    start = time.perf_counter()
    rows, _ = sample_turn(model, tokenizer, prompts, sampling, torch.Generator().manual_seed(seed))
    _synchronize()
    return time.perf_counter() - start, rows


def measure_throughput(model, tokenizer, prompts: list[list[int]], max_new_tokens: int,
                       temperature: float, repeats: int = 3) -> dict:
    """Generated tokens per second of our sampler and of `generate`, all `prompts` (token ids,
    one batch) in one call; `repeats` timed calls each, alternating, after a small warm-up.

    Returns medians over the repeats: {"loop": our decoding loop, "batch": B,
    "ours_tokens_per_s", "generate_tokens_per_s", "ratio" (ours / generate tokens per second),
    "ours_seconds", "generate_seconds" (per call), "ours_tokens", "generate_tokens" (generated
    per call, stop tokens included), "greedy_match": fraction of rows whose tokens equal
    generate's at temperature 0, else None}. Our time includes the prefill and, on CUDA, the
    graph capture, which every call pays."""
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=max_new_tokens,
                              batch_size=len(prompts))
    warm = SamplingConfig(temperature=temperature, max_new_tokens=min(8, max_new_tokens))
    for backend in ("sampler", "hf"):  # CUDA context, kernels' first use, cuBLAS handles
        _timed_sample(model, tokenizer, prompts[:8], warm, backend, 0)
    ours, theirs = [], []
    for seed in range(repeats):
        ours.append(_timed_sample(model, tokenizer, prompts, sampling, "sampler", seed))
        theirs.append(_timed_sample(model, tokenizer, prompts, sampling, "hf", seed))
    ours_s = statistics.median(s for s, _ in ours)
    theirs_s = statistics.median(s for s, _ in theirs)
    ours_tokens = statistics.median(sum(map(len, rows)) for _, rows in ours)
    theirs_tokens = statistics.median(sum(map(len, rows)) for _, rows in theirs)
    match = None
    if temperature <= 0:
        match = sum(a == b for a, b in zip(ours[0][1], theirs[0][1])) / len(prompts)
    return {
        "loop": pick_strategy(model, sampling).name, "batch": len(prompts),
        "ours_tokens_per_s": ours_tokens / ours_s,
        "generate_tokens_per_s": theirs_tokens / theirs_s,
        "ratio": (ours_tokens / ours_s) / (theirs_tokens / theirs_s),
        "ours_seconds": ours_s, "generate_seconds": theirs_s,
        "ours_tokens": ours_tokens, "generate_tokens": theirs_tokens, "greedy_match": match,
    }


def print_token_table(model, tokenizer, task, problems, args, temperatures) -> None:
    prompts = [prompt_ids(tokenizer, Trajectory(p, 0).messages(task))
               for p in problems[: args.batch_size]]
    print(f"\none call, {len(prompts)} first-turn prompts, max {args.max_new_tokens} new tokens")
    print("| temperature | ours (tokens/s) | generate (tokens/s) | ratio | greedy rows equal |")
    print("|---|---|---|---|---|")
    for temperature in temperatures:
        m = measure_throughput(model, tokenizer, prompts, args.max_new_tokens, temperature,
                               args.repeats)
        match = "-" if m["greedy_match"] is None else f"{m['greedy_match']:.3f}"
        print(f"| {temperature} | {m['ours_tokens_per_s']:.0f} | {m['generate_tokens_per_s']:.0f} "
              f"| {m['ratio']:.2f}x | {match} |")


def time_backend(model, tokenizer, task, problems, sampling, backend: str) -> tuple[float, int]:
    sampling.backend = backend
    _synchronize()
    start = time.perf_counter()
    trajectories = rollout(model, tokenizer, task, problems, sampling,
                           torch.Generator().manual_seed(0), progress=False)
    _synchronize()
    tokens = sum(len(a.response_ids) for t in trajectories for a in t.attempts)
    return time.perf_counter() - start, tokens


def print_rollout_table(model, tokenizer, task, problems, args, cfg, temperatures) -> None:
    print(f"\n{len(problems)} problems x 2 attempts, batch {args.batch_size}, "
          f"max {args.max_new_tokens} new tokens")
    print("| temperature | ours (traj/s) | generate (traj/s) | ratio ours/generate "
          "| tokens/s ours | tokens/s generate |")
    print("|---|---|---|---|---|---|")
    for temperature in temperatures:
        cfg.sampling.temperature = temperature
        cfg.sampling.batch_size, cfg.sampling.max_new_tokens = args.batch_size, args.max_new_tokens
        cfg.sampling.attempts = 2
        time_backend(model, tokenizer, task, problems[:8], cfg.sampling, "sampler")  # warm-up
        time_backend(model, tokenizer, task, problems[:8], cfg.sampling, "hf")
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(time_backend(model, tokenizer, task, problems, cfg.sampling, "sampler"))
            theirs.append(time_backend(model, tokenizer, task, problems, cfg.sampling, "hf"))
        ours_s, theirs_s = (statistics.median(s for s, _ in runs) for runs in (ours, theirs))
        print(f"| {temperature} | {len(problems) / ours_s:.1f} | {len(problems) / theirs_s:.1f} | "
              f"{theirs_s / ours_s:.2f}x | {ours[0][1] / ours_s:.0f} "
              f"| {theirs[0][1] / theirs_s:.0f} |")


def print_draw_table(model, args) -> None:
    """One sampling step's draw at T=1 on logits of the model's vocabulary size: our inverse-CDF
    draw (token_choice.next_tokens) against torch.multinomial, softmax included on both sides."""
    logits = torch.randn(args.batch_size, model.config.vocab_size, generator=torch.Generator())
    generator = torch.Generator().manual_seed(0)

    def multinomial():
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)

    def ours():
        return next_tokens(logits, SamplingConfig(temperature=1.0), generator)

    seconds = {}
    for name, draw in (("ours", ours), ("multinomial", multinomial)) * 2:  # second round counts
        began = time.perf_counter()
        for _ in range(500):
            draw()
        seconds[name] = (time.perf_counter() - began) / 500
    print(f"\none draw at T=1, batch {args.batch_size} x vocabulary {logits.shape[1]}: ours "
          f"{1e6 * seconds['ours']:.0f} us, torch.multinomial {1e6 * seconds['multinomial']:.0f} us "
          f"({seconds['multinomial'] / seconds['ours']:.2f}x)")


def main() -> None:
    args = parse_args()
    cfg = ExperimentConfig()
    cfg.task.name, cfg.task.data = args.task, args.data
    cfg.model.path, cfg.model.device, cfg.model.dtype = args.model, args.device, args.dtype
    model, tokenizer = load_model(cfg.model)
    task = build_task(cfg)
    problems = task.load("test")[: args.problems]
    temperatures = [float(t) for t in args.temperatures.split(",")]
    tables = {t.strip() for t in args.tables.split(",")}
    print(f"model {args.model} on {model.device} ({model.dtype}), task {args.task}, "
          f"our loop {pick_strategy(model, cfg.sampling).name}, torch threads {torch.get_num_threads()}")
    if "tokens" in tables:
        print_token_table(model, tokenizer, task, problems, args, temperatures)
    if "rollouts" in tables:
        print_rollout_table(model, tokenizer, task, problems, args, cfg, temperatures)
    if "draw" in tables:
        print_draw_table(model, args)


if __name__ == "__main__":
    main()
