"""The three parts of the GPU check (gpu_check.py sets up and runs them, in this order).

Each part is `measure_*(check, result)`: it fills `result` (saved to gpu-check.json) and
rewrites its Markdown file in `check.out` after every finished step, and stops by its own
deadline from `check.clock`. `check` is gpu_check.Check: paths, scale, clock, results.
  1. measure_throughput: two-turn rollouts, our sampling path against `generate`;
  2. measure_f1: the base model's two-turn evaluation, greedy and T=1 (F1 on a real LM);
  3. compare_rl_methods: SCoRe vs single-turn RL vs STaR, sized to the time left.
"""

from __future__ import annotations

import gc
import math
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from selfcorrect_cli.config import SamplingConfig, load_config
from selfcorrect_cli.io.read import read_json, read_jsonl
from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.io.traces import read_traces
from selfcorrect_cli.measure.collect import evaluate, metrics_from_traces
from selfcorrect_cli.report.study_tables import KEYS, NAMES
from selfcorrect_cli.report.tables import markdown_table, percent_cell
from selfcorrect_cli.rollout.generation import pick_strategy
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.tasks import build_task

EVAL_RECIPE = "experiments/real/gsm8k-smollm2-eval.yaml"
SCORE_RECIPE = "experiments/real/gsm8k-smollm2-score.yaml"


def free_memory() -> None:
    """Drop what the last stage left on the GPU, and start a new peak-memory count."""
    if torch.cuda.is_available():  # (on the CPU a collection only costs time)
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib() -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 1) if torch.cuda.is_available() else None


def fresh(run_dir: Path) -> Path:
    """`run_dir`, emptied: a rerun of the check with other sizes must not resume (or be
    refused by) the run directories of the last one."""
    shutil.rmtree(run_dir, ignore_errors=True)
    return run_dir


def eval_sets(check, limit: int) -> list[str]:
    """The eval recipe's overrides: the first `limit` test problems, at the check's scale."""
    s = check.scale
    sets = [f"task.data={check.test_data}", "task.split=test", f"task.limit={limit}",
            f"sampling.batch_size={s.eval_batch}"]
    return sets + ([f"sampling.max_new_tokens={s.eval_tokens}"] if s.eval_tokens else [])


def trim_metrics(metrics: dict) -> dict:
    """metrics.json without its per-trajectory list (that stays in the run directory)."""
    return {k: v for k, v in metrics.items() if k != "edit_distance_ratios"}


def metric_cells(m: dict) -> list[str]:
    """Acc@t1, Acc@t2, Delta, i->c, c->i with their 95% CIs, then the answer-changed rate."""
    return [*(percent_cell(m[k], *m[f"{k}_ci"], signed=k == "delta") for k in KEYS),
            percent_cell(m["answer_changed_frac"])]


def test_size(check) -> int:
    cfg = load_config(None, ["task.name=gsm8k", f"task.data={check.test_data}"])
    return len(build_task(cfg).load("test"))


# ---------------- part 1: rollout throughput --------------------------------------------------

def measure_throughput(check, result: dict) -> None:
    """Our sampling path against `generate`, alternating repeats until the part's budget."""
    # benchmarks/ is on sys.path: gpu_check.py runs as a script from there
    from bench_sampling import time_backend

    s = check.scale
    end = check.clock.part_end(s.throughput_s)
    cfg = load_config(EVAL_RECIPE, check.sets(f"task.data={check.test_data}"))
    model, tokenizer = load_model(cfg.model)
    task = build_task(cfg)
    problems = task.load("test")[: s.throughput_problems]
    ours = SamplingConfig().backend  # the project's default path, whatever it becomes
    sampling = SamplingConfig(temperature=1.0, attempts=2, batch_size=s.throughput_problems,
                              max_new_tokens=s.throughput_tokens)
    result.update(problems=len(problems), batch=sampling.batch_size, temperature=1.0,
                  max_new_tokens=sampling.max_new_tokens, ours_backend=ours,
                  ours_loop=pick_strategy(model, sampling).name,
                  dtype=str(model.dtype).removeprefix("torch."), repeats=0)
    for backend in (ours, "hf"):  # warm-up: kernels, allocator, cuBLAS handles
        time_backend(model, tokenizer, task, problems[:8], sampling, backend)
    timings = {ours: [], "hf": []}
    while True:
        started = check.clock.elapsed()
        for backend in (ours, "hf"):
            timings[backend].append(time_backend(model, tokenizer, task, problems, sampling, backend))
        result["repeats"] += 1
        for name, runs in (("ours", timings[ours]), ("generate", timings["hf"])):
            seconds = statistics.median(t for t, _ in runs)
            tokens = statistics.median(n for _, n in runs)
            result[name] = {"seconds": round(seconds, 3), "tokens": tokens,
                            "tokens_per_s": round(tokens / seconds, 1),
                            "trajectories_per_s": round(len(problems) / seconds, 2)}
        result["ratio"] = round(result["ours"]["tokens_per_s"] / result["generate"]["tokens_per_s"], 2)
        result["peak_gib"] = peak_memory_gib()
        write_atomic(check.out / "throughput.md", throughput_markdown(check, result))
        if 2 * check.clock.elapsed() - started > end:  # another repeat would overrun
            break


