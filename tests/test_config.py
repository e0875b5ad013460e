"""Config values are checked when the config is loaded: choices, ranges and combinations."""

import dataclasses
import typing

import pytest

from selfcorrect_cli.config import ExperimentConfig, check_config, load_config, method_config
from selfcorrect_cli.errors import UsageError
from tests.conftest import run_main, with_sets


@pytest.mark.parametrize("override, message", [
    # choices (Literal annotations)
    ("sampling.backend=vllm", "sampling.backend must be sampler or hf, got 'vllm'"),
    ("task.name=aime", "task.name must be division, gsm8k, math, math500, humaneval or mbpp"),
    ("task.split=dev", "task.split must be train, test, validation or prompt, got 'dev'"),
    ("model.dtype=fp16", "model.dtype must be auto, float32, bfloat16 or float16, got 'fp16'"),
    ("score.credit=gae", "score.credit must be per_turn or return, got 'gae'"),
    ("score.kl_estimator=k3", "score.kl_estimator must be exact or sampled, got 'k3'"),
    ("score.stage2_update=ppo", "score.stage2_update must be reinforce or star, got 'ppo'"),
    ("score.turns=3", "score.turns must be 1 or 2, got 3"),
    ("score.turns=true", "score.turns must be 1 or 2, got True"),
    ("sandbox.backend=docker", "sandbox.backend must be auto, bwrap or rlimit, got 'docker'"),
    ("sft.dataset=d_star", "sft.dataset must be d or d_plus, got 'd_star'"),
    ("train.method=ppo", "train.method must be star, pair-sft, score, score-return, "),
    # patterns
    ("model.device=gpu", "model.device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ("model.device=cuda:x", "model.device must be auto, cpu, cuda or cuda:N, got 'cuda:x'"),
    ("run.out_dir=", "run.out_dir must be a non-empty path, got ''"),
    # ranges
    ("score.lr=-1", "score.lr must be > 0, got -1.0"),
    ("score.lr=0", "score.lr must be > 0, got 0.0"),
    ("score.lr=nan", "score.lr must be finite and > 0, got nan"),
    ("sft.lr=0", "sft.lr must be > 0, got 0.0"),
    ("pretrain.lr=-1e-3", "pretrain.lr must be > 0, got -0.001"),
    ("sampling.batch_size=-1", "sampling.batch_size must be >= 1, got -1"),
    ("sampling.batch_size=0", "sampling.batch_size must be >= 1, got 0"),
    ("sampling.n_samples=0", "sampling.n_samples must be >= 1, got 0"),
    ("sampling.max_new_tokens=0", "sampling.max_new_tokens must be >= 1, got 0"),
    ("sampling.temperature=-0.1", "sampling.temperature must be >= 0, got -0.1"),
    ("sampling.top_p=0", "sampling.top_p must be in (0, 1], got 0.0"),
    ("sampling.top_p=1.5", "sampling.top_p must be in (0, 1], got 1.5"),
    ("world.copy_propensity=1.1", "world.copy_propensity must be in [0, 1], got 1.1"),
    ("world.copy_propensity=-0.1", "world.copy_propensity must be in [0, 1], got -0.1"),
    ("pretrain.two_turn_fraction=2", "pretrain.two_turn_fraction must be in [0, 1], got 2.0"),
    ("task.limit=-1", "task.limit must be >= 0, got -1"),
    ("score.eval_every=-1", "score.eval_every must be >= 0, got -1"),
    ("score.stage1_steps=-5", "score.stage1_steps must be >= 0, got -5"),
    ("score.alpha=-1", "score.alpha must be >= 0, got -1.0"),
    ("score.alpha=inf", "score.alpha must be finite and >= 0, got inf"),
    ("score.beta1=-0.01", "score.beta1 must be >= 0, got -0.01"),
    ("score.beta2=-0.01", "score.beta2 must be >= 0, got -0.01"),
    ("score.samples_per_problem=1", "score.samples_per_problem must be >= 2, got 1"),
    ("score.checkpoint_every=0", "score.checkpoint_every must be >= 1, got 0"),
    ("sft.max_steps=-1", "sft.max_steps must be >= 0, got -1"),
    ("sft.star_rounds=0", "sft.star_rounds must be >= 1, got 0"),
    ("sft.batch_size=0", "sft.batch_size must be >= 1, got 0"),
    ("sft.mismatch_every=0", "sft.mismatch_every must be >= 1, got 0"),
    ("pretrain.steps=0", "pretrain.steps must be >= 1, got 0"),
    ("pretrain.batch_size=0", "pretrain.batch_size must be >= 1, got 0"),
    ("sandbox.timeout_s=0", "sandbox.timeout_s must be > 0, got 0.0"),
    ("sandbox.workers=0", "sandbox.workers must be >= 1, got 0"),
    ("eval.bootstrap_samples=0", "eval.bootstrap_samples must be >= 1, got 0"),
    ("run.seed=-1", "run.seed must be >= 0, got -1"),
    # combinations
    ("task.split=prompt", "task.split must be train, validation or test for the built-in division "
                          "task"),
    ("world.divisor_min=100", "world.divisor_max must be >= world.divisor_min (100), got 99"),
    ("pretrain.heads=3", "pretrain.hidden_size must be a multiple of pretrain.heads (3), got 64"),
    # types keep their old message
    ("sampling.attempts=two", "sampling.attempts: expected int, got 'two'"),
])
def test_bad_values_are_one_line_usage_errors(override, message):
    with pytest.raises(UsageError) as caught:
        load_config(None, [override])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("overrides", [
    ["sampling.temperature=0", "sampling.top_p=1", "sampling.top_p=1e-3"],
    ["world.copy_propensity=0"], ["world.copy_propensity=1"], ["pretrain.two_turn_fraction=1"],
    ["task.limit=0", "score.eval_every=0", "sft.max_steps=0", "sandbox.max_processes=0"],
    ["score.stage1_steps=0", "score.alpha=0", "score.beta1=0", "score.beta2=0"],
    ["score.samples_per_problem=2", "score.turns=1", "sampling.attempts=1"],
    ["model.device=cpu"], ["model.device=cuda"], ["model.device=cuda:3"],
    ["model.dtype=bfloat16", "sampling.backend=hf", "sandbox.backend=rlimit"],
    ["task.name=mbpp", "task.split=validation"], ["task.name=mbpp", "task.split=prompt"],
    ["world.divisor_min=12", "world.divisor_max=12"],
    ["score.lr=1e-5", "sft.epochs=0", "sft.max_steps=3", "run.seed=0"],
    ["train.method=naive-two-turn", "score.credit=per_turn", "score.kl_estimator=sampled"],
])
def test_edge_values_are_accepted(overrides):
    load_config(None, overrides)


# Combinations are judged with train.method's settings applied (method_registry.py): a method
# may set score.turns=1 or score.online_turn1=false itself.
@pytest.mark.parametrize("overrides, message", [
    (["train.method=single-turn-rl", "score.turn2_samples=2"],
     "score.turn2_samples > 1 (tree rollouts) needs two online turns; single-turn-rl trains 1"),
    (["train.method=offline-turn1", "train.traces=x", "score.turn2_samples=2"],
     "score.turn2_samples > 1 (tree rollouts) needs two online turns"),
    (["score.stage1_steps=0", "score.stage2_steps=0"],
     "score.stage1_steps + score.stage2_steps must be at least 1"),
    (["train.method=no-stage1", "score.stage1_from=runs/x"],
     "score.stage1_from needs both stages; no-stage1 trains 0 Stage-I and 200 Stage-II steps"),
    (["score.stage2_steps=0", "score.stage1_from=runs/x"], "score.stage1_from needs both stages"),
    (["train.method=offline-turn1"], "score.online_turn1=false (offline-turn1) needs train.traces"),
    (["score.online_turn1=false"], "score.online_turn1=false (star) needs train.traces"),
    (["train.method=pair-sft"], "pair-sft needs train.traces"),
    (["sft.epochs=0"], "set sft.epochs or sft.max_steps above 0"),
])
def test_combinations_are_refused_at_load(overrides, message):
    with pytest.raises(UsageError) as caught:
        load_config(None, overrides)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_method_config_applies_the_methods_settings_to_a_checked_copy():
    cfg = load_config(None, ["train.method=single-turn-rl", "score.stage1_steps=3",
                             "score.stage2_steps=4"])
    s = method_config(cfg).score
    assert (s.turns, s.stage1_steps, s.stage2_steps) == (1, 0, 7)  # the same budget, one stage
    assert cfg.score.turns == 2  # the loaded config is left as it was
    cfg.score.turn2_samples = 2  # set after loading: refused when the method is applied
    with pytest.raises(UsageError, match="needs two online turns"):
        method_config(cfg)


def test_bad_value_in_a_yaml_file_names_the_key(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("sampling:\n  backend: vllm\n")
    with pytest.raises(UsageError, match="sampling.backend must be sampler or hf, got 'vllm'"):
        load_config(str(recipe))


def test_check_config_catches_values_set_after_loading():
    cfg = ExperimentConfig()
    check_config(cfg)  # the defaults are valid
    cfg.score.lr = -1.0
    with pytest.raises(UsageError, match="score.lr must be > 0"):
        check_config(cfg)


def test_every_number_has_a_range():
    for section in dataclasses.fields(ExperimentConfig):
        cls = section.default_factory
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (int, float):
                assert "check" in f.metadata, f"{section.name}.{f.name} has no range"


def _choices(cls, name) -> set:
    return set(typing.get_args(typing.get_type_hints(cls)[name]))


def test_choices_match_the_code_that_uses_them():
    from selfcorrect_cli.config import ScoreConfig, TaskConfig, TrainConfig
    from selfcorrect_cli.method_registry import METHODS
    from selfcorrect_cli.methods.losses import CREDIT_CHOICES
    from selfcorrect_cli.tasks.code import MBPP_SPLITS

    assert _choices(TrainConfig, "method") == {m.train_method for m in METHODS}
    assert _choices(ScoreConfig, "credit") == set(CREDIT_CHOICES)
    assert _choices(TaskConfig, "split") == set(MBPP_SPLITS)


BAD_RUNS = [
    ("sampling.backend=vllm", "sampling.backend must be sampler or hf"),
    ("task.split=prompt", "task.split must be train, validation or test"),
    ("score.lr=-1", "score.lr must be > 0"),
    ("sampling.batch_size=-1", "sampling.batch_size must be >= 1"),
    ("train.method=pair-sft", "pair-sft needs train.traces"),
]


@pytest.mark.parametrize("override, message", BAD_RUNS)
@pytest.mark.parametrize("command", ["eval", "collect", "train"])
def test_cli_refuses_bad_values_before_writing_anything(command, override, message, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_main(command, *with_sets(f"run.out_dir={out}", override))
    lines = err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("selfcorrect: error: ") and message in lines[0]
    assert not out.exists()
    assert stdout == ""
