"""The table of methods is the one place a method is named: everything else agrees with it."""

import dataclasses
import re
import shutil
import subprocess

import pytest
import yaml

from selfcorrect_cli.config import ScoreConfig, check_config, load_config, method_config
from selfcorrect_cli.method_registry import (
    METHODS,
    RL,
    SFT,
    TRAIN_METHODS,
    by_role,
    names,
    run_template,
    score_settings,
    trained_by_sft,
)
from selfcorrect_cli.methods.shared_stage1 import MAY_DIFFER

EXP = "experiments/builtin"


def test_names_and_roles_are_unique_and_each_trains_a_known_method():
    assert len({m.name for m in METHODS}) == len(METHODS)
    roles = [m.role for m in METHODS if m.role]
    assert len(set(roles)) == len(roles)
    for m in METHODS:
        assert m.kind in (SFT, RL) and m.train_method in TRAIN_METHODS
        # a method runs another one, or is a train.method of its own: never both
        assert m.trains is None or m.settings is None
        assert trained_by_sft(m.train_method) == (m.kind == SFT)
    assert TRAIN_METHODS[:3] == ("star", "pair-sft", "score")


def test_settings_are_score_fields_and_pass_the_configs_checks():
    fields = {f.name for f in dataclasses.fields(ScoreConfig)}
    for method in TRAIN_METHODS:
        assert set(score_settings(method)) <= fields
        applied = method_config(load_config(None, [f"train.method={method}", "train.traces=x"]))
        check_config(applied)  # the method's own values are in their fields' ranges too
        for key, value in score_settings(method).items():
            assert getattr(applied.score, key) == value


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_each_method_has_a_recipe_that_trains_it(method):
    cfg = load_config(f"{EXP}/{method.kind}/{method.name}.yaml", ["train.traces=x"])
    assert cfg.train.method == method.train_method


def test_shared_stage1_methods_change_only_what_stage2_reads():
    for name in names("shared-stage1"):
        assert set(score_settings(name)) <= MAY_DIFFER["score"], name


@pytest.mark.parametrize("spec, section", [("findings.yaml", "eval"),
                                           ("findings-v2.yaml", "roles")])
def test_the_declared_findings_roles_name_the_methods_runs(spec, section):
    """findings.yaml and findings-v2.yaml keep the roles they were declared with; each role of
    a method points at that method's evaluation."""
    roles = yaml.safe_load(open(f"{EXP}/{spec}"))[section]
    for role, path in roles.items():
        method = by_role(role)
        if role in ("base", "base_sampled"):
            assert method is None
        else:
            assert path == run_template(method.name) + "/eval", role


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_the_makefile_lists_the_registrys_runs():
    database = subprocess.run(["make", "-pn", "study"], capture_output=True, text=True,
                              timeout=60).stdout

    def value(name):
        return re.search(rf"^{name} := (.*)$", database, re.M).group(1).split()

    assert value("MAIN_SFT") == names(SFT, "main") == ["star-dplus", "pair-d"]
    assert value("ABLATION_SFT") == names(SFT, "ablation")
    assert value("MAIN_RL") == names(RL, "main") == ["score", "single-turn-rl", "naive-two-turn"]
    assert value("ABLATION_RL") == names(RL, "ablation")
    assert value("SHARED_STAGE1") == names("shared-stage1")