def throughput_markdown(check, r: dict) -> str:
    head = ["backend", "generated tokens/s", "trajectories/s", "tokens per repeat", "seconds (median)"]
    ours = f"ours ({r['ours_backend']}, {r['ours_loop']} loop)"
    rows = [[ours if key == "ours" else "transformers generate",
             r[key]["tokens_per_s"], r[key]["trajectories_per_s"], r[key]["tokens"], r[key]["seconds"]]
            for key in ("ours", "generate")]
    setting = (
        f"Model `{check.model}` ({r['dtype']}); {r['problems']} GSM8K test problems x 2 turns "
        f"(the second after the paper's correction instruction), batch {r['batch']}, "
        f"T={r['temperature']:g} (top-p 1), at most {r['max_new_tokens']} new tokens per turn. "
        f"Median of {r['repeats']} repeat(s), the two backends alternating, after a warm-up on "
        "8 problems; they sample different tokens, so compare tokens per second. loop: the "
        "decoding loop our sampler picked (rollout/generation.py, `pick_strategy`).")
    ratio = f"**Ratio ours / generate (generated tokens/s): {r['ratio']}x.**"
    if r["peak_gib"] is not None:
        ratio += f" Peak GPU memory: {r['peak_gib']} GiB."
    return "\n".join([f"# Rollout throughput on {check.results['device']}", "", setting, "",
                      markdown_table(head, rows), "", ratio, ""])


# ---------------- part 2: F1 on a real LM ------------------------------------------------------

def measure_f1(check, result: dict) -> None:
    """Two-turn evaluation of the base model, greedy then T=1, on the first `limit` test
    problems: all of them unless part 1's speed or the first evaluation says they won't fit."""
    s = check.scale
    end = check.clock.part_end(s.f1_s)
    n_test = test_size(check)
    limit = min(n_test, s.eval_limit or n_test)
    speed = check.results.get("throughput", {}).get("ours")
    if speed and not s.fixed:  # part 1's seconds per two-turn trajectory, scaled to eval length
        tokens = check.scale.eval_tokens or load_config(EVAL_RECIPE).sampling.max_new_tokens
        per_problem = speed["seconds"] / check.results["throughput"]["problems"]
        per_problem *= tokens / check.results["throughput"]["max_new_tokens"]
        limit = min(limit, max(1, int(0.5 * (end - check.clock.elapsed()) / per_problem)))
    result.update(runs={}, test_problems=n_test)
    for name, temperature in (("greedy", 0.0), ("T=1", 1.0)):
        left = end - check.clock.elapsed()
        if "greedy" in result["runs"] and not s.fixed:  # fit it to what the first one took
            first = result["runs"]["greedy"]
            limit = min(limit, int(left / (max(first["seconds"], 0.1) / first["problems"])))
        if limit < 1:
            result["runs"][name] = {"skipped": f"no time left ({left:.0f} s)"}
            continue
        started = check.clock.elapsed()
        run_dir = fresh(check.work / "f1" / name.replace("=", ""))
        metrics = evaluate(load_config(EVAL_RECIPE, check.sets(
            *eval_sets(check, limit), f"run.out_dir={run_dir}",
            f"sampling.temperature={temperature}")), progress=False)
        result["runs"][name] = {
            "problems": limit, "seconds": round(check.clock.elapsed() - started, 1),
            "metrics": trim_metrics(metrics), "peak_gib": peak_memory_gib(),
            "traces": str(run_dir / "traces.jsonl")}
        check.log(f"F1 {name}: {limit} problems in {result['runs'][name]['seconds']} s")
        write_atomic(check.out / "f1-gsm8k.md", f1_markdown(check, result))
        free_memory()
    write_atomic(check.out / "f1-gsm8k.md", f1_markdown(check, result))  # with any skipped row


