"""The calibration table of candidate built-in worlds, as Markdown (and the rows as JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.report.tables import markdown_table, percent_cell

HEADER = ["cell", "c", "s", "greedy Acc@t1", "greedy changed", "T=1 Acc@t1", "T=1 Acc@t2",
          "T=1 Delta", "T=1 i->c", "T=1 c->i", "T=1 changed", "verdict right",
          "P(right | verdict says wrong)"]


def _cell(value, signed: bool = False) -> str:
    return "n/a" if value is None else percent_cell(value, signed=signed)


def write_calibration_table(rows: list[dict], out: str | Path) -> None:
    table = [[row["cell"], row["c"], row["s"], _cell(row["greedy_acc_t1"]),
              _cell(row["greedy_changed"]), _cell(row["t1_acc_t1"]), _cell(row["t1_acc_t2"]),
              _cell(row["t1_delta"], signed=True), _cell(row["t1_delta_i2c"]),
              _cell(row["t1_delta_c2i"]), _cell(row["t1_answer_changed_frac"]),
              _cell(row["verdict_right"]), _cell(row["right_given_looks_wrong"])]
             for row in rows]
    out = Path(out)
    write_atomic(out, "Base-model statistics of candidate worlds (percent; T=1: four samples "
                      "per problem; verdicts from T=1 first attempts)\n\n"
                 + markdown_table(HEADER, table) + "\n")
    write_atomic(out.with_suffix(".json"), json.dumps(rows, indent=1) + "\n")
