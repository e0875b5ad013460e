"""The prepared GPU check: one call on a lent H100/H200, three parts, Markdown results.

Runs, in order, each part under its own time budget (a part that runs out of time stops
early and says so; a part that fails writes its error), rewriting its Markdown after every
step so that whatever finished is on disk when the call ends:
  1. rollout throughput: two-turn rollouts of SmolLM2-135M-Instruct, 256 GSM8K problems at
     batch 256, T=1: our sampling path against transformers' `generate` (tokens/s, ratio);
  2. F1 on a real LM: the base model's two-turn evaluation on the GSM8K test set, greedy and
     T=1, with the paper's correction instruction (measure/collect.py's `evaluate`);
  3. SCoRe vs single-turn RL vs STaR trained on GSM8K train, evaluated on GSM8K test, with as
     many steps as the time left allows.
The parts themselves are in check_parts.py; this file sets up, runs them and writes the summary.
Files in --out: gpu-check.md (the card, versions, time per part), throughput.md,
f1-gsm8k.md, rl-gsm8k.md and gpu-check.json (every number). Run directories (traces,
checkpoints) go to --work-dir.

    python benchmarks/gpu_check.py --dry-run --out /tmp/dry          # CPU twin, ~30 s
    bash benchmarks/gpu_check.sh "$OUT"                              # on the GPU machine

`--dry-run` runs every part end to end on the CPU at toy scale: a tiny randomly initialised
Llama built here, GSM8K-format files of one-digit sums written here, a few steps. No part
needs the network or anything outside the repository; DEVELOPERS.md ("Running the GPU
check") says what the GPU machine must be given.
"""

from __future__ import annotations

import argparse
import json
import lzma
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
from check_parts import compare_rl_methods, free_memory, measure_f1, measure_throughput

from selfcorrect_cli.io.run_dir import git_commit, write_atomic, write_json_atomic
from selfcorrect_cli.report.tables import markdown_table

CARRY = "/tmp/carry"  # where DEVELOPERS.md's two `run` calls leave the carried files
XZ_MAGIC = b"\xfd7zXZ\x00"


@dataclass(frozen=True)
class Scale:
    """Sizes and time budgets of one mode: the GPU run, or the CPU dry run."""

    throughput_problems: int
    """Part 1: problems, all rolled out in one batch."""
    throughput_tokens: int
    """Part 1: most new tokens per turn (the SCoRe recipe's rollout length on the GPU)."""
    eval_batch: int
    """Trajectories generated together in evaluations and in STaR's sampling."""
    eval_tokens: int
    """Most new tokens per turn in evaluations (0: the eval recipe's 384)."""
    eval_limit: int
    """Test problems evaluated at most (0: all 1,319)."""
    rl_steps_cap: int
    """Part 3: most steps per method (the recipe's 150 + 250 on the GPU)."""
    rl_sets: tuple[str, ...]
    """Part 3: overrides of the SCoRe recipe (none on the GPU: the recipe as it is)."""
    sft_sets: tuple[str, ...]
    """Part 3: STaR's settings (the project has no real-model STaR recipe)."""
    model_sets: tuple[str, ...]
    """Device and dtype of every stage (GPU: the config's auto, bf16 on CUDA)."""
    throughput_s: float
    """Part 1's budget in seconds."""
    f1_s: float
    """Part 2's budget in seconds; part 3 gets whatever is left before the deadline."""
    deadline_s: float
    """Seconds from the start (set-up included) by which every part has ended."""
    fixed: bool = False
    """Sizes ignore the clock: the dry run takes its limits as they are, so that a slow, busy
    CPU exercises every step the same way (the time-based plan is still computed and shown)."""


GPU = Scale(
    throughput_problems=256, throughput_tokens=256, eval_batch=512, eval_tokens=0, eval_limit=0,
    rl_steps_cap=400, rl_sets=(), model_sets=(),
    sft_sets=("sft.lr=1e-5", "sft.batch_size=16", "sft.epochs=1", "sft.max_steps=200",
              "sft.star_rounds=1", "sft.dataset=d_plus"),
    throughput_s=60, f1_s=120, deadline_s=450)
DRY = Scale(
    throughput_problems=4, throughput_tokens=8, eval_batch=8, eval_tokens=12, eval_limit=8,
    rl_steps_cap=2, model_sets=("model.device=cpu", "model.dtype=float32"),
    rl_sets=("score.problems_per_step=8", "score.samples_per_problem=8",
             "score.max_new_tokens=12", "score.micro_batch_rows=32"),
    sft_sets=("sft.lr=1e-4", "sft.batch_size=4", "sft.epochs=1", "sft.max_steps=2",
              "sft.star_rounds=1", "sft.dataset=d_plus"),
    throughput_s=1, f1_s=120, deadline_s=900, fixed=True)