def f1_markdown(check, r: dict) -> str:
    head = ["decoding", "problems", *NAMES, "answer changed", "edit ratio", "seconds"]
    rows, verdicts = [], []
    for name, run in r["runs"].items():
        if "metrics" not in run:
            rows.append([name, "-", *["-"] * (len(NAMES) + 2), run["skipped"]])
            continue
        m = run["metrics"]
        rows.append([name, run["problems"], *metric_cells(m),
                     f"{m['edit_distance_ratio_mean']:.3f}", run["seconds"]])
        low, high = m["delta_ci"]
        side = "below zero" if high < 0 else "above zero" if low > 0 else "not different from zero"
        verdicts.append(f"{name}: Delta {100 * m['delta']:+.1f} [{100 * low:.1f}, {100 * high:.1f}], "
                        f"{side} at 95%; i->c {100 * m['delta_i2c']:.1f} against c->i "
                        f"{100 * m['delta_c2i']:.1f}")
    setting = (
        f"Base model `{check.model}`: two attempts on each of the first N of the "
        f"{r['test_problems']} GSM8K test problems, the second after the paper's correction "
        f"instruction; `{EVAL_RECIPE}` with the overrides in gpu-check.json. Percent of all "
        "problems; brackets: 95% bootstrap CI over problems. answer changed: % of second "
        "attempts whose final answer differs from the first; edit ratio: mean edit-distance "
        "ratio of the two attempts (0 identical).")
    title = f"# F1 on a real LM: the base model's self-correction on GSM8K ({check.results['device']})"
    return "\n".join([title, "", setting, "", markdown_table(head, rows), "",
                      *(f"- {v}" for v in verdicts), ""])


# ---------------- part 3: SCoRe vs single-turn RL vs STaR --------------------------------------

# (label, train.method, cost of a step relative to a SCoRe step). Single-turn RL samples and
# trains one turn; STaR samples the same trajectories as S SCoRe steps but in large batches,
# then fine-tunes once. The costs are estimates: each method's steps are re-fitted to the
# time actually left when it starts.
RL_METHODS = (("SCoRe", "score", 1.0), ("single-turn RL", "single-turn-rl", 0.6),
              ("STaR (D+)", "star", 0.5))
EVAL_SHARE = 0.35  # at most this share of part 3 goes to evaluating the three trained models
SAFETY = 0.1       # and this share is left unplanned


@dataclass
class RLPlan:
    step_s: float
    """Seconds of one SCoRe step (the calibration's Stage II step)."""
    overhead_s: float
    """Seconds of a training run outside its steps: loading, checkpoint, final model."""
    eval_problems: int
    eval_s: float
    """Estimated seconds of one evaluation on `eval_problems`."""
    steps: int
    """Steps per method, the most that fit (capped by the scale)."""


def compare_rl_methods(check, result: dict) -> None:
    """Calibrate, plan, then train and evaluate each method while time is left."""
    end = check.clock.deadline_s
    recipe = load_config(SCORE_RECIPE, score_sets(check, "score", 1))
    result.update(recipe=SCORE_RECIPE, problems_per_step=recipe.score.problems_per_step,
                  samples_per_problem=recipe.score.samples_per_problem,
                  max_new_tokens=recipe.score.max_new_tokens, lr=recipe.score.lr,
                  methods={}, sft=list(check.scale.sft_sets), budget_s=round(end - check.clock.elapsed()))
    plan = plan_rl(check, result, end)
    result["plan"] = vars(plan)
    result["base"] = base_metrics(check, plan.eval_problems)
    write_atomic(check.out / "rl-gsm8k.md", rl_markdown(check, result))
    for index, (label, method, cost) in enumerate(RL_METHODS):
        later = sum(c * plan.steps * plan.step_s + plan.overhead_s + plan.eval_s
                    for _, _, c in RL_METHODS[index + 1:])
        room = end - check.clock.elapsed() - later - plan.overhead_s - plan.eval_s
        steps = plan.steps if check.scale.fixed else min(plan.steps, int(room / (cost * plan.step_s)))
        record = result["methods"].setdefault(label, {"method": method, "planned_steps": plan.steps})
        if steps < 1:
            record["skipped"] = f"no time left ({room:.0f} s for training)"
        else:
            train_and_evaluate(check, plan, method, steps, record)
        write_atomic(check.out / "rl-gsm8k.md", rl_markdown(check, result))


