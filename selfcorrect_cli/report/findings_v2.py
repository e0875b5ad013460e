"""`selfcorrect findings-v2`: the findings, version 2, judged from per-problem records.

The claims and their statistics are declared in experiments/builtin/findings-v2.yaml, before
the study they judge ran (docs/built-in-world.md, "The powered study ...", rule 4). Per claim
and seed, a paired statistic of two models sharing the base seed (measure/contrasts.py); over
seeds, the mean, a t-interval, a nested bootstrap with its one-sided p (measure/paired.py),
then Holm's correction across each family: PASS when the adjusted p is below alpha. A claim
whose inputs are absent for every seed is "not run" and leaves its family; one with inputs
but no value on any seed (kind_spread with too few kinds) stays in it with p = 1, a FAIL.
The report adds the v1 rows (report/findings.py) and the split of SCoRe's Acc@t2 variance
into base-model and RL parts where a second RL seed exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, stdev

import numpy as np

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.read import read_json
from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.io.traces import read_traces
from selfcorrect_cli.measure import contrasts
from selfcorrect_cli.measure.paired import (SeedSample, holm, nested_bootstrap, one_sided_p,
                                            percentile_interval)
from selfcorrect_cli.measure.statistics import aggregate
from selfcorrect_cli.report.findings import SCORE, evaluate_findings, findings_table
from selfcorrect_cli.report.findings_files import load_inputs, read_spec
from selfcorrect_cli.report.findings_v2_spec import STATISTICS, Claim, Spec, read_v2_spec
from selfcorrect_cli.report.tables import csv_table, markdown_table

TRACES = "traces.jsonl"
POINTS = 100  # statistics are fractions; the report speaks in points
PASS, FAIL, NOT_RUN = "PASS", "FAIL", "not run"


# ---------------- the records, read once ---------------------------------------------------
@dataclass
class Records:
    """Per-problem columns of each eval run and the mismatch experiment's fixes, read once
    per file; what is absent is noted (and its claims' seeds left out), not an error."""
    absent: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _cache: dict = field(default_factory=dict)

    def columns(self, run_dir: Path) -> tuple[list[str], np.ndarray] | None:
        path = run_dir / TRACES
        if path not in self._cache:
            self._cache[path] = (contrasts.problem_columns(read_traces(path))
                                 if path.is_file() else self._missing(str(path)))
        return self._cache[path]

    def fixes(self, own_json: Path, role: str) -> tuple[list, list] | None:
        if own_json not in self._cache:
            self._cache[own_json] = (read_json(own_json) if own_json.is_file()
                                     else self._missing(str(own_json)))
        results = self._cache[own_json]
        if results is None:
            return None
        if not isinstance(results, dict):
            raise UsageError(f"{own_json}: expected {{role: result}} (mismatch-experiment)")
        if (result := results.get(role)) is None:
            return self._missing(f"{own_json} ({role})")
        try:
            return list(result["collector_fixes"]), list(result["own_fixes"])
        except (KeyError, TypeError):
            raise UsageError(f"{own_json}: {role} lacks collector_fixes / own_fixes") from None

    def _missing(self, what: str) -> None:
        if what not in self.absent:
            self.absent.append(what)
        return None


def seed_sample(claim: Claim, seed: int, spec: Spec, records: Records) -> SeedSample | None:
    """One seed's resampling units for a claim, the roles' problems matched by id; None when
    an input is absent."""
    if claim.stat == "mismatch_gap":
        fixes = records.fixes(spec.mismatch[seed], claim.a)
        return None if fixes is None else SeedSample(contrasts.fix_columns(*fixes),
                                                     (len(fixes[0]), len(fixes[1])))
    tables = [records.columns(spec.roles[role][seed]) for role in claim.roles]
    if any(t is None for t in tables):
        return None
    common = sorted(set.intersection(*(set(ids) for ids, _ in tables)))
    if not common:
        raise UsageError(f"seed {seed}: {' and '.join(claim.roles)} share no problem_id")
    if any(len(ids) != len(common) for ids, _ in tables):
        note = f"seed {seed}: only the {len(common)} problems common to {', '.join(claim.roles)}"
        if note not in records.notes:
            records.notes.append(note)
    blocks = [x[np.searchsorted(ids, common)] for ids, x in tables]   # (problems, k) each
    return SeedSample(np.hstack(blocks), (len(common),))


def claim_statistic(claim: Claim):
    """Sums (m, k) -> (m,) in points, the claim's sign applied."""
    function, scale, k = STATISTICS[claim.stat][0], POINTS * claim.sign, len(contrasts.COLUMNS)
    if claim.stat == "mismatch_gap":
        return lambda sums: scale * function(sums)
    if claim.b is None:
        return lambda sums: scale * function(sums[:, :k])
    return lambda sums: scale * function(sums[:, :k], sums[:, k:])


# ---------------- judging ------------------------------------------------------------------
@dataclass
class Judged:
    """One claim's numbers and verdict; p is None (and the verdict "not run") without inputs."""
    claim: Claim
    points: dict[int, float | None]   # seed -> paired value (points); seeds with inputs only
    effect: float | None = None
    t_interval: tuple[float, float] | None = None
    boot_interval: tuple[float, float] | None = None
    p: float | None = None
    p_holm: float | None = None
    verdict: str = NOT_RUN

    @property
    def valued(self) -> list[float]:
        return [v for v in self.points.values() if v is not None]


def judge_claim(claim: Claim, spec: Spec, records: Records) -> Judged:
    statistic = claim_statistic(claim)
    samples = {s: x for s in spec.seeds if (x := seed_sample(claim, s, spec, records)) is not None}
    judged = Judged(claim, {s: x.point(statistic) for s, x in samples.items()})
    if not samples:
        return judged
    judged.p = 1.0   # no value on any seed: nothing shown, the claim stays in its family
    valued = [samples[s] for s, v in judged.points.items() if v is not None]
    if valued:
        estimate = aggregate(judged.valued)
        judged.effect = estimate.mean
        judged.t_interval = None if estimate.low is None else (estimate.low, estimate.high)
        rng = np.random.default_rng([spec.bootstrap_seed, claim.index])
        effects = nested_bootstrap(valued, statistic, spec.bootstrap, rng)
        if not np.isnan(effects).all():
            judged.boot_interval = percentile_interval(effects)
            judged.p = one_sided_p(effects)
    return judged


def judge_family(judged: list[Judged], alpha: float) -> None:
    """Holm across the claims of one family that ran; sets p_holm and the verdict."""
    ran = [j for j in judged if j.p is not None]
    for j, adjusted in zip(ran, holm([j.p for j in ran])):
        j.p_holm = adjusted
        j.verdict = PASS if adjusted < alpha else FAIL


def judge_all(spec: Spec, records: Records) -> list[Judged]:
    judged = [judge_claim(claim, spec, records) for claim in spec.claims]
    for family in dict.fromkeys(c.family for c in spec.claims):
        judge_family([j for j in judged if j.claim.family == family], spec.alpha)
    if all(j.verdict == NOT_RUN for j in judged):
        raise UsageError(f"none of the inputs that {spec.path} names is there (first absent: "
                         f"{', '.join(records.absent[:3])}); run the study first, or point "
                         "--runs at its root")
    return judged


# ---------------- the report ---------------------------------------------------------------
def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _interval(pair: tuple[float, float] | None) -> str:
    return "-" if pair is None else f"[{pair[0]:+.1f}, {pair[1]:+.1f}]"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _seed_cell(judged: Judged, seed: int) -> str:
    if seed not in judged.points:
        return "-"   # an input absent
    value = judged.points[seed]
    return "no value" if value is None else _signed(value)


def family_table(judged: list[Judged], n_seeds: int) -> str:
    rows = []
    for j in judged:
        seeds = len(j.valued)
        rows.append([j.claim.name, str(seeds) if seeds == n_seeds else f"{seeds} of {n_seeds}",
                     _signed(j.effect) if j.valued or j.verdict == NOT_RUN else "no value",
                     _interval(j.t_interval), _interval(j.boot_interval), _p(j.p),
                     _p(j.p_holm), j.verdict])
    return markdown_table(["claim", "seeds", "effect (points)", "95% t-interval",
                           "95% bootstrap interval", "p (one-sided)", "Holm-adjusted p",
                           "verdict"], rows)


def variance_split(spec: Spec, records: Records) -> str:
    """SCoRe's Acc@t2 per base seed under two RL seeds: the RL part (mean within-base sd) and
    the base part (sd across bases of the per-base means)."""
    lines = ["## SCoRe's Acc@t2: base-model and RL variance", ""]
    if spec.rl_seed2 is None or SCORE not in spec.roles:
        return "\n".join(lines + ["The spec names no score role or no score_rl_seed2.", ""])
    pairs = {}
    for seed in spec.seeds:
        dirs = (spec.roles[SCORE][seed], spec.rl_seed2[seed])
        # Only some bases have a second RL seed (docs/built-in-world.md, rule 3): the others
        # are expected to lack it and are not listed as absent.
        if all((d / TRACES).is_file() for d in dirs):
            pairs[seed] = [POINTS * float(contrasts.acc_t2(records.columns(d)[1].sum(
                axis=0, keepdims=True))[0]) for d in dirs]
    if not pairs:
        return "\n".join(lines + ["No base seed has both RL seeds' evaluations yet.", ""])
    rows = [[str(s), f"{a:.1f}", f"{b:.1f}", f"{(a + b) / 2:.1f}", f"{stdev([a, b]):.1f}"]
            for s, (a, b) in pairs.items()]
    within = mean(stdev(p) for p in pairs.values())
    across = stdev([mean(p) for p in pairs.values()]) if len(pairs) > 1 else None
    return "\n".join(lines + [
        markdown_table(["base seed", "first RL seed", "second RL seed", "mean", "sd"], rows), "",
        f"RL part: the mean within-base sd over {len(pairs)} bases, {within:.1f} points. Base "
        "part: the sd across bases of the per-base means, "
        + (f"{across:.1f} points." if across is not None else "undefined with one base."), ""])


def v1_rows(v1_spec: str | Path, spec: Spec) -> str:
    """The v1 verdicts (`selfcorrect findings`) on the same runs and seeds, absent inputs
    reported MISSING as v1 does."""
    lines = ["## Version 1 criteria (reported beside)", ""]
    if not Path(v1_spec).is_file():
        return "\n".join(lines + [f"No v1 spec at {v1_spec}.", ""])
    inputs = load_inputs(read_spec(v1_spec, spec.root, " ".join(map(str, spec.seeds))))
    table = findings_table(evaluate_findings(inputs), inputs)
    return "\n".join(lines + [table.replace("## ", "### ", 1)])


def report_text(spec: Spec, judged: list[Judged], records: Records, v1: str) -> str:
    n = len(spec.seeds)
    parts = [f"# The findings, version 2 ({spec.path})", "",
             f"Seeds {' '.join(map(str, spec.seeds))}; {spec.bootstrap} nested bootstrap "
             f"resamples per claim (seed {spec.bootstrap_seed}); Holm at alpha {spec.alpha} "
             "within each family.", ""]
    for family in dict.fromkeys(c.family for c in spec.claims):
        parts += [f"## Family: {family}", "",
                  family_table([j for j in judged if j.claim.family == family], n), ""]
    parts += [
        "Effect: the mean over seeds of each seed's paired value (a minus b, or a alone, in "
        "points; signed so that the claim says it is above zero). t-interval: 95% Student t "
        "over the seeds' values. Bootstrap: seeds resampled with replacement, then each drawn "
        "seed's problems (the same draw for both models), the effect the mean over the drawn "
        "seeds; its 2.5-97.5 percentiles, and p = (1 + #{effect <= 0}) / (1 + B). Holm's "
        "step-down correction across the claims of a family that ran; PASS: adjusted p < "
        f"{spec.alpha}. \"not run\": no seed has the inputs (left out of the family); \"of\": "
        "seeds with a value out of those declared.", "",
        "### Per-seed values (points)", "",
        markdown_table(["claim", *(f"seed {s}" for s in spec.seeds)],
                       [[j.claim.name, *(_seed_cell(j, s) for s in spec.seeds)] for j in judged]),
        ""]
    if records.absent or records.notes:
        parts += ["Absent inputs: " + ("; ".join(records.absent) or "none") + "."]
        parts += [f"Matched: {'; '.join(records.notes)}." if records.notes else "", ""]
    return "\n".join(parts + [variance_split(spec, records), v1])


def csv_rows(spec: Spec, judged: list[Judged]) -> str:
    header = ["family", "claim", "stat", "a", "b", "sign", "seeds_with_value", "seeds_declared",
              "effect_points", "t_low", "t_high", "boot_low", "boot_high", "p_one_sided",
              "p_holm", "verdict", *(f"seed{s}" for s in spec.seeds)]
    rows = [[j.claim.family, j.claim.name, j.claim.stat, j.claim.a, j.claim.b, j.claim.sign,
             len(j.valued), len(spec.seeds), j.effect, *(j.t_interval or (None, None)),
             *(j.boot_interval or (None, None)), j.p, j.p_holm, j.verdict,
             *(j.points.get(s) for s in spec.seeds)] for j in judged]
    return csv_table(header, rows)


def report_findings_v2(spec_path: str | Path, out: str | Path | None = None,
                       runs: str | None = None, seeds: str | None = None,
                       v1_spec: str | Path = "experiments/builtin/findings.yaml") -> str:
    """Judge the declaration; write <out> (Markdown) and <out>.csv when out is given."""
    if out is not None and Path(out).suffix == ".csv":
        raise UsageError("--out names the Markdown file; the CSV is written beside it")
    spec = read_v2_spec(spec_path, runs, seeds)
    records = Records()
    judged = judge_all(spec, records)
    text = report_text(spec, judged, records, v1_rows(v1_spec, spec))
    if out is not None:
        write_atomic(Path(out), text)
        write_atomic(Path(out).with_suffix(".csv"), csv_rows(spec, judged))
    return text
