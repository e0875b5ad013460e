"""`selfcorrect report`: a study spec (experiments/builtin/study.yaml) to tables and figures.

The spec names run directories with {runs} and {seed} (report/paths.py). A table row is a
path, or {run: path, paper: key} to set a row of the paper (report/paper.py) beside it; in a
table with paper columns every row names its paper row, `none` where the paper has none. A
method's row may name it instead of its path, {method: NAME} or {method: NAME, paper: key}, and
reads its evaluation (<run>/eval); a training curve {method: NAME} reads the run's log.
Tables come out as <out>/<name>.md and .csv; figures as PNGs; <out>/report.md gathers them
all. Every input must exist: a missing run is named in a one-line error rather than left out
of a table silently. A table with `view: mistake-kinds` shows each method's mix of mistakes,
fix rate per kind and change rates instead of the five metrics (collapse.png then draws its
fix rates too); figures.mismatch may be {curves: ..., experiment: ...}, whose experiment files
(make mismatch-study) are drawn where present. The exceptions are figures.phase_map
(report/phase_map.py), a grid of study trees built over several sessions, and figures.knob_line
(report/knob_line.py), a line of them over one more knob, which mark the cells and methods not
run yet.
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from pathlib import Path
from statistics import mean

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.read import read_json, read_jsonl, read_spec_yaml
from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.report.knob_line import knob_line_section, read_knob_line
from selfcorrect_cli.report.paper import paper_row
from selfcorrect_cli.report.paths import expand, method_run, parse_seeds
from selfcorrect_cli.report.phase_map import PNGS, phase_map_section, read_phase_map
from selfcorrect_cli.report.study_tables import (
    kind_estimates,
    kinds_csv,
    kinds_table,
    seed_csv,
    seed_table,
)
from selfcorrect_cli.report.tables import load_metrics, markdown_table

# metrics: the paper's five metrics (seed_table); mistake-kinds: the error mix, fix rate per kind
# and change rates (kinds_table), whose fix rates collapse.png also draws.
VIEWS = ("metrics", "mistake-kinds")
FIGURES = ("collapse", "mismatch", "training_curves", "accuracy_by_attempt", "compute_scaling",
           "phase_map", "knob_line")


def read_study(path: str | Path, runs: str | None = None, seeds: str | None = None) -> dict:
    """The spec with every path template expanded: tables' rows and figures' inputs as lists."""
    raw = read_spec_yaml(path, "study spec")
    unknown = set(raw) - {"runs", "seeds", "tables", "figures"}
    if unknown:
        raise UsageError(f"{path}: unknown top-level key(s) {sorted(unknown)}; "
                         "known: runs, seeds, tables, figures")
    root = runs or str(raw.get("runs", "runs/builtin"))
    seed_list = parse_seeds(seeds if seeds is not None else raw.get("seeds"), [0])

    def paths(template, where):
        if not isinstance(template, str) or not template:
            raise UsageError(f"{path}: {where} must be a path")
        return expand(template, root, seed_list)

    tables = []
    for index, table in enumerate(raw.get("tables") or []):
        if not isinstance(table, dict) or not {"name", "rows"} <= set(table) \
                or set(table) - {"name", "title", "rows", "view"}:
            raise UsageError(f"{path}: tables[{index}] needs name and rows (optional: title, "
                             "view)")
        where = f"{path}: {table['name']}"
        view = table.get("view", "metrics")
        if view not in VIEWS:
            raise UsageError(f"{where}: unknown view {view!r}; known: {', '.join(VIEWS)}")
        rows = [_table_row(str(label), value, f"{where}.{label}", paths)
                for label, value in (table["rows"] or {}).items()]
        linked = [row[3] for row in rows]
        if view != "metrics" and any(linked):
            raise UsageError(f"{where}: a {view} table sets no paper rows beside it")
        if any(linked) and not all(linked):
            unlinked = [row[0] for row in rows if not row[3]]
            raise UsageError(f"{where}: rows {unlinked} name no paper row while others do; "
                             "give each {run: ..., paper: <key or none>}")
        tables.append({"name": str(table["name"]), "title": table.get("title", table["name"]),
                       "view": view, "paper": any(linked), "rows": [row[:3] for row in rows]})
    figures = raw.get("figures") or {}
    if set(figures) - set(FIGURES):
        raise UsageError(f"{path}: unknown figure(s) {sorted(set(figures) - set(FIGURES))}; "
                         f"known: {', '.join(FIGURES)}")
    expanded = {}
    for name, value in figures.items():
        if name == "phase_map":
            expanded[name] = read_phase_map(value, str(path), root, seed_list)
        elif name == "knob_line":
            expanded[name] = read_knob_line(value, str(path), root, seed_list)
        elif isinstance(value, dict):
            expanded[name] = [(str(label), paths(_curve_run(name, t, f"{path}: {name}.{label}"),
                                                 f"{name}.{label}"))
                              for label, t in value.items()]
        else:
            expanded[name] = paths(value, name)
    return {"tables": tables, "figures": expanded, "runs": root, "seeds": seed_list}


def _table_row(label: str, value, where: str, paths) -> tuple:
    """(label, run directories, paper row or None, whether the spec linked it to the paper)."""
    if not isinstance(value, dict):
        return label, paths(value, where), None, False
    if "method" in value and set(value) <= {"method", "paper"}:
        run = method_run(value, where) + "/eval"
    elif set(value) == {"run", "paper"}:
        run = value["run"]
    else:
        raise UsageError(f"{where}: a row is a path or {{run: <path>, paper: <key or none>}}, "
                         "or {method: <name>} with an optional paper")
    if "paper" not in value:
        return label, paths(run, where), None, False
    return label, paths(run, where), paper_row(value["paper"], where), True


def _curve_run(figure: str, value, where: str):
    """A figure's input as a path template: training curves may name a method's run."""
    if isinstance(value, dict) and figure == "training_curves":
        if set(value) != {"method"}:
            raise UsageError(f"{where}: a training curve is a path or {{method: <name>}}")
        return method_run(value, where)
    return value


# --- inputs -----------------------------------------------------------------------------------
def read_train_log(run_dir: str | Path) -> list[dict]:
    return read_jsonl(Path(run_dir) / "train_log.jsonl", "run `selfcorrect train` there first")


def mean_log(logs: list[list[dict]]) -> list[dict]:
    """Seeds' train logs averaged per step, key by key (a key absent in a seed is skipped).

    >>> mean_log([[{"step": 0, "r": 1.0}], [{"step": 0, "r": 0.0, "k": 2.0}]])
    [{'step': 0, 'r': 0.5, 'k': 2.0}]
    """
    by_step: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for log in logs:
        for row in log:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    by_step[row["step"]][key].append(value)
    return [{"step": step, **{k: mean(v) for k, v in values.items()}}
            for step, values in sorted(by_step.items())]


# --- figures: each draws its PNG and returns the Markdown shown under it -----------------------
def _figure_collapse(dirs: list[str], out: Path, kind_fix: dict | None = None) -> str:
    """kind_fix: {method: {kind: Estimate or None}}, the fix rates of the study's mistake-kinds
    table, drawn as grouped bars under the histograms."""
    from selfcorrect_cli.report.analyses import collapse_section

    results = read_json(Path(dirs[0]) / "collapse.json", "run `selfcorrect analyze-collapse`")
    note = ("Bars below the histograms: fix rate by kind of wrong first attempt per method, "
            "mean over seeds with 95% t-intervals (the mistake-kinds table)." if kind_fix else "")
    return collapse_section(results, out, note, kind_fix=kind_fix)


def _figure_mismatch(inputs: list, out: Path) -> str:
    """inputs: the seeds' analyze-mismatch folders, or {curves: those, experiment: the seeds'
    mismatch-exp folders}; the experiment's error mixes are drawn beside where present."""
    from selfcorrect_cli.report.analyses import mean_mismatch, mismatch_section
    from selfcorrect_cli.report.mismatch_experiment import mean_mixes

    named = dict(inputs) if inputs and isinstance(inputs[0], tuple) else {"curves": inputs}
    if set(named) - {"curves", "experiment"} or "curves" not in named:
        raise UsageError("figure mismatch: a list of folders or {curves: ..., experiment: ...}")
    dirs = named["curves"]
    rows = mean_mismatch([read_jsonl(Path(d) / "mismatch.jsonl",
                                      "run `selfcorrect analyze-mismatch`") for d in dirs])
    mixes, seeds = mean_mixes(named.get("experiment", []))
    text = f"Mean over {len(dirs)} seed(s).\n\n" + mismatch_section(rows, out, mixes)
    if mixes:
        text += (f"\nRight panel: the kinds of mistake among wrong first attempts of the "
                 f"someone-else's-traces experiment (`make mismatch-study`), mean over {seeds} "
                 "seed(s): the collector's against each trained model's own, both at T=1.\n")
    return text