def score_sets(check, method: str, steps: int) -> list[str]:
    """The SCoRe recipe's overrides for `steps` steps of `method` on GSM8K train, split between
    Stage I and II in the recipe's proportion (single-turn RL moves Stage I into Stage II);
    only a final checkpoint, no periodic evaluation (each method is evaluated afterwards)."""
    recipe = load_config(SCORE_RECIPE).score
    stage1 = round(steps * recipe.stage1_steps / (recipe.stage1_steps + recipe.stage2_steps))
    return check.sets(*training_data_sets(check), f"train.method={method}", *check.scale.rl_sets,
                      f"score.stage1_steps={stage1}", f"score.stage2_steps={steps - stage1}",
                      "score.eval_every=0", f"score.checkpoint_every={steps}")


def training_data_sets(check) -> list[str]:
    """Every training run: the base model, GSM8K train, and GSM8K test named as held out (the
    training stages refuse to start when the two share a problem)."""
    return [f"train.base_model={check.model}", f"task.data={check.train_data}", "task.split=train",
            f"task.eval_data={check.test_data}"]


def plan_rl(check, result: dict, end: float) -> RLPlan:
    """Time two SCoRe steps, then size the evaluations and the steps to the time left."""
    from selfcorrect_cli.methods.score import train_score

    started = check.clock.elapsed()
    cfg = load_config(SCORE_RECIPE, [*score_sets(check, "score", 2),
                                     f"run.out_dir={fresh(check.work / 'rl' / 'calibration')}"])
    train_score(cfg, progress=False)
    wall = check.clock.elapsed() - started
    log = read_jsonl(Path(cfg.run.out_dir) / "train_log.jsonl")
    per_step = [cfg.score.problems_per_step * cfg.score.samples_per_problem
                / row["charts/trajectories_per_s"] for row in log]
    step_s = per_step[-1]  # the first step also pays for warm-up and the entropy statistic
    overhead = max(0.0, wall - sum(per_step))
    result["calibration"] = {"step_s": [round(t, 2) for t in per_step], "wall_s": round(wall, 1),
                             "peak_gib": peak_memory_gib()}
    check.log(f"RL calibration: {step_s:.2f} s per SCoRe step, {overhead:.1f} s per run outside steps")
    free_memory()

    left = end - check.clock.elapsed()
    greedy = check.results.get("f1", {}).get("runs", {}).get("greedy", {})
    if "seconds" in greedy:
        per_problem = max(greedy["seconds"], 0.1) / greedy["problems"]
    else:  # no part 2: two greedy turns cost about two sampled turns of a training step
        per_problem = 2 * step_s / (cfg.score.problems_per_step * cfg.score.samples_per_problem)
    n_max = min(greedy.get("problems") or test_size(check), check.scale.eval_limit or 10**9)
    steps, n = size_rl(left, step_s, overhead, per_problem, n_max, check.scale.rl_steps_cap)
    check.log(f"RL plan: {steps} steps per method, {n} held-out problems, {left:.0f} s left")
    if check.scale.fixed:
        result["plan_from_time"] = {"steps": steps, "eval_problems": n}
        steps, n = check.scale.rl_steps_cap, check.scale.eval_limit
    return RLPlan(round(step_s, 3), round(overhead, 1), n, round(n * per_problem, 1), steps)


