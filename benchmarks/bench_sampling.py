"""Two-turn rollout throughput: our KV-cache sampler against transformers' `generate`.

Same model, same problems, same batch and sampling settings, both backends in one run,
alternating repeats so that machine noise hits both alike. Prints trajectories per second
and the ratio (ours / generate).

    python benchmarks/bench_sampling.py --model runs/builtin/seed0/base/model
    python benchmarks/bench_sampling.py --model smollm2-135m-instruct --task gsm8k --data ...
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from selfcorrect_cli.config import ExperimentConfig
from selfcorrect_cli.rollout.generation import rollout
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
    return parser.parse_args()


def time_backend(model, tokenizer, task, problems, sampling, backend: str) -> tuple[float, int]:
    sampling.backend = backend
    start = time.perf_counter()
    trajectories = rollout(model, tokenizer, task, problems, sampling,
                           torch.Generator().manual_seed(0), progress=False)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    tokens = sum(len(a.response_ids) for t in trajectories for a in t.attempts)
    return time.perf_counter() - start, tokens


def main() -> None:
    args = parse_args()
    cfg = ExperimentConfig()
    cfg.task.name, cfg.task.data = args.task, args.data
    cfg.model.path, cfg.model.device, cfg.model.dtype = args.model, args.device, args.dtype
    model, tokenizer = load_model(cfg.model)
    task = build_task(cfg)
    problems = task.load("test")[: args.problems]
    print(f"model {args.model} on {model.device} ({model.dtype}), task {args.task}, "
          f"{len(problems)} problems x 2 attempts, batch {args.batch_size}, "
          f"max {args.max_new_tokens} new tokens, torch threads {torch.get_num_threads()}")
    print("| temperature | ours (traj/s) | generate (traj/s) | ratio ours/generate | tokens/s ours |")
    print("|---|---|---|---|---|")
    for temperature in (float(t) for t in args.temperatures.split(",")):
        cfg.sampling.temperature = temperature
        cfg.sampling.batch_size, cfg.sampling.max_new_tokens = args.batch_size, args.max_new_tokens
        cfg.sampling.attempts = 2
        time_backend(model, tokenizer, task, problems[:8], cfg.sampling, "sampler")  # warm-up
        time_backend(model, tokenizer, task, problems[:8], cfg.sampling, "hf")
        ours, theirs, tokens = [], [], 0
        for _ in range(args.repeats):
            seconds, tokens = time_backend(model, tokenizer, task, problems, cfg.sampling, "sampler")
            ours.append(seconds)
            theirs.append(time_backend(model, tokenizer, task, problems, cfg.sampling, "hf")[0])
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        print(f"| {temperature} | {len(problems) / ours_s:.1f} | {len(problems) / theirs_s:.1f} | "
              f"{theirs_s / ours_s:.2f}x | {tokens / ours_s:.0f} |")


if __name__ == "__main__":
    main()
