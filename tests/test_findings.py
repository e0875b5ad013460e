"""`selfcorrect findings` on small hand-made metrics files: each finding passes, fails, or is
missing as its criterion says, and seeds aggregate to hand-computed intervals."""

import json
import math
from pathlib import Path

import pytest
import yaml

from selfcorrect_cli.measure.statistics import aggregate
from selfcorrect_cli.report.findings import evaluate_findings
from selfcorrect_cli.report.findings_files import load_inputs, read_spec
from tests.conftest import run_main

# One seed per role, built so that every finding passes (fractions of all problems).
# role -> (acc_t1, delta, delta_i2c, delta_c2i, delta CI, share of near-copy second attempts)
WORLD = {
    "base": (0.50, -0.05, 0.02, 0.07, (-0.08, -0.02), 0.2),
    "star": (0.50, 0.00, 0.02, 0.02, (-0.01, 0.01), 0.6),
    "pair_sft": (0.50, 0.01, 0.03, 0.02, (-0.01, 0.03), 0.6),
    "score": (0.64, 0.06, 0.08, 0.02, (0.04, 0.08), 0.3),
    "single_turn_rl": (0.61, -0.01, 0.01, 0.02, (-0.03, 0.01), 0.9),
    "no_stage1": (0.62, 0.03, 0.04, 0.01, (0.01, 0.05), 0.8),
    "no_shaping": (0.63, 0.02, 0.03, 0.01, (0.00, 0.04), 0.5),
}


def metrics(acc_t1, delta, i2c, c2i, delta_ci, near_copy):
    copies = round(10 * near_copy)
    return {"acc_t1": acc_t1, "acc_t2": acc_t1 + delta, "delta": delta, "delta_i2c": i2c,
            "delta_c2i": c2i, "acc_t1_ci": [acc_t1 - .05, acc_t1 + .05],
            "acc_t2_ci": [acc_t1 + delta - .05, acc_t1 + delta + .05], "delta_ci": list(delta_ci),
            "delta_i2c_ci": [0.0, i2c + .02], "delta_c2i_ci": [0.0, c2i + .02],
            "edit_distance_ratios": [0.0] * copies + [0.2] * (10 - copies),
            "answer_changed_frac": 0.5, "n_trajectories": 10}


def answer_change_log(start, end, steps=20):
    return [{"step": s, "train/answer_changed": start + (end - start) * s / (steps - 1)}
            for s in range(steps)]


def mismatch_rows(offline, own, held_out=True):
    """Two probes: (first, last) fix rates on offline and own first attempts."""
    rows = []
    for step, (off, mine) in enumerate(zip(offline, own)):
        row = {"step": 10 * step, "offline/train": {"fix_rate": off},
               "own/train": {"fix_rate": mine}}
        row["offline/test"] = {"fix_rate": off if held_out else None}
        row["own/test"] = {"fix_rate": mine if held_out else None}
        rows.append(row)
    return rows


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def build(tmp_path, evals=None, no_stage1_log=(0.4, 0.2), fix_rates=((0.1, 0.4), (0.1, 0.15)),
          seeds=1, skip=()):
    """Write the world's files (with `evals` replacing roles) and a spec; returns the spec path."""
    spec = {"eval": {}, "train": {}, "mismatch": []}
    for role, values in {**WORLD, **(evals or {})}.items():
        per_seed = values if seeds > 1 else [values]
        spec["eval"][role] = []
        for seed, v in enumerate(per_seed):
            run = tmp_path / "eval" / f"{role}-{seed}"
            spec["eval"][role].append(str(run))
            if role not in skip:
                run.mkdir(parents=True)
                (run / "metrics.json").write_text(json.dumps(metrics(*v)))
    for role, log in (("score", answer_change_log(0.3, 0.3)),
                      ("no_stage1", answer_change_log(*no_stage1_log))):
        write_jsonl(tmp_path / "train" / role / "train_log.jsonl", log)
        spec["train"][role] = [str(tmp_path / "train" / role)]
    write_jsonl(tmp_path / "mismatch" / "mismatch.jsonl", mismatch_rows(*fix_rates))
    spec["mismatch"] = [str(tmp_path / "mismatch")]
    path = tmp_path / "findings.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def verdicts(spec_path):
    return {f.name: f for f in evaluate_findings(load_inputs(read_spec(spec_path)))}


def test_every_finding_passes_in_a_world_built_to_pass(tmp_path):
    found = verdicts(build(tmp_path))
    expected = {f"F{i}": "PASS" for i in range(1, 7)} | {"F2r": "PASS"}
    assert {name: f.verdict for name, f in found.items()} == expected
    # first 2 of 20 steps: (0.4 + 0.4 - 0.2/19) / 2 = 0.3947; last 2 mirror it around 0.3
    assert found["F6"].parts[-1].numbers == "first 0.395 -> last 0.205"


