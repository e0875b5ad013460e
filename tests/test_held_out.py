"""Held-out problems stay out of training: explicit sources, and overlapping sets refused.

Every data file is written here, tiny, in the dataset's original format; nothing is read from
the network or from shared data folders.
"""

import json

import pytest

from selfcorrect_cli.config import load_config
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks import data_files
from selfcorrect_cli.tasks.division import DivisionTask
from selfcorrect_cli.tasks.gsm8k import GSM8KTask
from selfcorrect_cli.tasks.held_out import refuse_held_out_sft_data, training_and_held_out
from tests.conftest import run_main, with_sets


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def gsm8k_row(question, answer=5):
    return {"question": question, "answer": f"work\n#### {answer}"}


def gsm8k_files(tmp_path, held_out_questions):
    """(train file, test file): two training problems, then the given held-out questions."""
    train = write_jsonl(tmp_path / "train.jsonl", [gsm8k_row("Ann has 3 apples and buys 2."),
                                                   gsm8k_row("Bob walks 4 km twice.", 8)])
    test = write_jsonl(tmp_path / "test.jsonl", [gsm8k_row(q) for q in held_out_questions])
    return train, test


def gsm8k_config(train, test, *extra):
    return load_config(None, ["task.name=gsm8k", f"task.data={train}", "task.split=train",
                              f"task.eval_data={test}", *extra])


# ---- refused through the CLI: exit code 2, one line, nothing written ----------------------------
@pytest.mark.parametrize("method", ["score", "star", "pair-sft"])
def test_overlapping_sets_are_refused_by_every_training_path(method, tmp_path):
    # the same problem, copied with other line breaks and capitals
    train, test = gsm8k_files(tmp_path, ["ANN has 3 apples\nand buys 2.", "Cy has 9 pens."])
    traces = tmp_path / "traces.jsonl"
    task = GSM8KTask(train)
    traces.write_text(json.dumps({
        "problem_id": "gsm8k/1", "sample_index": 0, "gold": "5",
        "turns": [{"prompt": task.first_prompt(task.load("train")[0]), "response": "5",
                   "answer": "5", "reward": 1.0}]}) + "\n")
    out = tmp_path / "run"
    code, _, err = run_main("train", "--method", method, *with_sets(
        "task.name=gsm8k", f"task.data={train}", "task.split=train", f"task.eval_data={test}",
        f"train.traces={traces}", f"run.out_dir={out}", "train.base_model=/nowhere/model"))
    assert code == 2, err
    assert "share 1 of the 2 held-out problems" in err
    assert "'ann has 3 apples and buys 2.'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_disjoint_sets_pass_the_check(tmp_path):
    train, test = gsm8k_files(tmp_path, ["Cy has 9 pens.", "Dee reads 2 books."])
    code, _, err = run_main("train", "--method", "score", *with_sets(
        "task.name=gsm8k", f"task.data={train}", "task.split=train", f"task.eval_data={test}",
        f"run.out_dir={tmp_path / 'run'}", "train.base_model=/nowhere/model"))
    # past the held-out check, the run stops only at the model it was pointed to
    assert code == 2 and "model checkpoint not found: /nowhere/model" in err
    task, training, held_out = training_and_held_out(gsm8k_config(train, test))
    assert task.name == "gsm8k"
    assert [p.question for p in training] == ["Ann has 3 apples and buys 2.",
                                              "Bob walks 4 km twice."]
    assert [p.question for p in held_out] == ["Cy has 9 pens.", "Dee reads 2 books."]


# ---- explicit sources ------------------------------------------------------------------------
def test_a_local_training_file_needs_its_held_out_file_named(tmp_path):
    train, _ = gsm8k_files(tmp_path, ["Cy has 9 pens."])
    with pytest.raises(UsageError, match="needs task.eval_data"):
        training_and_held_out(gsm8k_config(train, ""))


def test_a_gsm8k_file_named_for_the_other_split_is_refused(tmp_path):
    train, _ = gsm8k_files(tmp_path, ["Cy has 9 pens."])
    with pytest.raises(UsageError, match="train.jsonl holds the train split .* not test"):
        training_and_held_out(gsm8k_config(train, train))  # held out = the training file


