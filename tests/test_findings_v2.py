"""`selfcorrect findings-v2` on hand-made traces: each statistic per seed against values worked
out by hand, the t-interval over seeds, Holm's correction, the bootstrap's determinism and
pairing, PASS / FAIL / not run, bad specs, and the CLI end to end."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.paired import SeedSample, holm, nested_bootstrap
from selfcorrect_cli.report.findings_v2 import (FAIL, NOT_RUN, PASS, Judged, judge_family,
                                                report_findings_v2)
from selfcorrect_cli.report.findings_v2_spec import Claim, read_v2_spec
from tests.conftest import run_main

DECLARATION = Path(__file__).resolve().parents[1] / "experiments/builtin/findings-v2.yaml"


def record(problem, r1, r2, changed=None, kind="guess", sample=0):
    """One trace line; the answer changes where `changed` says (by default: where the
    reward does). A wrong first attempt has `kind`."""
    changed = r1 != r2 if changed is None else changed
    return {"problem_id": problem, "sample_index": sample, "turns": [
        {"answer": "x", "reward": float(r1), "kind": "right" if r1 else kind},
        {"answer": "y" if changed else "x", "reward": float(r2),
         "kind": "right" if r2 else "guess"}]}


def write_traces(run_dir: Path, records):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "traces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def rows(pairs, prefix="p", changed=()):
    """Records from (r1, r2) pairs, problem i named prefix+i; `changed` forces a change."""
    return [record(f"{prefix}{i}", r1, r2, changed=True if i in changed else None)
            for i, (r1, r2) in enumerate(pairs)]


# The hand-made world, two seeds, four problems each (see each role's numbers below).
WORLD = {
    # seed 0: Acc@t1 .25, Acc@t2 .75, Delta .5; changes 3 of 3 wrong, 0 of 1 right: disc. 1
    # seed 1: Acc@t1 .5, Acc@t2 .5, Delta 0; changes 1 of 2 wrong, 0 of 2 right: disc. .5
    "score": {0: rows([(1, 1), (0, 1), (0, 1), (0, 0)], changed={3}),
              1: rows([(1, 1), (1, 1), (0, 0), (0, 0)], prefix="q", changed={3})},
    # seed 0: Acc@t1 .5, Acc@t2 .25, Delta -.25; changes 1 of 2 wrong, 1 of 2 right: disc. 0
    # seed 1: Acc@t1 .25, Acc@t2 .25, Delta 0; changes 1 of 3 wrong, 0 of 1 right: disc. 1/3
    # (written in reverse problem order: pairing goes by problem_id, not by line)
    "star": {0: rows([(1, 1), (0, 0), (1, 0), (0, 0)], changed={1})[::-1],
             1: rows([(1, 1), (0, 0), (0, 0), (0, 0)], prefix="q", changed={3})[::-1]},
    # second RL seed of SCoRe: Acc@t2 .5 on seed 0, 1.0 on seed 1
    "score_rl2": {0: rows([(1, 1), (0, 1), (0, 0), (0, 0)]),
                  1: rows([(1, 1)] * 4, prefix="q")},
    # only seed 0 evaluated: Acc@t2 .5 on the four problems SCoRe has; o9 is left out
    "pair_sft": {0: [record("o9", 1, 1)] + rows([(1, 1), (1, 1), (0, 0), (0, 0)])},
    # two problems x four samples at T = 1; seed 0: Acc@t1 5/8, Acc@t2 3/8, Delta -.25;
    # seed 1: 8/8 then 7/8, Delta -1/8
    "base_sampled": {
        0: [record(f"p{i // 4}", r1, r2, sample=i % 4) for i, (r1, r2) in enumerate(
            [(1, 0), (1, 1), (1, 0), (0, 0), (0, 0), (0, 1), (1, 1), (1, 0)])],
        1: [record(f"q{i // 4}", 1, int(i != 5), sample=i % 4) for i in range(8)]},
}
# the mismatch experiment's fixes: seed 0 .75 vs .5, seed 1 .5 vs 0
OWN = {0: {"star": {"collector_fixes": [1, 1, 0, 1], "own_fixes": [1, 0]}},
       1: {"star": {"collector_fixes": [1, 0], "own_fixes": [0, 0, 0]}}}
ROLES = {role: f"{{runs}}/seed{{seed}}/{role}" for role in
         ("score", "star", "pair_sft", "base_sampled", "single_turn_rl")}
MAIN = [
    {"name": "F1", "stat": "delta", "a": "base_sampled", "sign": -1},
    {"name": "acc star", "stat": "acc_t2", "a": "score", "b": "star"},
    {"name": "delta star", "stat": "delta", "a": "score", "b": "star"},
    {"name": "delta alone", "stat": "delta", "a": "score"},
    {"name": "discrimination", "stat": "discrimination", "a": "score", "b": "star"},
    {"name": "acc pair", "stat": "acc_t2", "a": "score", "b": "pair_sft"},
    {"name": "acc single-turn", "stat": "acc_t2", "a": "score", "b": "single_turn_rl"},
    {"name": "mismatch", "stat": "mismatch_gap", "a": "star"},
]


def build(tmp_path, families=None, roles=None, **extra) -> Path:
    """Write WORLD, OWN and a spec under tmp_path; returns the spec's path."""
    runs = tmp_path / "runs"
    for role, seeds in WORLD.items():
        for seed, records in seeds.items():
            write_traces(runs / f"seed{seed}" / role, records)
    for seed, results in OWN.items():
        (runs / f"seed{seed}").mkdir(parents=True, exist_ok=True)
        (runs / f"seed{seed}" / "own.json").write_text(json.dumps(results))
    spec = {"runs": str(runs), "seeds": [0, 1], "alpha": 0.05, "bootstrap": 200,
            "bootstrap_seed": 0, "roles": roles or ROLES,
            "mismatch_experiment": "{runs}/seed{seed}/own.json",
            "score_rl_seed2": "{runs}/seed{seed}/score_rl2",
            "families": families or {"main": MAIN}, **extra}
    path = tmp_path / "findings-v2.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def judge(tmp_path, **kwargs) -> tuple[str, dict[str, dict]]:
    """The report's text and its CSV rows by claim name."""
    out = tmp_path / "out" / "findings-v2.md"
    text = report_findings_v2(build(tmp_path, **kwargs), out, v1_spec=tmp_path / "no-v1.yaml")
    with open(out.with_suffix(".csv")) as handle:
        return text, {row["claim"]: row for row in csv.DictReader(handle)}