def _with(role, **changes):
    acc_t1, delta, i2c, c2i, ci, near = WORLD[role]
    fields = {**dict(acc_t1=acc_t1, delta=delta, i2c=i2c, c2i=c2i, ci=ci, near=near), **changes}
    return {role: tuple(fields[k] for k in ("acc_t1", "delta", "i2c", "c2i", "ci", "near"))}


# finding, files that break it, the part that must fail
FAILURES = [
    ("F1", dict(evals=_with("base", delta=0.01, i2c=0.08, ci=(-0.01, 0.03))), "Base Delta <= 0"),
    ("F1", dict(evals=_with("base", c2i=0.01, i2c=0.0, delta=-0.01, ci=(-0.03, 0.0))),
     "Base c->i >= 0.02"),
    ("F2", dict(evals=_with("star", ci=(-0.02, 0.045))), "STaR Delta clearly below"),
    ("F2", dict(evals=_with("pair_sft", delta=-0.06, ci=(-0.08, -0.04))),
     "abs(Pair-SFT Delta) < 0.05"),
    ("F3", dict(evals=_with("star", near=0.4)), "STaR near copies"),
    ("F3", dict(evals=_with("score", near=0.55)), "SCoRe near copies at least 0.1 below"),
    ("F4", dict(fix_rates=((0.1, 0.14), (0.1, 0.1))),
     "fix rate on fixed offline first attempts rises"),
    ("F4", dict(fix_rates=((0.1, 0.4), (0.1, 0.3))), "fix rate on own first attempts rises"),
    ("F5", dict(evals=_with("score", ci=(-0.01, 0.13))), "SCoRe Delta CI low > 0"),
    ("F5", dict(evals=_with("score", acc_t1=0.70, i2c=0.02, c2i=0.02, delta=0.0,
                                ci=(0.01, 0.02))),
     "SCoRe i->c > c->i"),
    ("F5", dict(evals=_with("no_shaping", acc_t1=0.69)), "SCoRe Acc@t2 the highest"),
    ("F6", dict(evals=_with("single_turn_rl", delta=0.01)), "single-turn RL Delta <= 0"),
    ("F6", dict(evals=_with("no_stage1", delta=0.07)), "w/o Stage I Delta below SCoRe's"),
    ("F6", dict(evals=_with("no_shaping", delta=0.06)), "w/o shaping Delta below SCoRe's"),
    ("F6", dict(no_stage1_log=(0.2, 0.4)), "w/o Stage I answer changes fall"),
]


@pytest.mark.parametrize("name, broken, failing", FAILURES)
def test_each_criterion_fails_on_its_own(tmp_path, name, broken, failing):
    found = verdicts(build(tmp_path, **broken))
    assert found[name].verdict == "FAIL"
    assert [p.claim for p in found[name].parts if not p.passed] == \
        [p.claim for p in found[name].parts if p.claim.startswith(failing)]
    assert any(p.claim.startswith(failing) for p in found[name].parts)


def test_mismatch_falls_back_to_training_problems_without_held_out_curves(tmp_path):
    spec = build(tmp_path)
    write_jsonl(tmp_path / "mismatch" / "mismatch.jsonl",
                mismatch_rows((0.1, 0.4), (0.1, 0.15), held_out=False))
    f4 = verdicts(spec)["F4"]
    assert f4.verdict == "PASS" and "(training)" in f4.parts[0].claim


def test_absent_inputs_make_only_their_findings_missing(tmp_path):
    found = verdicts(build(tmp_path, skip=("base",)))
    assert found["F1"].verdict == found["F5"].verdict == "MISSING"
    assert "base-0/metrics.json" in found["F1"].missing[0]
    assert all(found[n].verdict == "PASS" for n in ("F2", "F3", "F4", "F6"))




def test_several_seeds_use_a_t_interval_not_the_bootstrap():
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    est = aggregate([-0.1, -0.2, -0.3], cis=[(-9, 9)] * 3)
    assert est.seeds == 3 and est.mean == pytest.approx(-0.2)
    assert (est.low, est.high) == pytest.approx((-0.2 - half, -0.2 + half), abs=1e-5)
    two = aggregate([0.6, 0.8])  # t(0.975, 1) = 12.706205, se = 0.1
    assert (two.low, two.high) == pytest.approx((0.7 - 1.2706205, 0.7 + 1.2706205), abs=1e-5)
    one = aggregate([0.04], cis=[(0.01, 0.07)])
    assert (one.low, one.high, one.seeds) == (0.01, 0.07, 1)


def test_seeds_aggregate_inside_the_findings(tmp_path):
    # Three STaR seeds with Delta 0.00, 0.02, 0.04: mean 0.02, sd 0.02, half-width
    # 4.302653 * 0.02 / sqrt(3) = 0.0497, so the CI reaches 0.0697, above SCoRe's CI low 0.04:
    # not clearly below, although each seed's own bootstrap CI would be.
    star = [(0.5, d, 0.02 + d, 0.02, (d - 0.01, d + 0.01), 0.6) for d in (0.0, 0.02, 0.04)]
    evals = {role: [v] * 3 for role, v in WORLD.items()}
    evals["star"] = star
    f2 = verdicts(build(tmp_path, evals=evals, seeds=3))["F2"]
    part = f2.parts[0]
    assert f2.verdict == "FAIL" and not part.passed
    assert part.numbers.startswith("STaR 0.020 [-0.030, 0.070] vs SCoRe 0.060 [0.060, 0.060]")


