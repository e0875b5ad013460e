"""The `selfcorrect` command: each subcommand loads its config and calls one stage function.

Every subcommand takes an experiment YAML (`-c experiments/....yaml`) and `--set key=value`
overrides on top of it; the resolved config is saved in the run directory. Bad input exits
with code 2 and one line on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.timing import record_costs, track
from selfcorrect_cli.method_registry import trained_by_sft


def _quiet_libraries() -> None:
    # Library progress bars and hub chatter would bury our own progress output.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def experiment_options(func):
    func = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override one config key, e.g. --set sampling.temperature=1.0 "
                             "(repeatable; applied after the YAML file).")(func)
    func = click.option("-c", "--config", "config_path", type=str, default=None,
                        help="Experiment YAML file (sections: run, task, world, model, ...).")(func)
    return func


def _load(config_path, overrides):
    from selfcorrect_cli.config import load_config

    return load_config(config_path, list(overrides))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="selfcorrect")
def cli():
    """Train and measure intrinsic self-correction of language models.

    Stages talk through run directories: `pretrain` builds the built-in world's base model,
    `collect` samples multi-turn traces, `eval` scores a model over two or more attempts
    (Accuracy@t1, Accuracy@t2, Delta, Delta i->c, Delta c->i with 95% CIs).
    """
    _quiet_libraries()


@cli.command()
@experiment_options
def pretrain(config_path, overrides):
    """Train the built-in world's tiny base model from scratch (CPU, minutes).

    Writes an ordinary Hugging Face checkpoint (model, tokenizer, chat template) to
    <run.out_dir>/model, loadable with AutoModelForCausalLM / AutoTokenizer.
    """
    from selfcorrect_cli.world.pretrain import pretrain_base_model

    cfg = _load(config_path, overrides)
    out = pretrain_base_model(cfg)
    click.echo(f"base model saved to {out}")


@cli.command()
@experiment_options
def collect(config_path, overrides):
    """Sample multi-turn traces from a model into <run.out_dir>/traces.jsonl.

    n samples per problem (sampling.n_samples), sampling.attempts attempts each. Safe to
    interrupt: rerunning the same command resumes where it stopped.
    """
    from selfcorrect_cli.measure.collect import collect_traces

    cfg = _load(config_path, overrides)
    path = collect_traces(cfg)
    click.echo(f"traces written to {path}")


@cli.command("eval")
@experiment_options
def eval_command(config_path, overrides):
    """Evaluate a model over two or more attempts and print the self-correction metrics.

    Writes traces.jsonl and metrics.json (acc_t1, acc_t2, delta, delta_i2c, delta_c2i with
    bootstrap 95% CIs, edit-distance ratios, answer-change rate, Accuracy@t) to
    <run.out_dir>, and prints a Markdown table.
    """
    from selfcorrect_cli.measure.collect import evaluate, format_metrics_table

    cfg = _load(config_path, overrides)
    metrics = evaluate(cfg)
    if metrics is None:  # another process than the main one under `accelerate launch`
        return
    click.echo(format_metrics_table(metrics))
    click.echo(f"metrics written to {cfg.run.out_dir}/metrics.json")


@cli.command()
@click.option("--method", default=None, help="Training method; overrides train.method "
              "(star, pair-sft, score, or a SCoRe ablation).")
@experiment_options
def train(method, config_path, overrides):
    """Train a self-correction method into <run.out_dir>/model (a Hugging Face checkpoint)."""
    sets = [*overrides, f"train.method={method}"] if method else overrides  # checked at load
    cfg = _load(config_path, sets)
    if trained_by_sft(cfg.train.method):
        from selfcorrect_cli.methods.sft import train_sft

        out = train_sft(cfg)
    else:
        from selfcorrect_cli.methods.score import train_score

        out = train_score(cfg)
    click.echo(f"trained model saved to {out}")


@cli.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Markdown file to write; a CSV with the same rows is written beside it.")
@click.option("--title", default="", help="Heading above the table.")
@click.argument("runs", nargs=-1, required=True, metavar="LABEL=RUN_DIR...")
def table(out, title, runs):
    """Tabulate the metrics.json of several eval run directories, one row each.

    Each row says the task, split and decoding its metrics.json records; for a study's
    tables (mean over seeds, the paper beside) use `report`.
    """
    from selfcorrect_cli.report.study_tables import write_run_table
    from selfcorrect_cli.report.tables import load_metrics

    write_run_table([(label, load_metrics(d)) for label, d in _labelled(runs)], out, title)
    click.echo(f"table written to {out}")


@cli.command()
@click.argument("run", type=str, metavar="RUN")
@click.option("--step", type=int, default=None,
              help="Evaluation to show: the training step as in train_log.jsonl (SCoRe), or the "
                   "round (STaR, Pair-SFT). Default: the latest.")
@click.option("--changed-only", is_flag=True,
              help="Only the conversations whose answer changed between attempts.")
def samples(run, step, changed_only):
    """Print what the model wrote: the sample conversations in RUN/samples.jsonl.

    RL runs keep score.sample_conversations held-out conversations from each periodic
    evaluation, SFT runs from the model of each round; each attempt is marked right or WRONG.
    """
    from selfcorrect_cli.io.samples import show_samples

    def mark(right: bool) -> str:  # colour only reaches a terminal: click.echo strips it
        return click.style("right", fg="green") if right else click.style("WRONG", fg="red")

    click.echo(show_samples(run, step, changed_only, mark))


@cli.command("check-references")
@click.option("--task", "task_name", default=None, help="Task name; overrides task.name "
              "(gsm8k, math, math500, humaneval, mbpp).")
@click.option("--data", default=None, help="Data file or hub name; overrides task.data.")
@click.option("--split", default=None, help="Split; overrides task.split.")
@experiment_options
def check_references_command(task_name, data, split, config_path, overrides):
    """Grade each problem's own reference solution with the task's extraction and verifier.

    Every reference that fails is a grader bug or a flaw in the data: read them before
    trusting the rewards. Prints n verified / n total and the first failures.
    """
    from selfcorrect_cli.tasks import build_task
    from selfcorrect_cli.tasks.check_references import check_references, format_reference_report

    cfg = _load(config_path, overrides)
    cfg.task.name = task_name or cfg.task.name
    cfg.task.data = data or cfg.task.data
    cfg.task.split = split or cfg.task.split
    n_verified, n_total, failures = check_references(build_task(cfg), cfg.task.split, cfg.task.limit)
    click.echo(format_reference_report(cfg.task.name, cfg.task.split, n_verified, n_total, failures))


@cli.command("show-config")
@experiment_options
def show_config(config_path, overrides):
    """Print the resolved config (defaults, YAML, overrides) as JSON."""
    from selfcorrect_cli.config import config_to_dict

    click.echo(json.dumps(config_to_dict(_load(config_path, overrides)), indent=2))


def _labelled(items) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        label, sep, value = item.partition("=")
        if not sep or not label or not value:
            raise UsageError(f"expected LABEL=PATH, got {item!r}")
        pairs.append((label, value))
    return pairs


@cli.command("self-refine")
@experiment_options
def self_refine(config_path, overrides):
    """Self-Refine prompting baseline (attempt, critique, refine): writes traces and metrics."""
    from selfcorrect_cli.measure.collect import format_metrics_table
    from selfcorrect_cli.methods.self_refine import evaluate_self_refine

    cfg = _load(config_path, overrides)
    click.echo(format_metrics_table(evaluate_self_refine(cfg)))
    click.echo(f"metrics written to {cfg.run.out_dir}/metrics.json")


@cli.command("analyze-collapse")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output stem: writes <out>.png and <out>.md.")
@click.argument("models", nargs=-1, required=True, metavar="LABEL=MODEL_DIR...")
@experiment_options
def analyze_collapse(out, models, config_path, overrides):
    """Behaviour collapse (paper Figure 3): edit-distance ratios of y1 -> y2 per model."""
    from selfcorrect_cli.analyses.collapse import analyze_collapse as measure
    from selfcorrect_cli.report.analyses import write_collapse_report

    cfg = _load(config_path, overrides)
    write_collapse_report(measure(cfg, _labelled(models)), out, cfg)
    click.echo(f"figure and summary written to {out}.png / {out}.md")


@cli.command("analyze-mismatch")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output stem: writes <out>.png and <out>.md.")
@experiment_options
def analyze_mismatch(out, config_path, overrides):
    """Distribution mismatch (paper Figure 4): fix rates during Pair-SFT training."""
    from selfcorrect_cli.analyses.mismatch import analyze_mismatch as measure
    from selfcorrect_cli.report.analyses import write_mismatch_report

    write_mismatch_report(measure(_load(config_path, overrides)), out)
    click.echo(f"figure and table written to {out}.png / {out}.md")


@cli.command("mismatch-experiment")
@click.option("--collector", required=True, type=str,
              help="Model folder that collected the traces (a base model).")
@click.option("--model", "single", default=None, type=str,
              help="One trained model folder; writes its result alone (else give ROLE=DIR).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="JSON file to write.")
@click.argument("models", nargs=-1, metavar="[ROLE=MODEL_DIR...]")
@experiment_options
def mismatch_experiment(collector, single, out, models, config_path, overrides):
    """Fix rates on a collector's and on the model's own first attempts, decoded alike."""
    from selfcorrect_cli.analyses.someone_else import run_experiment

    if bool(single) == bool(models):
        raise UsageError("give either --model DIR or ROLE=MODEL_DIR pairs, not both or neither")
    pairs = [("model", single)] if single else _labelled(models)
    track(Path(out))  # no run directory: its cost goes beside the file (io/timing.py)
    run_experiment(_load(config_path, overrides), collector, pairs, out, nested=not single)
    click.echo(f"results written to {out}")


@cli.command("mismatch-report")
@click.option("--runs", required=True, type=click.Path(file_okay=False),
              help="Study root holding seed<S>/mismatch-exp/{own,other}.json.")
@click.option("--seeds", required=True, help='Seeds, e.g. "0 1 2 3 4".')
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Markdown to write.")
def mismatch_report(runs, seeds, out):
    """The someone-else's-traces experiment over seeds: fix rates, paired gap, mix distance."""
    from selfcorrect_cli.report.mismatch_experiment import write_experiment_table

    click.echo(f"table written to {write_experiment_table(runs, seeds.split(), out)}")