@dataclass
class Clock:
    """Seconds since the check began, against its overall deadline."""

    deadline_s: float
    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def part_end(self, budget_s: float) -> float:
        """The elapsed time at which a part given `budget_s` must stop."""
        return min(self.elapsed() + budget_s, self.deadline_s)


@dataclass
class Check:
    """What every part needs: paths, scale, clock, and every result so far."""

    scale: Scale
    model: str
    train_data: str
    test_data: str
    work: Path
    out: Path
    clock: Clock
    results: dict

    def sets(self, *extra: str) -> list[str]:
        """--set overrides shared by every stage: the model, its device and dtype."""
        return [f"model.path={self.model}", *self.scale.model_sets, *extra]

    def save(self) -> None:
        write_json_atomic(self.out / "gpu-check.json", self.results)
        write_atomic(self.out / "gpu-check.md", summary_markdown(self))

    def log(self, message: str) -> None:
        print(f"[{self.clock.elapsed():6.1f}s] {message}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU twin at toy scale: tiny local model and data, a few steps")
    parser.add_argument("--out", default="results/gpu", help="folder for the Markdown and JSON")
    parser.add_argument("--work-dir", default="runs/gpu-check",
                        help="run directories, the converted model, the dry run's data")
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="checkpoint folder or alias (ignored with --gguf or --dry-run)")
    parser.add_argument("--gguf", nargs="+", type=Path, default=None, metavar="PART",
                        help="SmolLM2's GGUF file, or its parts in order (xz-compressed or not), "
                             "joined and converted once into --work-dir; DEVELOPERS.md passes "
                             f"{CARRY}/smollm2.gguf.xz.part1 and .part2")
    parser.add_argument("--gsm8k-train", default=None,
                        help=f"GSM8K train JSONL(.gz) (default {CARRY}/gsm8k/train.jsonl.gz; "
                             "dry run: one-digit sums written to --work-dir)")
    parser.add_argument("--gsm8k-test", default=None,
                        help=f"GSM8K test JSONL(.gz) (default {CARRY}/gsm8k/test.jsonl.gz)")
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="seconds from the start by which all parts end (GPU 450, dry run 900)")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 1,3")
    return parser.parse_args(argv)


# ---------------- set up: model and data ----------------------------------------------------

def model_from_gguf(parts: list[Path], work: Path) -> str:
    """Join the GGUF parts and convert them once into an ordinary checkpoint folder."""
    from selfcorrect_cli.rollout.smollm2 import ALIAS, convert_gguf

    target = work / ALIAS
    if (target / "config.json").is_file():
        return str(target)
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise SystemExit(f"gpu_check: missing GGUF part(s) {', '.join(missing)}: on the GPU "
                         "machine, make the two `run` calls of DEVELOPERS.md back to back")
    work.mkdir(parents=True, exist_ok=True)
    joined = join_parts(parts, work / "smollm2.gguf")
    staging = work / f".{ALIAS}.tmp"
    convert_gguf(joined, staging)
    staging.rename(target)
    joined.unlink()
    return str(target)


def join_parts(parts: list[Path], target: Path) -> Path:
    """Concatenate `parts` into `target`, decompressing when they are one xz stream cut in pieces.

    >>> import tempfile; folder = Path(tempfile.mkdtemp()); packed = lzma.compress(b"GGUF" * 9)
    >>> for i, piece in enumerate((packed[:7], packed[7:])): _ = (folder / f"p{i}").write_bytes(piece)
    >>> join_parts([folder / "p0", folder / "p1"], folder / "whole").read_bytes() == b"GGUF" * 9
    True
    """
    with open(parts[0], "rb") as first:
        compressed = first.read(len(XZ_MAGIC)) == XZ_MAGIC
    decompressor = lzma.LZMADecompressor() if compressed else None
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                while chunk := handle.read(1 << 24):
                    out.write(decompressor.decompress(chunk) if decompressor else chunk)
    if decompressor and not decompressor.eof:
        raise SystemExit(f"gpu_check: {', '.join(map(str, parts))} end before the xz stream does")
    return target


def build_dry_run_model(work: Path) -> str:
    """A tiny randomly initialised Llama with the built-in character tokenizer and chat template."""
    from selfcorrect_cli.config import PretrainConfig
    from selfcorrect_cli.io.checkpoints import save_model
    from selfcorrect_cli.world.tiny_model import build_tiny_model, build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    model = build_tiny_model(tokenizer, PretrainConfig(hidden_size=32, intermediate_size=64,
                                                       layers=1, heads=2, max_positions=2048))
    folder = work / "tiny-model"
    save_model(model, tokenizer, folder)
    return str(folder)