def seed_values(row) -> list[float | None]:
    return [float(row[k]) if row[k] else None for k in ("seed0", "seed1")]


def test_per_seed_paired_values_match_hand_computed(tmp_path):
    _, found = judge(tmp_path)
    expected = {"F1": [25.0, 12.5],                     # minus Delta: .25, 1/8
                "acc star": [50.0, 25.0],               # .75 - .25, .5 - .25
                "delta star": [75.0, 0.0],              # .5 - (-.25), 0 - 0
                "delta alone": [50.0, 0.0],
                "discrimination": [100.0, 100 / 6],     # 1 - 0, .5 - 1/3
                "acc pair": [25.0, None],               # .75 - .5; seed 1 not evaluated
                "mismatch": [25.0, 50.0]}               # .75 - .5, .5 - 0
    for name, values in expected.items():
        assert seed_values(found[name]) == pytest.approx(values, abs=1e-9), name
        present = [v for v in values if v is not None]
        assert float(found[name]["effect_points"]) == pytest.approx(np.mean(present), abs=1e-5)


def test_t_interval_is_over_the_per_seed_differences(tmp_path):
    _, found = judge(tmp_path)
    # acc star: 50 and 25; sd 17.67767, se 12.5, t(0.975, 1) = 12.706205
    row = found["acc star"]
    assert float(row["t_low"]) == pytest.approx(37.5 - 12.706205 * 12.5, abs=1e-4)
    assert float(row["t_high"]) == pytest.approx(37.5 + 12.706205 * 12.5, abs=1e-4)
    assert row["t_low"] and not found["acc pair"]["t_low"]   # one seed: no t-interval