def size_rl(left: float, step_s: float, overhead_s: float, per_problem_s: float, n_max: int,
            steps_cap: int) -> tuple[int, int]:
    """(steps per method, held-out problems) that fit in `left` seconds: the three evaluations
    take at most EVAL_SHARE of it, SAFETY of it stays unplanned, each run pays `overhead_s`,
    and a step of each method costs its RL_METHODS share of a SCoRe step (`step_s`).

    >>> size_rl(300, step_s=3.0, overhead_s=5.0, per_problem_s=0.02, n_max=1319, steps_cap=400)
    (27, 1319)
    >>> size_rl(300, step_s=3.0, overhead_s=5.0, per_problem_s=0.2, n_max=1319, steps_cap=400)
    (23, 175)
    >>> size_rl(30, step_s=3.0, overhead_s=5.0, per_problem_s=0.2, n_max=1319, steps_cap=400)
    (0, 17)
    """
    n = max(1, min(n_max, int(EVAL_SHARE * left / 3 / per_problem_s)))
    train_s = left * (1 - SAFETY) - 3 * (n * per_problem_s + overhead_s)
    steps = int(train_s / (step_s * sum(cost for _, _, cost in RL_METHODS)))
    return max(0, min(steps, steps_cap)), n


def base_metrics(check, n: int) -> dict:
    """The base model on the first `n` test problems: part 2's greedy traces when they cover
    them (same decoding, same problems), else a fresh evaluation."""
    greedy = check.results.get("f1", {}).get("runs", {}).get("greedy", {})
    if greedy.get("problems", 0) >= n:
        cfg = load_config(None, ["task.name=gsm8k", f"task.data={check.test_data}"])
        ids = {p.id for p in build_task(cfg).load("test")[:n]}
        records = [r for r in read_traces(Path(greedy["traces"])) if r["problem_id"] in ids]
        return trim_metrics(metrics_from_traces(records, cfg.eval.bootstrap_samples, cfg.run.seed))
    return evaluate_model(check, check.model, check.work / "rl" / "base-eval", n)


def evaluate_model(check, model: str, out_dir: Path, n: int) -> dict:
    cfg = load_config(EVAL_RECIPE, check.sets(*eval_sets(check, n), f"model.path={model}",
                                              f"run.out_dir={fresh(out_dir)}"))
    return trim_metrics(evaluate(cfg, progress=False))