def write_dry_run_data(work: Path) -> tuple[str, str]:
    """GSM8K-format train and test files of one-digit sums: a random character-level model
    still writes the right digit now and then, so STaR's D+ is not empty.

    >>> import tempfile; train, test = write_dry_run_data(Path(tempfile.mkdtemp()))
    >>> json.loads(open(test).readline())["answer"].splitlines()[-1]
    '#### 0'
    """
    rows = [{"question": f"Sam has {a} apples and buys {b} more. How many apples does Sam have?",
             "answer": f"{a} + {b} = <<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"}
            for a in range(6) for b in range(5)]
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in (("train", rows[8:]), ("test", rows[:8])):
        path = work / f"toy-gsm8k-{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in part))
        paths.append(str(path))
    return paths[0], paths[1]


def set_up(args: argparse.Namespace) -> Check:
    scale = DRY if args.dry_run else GPU
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device; use --dry-run for the CPU twin")
    clock = Clock(args.deadline_s or scale.deadline_s)
    work, out = Path(args.work_dir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.dry_run:
        model = build_dry_run_model(work)
        train, test = write_dry_run_data(work)
    else:
        model = model_from_gguf(args.gguf, work) if args.gguf else args.model
        train, test = f"{CARRY}/gsm8k/train.jsonl.gz", f"{CARRY}/gsm8k/test.jsonl.gz"
    train, test = args.gsm8k_train or train, args.gsm8k_test or test
    results = {"mode": "dry run (CPU)" if args.dry_run else "GPU", "device": device_name(),
               "environment": environment(), "model": model, "train_data": train,
               "test_data": test, "setup_s": round(clock.elapsed(), 1), "parts": {}}
    print(f"[{clock.elapsed():6.1f}s] set up on {results['device']}: model {model}", flush=True)
    return Check(scale, model, train, test, work, out, clock, results)


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()})"


def environment() -> dict:
    import importlib.metadata

    versions = {}
    for package in ("torch", "transformers", "trl", "accelerate", "datasets"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    gpu = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "packages": versions,
            "cuda": torch.version.cuda, "commit": git_commit(),
            "gpu_memory_gib": round(gpu.total_memory / 2**30, 1) if gpu else None}


# ---------------- the parts, the summary, main ------------------------------------------------

# key: (name in gpu-check.json, its Markdown file, the part, its budget from the scale or None
# for "the time left")
PARTS = {"1": ("throughput", "throughput.md", measure_throughput, "throughput_s"),
         "2": ("f1", "f1-gsm8k.md", measure_f1, "f1_s"),
         "3": ("rl", "rl-gsm8k.md", compare_rl_methods, None)}


def summary_markdown(check: Check) -> str:
    r = check.results
    env = r["environment"]
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    rows = [[key, f"[{PARTS[key][1]}]({PARTS[key][1]})", p.get("status", "running"),
             p["budget_s"], p.get("seconds", "-"), p.get("error", "")]
            for key, p in r["parts"].items()]
    return "\n".join([
        f"# GPU check on {r['device']}", "",
        f"- mode: {r['mode']}; " + (f"GPU memory {env['gpu_memory_gib']} GiB, CUDA {env['cuda']}"
                                    if env["cuda"] else "no GPU"),
        f"- code: commit {env['commit']}; Python {env['python']}; {packages}",
        f"- model: `{r['model']}`; GSM8K train `{r['train_data']}`, test `{r['test_data']}`",
        (f"- set-up (model conversion, data): {r['setup_s']} s; every part ends by "
         f"{check.clock.deadline_s:.0f} s from the start"), "",
        markdown_table(["part", "results", "status", "budget (s)", "used (s)", "error"], rows),
        "", "Every number, with the settings behind it: gpu-check.json.", ""])


def run_part(check: Check, key: str) -> None:
    """One part under its budget; its exception is recorded, never fatal to the next part."""
    name, _, function, budget = PARTS[key]
    left = check.clock.deadline_s - check.clock.elapsed()
    budget_s = min(getattr(check.scale, budget), left) if budget else left
    record = check.results["parts"].setdefault(key, {"name": name, "budget_s": round(budget_s)})
    started = check.clock.elapsed()
    check.save()
    try:
        function(check, check.results.setdefault(name, {}))
        record["status"] = "done"
    except Exception as exc:  # noqa: BLE001 - a part's failure is a result; the next part runs
        traceback.print_exc()
        first_line = str(exc).splitlines()[0][:300] if str(exc) else ""
        record.update(status="failed", error=f"{type(exc).__name__}: {first_line}")
    record["seconds"] = round(check.clock.elapsed() - started, 1)
    check.log(f"part {key} ({name}): {record['status']} in {record['seconds']} s")
    free_memory()
    check.save()


def main(argv=None) -> None:
    args = parse_args(argv)
    check = set_up(args)
    for key in (k.strip() for k in args.parts.split(",")):
        if key not in PARTS:
            raise SystemExit(f"gpu_check: unknown part {key!r} (1, 2 or 3)")
        run_part(check, key)
    check.log(f"results in {check.out}")


if __name__ == "__main__":
    main()
