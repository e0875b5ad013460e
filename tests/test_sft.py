"""STaR and Pair-SFT on TRL: the loss mask, that training moves weights, the CLI end to end."""

import json

import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

from selfcorrect_cli.cli import cli
from selfcorrect_cli.config import WorldConfig, load_config
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.methods.correction_data import build_d_star
from selfcorrect_cli.methods.sft import build_trainer, fine_tune
from selfcorrect_cli.tasks.division import DivisionTask, write_attempt


def handmade_records(n_problems=4):
    """Per training problem: one wrong->right trace and one right->right trace."""
    task = DivisionTask(WorldConfig())
    records = []
    for problem in task.load("train")[:n_problems]:
        a, b = map(int, problem.id.split("/"))
        q = int(problem.answer)
        for index, guess in enumerate([q + 1, q]):
            texts = [write_attempt(a, b, guess), write_attempt(a, b, q)]
            records.append({"problem_id": problem.id, "sample_index": index, "gold": problem.answer,
                            "turns": [{"prompt": p, "response": t, "answer": t.split("A")[-1],
                                       "reward": float(t.endswith(f"A{q}"))}
                                      for p, t in zip([problem.question, "check and retry"], texts)]})
    return records


def write_traces(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def sft_config(tiny_model, out_dir, *extra):
    return load_config(None, [f"train.base_model={tiny_model}", f"run.out_dir={out_dir}",
                              "sft.batch_size=4", "sft.log_every=1", *extra])


def test_only_the_second_attempt_is_a_target(tiny_model, tmp_path):
    cfg = sft_config(tiny_model, tmp_path)
    data = build_d_star(handmade_records())
    trainer = build_trainer(cfg, data, tmp_path, progress=False)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    tokenizer = trainer.processing_class
    for row, example in enumerate(data.examples[:2]):
        labels = batch["labels"][row]  # (T,)
        targets = labels[labels != -100].tolist()
        # exactly y2 and its end-of-turn token; x1, y1 and the instruction are all masked
        assert tokenizer.decode(targets) == example.second + "<|end|>"
        ids = batch["input_ids"][row][batch["attention_mask"][row] == 1].tolist()
        assert example.first in tokenizer.decode(ids)  # y1 is in the input, as context only
        first_target = int((labels != -100).nonzero()[0])
        assert tokenizer.decode(ids[:first_target]).endswith("check and retry<|end|><|assistant|>")


def test_sft_keeps_float32_master_weights_like_score(tiny_model, tmp_path):
    # model.dtype is the compute dtype; the trained weights stay float32 (bf16 would drop
    # updates below its resolution), as SCoRe's policy's do
    cfg = sft_config(tiny_model, tmp_path, "model.dtype=bfloat16")
    trainer = build_trainer(cfg, build_d_star(handmade_records()), tmp_path, progress=False)
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}


def test_fine_tuning_changes_the_weights_and_logs(tiny_model, tmp_path):
    cfg = sft_config(tiny_model, tmp_path, "sft.max_steps=2")
    out = fine_tune(cfg, build_d_star(handmade_records()), tmp_path / "ft", progress=False)
    before = AutoModelForCausalLM.from_pretrained(tiny_model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    log = [json.loads(line) for line in (tmp_path / "ft" / "train_log.jsonl").read_text().splitlines()]
    assert [r["train/samples_seen"] for r in log if "train/loss" in r] == [4, 8]
    assert all("train/lr" in r for r in log if "train/loss" in r)


def test_star_round_end_to_end_through_the_cli(tiny_model, tmp_path):
    traces = write_traces(tmp_path / "traces.jsonl", handmade_records())
    out = tmp_path / "star"
    result = CliRunner().invoke(cli, [
        "train", "--method", "star", "--set", f"train.base_model={tiny_model}",
        "--set", f"train.traces={traces}", "--set", f"run.out_dir={out}",
        "--set", "sft.star_rounds=1", "--set", "sft.dataset=d", "--set", "sft.batch_size=4"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "round-1" / "dataset.json").read_text())["tuples"] == 4
    assert AutoModelForCausalLM.from_pretrained(out / "model") is not None


def test_later_star_rounds_collect_with_the_latest_model_and_empty_data_is_a_usage_error(
        tiny_model, tmp_path):
    traces = write_traces(tmp_path / "traces.jsonl", handmade_records())
    out = tmp_path / "star"
    result = CliRunner().invoke(cli, [
        "train", "--method", "star", "--set", f"train.base_model={tiny_model}",
        "--set", f"train.traces={traces}", "--set", f"run.out_dir={out}",
        "--set", "sft.star_rounds=2", "--set", "sft.dataset=d", "--set", "sft.batch_size=4",
        "--set", "sft.max_steps=1", "--set", "task.limit=4", "--set", "sampling.n_samples=2",
        "--set", "sampling.temperature=1.0", "--set", "sampling.max_new_tokens=8"])
    # the untrained model never writes a right answer, so round 2's D_STaR is empty
    assert isinstance(result.exception, UsageError)
    assert str(result.exception).startswith("D_STaR is empty")
    assert "\n" not in str(result.exception)
    collected = (out / "round-2" / "collect" / "traces.jsonl").read_text().splitlines()
    assert json.loads(collected[0])["model"] == str(out / "round-1" / "model")


def test_pair_sft_without_traces_is_a_usage_error(tiny_model, tmp_path):
    result = CliRunner().invoke(cli, ["train", "--method", "pair-sft",
                                      "--set", f"run.out_dir={tmp_path}"])
    assert isinstance(result.exception, UsageError)