def train_and_evaluate(check, plan: RLPlan, method: str, steps: int, record: dict) -> None:
    """Train `method` for `steps` steps (STaR: one round on as many trajectories), then the
    greedy two-turn evaluation; a failure is recorded in `record` and the next method runs."""
    started = check.clock.elapsed()
    try:
        if method == "star":
            model_dir = train_star(check, steps, record)
        else:
            from selfcorrect_cli.methods.score import method_config, train_score

            cfg = load_config(SCORE_RECIPE, [*score_sets(check, method, steps),
                                             f"run.out_dir={fresh(check.work / 'rl' / method)}"])
            model_dir = train_score(cfg, progress=False)
            log = read_jsonl(Path(cfg.run.out_dir) / "train_log.jsonl")
            record.update(steps=len(log), stage1_steps=method_config(cfg).score.stage1_steps,
                          reward_t1=last_mean(log, "train/reward_t1"),
                          reward_t2=last_mean(log, "train/reward_t2"))
        record.update(train_s=round(check.clock.elapsed() - started, 1), peak_gib=peak_memory_gib())
        free_memory()
        check.log(f"RL {method}: trained in {record['train_s']} s; evaluating")
        evaluated = check.clock.elapsed()
        record["metrics"] = evaluate_model(check, str(model_dir), Path(model_dir).parent / "eval",
                                           plan.eval_problems)
        record["eval_s"] = round(check.clock.elapsed() - evaluated, 1)
    except Exception as exc:  # noqa: BLE001 - one method's failure must not cost the others their time
        record["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        check.log(f"RL {method} failed: {record['error']}")
    free_memory()


def train_star(check, steps: int, record: dict) -> Path:
    """One STaR round: sample as many trajectories as `steps` SCoRe steps would (the first
    steps x problems_per_step training problems, samples_per_problem each, T as in the recipe),
    keep D+ (right second attempts), fine-tune the base model on it with TRL."""
    from selfcorrect_cli.methods.sft import train_sft

    recipe = load_config(SCORE_RECIPE, check.scale.rl_sets).score
    problems = steps * recipe.problems_per_step
    out_dir = fresh(check.work / "rl" / "star")
    cfg = load_config(SCORE_RECIPE, check.sets(
        *training_data_sets(check), "train.method=star", f"task.limit={problems}",
        f"sampling.temperature={recipe.temperature}",
        f"sampling.n_samples={recipe.samples_per_problem}",
        f"sampling.max_new_tokens={recipe.max_new_tokens}",
        f"sampling.batch_size={max(check.scale.eval_batch, recipe.problems_per_step * recipe.samples_per_problem)}",
        *check.scale.sft_sets, f"run.out_dir={out_dir}"))
    model_dir = train_sft(cfg, progress=False)
    dataset = read_json(out_dir / "round-1" / "dataset.json")
    log = read_jsonl(out_dir / "round-1" / "train_log.jsonl")
    record.update(steps=steps, star_problems=problems, star_tuples=dataset["tuples"],
                  sft_steps=max((row["step"] for row in log), default=0))
    return model_dir


def last_mean(log: list[dict], key: str) -> float | None:
    """Mean of `key` over the last quarter of the logged steps (None when never logged)."""
    values = [row[key] for row in log if row.get(key) is not None]
    tail = values[-max(1, math.ceil(len(values) / 4)):]
    return round(sum(tail) / len(tail), 3) if tail else None


def rl_markdown(check, r: dict) -> str:
    plan = r["plan"]
    head = ["method", "steps", "train s", "train reward t1 / t2", *NAMES, "answer changed"]
    rows = [["Base (no training)", "-", "-", "-", *metric_cells(r["base"])]]
    for label, m in r["methods"].items():
        steps = m.get("steps", 0)
        if m["method"] == "star" and "star_tuples" in m:
            steps = (f"{steps} ({m['star_problems']} problems sampled, "
                     f"{m['star_tuples']} D+ tuples, {m['sft_steps']} SFT steps)")
        elif m.get("stage1_steps") is not None:
            steps = f"{steps} (Stage I {m['stage1_steps']})"
        rewards = " / ".join("-" if m.get(k) is None else f"{m[k]:.3f}" for k in ("reward_t1", "reward_t2"))
        if "metrics" in m:
            rows.append([label, steps, m["train_s"], rewards, *metric_cells(m["metrics"])])
        else:
            reason = m.get("skipped") or m.get("error") or "running"
            rows.append([label, steps, m.get("train_s", "-"), rewards, reason, *["-"] * len(NAMES)])
    setting = (
        f"Trained on GSM8K train ({check.train_data}) from `{check.model}`; evaluated greedy, two "
        f"turns, on the first {plan['eval_problems']} GSM8K test problems ({check.test_data}). "
        f"Recipe `{r['recipe']}` (lr {r['lr']:g}, {r['problems_per_step']} problems x "
        f"{r['samples_per_problem']} samples per step, at most {r['max_new_tokens']} tokens per "
        f"turn), with the number of steps set by the time: part 3 had {r['budget_s']} s; two "
        f"calibration steps measured {plan['step_s']} s per SCoRe step and {plan['overhead_s']} s "
        f"per run outside its steps, so each method was planned {plan['steps']} steps (capped at "
        f"{check.scale.rl_steps_cap}), re-fitted to the time left when it started. STaR: one "
        "round sampling as many trajectories as the SCoRe steps (T and samples of the recipe), "
        f"then TRL SFT on D+ ({', '.join(r['sft'])}).")
    if "plan_from_time" in r:
        setting += (f" Dry run: the sizes are fixed; the clock alone would have planned "
                    f"{r['plan_from_time']['steps']} steps and "
                    f"{r['plan_from_time']['eval_problems']} problems.")
    notes = (
        "Percent of all problems; brackets: 95% bootstrap CI over problems. Train reward: mean "
        "r1 / r2 over the last quarter of the steps. The base row is part 2's greedy run on the "
        "same problems. At a few dozen steps against the recipe's 400 this measures the "
        "pipeline's speed on a GPU more than the methods.")
    title = f"# SCoRe vs single-turn RL vs STaR on GSM8K ({check.results['device']})"
    return "\n".join([title, "", setting, "", markdown_table(head, rows), "", notes, ""])
