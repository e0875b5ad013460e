"""`selfcorrect stage2-report`: the Stage II study's tables and figure (results/stage2/).

Rows are run names under <runs>/seed<S>/stage2/: `score-<variant>` (SCoRe from the shared
Stage I, judged by analyses/stage2.py's targets) and the one-stage methods (single-turn RL,
naive two-turn RL) before and after the fixes. All numbers are validation, never test.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from selfcorrect_cli.analyses.stage2 import DELTA_KEPT, KL_BOUND, eval_curve, judge, read_log, seed_run
from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.report.figures import plot_stage2_curves

STAGE1_END, END = 99, 199
"""The steps (0-based) of the last Stage-I iteration and of the last one (100 + 100)."""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def write_stage2_report(runs: Path, seeds: list[str], names: list[str], out: Path) -> Path:
    """Read every (name, seed) log, write report.md and stage2-curves.png into `out`."""
    logs = {name: [read_log(runs / f"seed{s}" / "stage2" / name / "train_log.jsonl")
                   for s in seeds] for name in names}
    score = [n for n in names if n.startswith("score-")]
    others = [n for n in names if n not in score]
    lines = [f"# Stage II study ({len(seeds)} tuning seeds: {', '.join(seeds)}; validation)",
             "", "Greedy evaluation on 512 validation problems every 25 iterations. Targets "
             f"(declared in docs/built-in-world.md): Acc@t2 kept in the mean and in all but one "
             f"seed; mean Delta >= {DELTA_KEPT} x its end-of-Stage-I value; turn-1 KL at the "
             f"last step < {KL_BOUND} nats in every seed.", ""]
    lines += _targets_table(score, logs)
    lines += ["", "Acc@t2 per seed, end of Stage I -> end of Stage II (%):", "",
              "| run | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|---|" + "---|" * len(seeds)]
    for name in score:
        cells = [f"{_pct(r.acc_t2_stage1)} -> {_pct(r.acc_t2_end)}"
                 for r in (seed_run(rows, STAGE1_END, END) for rows in logs[name])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if others:
        lines += ["", "One-stage methods at the last iteration (mean over seeds, %):", "",
                  "| run | Acc@t1 | Acc@t2 | Delta | i->c | c->i | turn-1 KL (nats) |",
                  "|---|---|---|---|---|---|---|"]
        for name in others:
            last = [_last_eval(rows) for rows in logs[name]]
            cells = [_pct(mean(r[k] for r in last)) for k in
                     ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i")]
            kl = mean(rows[-1]["train/kl_turn1"] for rows in logs[name])
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {kl:.2f} |")
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "stage2-curves.png"
    plot_stage2_curves({name: _curves(logs[name]) for name in score}, STAGE1_END, figure)
    lines += ["", f"![Stage II curves]({figure.name})", ""]
    report = out / "report.md"
    write_atomic(report, "\n".join(lines))
    return report


def _targets_table(names: list[str], logs: dict) -> list[str]:
    lines = ["| run | Acc@t2 end of Stage I | Acc@t2 end | seeds kept | Delta end of Stage I | "
             "Delta end | Acc@t1 end | turn-1 KL end (max) | targets 1 / 2 / 3 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        runs = [seed_run(rows, STAGE1_END, END) for rows in logs[name]]
        v = judge(runs)
        marks = " / ".join("yes" if ok else "no" for ok in (v.kept_acc_t2, v.kept_delta,
                                                             v.kl_below_bound))
        lines.append(
            f"| {name} | {_pct(mean(r.acc_t2_stage1 for r in runs))} | "
            f"{_pct(mean(r.acc_t2_end for r in runs))} | {v.seeds_kept} of {len(runs)} | "
            f"{_pct(mean(r.delta_stage1 for r in runs))} | {_pct(mean(r.delta_end for r in runs))} | "
            f"{_pct(mean(r.acc_t1_end for r in runs))} | "
            f"{max(r.kl_turn1_end for r in runs):.2f} | {marks}{' (all)' if v.all else ''} |")
    return lines


def _last_eval(rows: list[dict]) -> dict:
    last = max(eval_curve(rows, "acc_t2"))
    row = next(r for r in rows if r["step"] == last)
    return {k.removeprefix("eval/"): v for k, v in row.items() if k.startswith("eval/")}


def _curves(seed_logs: list[list[dict]]) -> dict[str, list[dict[int, float]]]:
    curves = {key: [eval_curve(rows, key) for rows in seed_logs]
              for key in ("acc_t2", "delta", "acc_t1")}
    curves["kl_turn1"] = [{r["step"]: r["train/kl_turn1"] for r in rows} for rows in seed_logs]
    return curves
