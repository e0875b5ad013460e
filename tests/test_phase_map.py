"""The phase map (`selfcorrect report` with figures.phase_map) on hand-made study trees."""

import json
import re

import pytest
import yaml

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.statistics import Estimate
from selfcorrect_cli.report import phase_map
from selfcorrect_cli.report.phase_map import pick_best
from selfcorrect_cli.report.study import read_study, write_report
from tests.conftest import run_main

METHODS = {"Base": "{cell}/seed{seed}/base", "STaR": "{cell}/seed{seed}/star",
           "SCoRe": "{cell}/seed{seed}/score"}


def metrics(t1, t2):
    """A metrics.json with i->c = Delta + 5 points, c->i = 5 points, a quarter changed."""
    m = {"acc_t1": t1, "acc_t2": t2, "delta": t2 - t1, "delta_i2c": t2 - t1 + 0.05,
         "delta_c2i": 0.05, "answer_changed_frac": 0.25, "n_trajectories": 8}
    for key in ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i"):
        m[f"{key}_ci"] = [m[key] - 0.1, m[key] + 0.1]
    return m


def put(tree, method, seeds_t1_t2):
    for seed, (t1, t2) in enumerate(seeds_t1_t2):
        path = tree / f"seed{seed}/{method}"
        path.mkdir(parents=True, exist_ok=True)
        (path / "metrics.json").write_text(json.dumps(metrics(t1, t2)))