@cli.command("cost-table")
@click.option("--runs", required=True, type=click.Path(file_okay=False),
              help="Study root holding seed<S>/.../timing.json.")
@click.option("--seeds", required=True, help='Seeds, e.g. "0 1 2".')
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Markdown to write.")
def cost_table(runs, seeds, out):
    """Process-minutes per stage per seed, the longest chain, and predicted wall times."""
    from selfcorrect_cli.io.run_dir import write_atomic
    from selfcorrect_cli.report.cost_table import cost_section, read_costs

    write_atomic(Path(out), "## The cost of a seed\n\n"
                 + cost_section(read_costs(runs, seeds.split())))
    click.echo(f"cost table written to {out}")


@cli.command("calibrate-world")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Markdown table to write (the same rows as JSON beside it).")
@click.option("--seed", default=0, show_default=True, help="Seed folder of each candidate.")
@click.argument("candidates", nargs=-1, required=True, metavar="LABEL=TREE...")
def calibrate_world(out, seed, candidates):
    """Base-model statistics of candidate built-in worlds (docs/built-in-world.md)."""
    from selfcorrect_cli.analyses.calibration import calibration_rows
    from selfcorrect_cli.report.calibration import write_calibration_table

    write_calibration_table(calibration_rows(_labelled(candidates), seed), out)
    click.echo(f"calibration table written to {out}")