def _figure_training(runs: list[tuple[str, list[str]]], out: Path) -> str:
    from selfcorrect_cli.report.figures import plot_training_logs

    logs = [(label, mean_log([read_train_log(d) for d in dirs])) for label, dirs in runs]
    plot_training_logs(logs, out)
    return f"Training logs averaged over {len(runs[0][1])} seed(s) per step, smoothed over 10 steps."


def _figure_attempts(runs: list[tuple[str, list[str]]], out: Path) -> str:
    from selfcorrect_cli.report.figures import plot_accuracy_by_attempt

    series = {label: [load_metrics(d)["accuracy_by_attempt"] for d in dirs] for label, dirs in runs}
    plot_accuracy_by_attempt(series, out)
    attempts = len(next(iter(series.values()))[0])
    rows = [[label, *(f"{100 * mean(v):.1f}" for v in zip(*seeds))]
            for label, seeds in series.items()]
    return markdown_table(["method", *(f"Acc@t{t + 1}" for t in range(attempts))], rows)


def _figure_scaling(runs: list[tuple[str, list[str]]], out: Path) -> str:
    from selfcorrect_cli.measure.compute_scaling import scaling_curves
    from selfcorrect_cli.report.figures import plot_compute_scaling

    curves = {label: scaling_curves(read_jsonl(Path(dirs[0]) / "traces.jsonl",
                                                "run `selfcorrect collect`"))
              for label, dirs in runs}
    plot_compute_scaling(curves, out)
    rows = [[label, k, c["responses"][i], f"{100 * c['parallel'][i]:.1f}",
             f"{100 * c['sequential'][i]:.1f}"]
            for label, c in curves.items() for i, k in enumerate(c["k"])]
    return markdown_table(["method", "K", "responses", "majority over 2K first attempts",
                           "K attempts + 1 correction each"], rows)