def test_hub_splits_need_no_eval_data(tmp_path, monkeypatch):
    hub = {"train": [gsm8k_row("Ann has 3 apples and buys 2.")],
           "test": [gsm8k_row("Cy has 9 pens.")]}
    monkeypatch.setattr(data_files, "load_hub_records",
                        lambda name, split: list(enumerate(hub[split], start=1)))
    cfg = load_config(None, ["task.name=gsm8k", "task.data=openai/gsm8k:main"])
    _, training, held_out = training_and_held_out(cfg)
    assert [p.question for p in training] == ["Ann has 3 apples and buys 2."]
    assert [p.question for p in held_out] == ["Cy has 9 pens."]
    hub["test"].append(gsm8k_row("ann has 3 apples and buys 2."))
    with pytest.raises(UsageError, match="share 1 of the 2 held-out problems"):
        training_and_held_out(cfg)


def math_row(problem, answer="3"):
    return {"problem": problem, "solution": f"so $\\boxed{{{answer}}}$."}


def test_math_trains_on_the_test_file_minus_the_held_out_subset(tmp_path):
    full = write_jsonl(tmp_path / "math_test.jsonl", [
        math_row("Solve $2x = 6$."), math_row("Find $1+2$."), math_row("Find $5-2$.")])
    subset = write_jsonl(tmp_path / "math500.jsonl", [math_row("Find  $1+2$.")])
    settings = ["task.name=math", f"task.data={full}", f"task.exclude={subset}", "task.split=train"]
    cfg = load_config(None, [*settings, f"task.eval_data={subset}"])
    _, training, held_out = training_and_held_out(cfg)
    assert [p.question for p in training] == ["Solve $2x = 6$.", "Find $5-2$."]
    assert [p.question for p in held_out] == ["Find  $1+2$."]
    # evaluating on the whole test file would evaluate on the training pool
    with pytest.raises(UsageError, match="share 2 of the 3 held-out problems"):
        training_and_held_out(load_config(None, [*settings, f"task.eval_data={full}"]))


def test_mbpp_holds_out_a_split_of_the_same_file(tmp_path):
    def row(task_id, text):
        return {"task_id": task_id, "text": text, "code": "", "test_list": ["assert f(1) == 1"]}

    path = write_jsonl(tmp_path / "mbpp.jsonl", [
        row(11, "Add two numbers."), row(511, "Sort a list."), row(601, "add two  numbers.")])
    settings = ["task.name=mbpp", f"task.data={path}", "task.split=train", f"task.eval_data={path}"]
    cfg = load_config(None, [*settings, "task.eval_split=validation"])
    _, training, held_out = training_and_held_out(cfg)
    assert [p.id for p in training] == ["mbpp/601"] and [p.id for p in held_out] == ["mbpp/511"]
    with pytest.raises(UsageError, match="share 1 of the 1 held-out problems"):
        training_and_held_out(load_config(None, settings))  # eval_split test


# ---- the built-in world ----------------------------------------------------------------------
def test_the_division_world_is_unchanged(tmp_path):
    cfg = load_config(None, [])
    task, training, held_out = training_and_held_out(cfg)
    world = DivisionTask(cfg.world)
    assert isinstance(task, DivisionTask)
    assert training == world.load("train") and held_out == world.load("test")
    refuse_held_out_sft_data(load_config(None, ["train.method=star"]))  # disjoint by its hash

    def traces_of(problem):
        record = {"problem_id": problem.id, "turns": [{"prompt": world.first_prompt(problem)}]}
        return write_jsonl(tmp_path / f"{problem.id.replace('/', '-')}.jsonl", [record])

    refuse_held_out_sft_data(load_config(None, ["train.method=pair-sft",
                                                f"train.traces={traces_of(training[0])}"]))
    with pytest.raises(UsageError, match=f"share 1 of the {len(held_out)} held-out problems"):
        refuse_held_out_sft_data(load_config(None, ["train.method=pair-sft",
                                                    f"train.traces={traces_of(held_out[5])}"]))