@cli.command("stage2-report")
@click.option("--runs", required=True, type=click.Path(file_okay=False),
              help="Study root holding seed<S>/stage2/<run>/train_log.jsonl.")
@click.option("--seeds", required=True, help='Tuning seeds, e.g. "100 101 102".')
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for report.md and stage2-curves.png.")
@click.argument("names", nargs=-1, required=True, metavar="RUN...")
def stage2_report(runs, seeds, out, names):
    """The Stage II study's tables and figure (docs/built-in-world.md, "Stage II")."""
    from selfcorrect_cli.report.stage2_report import write_stage2_report

    report = write_stage2_report(Path(runs), seeds.split(), list(names), Path(out))
    click.echo(f"Stage II report written to {report}")


@cli.command()
@click.argument("spec", type=str, metavar="SPEC_YAML")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Markdown file to write; the same verdicts as JSON are written beside it.")
@click.option("--runs", default=None, help="Study root substituted for {runs} in SPEC_YAML.")
@click.option("--seeds", default=None, help='Seeds substituted for {seed}, e.g. "0 1 2".')
def findings(spec, out, runs, seeds):
    """Check the findings F1-F6 against measured metrics: PASS, FAIL or MISSING per finding.

    SPEC_YAML maps roles to run directories, one per seed (see
    experiments/builtin/findings.yaml). Reports only: exits 0 whatever the verdicts, but 2
    with the list of missing runs when none of the runs it names is there.
    """
    from selfcorrect_cli.report.findings_files import report_findings

    click.echo(report_findings(spec, out, runs, seeds))
    if out:
        click.echo(f"findings written to {out} and {os.path.splitext(out)[0]}.json")