FIGURE_WRITERS = {
    "collapse": ("collapse.png", "Behaviour collapse: edit-distance ratio between attempts "
                 "(paper Figure 3)", _figure_collapse),
    "mismatch": ("mismatch.png", "Distribution mismatch during Pair-SFT (paper Figure 4)",
                 _figure_mismatch),
    "training_curves": ("training-curves.png", "Per-turn training curves of SCoRe and its "
                        "ablations", _figure_training),
    "accuracy_by_attempt": ("accuracy-by-attempt.png", "Accuracy over up to five attempts "
                            "(paper Figure 8)", _figure_attempts),
    "compute_scaling": ("compute-scaling.png", "Inference-compute scaling (paper Figure 1, "
                        "right)", _figure_scaling),
    "phase_map": (PNGS, "Phase map: copy propensity c x check slip s", phase_map_section),
    "knob_line": ("knob-line.png", "One more world knob, swept alone", knob_line_section),
}


# --- the report -------------------------------------------------------------------------------
def write_report(spec_path: str | Path, out: str | Path, runs: str | None = None,
                 seeds: str | None = None) -> list[Path]:
    """Every table and figure of the spec under `out`, plus out/report.md; returns the files."""
    spec = read_study(spec_path, runs, seeds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, sections, kind_fix = [], [], None
    for table in spec["tables"]:
        rows = [(label, [load_metrics(d) for d in dirs], link)
                for label, dirs, link in table["rows"]]
        if table["view"] == "mistake-kinds":
            plain = [(label, runs) for label, runs, _ in rows]
            text, csv_text = kinds_table(plain, table["title"]), kinds_csv(plain)
            if kind_fix is None:  # the first such table is the one collapse.png draws
                kind_fix = {label: kind_estimates(runs)["fix"] for label, runs in plain}
                kind_fix = {label: fix for label, fix in kind_fix.items() if fix} or None
        else:
            text, csv_text = seed_table(rows, table["title"], table["paper"]), \
                seed_csv(rows, table["paper"])
        for suffix, content in ((".md", text), (".csv", csv_text)):
            write_atomic(out / f"{table['name']}{suffix}", content)
            written.append(out / f"{table['name']}{suffix}")
        sections.append(text)
    for name, inputs in spec["figures"].items():
        filenames, title, writer = FIGURE_WRITERS[name]
        if name == "collapse" and kind_fix:
            writer = partial(writer, kind_fix=kind_fix)
        # A figure may draw companions beside its first PNG (the phase map's winner map).
        filename, *companions = (filenames,) if isinstance(filenames, str) else filenames
        details = writer(inputs, out / filename)  # figures.save_figure: never half a PNG
        written += [out / f for f in (filename, *companions)]
        sections.append(f"## {title}\n\n![{name}]({filename})\n\n{details}\n")
    seeds_text = ", ".join(map(str, spec["seeds"]))
    header = (f"# Self-correction study: {spec['runs']}\n\nSeeds {seeds_text}. Written by "
              f"`selfcorrect report {spec_path}`; every number comes from the run directories "
              "named in that spec.\n")
    write_atomic(out / "report.md", "\n".join([header, *sections]))
    return [*written, out / "report.md"]