def write_spec(tmp_path, cells=None, **phase_map):
    """A 2x2 grid: three trees under tmp_path and the main study, {runs}, with its own seeds."""
    if cells is None:
        cells = {"0.5,0": str(tmp_path / "c0.5-s0"), "0.5,0.25": str(tmp_path / "c0.5-s0.25"),
                 "0.7,0": str(tmp_path / "c0.7-s0"),
                 "0.7,0.25": {"runs": "{runs}", "seeds": [0, 1, 2]}}
    spec = {"runs": "unused", "seeds": [0, 1], "figures": {"phase_map": {
        "cells": cells, "methods": METHODS, "winner_among": ["STaR", "SCoRe"], **phase_map}}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def grid(tmp_path):
    """A 2x2 grid, two seeds per cell but three in the main tree (c 0.7, s 0.25)."""
    trees = {point: tmp_path / name for point, name in
             (("0.5,0", "c0.5-s0"), ("0.5,0.25", "c0.5-s0.25"), ("0.7,0", "c0.7-s0"),
              ("0.7,0.25", "main"))}
    for tree in trees.values():
        put(tree, "base", [(0.5, 0.5)] * (3 if tree.name == "main" else 2))
    # SCoRe ahead on Acc@t2 with no spread (clear); STaR ahead on Delta, seeds apart (not clear)
    put(trees["0.5,0"], "star", [(0.5, 0.60), (0.5, 0.64)])
    put(trees["0.5,0"], "score", [(0.6, 0.7), (0.6, 0.7)])
    # the same numbers for both: a tie
    put(trees["0.5,0.25"], "star", [(0.5, 0.6), (0.5, 0.6)])
    put(trees["0.5,0.25"], "score", [(0.5, 0.6), (0.5, 0.6)])
    # SCoRe ahead on its mean, but its seeds disagree: not clear
    put(trees["0.7,0"], "star", [(0.5, 0.55), (0.5, 0.55)])
    put(trees["0.7,0"], "score", [(0.5, 0.5), (0.5, 0.7)])
    put(trees["0.7,0.25"], "star", [(0.5, 0.6), (0.5, 0.7), (0.5, 0.8)])
    put(trees["0.7,0.25"], "score", [(0.5, 0.52)] * 3)
    return tmp_path, trees["0.7,0.25"]


def row(report, *cells):
    """The one line of report.md that starts with these cells."""
    start = "| " + " | ".join(cells) + " |"
    lines = [line for line in report.splitlines() if line.startswith(start)]
    assert len(lines) == 1, (start, lines)
    return lines[0]


def test_table_values_and_intervals(grid):
    tmp_path, main = grid
    files = write_report(write_spec(tmp_path), tmp_path / "out", runs=str(main))
    assert {f.name for f in files} == {"phase-map.png", "phase-map-winners.png", "report.md"}
    for png in ("phase-map.png", "phase-map-winners.png"):
        assert (tmp_path / "out" / png).read_bytes().startswith(b"\x89PNG")
    report = (tmp_path / "out/report.md").read_text()
    assert "All 4 cells complete." in report and "| not run |" not in report
    # Delta 0.10 and 0.14: mean 12.0, sd 0.02828, +- 12.706205 * 0.02828 / sqrt(2) = 25.4
    # i->c = Delta + 5 = 17.0, c->i 5.0, answer changed 25.0
    assert row(report, "0.5", "0", "STaR").endswith(
        "| 2 | 50.0 | 62.0 | +12.0 [-13.4, 37.4] | 17.0 | 5.0 | 25.0 |")
    assert row(report, "0.5", "0", "SCoRe").endswith("| 2 | 60.0 | 70.0 | +10.0 [10.0, 10.0] |"
                                                     " 15.0 | 5.0 | 25.0 |")
    # Delta 0.0 and 0.2: 10.0 +- 12.706205 * 0.1414 / sqrt(2) = 127.1
    assert "| 0.7 | 0 | SCoRe | 2 | 50.0 | 60.0 | +10.0 [-117.1, 137.1] |" in report
    # the main tree keeps its own three seeds: 20.0 +- 4.302653 * 0.1 / sqrt(3) = 24.8
    assert "| 0.7 | 0.25 | STaR | 3 | 50.0 | 70.0 | +20.0 [-4.8, 44.8] |" in report
    assert "| 0.7 | 0.25 | Base | 3 | 50.0 | 50.0 | +0.0 [0.0, 0.0] |" in report


def test_winner_table(grid):
    tmp_path, main = grid
    write_report(write_spec(tmp_path), tmp_path / "out", runs=str(main))
    report = (tmp_path / "out/report.md").read_text()
    assert "| c | s | best Acc@t2 | lead over runner-up | clear | best Delta(t1,t2) |" in report
    # Acc@t2: SCoRe 70.0 against STaR 62.0, no spread: low 70.0 > 62.0, clear.
    # Delta: STaR 12.0 against SCoRe 10.0, low -13.4 < 10.0, not clear.
    assert row(report, "0.5", "0", "SCoRe: 70.0") == (
        "| 0.5 | 0 | SCoRe: 70.0 | +8.0 over STaR | yes | STaR: +12.0 | +2.0 over SCoRe | no |")
    assert row(report, "0.5", "0.25", "tie: STaR = SCoRe: 60.0") == (
        "| 0.5 | 0.25 | tie: STaR = SCoRe: 60.0 | +0.0 | no | tie: STaR = SCoRe: +10.0 | +0.0"
        " | no |")
    # SCoRe leads by its mean only: low 60.0 - 127.1 < 55.0
    assert row(report, "0.7", "0", "SCoRe: 60.0") == (
        "| 0.7 | 0 | SCoRe: 60.0 | +5.0 over STaR | no | SCoRe: +10.0 | +5.0 over STaR | no |")
    assert row(report, "0.7", "0.25", "STaR: 70.0").startswith(
        "| 0.7 | 0.25 | STaR: 70.0 | +18.0 over SCoRe | no |")
    assert "lies above the runner-up's mean" in report and "among STaR, SCoRe" in report


@pytest.mark.parametrize("estimates, best, runner_up, lead, clear", [
    # no spread and ahead: the interval's low end (0.70) lies above the runner-up's mean
    ({"STaR": Estimate(0.62, 0.37, 0.87, 2), "SCoRe": Estimate(0.70, 0.70, 0.70, 2)},
     "SCoRe", "STaR", 0.08, True),
    # ahead on the mean, interval reaching below the runner-up's mean
    ({"STaR": Estimate(0.55, 0.55, 0.55, 2), "SCoRe": Estimate(0.60, 0.50, 0.70, 2)},
     "SCoRe", "STaR", 0.05, False),
    # low end exactly at the runner-up's mean: not above it
    ({"STaR": Estimate(0.55, 0.55, 0.55, 2), "SCoRe": Estimate(0.60, 0.55, 0.65, 2)},
     "SCoRe", "STaR", 0.05, False),
    # the runner-up is the second mean, not the widest interval
    ({"A": Estimate(0.50, 0.0, 1.0, 2), "B": Estimate(0.58, 0.5, 0.66, 2),
      "C": Estimate(0.70, 0.6, 0.8, 2)}, "C", "B", 0.12, True),
    # one seed without a CI: no interval, never clear
    ({"A": Estimate(0.6, None, None, 1), "B": Estimate(0.5, 0.5, 0.5, 2)}, "A", "B", 0.1, False),
    # equal means: a tie, listed in the spec's order, never clear
    ({"A": Estimate(0.6, 0.6, 0.6, 2), "B": Estimate(0.5, 0.5, 0.5, 2),
      "C": Estimate(0.6, 0.6, 0.6, 2)}, "A = C", None, 0.0, False),
    # one method alone has no runner-up
    ({"A": Estimate(0.6, 0.6, 0.6, 2)}, "A", None, None, False),
])
def test_winner_rule(estimates, best, runner_up, lead, clear):
    v = pick_best(estimates)
    assert (v.best, v.runner_up, v.lead, v.clear) == (best, runner_up, lead, clear)
    assert v.tie == ("=" in best)


def test_partial_grid_is_reported_not_refused(tmp_path):
    # cell (0.7, 0.25) not run at all; in (0.5, 0.25) SCoRe not run and STaR on one seed only
    for name in ("c0.5-s0", "c0.7-s0"):
        for method in ("base", "star", "score"):
            put(tmp_path / name, method, [(0.5, 0.6), (0.5, 0.6)])
    put(tmp_path / "c0.5-s0.25", "base", [(0.5, 0.5), (0.5, 0.5)])
    put(tmp_path / "c0.5-s0.25", "star", [(0.5, 0.7)])
    files = write_report(write_spec(tmp_path), tmp_path / "out", runs=str(tmp_path / "main"))
    assert {f.name for f in files} == {"phase-map.png", "phase-map-winners.png", "report.md"}
    report = (tmp_path / "out/report.md").read_text()
    assert "**Not run yet** (c, s): (0.7, 0.25)." in report
    assert "**Partial**: (0.5, 0.25): SCoRe not run, STaR has 1 of 2 seeds." in report
    assert "| 0.7 | 0.25 | all | 0 of 3 | not run | - | - | - | - | - |" in report
    assert "| 0.5 | 0.25 | SCoRe | 0 of 2 | not run | - | - | - | - | - |" in report
    # one seed: that run's bootstrap CI (Delta +- 10 points in these files)
    assert "| 0.5 | 0.25 | STaR | 1 of 2 | 50.0 | 70.0 | +20.0 [10.0, 30.0] |" in report
    assert row(report, "0.5", "0.25", "STaR: 70.0").endswith("| no runner-up run | no |")
    assert "| 0.7 | 0.25 | not run | - | - | not run | - | - |" in report


def test_nothing_run_yet_still_reports(tmp_path):
    write_report(write_spec(tmp_path), tmp_path / "out", runs=str(tmp_path / "main"))
    report = (tmp_path / "out/report.md").read_text()
    assert "**Not run yet** (c, s): (0.5, 0), (0.5, 0.25), (0.7, 0), (0.7, 0.25)." in report


def test_a_corrupt_metrics_file_is_still_an_error(grid):
    tmp_path, main = grid
    (tmp_path / "c0.7-s0/seed1/score/metrics.json").write_text("{")
    with pytest.raises(UsageError, match="is not valid JSON"):
        write_report(write_spec(tmp_path), tmp_path / "out", runs=str(main))


@pytest.mark.parametrize("change, message", [
    ({"cells": {"0.5": "r"}}, "cell '0.5' is not \"c,s\""),
    ({"cells": {"0.5,x": "r"}}, "cell '0.5,x' is not \"c,s\""),
    ({"cells": {"0.5,0": "r", "0.50,0.0": "q"}}, "cell (0.5, 0) is listed twice"),
    ({"cells": {"0.5,0": "r", "0.7,0.25": "q"}},
     "cells do not fill the grid c x s; missing (0.5, 0.25), (0.7, 0)"),
    ({"cells": {"0.5,0": {"runs": "r"}}}, "a cell is a path or {runs: <path>, seeds:"),
    ({"cells": {"0.5,0": {"runs": "r", "seeds": 3}}}, "a cell is a path or"),
    ({"cells": {"0.5,0": {"runs": "r", "seeds": ["x"]}}}, "seeds must be integers"),
    ({"cells": {"0.5,0": "{root}/x"}}, "bad placeholder in '{root}/x'; known: {runs}"),
    ({"cells": []}, "cells must map"),
    ({"methods": {"SCoRe": "{runs}/seed{seed}/score"}}, "methods.SCoRe must be a path containing"),
    ({"methods": {"SCoRe": "{cell}/{sed}", "STaR": "{cell}/s"}}, "bad placeholder"),
    ({"winner_among": ["SCoRe"]}, "winner_among must list two or more"),
    ({"winner_among": ["SCoRe", "PPO"]}, "winner_among must list two or more"),
    ({"colour": "red"}, "needs exactly cells, methods and winner_among"),
])
def test_bad_specs_are_usage_errors(tmp_path, change, message):
    spec = write_spec(tmp_path, cells=change.pop("cells", None), **change)
    with pytest.raises(UsageError, match=re.escape(message)):
        read_study(spec, runs="r")


def test_old_sweep_figure_is_refused(tmp_path):
    spec = tmp_path / "old.yaml"
    spec.write_text("figures: {sweep: {points: {0.3: r}, methods: {SCoRe: x}}}\n")
    with pytest.raises(UsageError, match=r"unknown figure\(s\) \['sweep'\].*phase_map"):
        read_study(spec)


def test_cli_writes_the_report(grid):
    tmp_path, main = grid
    code, out, err = run_main("report", str(write_spec(tmp_path)), "--runs", str(main),
                              "--seeds", "0 1", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "phase-map-winners.png" in out
    report = (tmp_path / "out/report.md").read_text()
    assert "| 0.7 | 0.25 | STaR | 3 |" in report  # --seeds does not touch a cell's own seeds
    bad = write_spec(tmp_path, winner_among=["SCoRe"])
    code, out, err = run_main("report", str(bad), "--out", str(tmp_path / "out"))
    assert code == 2 and err.strip().count("\n") == 0 and "winner_among" in err


def test_the_builtin_sweep_spec():
    spec = read_study("experiments/builtin/sweep.yaml", runs="runs/main", seeds="0 1")
    grid = spec["figures"]["phase_map"]
    assert (grid["c"], grid["s"]) == ([0.5, 0.7, 0.9], [0.0, 0.25])
    cells = {(cell.c, cell.s): cell for cell in grid["cells"]}
    assert len(cells) == 6
    main = cells[0.7, 0.25]  # the powered study's records, its ten seeds
    assert main.seeds == list(range(10))
    assert main.runs["SCoRe"] == [f"results/runs/seed{s}/rl/score/eval" for s in range(10)]
    # every other cell: the Makefile's folder name (c0.5-s0, c0.9-s0.25, ...) and the seeds
    for (c, s), cell in cells.items():
        if (c, s) != (0.7, 0.25):
            assert cell.seeds == [0, 1]
            assert cell.runs["STaR on D+"] == [f"runs/sweep/c{c:g}-s{s:g}/seed{seed}/sft/"
                                               "star-dplus/eval" for seed in (0, 1)]
    assert list(main.runs) == ["Base", "Base T=1", "STaR on D+", "Pair-SFT on D",
                               "naive two-turn RL", "SCoRe"]
    assert cells[0.5, 0.0].runs["Base T=1"] == ["runs/sweep/c0.5-s0/seed0/eval/base-t1",
                                                "runs/sweep/c0.5-s0/seed1/eval/base-t1"]
    assert grid["winner_among"] == ["STaR on D+", "Pair-SFT on D", "naive two-turn RL", "SCoRe"]
    line = spec["figures"]["knob_line"]  # the misread knob: the Makefile's runs/sweep/m<m>
    assert [(p.value, p.seeds) for p in line["points"]] == [
        (0.0, [0, 1]), (0.3, list(range(10))), (0.6, [0, 1])]
    assert line["points"][2].runs["SCoRe"] == ["runs/sweep/m0.6/seed0/rl/score/eval",
                                               "runs/sweep/m0.6/seed1/rl/score/eval"]
    assert line["methods"] == list(main.runs)