@cli.command("findings-v2")
@click.argument("spec", type=str, metavar="SPEC_YAML")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Markdown file to write; the same numbers as CSV are written beside it.")
@click.option("--runs", default=None, help="Study root substituted for {runs} in SPEC_YAML.")
@click.option("--seeds", default=None, help='Seeds substituted for {seed}, e.g. "0 1 2".')
@click.option("--v1-spec", default="experiments/builtin/findings.yaml", show_default=True,
              type=str, help="The v1 findings spec whose rows are reported beside, on the "
                             "same --runs and --seeds.")
def findings_v2(spec, out, runs, seeds, v1_spec):
    """Judge the pre-registered findings, version 2: paired contrasts over seeds, a nested
    bootstrap and Holm's correction per family (see experiments/builtin/findings-v2.yaml).

    Reports only: exits 0 whatever the verdicts, but 2 on a bad spec or when none of the
    inputs it names is there.
    """
    from selfcorrect_cli.report.findings_v2 import report_findings_v2

    click.echo(report_findings_v2(spec, out, runs, seeds, v1_spec))
    if out:
        click.echo(f"findings written to {out} and {os.path.splitext(out)[0]}.csv")


@cli.command()
@click.argument("spec", type=str, metavar="STUDY_YAML")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the tables (.md, .csv), the figures (.png) and report.md.")
@click.option("--runs", default=None, help="Study root substituted for {runs} in STUDY_YAML.")
@click.option("--seeds", default=None, help='Seeds substituted for {seed}, e.g. "0 1 2".')
def report(spec, out, runs, seeds):
    """Tables (paper Tables 1, 2, 4) and figures of a study, from its run directories.

    STUDY_YAML (see experiments/builtin/study.yaml) names the run directory of every row and
    figure; rows with several seeds show the mean and a 95% t-interval across seeds.
    """
    from selfcorrect_cli.report.study import write_report

    for path in write_report(spec, out, runs, seeds):
        click.echo(f"wrote {path}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
        record_costs()
    except UsageError as exc:
        click.echo(f"selfcorrect: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("selfcorrect: interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("selfcorrect: interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
