"""SCoRe's tables with the paper's numbers beside ours, and its per-turn training curves.

Table 2 (main, MATH, Gemini 1.5 Flash) and Table 4 (ablations) of Kumar et al. 2024; only the
pattern carries over to the built-in world, never the values.
"""

from __future__ import annotations

from pathlib import Path

from selfcorrect_cli.io.read import read_jsonl
from selfcorrect_cli.report.tables import load_metrics
from selfcorrect_cli.io.run_dir import write_atomic

# label -> (Acc@t1, Acc@t2, Delta, i->c, c->i) in percent; None where the paper gives none.
PAPER = {
    "main": {
        "Base": (52.6, 41.4, -11.2, 4.6, 15.8),
        "Self-Refine": (52.8, 51.8, -1.0, 3.2, 4.2),
        "STaR": (53.6, 54.0, 0.4, 2.6, 2.2),
        "Pair-SFT": (52.4, 54.2, 1.8, 5.4, 3.6),
        "SCoRe": (60.0, 64.4, 4.4, 5.8, 1.4),
    },
    "ablations": {
        "SCoRe": (60.0, 64.4, 4.4, None, None),
        "w/o multi-turn training": (61.8, 59.4, -2.4, None, None),
        "w/o Stage I": (59.2, 61.4, 2.2, None, None),
        "w/o reward shaping": (60.0, 62.6, 2.6, None, None),
        "STaR instead of REINFORCE in Stage II": (56.2, 58.4, 2.2, None, None),
        "w/o online turn-1 samples": (60.4, 60.6, 0.2, None, None),
    },
}
KEYS = ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i")


def paper_table(kind: str, rows: list[tuple[str, dict]], title: str) -> str:
    """Markdown: our metrics (percent, 95% CI on Delta) and the paper's, one row per method."""
    paper = PAPER[kind]
    head = ["method", "Acc@t1", "Acc@t2", "Delta [95% CI]", "i->c", "c->i", "answer changed",
            "paper Acc@t1", "paper Acc@t2", "paper Delta", "paper i->c", "paper c->i"]
    lines = [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, m in rows:
        low, high = (100 * x for x in m["delta_ci"])
        ours = [f"{100 * m[k]:.1f}" for k in KEYS]
        ours[2] = f"{ours[2]} [{low:.1f}, {high:.1f}]"
        theirs = ["-" if v is None else f"{v:.1f}" for v in paper.get(label, (None,) * 5)]
        lines.append("| " + " | ".join([label, *ours, f"{100 * m['answer_changed_frac']:.1f}",
                                         *theirs]) + " |")
    n = rows[0][1]["n_trajectories"] if rows else 0
    lines += ["", f"Ours: built-in division world, greedy two-turn evaluation on {n} held-out "
              "problems, percent of all problems. Paper: MATH, Gemini 1.5 Flash (SCoRe Tables 2 "
              "and 4); compare the pattern, not the values."]
    return "\n".join(lines) + "\n"


def write_paper_table(kind: str, runs: list[tuple[str, str]], out: str, title: str) -> None:
    rows = [(label, load_metrics(run_dir)) for label, run_dir in runs]
    write_atomic(Path(out), paper_table(kind, rows, title))


def read_train_log(run_dir: str | Path) -> list[dict]:
    return read_jsonl(Path(run_dir) / "train_log.jsonl", "run `selfcorrect train` there first")


def plot_curves(runs: list[tuple[str, str]], out: str) -> None:
    """Training curves of each (label, run directory), from its train_log.jsonl."""
    plot_training_logs([(label, read_train_log(run_dir)) for label, run_dir in runs], out)


def plot_training_logs(logs: list[tuple[str, list[dict]]], out: str | Path) -> None:
    """Per-turn training reward, per-turn KL and the answer-change rate against the step,
    one line per (label, log rows), smoothed over 10 steps; greedy eval Delta as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("train/reward_t1", "reward, turn 1"), ("train/reward_t2", "reward, turn 2"),
              ("train/kl_turn1", "KL to reference, turn 1"), ("train/kl_turn2", "KL, turn 2"),
              ("train/answer_changed", "second attempts that change the answer"),
              ("eval/delta", "greedy eval Delta(t1,t2)")]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for index, (label, log) in enumerate(logs):
        for ax, (key, name) in zip(axes.flat, panels):
            points = [(row["step"], row[key]) for row in log if key in row]
            if not points:
                continue
            steps, values = zip(*points)
            if not key.startswith("eval/"):
                values = [sum(values[max(0, i - 9):i + 1]) / len(values[max(0, i - 9):i + 1])
                          for i in range(len(values))]
            ax.plot(steps, values, label=label, color=f"C{index}",  # same colour in every panel
                    marker="o" if key.startswith("eval/") else None)
            ax.set_title(name)
            ax.set_xlabel("iteration")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
