"""One two-turn SCoRe iteration on the built-in world: where the time goes, and today against
an older commit of the same loop.

What is measured: whole iterations of `experiments/builtin/rl/score.yaml` (16 problems x 8
two-turn samples, Stage II, 1 thread), split into rollout (both turns sampled and graded),
reference forward, policy forward (with the loss), backward, and optimizer step. With
`--old PATH` (a git worktree of an older commit, e.g. `git worktree add /tmp/old 6ca99a3`)
the same iterations of that commit run too, on the same base model and config, alternating
old, new, old, new in fresh processes so that a busy machine slows both alike; the ratio of
the median iteration times is printed.

    .venv/bin/python benchmarks/bench_iteration.py --model runs/builtin/base/model
    .venv/bin/python benchmarks/bench_iteration.py --model runs/builtin/base/model --old /tmp/old
    .venv/bin/python benchmarks/bench_iteration.py --model runs/builtin/base/model --micro-batches 0,32
    .venv/bin/python benchmarks/bench_iteration.py --model runs/builtin/base/model --turn-cache
    .venv/bin/python benchmarks/bench_iteration.py --model runs/builtin/base/model --profile
    .venv/bin/python benchmarks/bench_iteration.py --model runs/builtin/base/model --compile

The model must be a trained base (`selfcorrect pretrain`): an untrained one writes no
well-formed attempts and every response runs to max_new_tokens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside a fresh interpreter whose sys.path starts at the checkout being measured; it
# prints one JSON line of per-iteration seconds. It only uses names both versions define.
WORKER = r"""
import json, sys, time, torch
torch.set_num_threads(1)
from accelerate import Accelerator
from selfcorrect_cli.config import load_config
from selfcorrect_cli.tasks import build_task
try:
    from selfcorrect_cli.methods import score
    from selfcorrect_cli.rollout.models import load_model
except ImportError:  # the flat layout before the stage folders
    from selfcorrect_cli import score
    from selfcorrect_cli.models import load_model
model_path, iterations, breakdown = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
cfg = score.method_config(load_config("experiments/builtin/rl/score.yaml", [
    f"train.base_model={model_path}", "run.out_dir=/tmp/bench-iteration"]))
accelerator = Accelerator(cpu=True)
task = build_task(cfg)
problems = task.load("train")
cfg.model.path, cfg.model.device = model_path, "cpu"
policy, tokenizer = load_model(cfg.model)
reference, _ = load_model(cfg.model)
reference.requires_grad_(False)
optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.score.lr)
policy.train()
policy, optimizer = accelerator.prepare(policy, optimizer)
phases = {"rollout": 0.0, "reference": 0.0, "policy forward": 0.0, "backward": 0.0,
          "optimizer": 0.0}

def rollout(step):  # the two-turn samples of step `step`'s problems, as score.py draws them
    mine = score._problems_for_step(cfg, problems, step, accelerator)
    return score._sample(cfg, accelerator, policy, tokenizer, task, mine, None, step)

state = {"sampling": False}

def timed(name, fn):
    def wrapper(*args, **kwargs):
        if state["sampling"]:  # the rollout's own forward calls count as rollout
            return fn(*args, **kwargs)
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] += time.perf_counter() - began
    return wrapper

if breakdown:
    reference.forward = timed("reference", reference.forward)
    policy.forward = timed("policy forward", policy.forward)
    accelerator.backward = timed("backward", accelerator.backward)
    optimizer.step = timed("optimizer", optimizer.step)
extra = (torch.float32,) if "compute_dtype" in score._update.__code__.co_varnames else ()
times = []
for step in range(iterations + 1):  # the first iteration warms up and is not counted
    began = time.perf_counter()
    mine = score._problems_for_step(cfg, problems, step, accelerator)
    sampled = time.perf_counter()
    state["sampling"] = True
    trajectories = score._sample(cfg, accelerator, policy, tokenizer, task, mine, None, step)
    state["sampling"] = False
    phases["rollout"] += time.perf_counter() - sampled
    score._update(cfg, accelerator, policy, reference, optimizer, tokenizer, trajectories, 2,
                  step, *extra)
    if step == 0:
        phases = dict.fromkeys(phases, 0.0)
    else:
        times.append(time.perf_counter() - began)
print(json.dumps({"times": times, "phases": {k: v / iterations for k, v in phases.items()}}))
"""


# The update alone at several micro-batch sizes (score.micro_batch_rows), on the same sampled
# batches, in one process, the sizes taking turns batch by batch; prints median seconds.
MICRO_BATCH_WORKER = WORKER.split("state = {")[0] + r"""
sizes = [int(v) for v in sys.argv[4].split(",")]
batches = [rollout(s) for s in range(4)]
seconds = {size: [] for size in sizes}
for round_ in range(4):
    for trajectories in batches:
        for size in sizes:
            cfg.score.micro_batch_rows = size
            began = time.perf_counter()
            score._update(cfg, accelerator, policy, reference, optimizer, tokenizer, trajectories,
                          2, 1, torch.float32)
            if round_:  # the first round warms up
                seconds[size].append(time.perf_counter() - began)
