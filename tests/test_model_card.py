"""Model cards: every model folder that pretraining, SFT and SCoRe write has a README.md that
huggingface_hub's ModelCard loader parses, naming the method, settings, commit and command."""

import json

import pytest
from click.testing import CliRunner

from selfcorrect_cli.cli import cli
from selfcorrect_cli.config import config_to_dict, load_config
from selfcorrect_cli.io import model_card
from selfcorrect_cli.methods import score
from tests.test_sft import handmade_records, write_traces

ModelCard = pytest.importorskip("huggingface_hub").ModelCard  # installed with transformers


def _card(folder):
    path = folder / "README.md"
    assert path.is_file(), f"no model card in {folder}"
    return ModelCard.load(path), path.read_text()


def test_pretrained_base_has_a_card_without_a_base_model(tiny_base):
    card, text = _card(tiny_base)
    assert card.data.library_name == "transformers" and card.data.base_model is None
    assert card.data.tags == ["selfcorrect", "self-correction", "pretrain", "pretraining"]
    assert "| pretrain.layers | 1 |" in text and "| train/steps | 60 |" in text
    # the commit the run recorded (HEAD may move while the suite runs)
    recorded = (tiny_base.parent / "git_commit.txt").read_text().strip()
    assert "selfcorrect pretrain --set" in text and f"commit: `{recorded}`" in text


def test_a_hub_base_model_goes_into_the_front_matter_and_a_local_one_does_not(tmp_path):
    config = config_to_dict(load_config(None, ["train.method=star",
                                               "train.base_model=Qwen/Qwen2.5-0.5B-Instruct"]))
    path = tmp_path / "README.md"
    path.write_text(model_card.render_card(config, "sft", {}, "abc", "selfcorrect train"))
    assert ModelCard.load(path).data.base_model == "Qwen/Qwen2.5-0.5B-Instruct"
    config["train"]["base_model"] = str(tmp_path)  # a folder that exists: local
    path.write_text(model_card.render_card(config, "sft", {}, "abc", "selfcorrect train"))
    assert ModelCard.load(path).data.base_model is None
    assert f"- base model: `{tmp_path}`" in path.read_text()


def test_score_model_card_has_the_chosen_checkpoint_and_the_evaluation_before_it(tiny_model,
                                                                                  tmp_path):
    out = tmp_path / "score"
    score.train_score(load_config(None, [
        "train.method=no-shaping", f"train.base_model={tiny_model}", f"run.out_dir={out}",
        "score.stage1_steps=1", "score.stage2_steps=2", "score.problems_per_step=2",
        "score.samples_per_problem=2", "score.max_new_tokens=8", "score.checkpoint_every=1",
        "score.eval_every=1", "score.eval_problems=2", "score.sample_conversations=0"]),
        progress=False)
    card, text = _card(out / "model")
    assert card.data.tags == ["selfcorrect", "self-correction", "no-shaping",
                              "reinforcement-learning"]
    assert card.data.base_model is None and f"- base model: `{tiny_model}`" in text
    assert "| score.alpha | 0.0 |" in text  # the method's settings, not the defaults
    chosen = json.loads((out / "checkpoint_choice.json").read_text())["chosen"]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    seen = [row for row in log if row["step"] < chosen["step"]][-1]  # evaluated every step
    assert f"| checkpoint/step | {chosen['step']} |" in text
    assert f"| eval/acc_t1 | {seen['eval/acc_t1']} |" in text
    assert f"| eval/step | {seen['step']} |" in text


def test_star_round_and_final_model_have_cards(tiny_model, tmp_path):
    traces = write_traces(tmp_path / "traces.jsonl", handmade_records())
    out = tmp_path / "star"
    result = CliRunner().invoke(cli, [
        "train", "--method", "star", "--set", f"train.base_model={tiny_model}",
        "--set", f"train.traces={traces}", "--set", f"run.out_dir={out}",
        "--set", "sft.star_rounds=1", "--set", "sft.dataset=d", "--set", "sft.batch_size=4",
        "--set", "score.sample_conversations=0"])
    assert result.exit_code == 0, result.output
    for folder in (out / "round-1" / "model", out / "model"):
        card, text = _card(folder)
        assert card.data.tags == ["selfcorrect", "self-correction", "star", "trl", "sft"]
        assert "- training data: D_STaR: 4 tuples from 8 traces (4 problems)" in text
        assert "- STaR round: 1 of 1" in text and "| train/mean_loss | " in text
