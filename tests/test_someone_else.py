"""The someone-else's-traces experiment: its pure pieces by hand, the command end to end on
tiny models, and its table over seeds."""

import json

import pytest

from selfcorrect_cli.analyses import someone_else
from selfcorrect_cli.analyses.someone_else import Side, compare_sides, fix_by_kind, fixes, rate
from selfcorrect_cli.config import load_config
from selfcorrect_cli.measure.metrics import error_mix, total_variation
from selfcorrect_cli.report.mismatch_experiment import write_experiment_table

from .conftest import run_main, with_sets

EXPERIMENT = "experiments/builtin/sft/mismatch-experiment.yaml"
TINY = ["task.limit=12", "sampling.max_new_tokens=40"]


@pytest.mark.parametrize("counts, expected", [
    ({"right": 6, "guess": 2, "misread": 1, "slip": 1},
     {"guess": 0.5, "misread": 0.25, "slip": 0.25, "malformed": 0.0}),
    ({"malformed": 3}, {"guess": 0.0, "misread": 0.0, "slip": 0.0, "malformed": 1.0}),
    ({"right": 0.5, "guess": 0.1, "slip": 0.4}, {"guess": 0.2, "misread": 0.0, "slip": 0.8,
                                                 "malformed": 0.0}),
    ({"right": 4}, {}),
])
def test_error_mix_is_the_share_among_wrong_attempts(counts, expected):
    assert error_mix(counts) == pytest.approx(expected)


def test_total_variation_by_hand():
    p = {"guess": 0.5, "misread": 0.25, "slip": 0.25, "malformed": 0.0}
    q = {"guess": 0.75, "misread": 0.0, "slip": 0.25, "malformed": 0.0}
    assert total_variation(p, q) == pytest.approx(0.25)   # (0.25 + 0.25) / 2
    assert total_variation(p, p) == 0.0
    assert total_variation({"guess": 1.0}, {"slip": 1.0}) == 1.0
    assert total_variation(p, {}) is None


def test_fixes_and_rates_by_hand():
    r1, r2 = [0, 0, 1, 0, 0, 1], [1, 0, 1, 1, 0, 0]
    kinds = ["guess", "misread", "right", "guess", "slip", "right"]
    assert fixes(r1, r2) == [1, 0, 1, 0]
    assert rate(fixes(r1, r2)) == 0.5 and rate([]) is None
    assert fix_by_kind(kinds, r1, r2) == {"guess": 1.0, "misread": 0.0, "slip": 0.0}
    out = compare_sides(Side(["a"] * 6, r1, kinds, r2),
                        Side(["b"] * 6, [1] * 6, ["right"] * 6, [1] * 6))
    assert out["fix_collector"] == 0.5 and out["n_collector_wrong"] == 4
    assert out["fix_own"] is None and out["own_fixes"] == [] and out["mix_own"] == {}
    assert out["mix_collector"] == {"guess": 0.5, "misread": 0.25, "slip": 0.25, "malformed": 0.0}
    assert out["mix_distance_tv"] is None