def test_kind_spread_counts_only_kinds_both_models_make_20_times(tmp_path):
    def kinds(counts):   # kind -> (wrong first attempts, of them fixed); right ones up to 70
        wrong = [(kind, int(i < fixed)) for kind, (n, fixed) in counts.items() for i in range(n)]
        records = [record(f"k{j}", 0, r2, kind=kind) for j, (kind, r2) in enumerate(wrong)]
        return records + [record(f"k{j}", 1, 1) for j in range(len(records), 70)]

    # a: guess .5, misread .5, slip 19 times (too rare) -> spread 0 over {guess, misread}
    a = {"guess": (20, 10), "misread": (20, 10), "slip": (19, 0)}
    # b: guess 1.0, misread .25 -> spread .75; slip is left out because a makes it 19 times
    b = {0: {"guess": (20, 20), "misread": (20, 5), "slip": (30, 30)},
         # seed 1: misread 19 times, one kind left for both: no value
         1: {"guess": (20, 20), "misread": (19, 5), "slip": (31, 31)}}
    world = {"kinds_a": {0: kinds(a), 1: kinds(a)}, "kinds_b": {s: kinds(b[s]) for s in b}}
    for role, seeds in world.items():
        for seed, records in seeds.items():
            write_traces(tmp_path / "runs" / f"seed{seed}" / role, records)
    roles = {**ROLES, **{role: f"{{runs}}/seed{{seed}}/{role}" for role in world}}
    text, found = judge(tmp_path, roles=roles, families={"main": [
        {"name": "spread", "stat": "kind_spread", "a": "kinds_a", "b": "kinds_b"}]})
    assert seed_values(found["spread"]) == [pytest.approx(75.0), None]
    assert found["spread"]["seeds_with_value"] == "1"
    assert "| spread | 1 of 2 | +75.0 |" in text and "no value" in text


def test_holm_on_a_known_p_vector():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.001, 0.5, 0.2, 0.02]) == pytest.approx([0.004, 0.5, 0.4, 0.06])


def test_claims_not_run_leave_the_family():
    claims = [Claim("main", i, f"c{i}", "acc_t2", "a", "b", 1) for i in range(4)]
    judged = [Judged(c, {}, p=p) for c, p in zip(claims, [0.01, 0.04, 0.03, None])]
    judge_family(judged, alpha=0.05)
    assert [j.p_holm for j in judged] == pytest.approx([0.03, 0.06, 0.06, None])
    assert [j.verdict for j in judged] == [PASS, FAIL, FAIL, NOT_RUN]


def test_missing_roles_are_not_run_and_partial_seeds_are_counted(tmp_path):
    text, found = judge(tmp_path)
    assert found["acc single-turn"]["verdict"] == NOT_RUN   # no single_turn_rl anywhere
    assert not found["acc single-turn"]["p_one_sided"]
    assert "| acc pair | 1 of 2 |" in text                  # pair_sft on seed 0 only
    assert "seed 0: only the 4 problems common to score, pair_sft" in text
    assert "single_turn_rl/traces.jsonl" in text            # the absent inputs are listed
    ran = [row for row in found.values() if row["verdict"] != NOT_RUN]
    smallest = min(ran, key=lambda row: float(row["p_one_sided"]))
    # Holm's first step multiplies by m: the 7 claims that ran, not the 8 declared
    assert float(smallest["p_holm"]) == pytest.approx(min(1, 7 * float(smallest["p_one_sided"])))


def test_clear_effect_passes_null_effect_fails_and_the_bootstrap_pairs_problems(tmp_path):
    for seed in range(3):
        mixed = rows([(1, 0), (0, 0), (1, 1)] * 7)   # Acc@t2 1/3, varying by problem
        write_traces(tmp_path / "runs" / f"seed{seed}" / "good", rows([(0, 1)] * 21))
        write_traces(tmp_path / "runs" / f"seed{seed}" / "bad", mixed)
        # the same model in another order: a resample that draws the same problems for both
        # gives exactly 0; drawing them apart would not
        write_traces(tmp_path / "runs" / f"seed{seed}" / "same", mixed[::-1])
    roles = {r: f"{{runs}}/seed{{seed}}/{r}" for r in ("good", "bad", "same")}
    _, found = judge(tmp_path, roles=roles, families={"main": [
        {"name": "clear", "stat": "acc_t2", "a": "good", "b": "bad"},
        {"name": "null", "stat": "acc_t2", "a": "same", "b": "bad"}]}, seeds=[0, 1, 2])
    clear, null = found["clear"], found["null"]
    assert float(clear["p_one_sided"]) == pytest.approx(1 / 201)      # no draw at or below 0
    assert float(clear["p_holm"]) == pytest.approx(2 / 201) and clear["verdict"] == PASS
    assert float(null["p_one_sided"]) == 1.0 and null["verdict"] == FAIL
    assert (float(null["boot_low"]), float(null["boot_high"])) == (0.0, 0.0)