print(json.dumps({str(k): sorted(v)[len(v) // 2] for k, v in seconds.items()}))
"""

# Rollouts alone, each attempt continuing the previous one's KV cache (rollout/turn_cache.py)
# against a fresh prefill of every prompt, taking turns in one process; prints median seconds.
TURN_CACHE_WORKER = WORKER.split("state = {")[0] + r"""
from selfcorrect_cli.rollout.turn_cache import TurnCache
carried = TurnCache.rest
seconds = {"carried": [], "fresh": []}
for round_ in range(6):
    for side in seconds:
        TurnCache.rest = carried if side == "carried" else (lambda self, prompts: None)
        for step in range(3):
            mine = score._problems_for_step(cfg, problems, step, accelerator)
            began = time.perf_counter()
            score._sample(cfg, accelerator, policy, tokenizer, task, mine, None, step)
            if round_:  # the first round warms up
                seconds[side].append(time.perf_counter() - began)
print(json.dumps({k: sorted(v)[len(v) // 2] for k, v in seconds.items()}))
"""

# Where the rollout's or the update's time goes (argv[4] names which), op by op (torch.profiler
# over 3 calls after a warm-up), and how close the matrix products run to this core's own peak (a
# 1024 x 1024 x 1024 float32 product): prints a JSON line for the phase, then the peak.
PROFILE_WORKER = WORKER.split("state = {")[0] + r"""
from torch.profiler import profile
batches = [rollout(s) for s in range(3)]
name = sys.argv[4]
run = {"rollout": rollout,
       "update": lambda i: score._update(cfg, accelerator, policy, reference, optimizer,
                                         tokenizer, batches[i], 2, 1, torch.float32)}[name]
run(0)
with profile(with_flops=True) as prof:
    for i in range(3):
        run(i)
ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
mm = next(e for e in ops if e.key == "aten::mm")
print(json.dumps({"phase": name, "seconds": sum(e.self_cpu_time_total for e in ops) / 3e6,
                  "top": [(e.key, e.self_cpu_time_total / 3e6) for e in ops[:6]],
                  "mm_gflops": mm.flops / mm.self_cpu_time_total / 1e3}))
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
a @ b
began = time.perf_counter()
for _ in range(10):
    a @ b
print(json.dumps({"peak_gflops": 10 * 2 * 1024 ** 3 / (time.perf_counter() - began) / 1e9}))
"""

# The update with the policy and the reference as they are, or through torch.compile (dynamic
# shapes: the rows' width changes every micro-batch): the first two updates (compilation, for
# the compiled side) and the median of 12 more on the same 4 sampled batches.
COMPILE_WORKER = WORKER.split("state = {")[0] + r"""
batches = [rollout(s) for s in range(4)]
if sys.argv[4] == "compiled":
    policy, reference = torch.compile(policy, dynamic=True), torch.compile(reference, dynamic=True)
def update(trajectories):
    began = time.perf_counter()
    score._update(cfg, accelerator, policy, reference, optimizer, tokenizer, trajectories, 2, 1,
                  torch.float32)
    return time.perf_counter() - began
first = update(batches[0]) + update(batches[1])
seconds = sorted(update(b) for _ in range(3) for b in batches)
print(json.dumps({"first_two": first, "median": seconds[len(seconds) // 2]}))
"""


def print_compile(model: str) -> None:
    """Eager against compiled, the compiled side twice: with an empty on-disk inductor cache,
    then with the cache the first compiled run left (what a second training run would find)."""
    with tempfile.TemporaryDirectory() as cache:
        runs = {"eager": run_worker(ROOT, model, 0, False, COMPILE_WORKER, "eager")}
        for name in ("compiled, empty cache", "compiled, warm cache"):
            runs[name] = run_worker(ROOT, model, 0, False, COMPILE_WORKER, "compiled",
                                    env={"TORCHINDUCTOR_CACHE_DIR": cache})
    eager = runs["eager"]["median"]
    print("| update (16 x 8, Stage II) | first two updates, s | median update, s |\n|---|---|---|")
    for name, times in runs.items():
        print(f"| {name} | {times['first_two']:.1f} | {times['median']:.3f} |")
    for name in ("compiled, empty cache", "compiled, warm cache"):
        saved = eager - runs[name]["median"]
        cost = runs[name]["first_two"] - runs["eager"]["first_two"]
        print(f"{name}: saves {saved:.3f} s per update, so its extra {cost:.1f} s of compilation "
              f"pays back after {cost / saved:.0f} updates" if saved > 0 else
              f"{name}: no faster than eager")


def print_profile(model: str) -> None:
    # one process per phase: profiling the rollout first left the update's profile in the same
    # process about twice as slow (its elementwise ops), so each phase starts fresh
    runs = [run_worker(ROOT, model, 0, False, PROFILE_WORKER, name, keep_output=True)
            for name in ("rollout", "update")]
    peak = max(lines[-1]["peak_gflops"] for lines in runs)
    for phase in (lines[0] for lines in runs):
        print(f"{phase['phase']}: {phase['seconds']:.3f} s of op time per call (profiled); "
              f"matrix products at {phase['mm_gflops']:.0f} GFLOP/s, "
              f"{100 * phase['mm_gflops'] / peak:.0f}% of this core's {peak:.0f}")
        print("| op | seconds per call | share |\n|---|---|---|")
        for op, seconds in phase["top"]:
            print(f"| {op} | {seconds:.3f} | {100 * seconds / phase['seconds']:.0f}% |")
        print()


def run_worker(checkout: Path, model: str, iterations: int, breakdown: bool,
               code: str = WORKER, *extra: str, keep_output: bool = False,
               env: dict | None = None) -> dict | list:
    """The worker's last JSON line, or with `keep_output` every JSON line it printed."""
    result = subprocess.run(
        [sys.executable, "-c", code, model, str(iterations), "1" if breakdown else "0", *extra],
        cwd=checkout, capture_output=True, text=True, env={"PYTHONPATH": str(checkout),
                                                           "OMP_NUM_THREADS": "1",
                                                           "TQDM_DISABLE": "1",
                                                           "PATH": "/usr/bin:/bin", **(env or {})})
    if result.returncode != 0:
        sys.exit(f"worker in {checkout} failed:\n{result.stderr[-2000:]}")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return lines if keep_output else lines[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained built-in base model folder")
    parser.add_argument("--old", default="", help="worktree of an older commit to compare")
    parser.add_argument("--iterations", type=int, default=8, help="timed iterations per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per side")
    parser.add_argument("--micro-batches", default="",
                        help="comma-separated score.micro_batch_rows values (0 = whole batch): "
                             "time the update alone under each, instead of the iteration")
    parser.add_argument("--turn-cache", action="store_true",
                        help="time rollouts alone, with and without the KV cache carried "
                             "from one attempt to the next")
    parser.add_argument("--profile", action="store_true",
                        help="profile the rollout and the update op by op, and compare the "
                             "matrix products' rate with this core's peak")
    parser.add_argument("--compile", action="store_true",
                        help="time the update eager and through torch.compile, with the "
                             "compilation it costs")
    args = parser.parse_args()
    model = str(Path(args.model).resolve())
    if args.compile:
        print_compile(model)
        return
    if args.profile:
        print_profile(model)
        return
    if args.turn_cache:
        medians = run_worker(ROOT, model, 0, False, TURN_CACHE_WORKER)
        print(f"rollout of 16 x 8 two-turn samples, median: {medians['carried']:.3f} s carrying "
              f"the cache, {medians['fresh']:.3f} s prefilling every prompt "
              f"({medians['fresh'] / medians['carried']:.2f}x)")
        return
    if args.micro_batches:
        medians = run_worker(ROOT, model, 0, False, MICRO_BATCH_WORKER, args.micro_batches)
        print("| score.micro_batch_rows | update, median s |\n|---|---|")
        for size, seconds in medians.items():
            print(f"| {size} | {seconds:.3f} |")
        return

    profile = run_worker(ROOT, model, args.iterations, breakdown=True)
    total = statistics.mean(profile["times"])  # the phases are means too
    print(f"two-turn iteration, 16 x 8, 1 thread: mean {total:.3f} s")
    print("| phase | seconds per iteration | share |\n|---|---|---|")
    phases = profile["phases"]
    phases["other (packing, advantages, grading glue)"] = total - sum(phases.values())
    for name, seconds in phases.items():
        print(f"| {name} | {seconds:.3f} | {100 * seconds / total:.0f}% |")
    if not args.old:
        return
    sides = {"new": [], "old": []}
    for _ in range(args.rounds):
        for side, checkout in (("old", Path(args.old).resolve()), ("new", ROOT)):
            sides[side] += run_worker(checkout, model, args.iterations, breakdown=False)["times"]
    old, new = (statistics.median(sides[s]) for s in ("old", "new"))
    print(f"\nold {args.old}: median {old:.3f} s per iteration; new: {new:.3f} s; "
          f"speed-up {old / new:.2f}x ({len(sides['new'])} iterations per side, alternating)")


if __name__ == "__main__":
    main()