def test_experiment_end_to_end_samples_both_sides_alike(tiny_base, tiny_model, tmp_path,
                                                        monkeypatch):
    calls = []
    real_rollout = someone_else.rollout

    def recording_rollout(model, tokenizer, task, problems, sampling, generator, **kw):
        calls.append((id(model), sampling.temperature, sampling.attempts,
                      kw.get("first_attempts") is not None))
        return real_rollout(model, tokenizer, task, problems, sampling, generator, **kw)

    monkeypatch.setattr(someone_else, "rollout", recording_rollout)
    out = tmp_path / "own.json"
    code, _, err = run_main("mismatch-experiment", "-c", EXPERIMENT, *with_sets(*TINY),
                            "--collector", str(tiny_base), "--out", str(out),
                            f"pair_sft={tiny_model}", f"star={tiny_base}")
    assert code == 0, err
    # first attempts: collector, then each trained model, all sampled (none given) at T=1;
    # second attempts: greedy, after given first attempts (collector's, then own), per model
    first = [c for c in calls if c[2] == 1]
    second = [c for c in calls if c[2] == 2]
    assert [(t, given) for _, t, _, given in first] == [(1.0, False)] * 3
    assert [(t, given) for _, t, _, given in second] == [(0.0, True)] * 4
    assert len({c[0] for c in first}) == 3  # three models loaded: collector and two learners

    data = json.loads(out.read_text())
    assert list(data) == ["pair_sft", "star"]
    for result in data.values():
        for side in ("collector", "own"):
            outcomes = result[f"{side}_fixes"]
            assert len(outcomes) == result[f"n_{side}_wrong"] <= 12
            assert set(outcomes) <= {0, 1}
            assert result[f"fix_{side}"] == (sum(outcomes) / len(outcomes) if outcomes else None)
            mix = result[f"mix_{side}"]
            assert not mix or sum(mix.values()) == pytest.approx(1.0)
        assert 0 <= result["mix_distance_tv"] <= 1
        s = result["settings"]
        assert (s["first_attempt_temperature"], s["second_attempt_temperature"]) == (1.0, 0.0)
        assert (s["split"], s["n_problems"], s["collector"]) == ("test", 12, str(tiny_base))
    # the collector's first attempts are sampled once, so both roles see the same mix
    assert data["pair_sft"]["mix_collector"] == data["star"]["mix_collector"]

    single = tmp_path / "single.json"
    code, _, err = run_main("mismatch-experiment", "-c", EXPERIMENT, *with_sets(*TINY),
                            "--collector", str(tiny_base), "--out", str(single),
                            "--model", str(tiny_base))
    assert code == 0, err
    flat = json.loads(single.read_text())
    assert flat["fix_collector"] == data["star"]["fix_collector"]  # same seed, same attempts
    assert flat["own_fixes"] == data["star"]["own_fixes"]


def test_experiment_refuses_greedy_first_attempts_and_bad_arguments(tmp_path):
    code, _, err = run_main("mismatch-experiment", "-c", EXPERIMENT, "--collector", "x",
                            "--out", str(tmp_path / "o.json"))
    assert code == 2 and "--model DIR or ROLE=MODEL_DIR" in err
    cfg = load_config(EXPERIMENT, ["sampling.temperature=0.0"])
    with pytest.raises(Exception, match="temperature must be above 0"):
        someone_else.run_experiment(cfg, "x", [("star", "y")], tmp_path / "o.json")


def arm(fix_c, fix_o, tv):
    result = {"fix_collector": fix_c, "fix_own": fix_o, "mix_distance_tv": tv,
              "settings": {"n_problems": 1024, "split": "validation",
                           "first_attempt_temperature": 1.0}}
    return {"pair_sft": result, "star": {**result, "fix_own": None}}


def test_report_table_pairs_the_gap_over_seeds(tmp_path):
    for seed, (c, o) in zip((0, 1, 2), ((0.5, 0.3), (0.6, 0.3), (0.7, 0.6))):
        for name in ("own", "other"):
            path = tmp_path / f"seed{seed}" / "mismatch-exp" / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(arm(c, o, 0.1 * (seed + 1))))
    text = write_experiment_table(tmp_path, ["0", "1", "2"], tmp_path / "t.md").read_text()
    # gaps 0.2, 0.3, 0.1: mean 0.2, sd 0.1, half-width 4.302653 * 0.1 / sqrt(3) = 0.2484;
    # own 0.3, 0.3, 0.6: sd sqrt(0.03), half-width 0.4303
    assert "| own collector (the model's own base) | Pair-SFT | 60.0 [35.2, 84.8] | " \
        "40.0 [-3.0, 83.0] | +20.0 [-4.8, 44.8] | 0.200 | 3 |" in text
    assert "| STaR | 60.0 [35.2, 84.8] | - | - | 0.200 | 0 |" in text
    assert text.count("someone else's collector") == 2
    code, _, err = run_main("mismatch-report", "--runs", str(tmp_path), "--seeds", "0 7",
                            "--out", str(tmp_path / "t.md"))
    assert code == 2 and "seed7" in err