def test_bootstrap_is_deterministic_and_follows_its_seed(tmp_path):
    first = judge(tmp_path)[1]
    assert judge(tmp_path)[1] == first
    rng_columns = np.random.default_rng(5).integers(0, 2, (30, 2)).astype(float)
    samples = [SeedSample(rng_columns, (30,)), SeedSample(rng_columns[::-1], (30,))]

    def draw(seed):
        return nested_bootstrap(samples, lambda s: s[:, 0] - s[:, 1], 50,
                                np.random.default_rng([seed, 3]))
    assert np.array_equal(draw(0), draw(0)) and not np.array_equal(draw(0), draw(1))


def test_variance_split_and_v1_rows(tmp_path):
    out = tmp_path / "out" / "findings-v2.md"
    text = report_findings_v2(build(tmp_path), out, v1_spec=DECLARATION.with_name("findings.yaml"))
    # SCoRe's Acc@t2: 75 and 50 on base 0, 50 and 100 on base 1
    assert "| 0 | 75.0 | 50.0 | 62.5 | 17.7 |" in text
    assert "| 1 | 50.0 | 100.0 | 75.0 | 35.4 |" in text
    assert "over 2 bases, 26.5 points" in text          # (17.68 + 35.36) / 2
    assert "per-base means, 8.8 points" in text         # sd of 62.5 and 75
    assert "## Version 1 criteria (reported beside)" in text
    assert "### Findings F1-F6" in text and "MISSING" in text   # no metrics.json here


def test_the_declaration_reads():
    spec = read_v2_spec(DECLARATION)
    families = [c.family for c in spec.claims]
    assert (families.count("main"), families.count("ablations")) == (15, 4)
    assert (spec.bootstrap, spec.bootstrap_seed, spec.alpha, spec.seeds) == (2000, 0, 0.05,
                                                                            list(range(10)))
    assert spec.claims[0].sign == -1 and spec.claims[0].b is None


@pytest.mark.parametrize("change, message", [
    ({"extra": 1}, "unknown key(s) ['extra']"),
    ({"families": {"main": [{"name": "x", "stat": "median", "a": "score", "b": "star"}]}},
     "unknown stat 'median'"),
    ({"families": {"main": [{"name": "x", "stat": "acc_t2", "a": "score", "b": "rlhf"}]}},
     "role 'rlhf' is not in roles"),
    ({"families": {"main": [{"name": "x", "stat": "acc_t2", "a": "score"}]}}, "needs b"),
    ({"families": {"main": [{"name": "x", "stat": "delta", "a": "score", "c": 1}]}},
     "unknown key(s) ['c']"),
    ({"families": {"main": [{"name": "x", "stat": "delta", "a": "score", "sign": 2}]}},
     "sign must be 1 or -1"),
    ({"bootstrap": 0}, "bootstrap must be an integer of at least 1"),
])
def test_bad_spec_is_a_usage_error(tmp_path, change, message):
    path = build(tmp_path)
    spec = {**yaml.safe_load(path.read_text()), **change}
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(UsageError) as caught:
        read_v2_spec(path)
    assert message in str(caught.value)


def test_cli_end_to_end(tmp_path):
    spec = build(tmp_path)
    out = tmp_path / "results" / "findings-v2.md"
    code, stdout, _ = run_main("findings-v2", str(spec), "--out", str(out),
                               "--v1-spec", str(tmp_path / "none.yaml"))
    assert code == 0 and "## Family: main" in out.read_text()
    assert out.with_suffix(".csv").is_file() and "findings written to" in stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("stat: acc_t2", "stat: accuracy", 1))
    code, _, stderr = run_main("findings-v2", str(bad))
    assert code == 2 and "selfcorrect: error:" in stderr and "unknown stat" in stderr
    code, _, stderr = run_main("findings-v2", str(spec), "--runs", str(tmp_path / "nowhere"))
    assert code == 2 and "none of the inputs" in stderr