def test_cli_prints_writes_markdown_and_json_and_exits_zero(tmp_path):
    out = tmp_path / "report" / "findings.md"
    code, stdout, _ = run_main("findings", str(build(tmp_path, no_stage1_log=(0.2, 0.4))),
                               "--out", str(out))
    assert code == 0 and "| F6 | the ablations order as in the paper | FAIL |" in stdout
    assert out.read_text() in stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert [f["verdict"] for f in report["findings"]] == ["PASS"] * 6 + ["FAIL"]
    assert report["criteria"]["F2_MAX_ABS_DELTA"] == 0.05
    assert report["criteria"]["NEAR_COPY_RATIO"] == 0.10
    assert "MISSION" not in out.read_text()  # cite only files a cloner has


@pytest.mark.parametrize("spec_text, message", [
    (None, "not found"),
    ("eval: {sota: [x]}\n", "unknown role"),
    ("evals: {}\n", "top-level keys"),
    ("eval: {base: 3}\n", "a path or a list of paths"),
])
def test_bad_specs_are_usage_errors(tmp_path, spec_text, message):
    spec = tmp_path / "spec.yaml"
    if spec_text is not None:
        spec.write_text(spec_text)
    code, _, stderr = run_main("findings", str(spec))
    assert code == 2 and message in stderr


BUILTIN_SPEC = Path(__file__).resolve().parents[1] / "experiments" / "builtin" / "findings.yaml"


def test_a_spec_with_none_of_its_runs_fails_and_names_them(tmp_path):
    out = tmp_path / "report" / "findings.md"
    code, stdout, err = run_main("findings", str(BUILTIN_SPEC), "--runs", str(tmp_path / "runs"),
                                 "--seeds", "0 1", "--out", str(out))
    assert code == 2 and stdout == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "none of the 22 runs" in err  # 8 eval roles, 2 training runs, 1 mismatch file, 2 seeds
    assert f"{tmp_path}/runs/seed1/rl/no-stage1," in err
    assert f"{tmp_path}/runs/seed0/sft/mismatch/mismatch.jsonl" in err
    assert not out.parent.exists()


def test_a_spec_with_one_run_of_many_reports_the_rest_missing(tmp_path):
    run = tmp_path / "runs" / "seed0" / "eval" / "base-greedy"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics(*WORLD["base"])))
    code, stdout, _ = run_main("findings", str(BUILTIN_SPEC), "--runs", str(tmp_path / "runs"),
                               "--seeds", "0 1")
    assert code == 0 and "MISSING" in stdout and "PASS" not in stdout


def test_f1_is_judged_on_the_sampled_base_when_the_spec_names_one(tmp_path):
    # greedy base repeats itself (Delta 0, c->i 0): F1 fails on it alone ...
    copying = {"base": (0.50, 0.0, 0.0, 0.0, (0.0, 0.0), 1.0)}
    assert verdicts(build(tmp_path / "a", copying))["F1"].verdict == "FAIL"
    # ... and is read from the sampled evaluation once it is there
    sampled = {**copying, "base_sampled": (0.45, -0.03, 0.04, 0.07, (-0.05, -0.01), 0.8)}
    f1 = verdicts(build(tmp_path / "b", sampled))["F1"]
    assert f1.verdict == "PASS" and f1.parts[0].claim == "Base (sampled) Delta <= 0"
    # the sampled base never competes for F5's best Acc@t2
    assert "Base (sampled)" not in verdicts(build(tmp_path / "c", sampled))["F5"].parts[2].numbers


def test_f2_relative_bound_is_half_of_scores_delta_and_needs_score_to_gain(tmp_path):
    # SCoRe +0.06: the bound is +0.03; Pair-SFT at +0.04 passes F2 (|0.04| < 0.05) but not F2r
    found = verdicts(build(tmp_path / "a", {"pair_sft": (0.5, 0.04, 0.05, 0.01, (-0.01, 0.03), 0.6)}))
    assert found["F2"].verdict == "PASS" and found["F2r"].verdict == "FAIL"
    assert found["F2r"].parts[3].numbers == "Pair-SFT +0.040 vs bound +0.030"
    # SCoRe with no gain: "little next to SCoRe" has no meaning, F2r fails
    flat = {"score": (0.64, -0.01, 0.01, 0.02, (-0.02, 0.00), 0.3),
            "star": (0.50, -0.05, 0.0, 0.05, (-0.07, -0.03), 0.6),
            "pair_sft": (0.50, -0.05, 0.0, 0.05, (-0.07, -0.03), 0.6)}
    assert verdicts(build(tmp_path / "b", flat))["F2r"].verdict == "FAIL"
