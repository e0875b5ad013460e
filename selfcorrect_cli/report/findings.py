"""`selfcorrect findings`: check the SCoRe paper's findings F1-F6 against measured metrics.

F2 is judged twice: with its original absolute threshold (F2) and restated relative to
SCoRe's Delta (F2r); both verdicts are reported.

The six claims are listed in CLAIMS below; README.md ("The study") and docs/built-in-world.md
say what the built-in study found for each.

A findings spec (YAML) names, per role, one directory per seed:

    eval:      {base: [...], base_sampled: [...], star: [...], pair_sft: [...], score: [...],
                single_turn_rl: [...], no_stage1: [...], no_shaping: [...]}   # metrics.json
    train:     {score: [...], no_stage1: [...]}                              # train_log.jsonl
    mismatch:  [...]                                     # mismatch.jsonl of analyze-mismatch

Each finding gets PASS, FAIL or MISSING (an input it needs is absent) and the numbers behind
the verdict. It reports and never gates. The thresholds below were fixed before any of our
results were read; changing one to turn a verdict is not allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import mean

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.metrics import NEAR_COPY_RATIO, near_copy_fraction
from selfcorrect_cli.measure.statistics import Estimate, aggregate
from selfcorrect_cli.method_registry import role_of
from selfcorrect_cli.report.tables import markdown_table

# ---------------- criteria: fixed in advance, never tuned to a result ----------------------
# F1: "substantial" c->i: at least 2% of all problems flipped right -> wrong.
F1_MIN_C2I = 0.02
# F2: "little or no net gain": an SFT method's |Delta| stays below 5 points.
F2_MAX_ABS_DELTA = 0.05
# F2r, the same claim restated relative to the effect's scale in this world (fixed before the
# verdict world's study ran; both verdicts are reported): an SFT method's Delta is below half
# of SCoRe's, the paper's own proportion (STaR +0.4 and Pair-SFT +1.8 against SCoRe +4.4).
F2R_MAX_SHARE_OF_SCORE = 0.5
# F3: a second attempt with edit-distance ratio below NEAR_COPY_RATIO (0.10, imported above) is
# a near copy of the first; it is defined with the ratio in measure/metrics.py, which the
# collapse analysis uses too. Collapse = at least half of the SFT models' second attempts are
# near copies ...
F3_MIN_NEAR_COPY = 0.5
# ... and SCoRe's near-copy fraction is at least 10 points below each SFT method's.
F3_MIN_GAP = 0.1
# F4: the fix rate on fixed offline first attempts must rise by more than 5 points ...
F4_MIN_OFFLINE_RISE = 0.05
# ... while the fix rate on the model's own first attempts rises by less than this share of it.
F4_MAX_OWN_SHARE = 0.5
# F6: "early" and "late" training are the first and last 10% of the logged steps.
F6_WINDOW = 0.1

# The methods F1-F6 judge, by the roles findings.yaml gives them (declared before the study
# ran, so spelled its way; method_registry.py maps each method to its role).
STAR, PAIR_SFT, SCORE, SINGLE_TURN_RL, NO_STAGE1, NO_SHAPING = map(role_of, (
    "star-dplus", "pair-d", "score", "single-turn-rl", "no-stage1", "no-shaping"))
EVAL_ROLES = ("base", "base_sampled", STAR, PAIR_SFT, SCORE, SINGLE_TURN_RL, NO_STAGE1, NO_SHAPING)
TRAIN_ROLES = (SCORE, NO_STAGE1)
LABELS = {"base": "Base", "base_sampled": "Base (sampled)", STAR: "STaR", PAIR_SFT: "Pair-SFT",
          SCORE: "SCoRe", SINGLE_TURN_RL: "single-turn RL", NO_STAGE1: "w/o Stage I",
          NO_SHAPING: "w/o shaping"}


def _near_copies(m: dict) -> float:
    ratios = m.get("edit_distance_ratios", [])
    if not ratios:
        raise UsageError("metrics.json has an empty edit_distance_ratios list")
    return near_copy_fraction(ratios)


def answer_change_trend(log: list[dict]) -> tuple[float, float] | None:
    """Mean train/answer_changed over the first and the last F6_WINDOW of logged steps.

    >>> rows = [{"step": s, "train/answer_changed": v} for s, v in enumerate([.4] * 5 + [.2] * 5)]
    >>> answer_change_trend(rows)
    (0.4, 0.2)
    """
    rows = sorted((r for r in log if "train/answer_changed" in r), key=lambda r: r["step"])
    if len(rows) < 2:
        return None
    n = max(1, math.ceil(F6_WINDOW * len(rows)))
    first = mean(r["train/answer_changed"] for r in rows[:n])
    last = mean(r["train/answer_changed"] for r in rows[-n:])
    return round(first, 6), round(last, 6)


def fix_rate_rises(rows: list[dict], split: str) -> tuple[float, float] | None:
    """(offline rise, own rise) of the fix rate, last minus first step where both are measured.

    >>> rows = [{"step": 0, "offline/test": {"fix_rate": .1}, "own/test": {"fix_rate": .1}},
    ...         {"step": 9, "offline/test": {"fix_rate": .4}, "own/test": {"fix_rate": .15}}]
    >>> fix_rate_rises(rows, "test")
    (0.3, 0.05)
    """
    def rate(row, source):
        return (row.get(f"{source}/{split}") or {}).get("fix_rate")

    usable = sorted((r for r in rows if rate(r, "offline") is not None
                     and rate(r, "own") is not None), key=lambda r: r["step"])
    if len(usable) < 2:
        return None
    first, last = usable[0], usable[-1]
    return (round(rate(last, "offline") - rate(first, "offline"), 6),
            round(rate(last, "own") - rate(first, "own"), 6))


# ---------------- the findings: one check each ---------------------------------------------
PASS, FAIL, MISSING = "PASS", "FAIL", "MISSING"
CLAIMS = {
    "F1": "naive self-correction does not help",
    "F2": "SFT on offline traces gives little or no net gain",
    "F2r": "SFT gains little next to SCoRe (F2 restated relative to SCoRe's Delta)",
    "F3": "behaviour collapse after STaR / Pair-SFT, unlike SCoRe",
    "F4": "distribution mismatch during Pair-SFT",
    "F5": "SCoRe self-corrects, with the best Acc@t2",
    "F6": "the ablations order as in the paper",
}


@dataclass
class Inputs:
    """Everything found on disk; a role is absent from a dict when any of its files is."""
    evals: dict[str, list[dict]] = field(default_factory=dict)  # role -> metrics.json per seed
    train_logs: dict[str, list[list[dict]]] = field(default_factory=dict)  # role -> log per seed
    mismatch: list[list[dict]] | None = None  # mismatch.jsonl rows per seed
    missing: dict[str, list[str]] = field(default_factory=dict)  # role -> absent files


@dataclass
class Part:
    """One measured condition of a finding."""
    claim: str
    passed: bool
    numbers: str


@dataclass
class Finding:
    name: str
    claim: str
    verdict: str
    parts: list[Part] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    context: str = ""  # numbers worth seeing that do not enter the verdict


def _absent(inputs: Inputs, evals=(), trains=(), mismatch=False) -> list[str]:
    wanted = [(r, r in inputs.evals) for r in evals]
    wanted += [(f"train.{r}", r in inputs.train_logs) for r in trains]
    wanted += [("mismatch", inputs.mismatch is not None)] if mismatch else []
    return [f"{name}: " + (", ".join(inputs.missing[name]) if name in inputs.missing
                           else "not in the spec") for name, present in wanted if not present]


def _judged(name: str, parts: list[Part], context: str = "") -> Finding:
    verdict = PASS if all(p.passed for p in parts) else FAIL
    return Finding(name, CLAIMS[name], verdict, parts, context=context)


def _estimate(inputs: Inputs, role: str, key: str) -> Estimate:
    runs = inputs.evals[role]
    try:
        return aggregate([m[key] for m in runs], [m[f"{key}_ci"] for m in runs])
    except KeyError as exc:
        raise UsageError(f"a metrics.json of role {role} lacks {exc}") from None


def _clearly_below(a: Estimate, b: Estimate) -> bool:
    return a.high is not None and b.low is not None and a.high < b.low


def check_f1(inputs: Inputs) -> Finding:
    """Judged on the sampled base evaluation where the spec names one (a base model that
    repeats itself at greedy decoding shows no second-attempt behaviour there), else greedy."""
    role = "base_sampled" if "base_sampled" in inputs.evals else "base"
    if missing := _absent(inputs, evals=(role,)):
        return Finding("F1", CLAIMS["F1"], MISSING, missing=missing)
    delta, c2i = _estimate(inputs, role, "delta"), _estimate(inputs, role, "delta_c2i")
    label = LABELS[role]
    return _judged("F1", [Part(f"{label} Delta <= 0", delta.mean <= 0, f"Delta {delta}"),
                          Part(f"{label} c->i >= {F1_MIN_C2I}", c2i.mean >= F1_MIN_C2I,
                               f"c->i {c2i}")])


def _below_score(label: str, delta: Estimate, score: Estimate) -> Part:
    """The part F2 and F2r share: the SFT method's Delta clearly below SCoRe's."""
    return Part(f"{label} Delta clearly below SCoRe's (CI high < SCoRe CI low)",
                _clearly_below(delta, score), f"{label} {delta} vs SCoRe {score}")


def check_f2(inputs: Inputs) -> Finding:
    if missing := _absent(inputs, evals=(STAR, PAIR_SFT, SCORE)):
        return Finding("F2", CLAIMS["F2"], MISSING, missing=missing)
    score = _estimate(inputs, SCORE, "delta")
    parts = []
    for role in (STAR, PAIR_SFT):
        delta, label = _estimate(inputs, role, "delta"), LABELS[role]
        parts.append(_below_score(label, delta, score))
        parts.append(Part(f"abs({label} Delta) < {F2_MAX_ABS_DELTA}",
                          abs(delta.mean) < F2_MAX_ABS_DELTA, f"Delta {delta}"))
    return _judged("F2", parts)


def check_f2_relative(inputs: Inputs) -> Finding:
    if missing := _absent(inputs, evals=(STAR, PAIR_SFT, SCORE)):
        return Finding("F2r", CLAIMS["F2r"], MISSING, missing=missing)
    score = _estimate(inputs, SCORE, "delta")
    bound = F2R_MAX_SHARE_OF_SCORE * score.mean
    parts = []
    for role in (STAR, PAIR_SFT):
        delta, label = _estimate(inputs, role, "delta"), LABELS[role]
        parts.append(_below_score(label, delta, score))
        # SCoRe must gain for "little next to SCoRe" to mean anything: bound > 0.
        parts.append(Part(f"{label} Delta < {F2R_MAX_SHARE_OF_SCORE} x SCoRe's (> 0)",
                          bound > 0 and delta.mean < bound,
                          f"{label} {delta.mean:+.3f} vs bound {bound:+.3f}"))
    return _judged("F2r", parts)


def check_f3(inputs: Inputs) -> Finding:
    if missing := _absent(inputs, evals=(STAR, PAIR_SFT, SCORE)):
        return Finding("F3", CLAIMS["F3"], MISSING, missing=missing)
    copies = {role: aggregate([_near_copies(m) for m in inputs.evals[role]])
              for role in (STAR, PAIR_SFT, SCORE)}
    parts = []
    for role in (STAR, PAIR_SFT):
        label, sft = LABELS[role], copies[role]
        parts.append(Part(f"{label} near copies (ratio < {NEAR_COPY_RATIO}) >= {F3_MIN_NEAR_COPY}",
                          sft.mean >= F3_MIN_NEAR_COPY, f"{label} {sft}"))
        parts.append(Part(f"SCoRe near copies at least {F3_MIN_GAP} below {label}'s",
                          # rounded so that float noise cannot decide a tie at the threshold
                          round(sft.mean - copies[SCORE].mean, 9) >= F3_MIN_GAP,
                          f"SCoRe {copies[SCORE]} vs {label} {sft}"))
    return _judged("F3", parts)


def check_f4(inputs: Inputs) -> Finding:
    if missing := _absent(inputs, mismatch=True):
        return Finding("F4", CLAIMS["F4"], MISSING, missing=missing)
    # Held-out problems show the mismatch without memorised corrections; use them if measured.
    for split in ("test", "train"):
        rises = [fix_rate_rises(rows, split) for rows in inputs.mismatch]
        if all(r is not None for r in rises):
            break
    else:
        return Finding("F4", CLAIMS["F4"], MISSING, missing=[
            "mismatch: fewer than two steps with both fix rates measured"])
    offline = aggregate([r[0] for r in rises])
    own = aggregate([r[1] for r in rises])
    where = "held-out" if split == "test" else "training"
    return _judged("F4", [
        Part(f"fix rate on fixed offline first attempts rises > {F4_MIN_OFFLINE_RISE} ({where})",
             offline.mean > F4_MIN_OFFLINE_RISE, f"offline rise {offline}"),
        Part(f"fix rate on own first attempts rises < {F4_MAX_OWN_SHARE} x offline rise",
             own.mean < F4_MAX_OWN_SHARE * offline.mean,
             f"own rise {own} vs {F4_MAX_OWN_SHARE * offline.mean:.3f}")])


def check_f5(inputs: Inputs) -> Finding:
    # Every greedy evaluation competes for the best Acc@t2; the sampled base is not greedy.
    greedy = tuple(r for r in EVAL_ROLES if r != "base_sampled")
    if missing := _absent(inputs, evals=greedy):
        return Finding("F5", CLAIMS["F5"], MISSING, missing=missing)
    delta = _estimate(inputs, SCORE, "delta")
    i2c, c2i = _estimate(inputs, SCORE, "delta_i2c"), _estimate(inputs, SCORE, "delta_c2i")
    acc = {role: _estimate(inputs, role, "acc_t2") for role in greedy}
    rival = max((r for r in greedy if r != SCORE), key=lambda r: acc[r].mean)
    return _judged("F5", [
        Part("SCoRe Delta CI low > 0", delta.low is not None and delta.low > 0,
             f"Delta {delta}"),
        Part("SCoRe i->c > c->i", i2c.mean > c2i.mean, f"i->c {i2c}, c->i {c2i}"),
        Part("SCoRe Acc@t2 the highest", acc[SCORE].mean > acc[rival].mean,
             f"SCoRe {acc[SCORE]} vs best other {LABELS[rival]} {acc[rival]}")])


def check_f6(inputs: Inputs) -> Finding:
    needed = (SCORE, SINGLE_TURN_RL, NO_STAGE1, NO_SHAPING)
    if missing := _absent(inputs, evals=needed, trains=(NO_STAGE1,)):
        return Finding("F6", CLAIMS["F6"], MISSING, missing=missing)
    delta = {role: _estimate(inputs, role, "delta") for role in needed}
    parts = [Part("single-turn RL Delta <= 0", delta[SINGLE_TURN_RL].mean <= 0,
                  f"Delta {delta[SINGLE_TURN_RL]}")]
    for role in (NO_STAGE1, NO_SHAPING):
        parts.append(Part(f"{LABELS[role]} Delta below SCoRe's",
                          delta[role].mean < delta[SCORE].mean,
                          f"{LABELS[role]} {delta[role]} vs SCoRe {delta[SCORE]}"))
    trend = _answer_change(inputs, NO_STAGE1)
    if trend is None:
        return Finding("F6", CLAIMS["F6"], MISSING, missing=[
            f"train.{NO_STAGE1}: a train_log.jsonl with fewer than two train/answer_changed "
            "steps"])
    early, late = trend
    parts.append(Part(f"w/o Stage I answer changes fall (last vs first {F6_WINDOW:.0%} of steps)",
                      late.mean < early.mean, f"first {early} -> last {late}"))
    score_trend = _answer_change(inputs, SCORE)
    context = (f"SCoRe training answer changes: first {score_trend[0]} -> last {score_trend[1]}"
               if score_trend else "")
    return _judged("F6", parts, context)


def _answer_change(inputs: Inputs, role: str) -> tuple[Estimate, Estimate] | None:
    """Early and late answer-change rates over seeds, or None where a log lacks them."""
    trends = [answer_change_trend(log) for log in inputs.train_logs.get(role, [])]
    if not trends or any(t is None for t in trends):
        return None
    return aggregate([t[0] for t in trends]), aggregate([t[1] for t in trends])


CHECKS = (check_f1, check_f2, check_f2_relative, check_f3, check_f4, check_f5, check_f6)


def evaluate_findings(inputs: Inputs) -> list[Finding]:
    return [check(inputs) for check in CHECKS]


# ---------------- the report ---------------------------------------------------------------
def findings_table(findings: list[Finding], inputs: Inputs) -> str:
    """Markdown: one row per finding with its verdict and the numbers behind it."""
    rows = []
    for f in findings:
        if f.verdict == MISSING:
            numbers = "missing " + "; ".join(f.missing)
        else:
            numbers = "; ".join(f"{p.claim}: {'yes' if p.passed else 'no'} ({p.numbers})"
                                for p in f.parts)
        numbers += f"; context: {f.context}" if f.context else ""
        rows.append([f.name, f.claim, f.verdict, numbers])
    seeds = {role: len(runs) for role, runs in inputs.evals.items()}
    seeds.update({f"train.{r}": len(logs) for r, logs in inputs.train_logs.items()})
    if inputs.mismatch is not None:
        seeds["mismatch"] = len(inputs.mismatch)
    lines = ["## Findings F1-F6 of the SCoRe paper, from measured metrics", "",
             markdown_table(["finding", "claim", "verdict", "numbers"], rows), "",
             "Acc, Delta, i->c, c->i: fractions of all problems; near copies: fraction of "
             "(y1, y2) pairs; fix rates: P(y2 right | y1 wrong); answer changes: training "
             "batches. Brackets: 95% CI, a t-interval across seeds where an input has several, "
             "else the single run's bootstrap CI over problems (none where it has none). "
             "Criteria are fixed in selfcorrect_cli/report/findings.py.",
             "Seeds per input: " + (", ".join(f"{k} {n}" for k, n in seeds.items()) or "none")]
    return "\n".join(lines) + "\n"


def criteria() -> dict[str, float]:
    """The fixed thresholds, recorded beside every verdict."""
    return {"F1_MIN_C2I": F1_MIN_C2I, "F2_MAX_ABS_DELTA": F2_MAX_ABS_DELTA,
            "F2R_MAX_SHARE_OF_SCORE": F2R_MAX_SHARE_OF_SCORE,
            "NEAR_COPY_RATIO": NEAR_COPY_RATIO, "F3_MIN_NEAR_COPY": F3_MIN_NEAR_COPY,
            "F3_MIN_GAP": F3_MIN_GAP, "F4_MIN_OFFLINE_RISE": F4_MIN_OFFLINE_RISE,
            "F4_MAX_OWN_SHARE": F4_MAX_OWN_SHARE, "F6_WINDOW": F6_WINDOW}
