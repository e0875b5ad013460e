"""Sample conversations: SCoRe's periodic evaluations and SFT rounds write a fixed handful to
samples.jsonl and the trackers, a resumed run does not repeat them, `selfcorrect samples`
prints them."""

import json

import pytest
import torch

from selfcorrect_cli.config import load_config
from selfcorrect_cli.io.samples import SampleLog, pick, read_samples
from selfcorrect_cli.methods import score
from selfcorrect_cli.methods.correction_data import build_d_star
from selfcorrect_cli.methods.sft import fine_tune
from selfcorrect_cli.rollout.generation import Attempt, Trajectory
from selfcorrect_cli.tasks import build_task
from selfcorrect_cli.tasks.base import Problem
from selfcorrect_cli.tasks.held_out import held_out_problems
from tests.conftest import run_main
from tests.test_sft import handmade_records

TINY_RL = ["score.stage1_steps=1", "score.stage2_steps=2", "score.problems_per_step=2",
           "score.samples_per_problem=2", "score.max_new_tokens=16", "score.checkpoint_every=1",
           "score.eval_every=1", "score.eval_problems=4", "score.sample_conversations=3"]


class LabellingTask:
    """Grades nothing; labels an attempt by its first word, as a task's mistake_kind would."""

    def mistake_kind(self, problem, response):
        return response.split()[0] if response else None


def _trajectory(problem_id, first, second, rewards=(0.0, 1.0)):
    problem = Problem(problem_id, f"what is {problem_id}?", "2")
    attempts = [Attempt([], [], text, reward, text.split()[-1])
                for text, reward in zip((first, second), rewards)]
    return Trajectory(problem, 0, attempts)


def test_a_step_written_again_replaces_itself_and_every_later_one(tmp_path):
    task = LabellingTask()
    for step in (9, 19, 29):
        SampleLog(tmp_path, step).write(task, [_trajectory("6/3", "low 1", "right 2")])
    with open(tmp_path / "samples.jsonl", "a") as handle:
        handle.write('{"step": 39, "probl')  # a crash in the middle of an append
    # a run resumed from the checkpoint at step 10 evaluates step 19 again
    SampleLog(tmp_path, 19).write(task, [_trajectory("6/3", "high 3", "high 3", (0.0, 0.0))])
    rows = read_samples(tmp_path)
    assert [r["step"] for r in rows] == [9, 19]
    assert rows[1]["attempts"][0] == {"response": "high 3", "answer": "3", "reward": 0.0,
                                      "kind": "high"}
    assert rows[0]["answer_changed"] and not rows[1]["answer_changed"]
    assert rows[0]["problem"] == {"id": "6/3", "question": "what is 6/3?", "answer": "2"}


class FakeTracker:
    def __init__(self, name):
        self.name, self.calls = name, []

    def log(self, values, step=None):
        self.calls.append(("log", values, step))

    def log_table(self, table_name, columns=None, data=None, step=None):
        self.calls.append(("log_table", table_name, columns, data, step))


def test_wandb_gets_a_table_and_tensorboard_a_text_per_evaluation(tmp_path):
    wandb, tensorboard = FakeTracker("wandb"), FakeTracker("tensorboard")
    SampleLog(tmp_path, 7, [wandb, tensorboard]).write(
        LabellingTask(), [_trajectory("6/3", "low 1", "right 2"), _trajectory("8/4", "x 2", "x 2")])
    (kind, name, columns, rows, step), = wandb.calls
    assert (kind, name, step) == ("log_table", "samples", 7)
    assert columns[:5] == ["step", "problem_id", "question", "gold", "attempt_1"]
    assert [row[1] for row in rows] == ["6/3", "8/4"] and rows[0][-1] is True
    (kind, values, step), = tensorboard.calls
    assert kind == "log" and step == 7
    assert "    problem 8/4 (gold 2), step 7, answer kept" in values["samples"]


def _text_summaries(log_dir, tag="samples/text_summary") -> dict[int, str]:
    """step -> text, read back from the TensorBoard event files under log_dir."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {e.step: make_ndarray(e.tensor_proto).item().decode() for e in events.Tensors(tag)}


def _score_cfg(model, out, *extra):
    return load_config(None, ["train.method=score", f"train.base_model={model}",
                              f"run.out_dir={out}", *TINY_RL, *extra])


def test_score_writes_the_same_handful_at_each_evaluation_and_resumes_without_repeats(
        tiny_model, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "score"
    cfg = _score_cfg(tiny_model, out, "run.report_to=tensorboard")
    score.train_score(cfg, progress=False)
    rows = read_samples(out)
    assert [r["step"] for r in rows] == [0] * 3 + [1] * 3 + [2] * 3
    task = build_task(cfg)
    chosen = pick(held_out_problems(cfg, task)[:4], 3, seed=0)
    assert [r["problem"]["id"] for r in rows] == [p.id for p in chosen] * 3
    for row, problem in zip(rows, chosen * 3):
        assert len(row["attempts"]) == 2 and row["problem"]["answer"] == problem.answer
        for attempt in row["attempts"]:
            assert attempt["reward"] == task.verify(problem, attempt["response"])
            assert attempt["kind"] == task.mistake_kind(problem, attempt["response"])
        changed = row["attempts"][0]["answer"] != row["attempts"][1]["answer"]
        assert row["answer_changed"] == changed
    texts = _text_summaries(out / "tb")
    assert sorted(texts) == [0, 1, 2] and f"problem {chosen[2].id} (gold " in texts[2]

    # as if killed after the checkpoint of step 1: steps 1 and 2 run again
    state_file = out / "checkpoints" / "last" / "trainer_state.pt"
    state = torch.load(state_file, weights_only=False)
    state["step"] = 1
    torch.save(state, state_file)
    score.train_score(_score_cfg(tiny_model, out, "run.report_to=tensorboard"), progress=False)
    assert [r["step"] for r in read_samples(out)] == [0] * 3 + [1] * 3 + [2] * 3


def test_no_samples_file_when_sample_conversations_is_0(tiny_model, tmp_path):
    score.train_score(_score_cfg(tiny_model, tmp_path, "score.stage2_steps=0",
                                 "score.sample_conversations=0"), progress=False)
    assert (tmp_path / "train_log.jsonl").exists() and not (tmp_path / "samples.jsonl").exists()


def test_an_sft_round_writes_its_models_samples_at_its_round(tiny_model, tmp_path):
    cfg = load_config(None, [f"train.base_model={tiny_model}", f"run.out_dir={tmp_path}",
                             "sft.batch_size=4", "sft.max_steps=1", "score.eval_problems=4",
                             "score.sample_conversations=3", "sampling.max_new_tokens=16"])
    fine_tune(cfg, build_d_star(handmade_records()), tmp_path / "round-2", progress=False,
              samples_at=2)
    rows = read_samples(tmp_path)
    chosen = pick(held_out_problems(cfg, build_task(cfg))[:4], 3, seed=0)
    assert [(r["step"], r["problem"]["id"]) for r in rows] == [(2, p.id) for p in chosen]
    assert not (tmp_path / "round-2" / "samples.jsonl").exists()


def _write(run, records):
    run.mkdir(parents=True, exist_ok=True)
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _record(step, problem_id, answers, rewards):
    attempts = [{"response": f"work\nA{a}", "answer": a, "reward": r, "kind": None}
                for a, r in zip(answers, rewards)]
    return {"step": step, "problem": {"id": problem_id, "question": problem_id, "answer": "5"},
            "attempts": attempts, "answer_changed": answers[0] != answers[-1]}


def test_the_samples_command_shows_one_step_marked_right_and_wrong(tmp_path):
    run = tmp_path / "run"
    _write(run, [_record(49, "10/2", ["4", "5"], [0, 1]), _record(49, "15/3", ["5", "5"], [1, 1]),
                 _record(99, "10/2", ["5", "5"], [1, 1]), _record(99, "15/3", ["5", "6"], [1, 0])])
    code, out, err = run_main("samples", str(run))
    assert code == 0, err
    assert "step 99 (steps with samples: 49, 99); 2 conversations" in out
    assert "right at each attempt: 2, 1; answer changed in 1" in out
    assert "attempt 2: WRONG, answer 6\n    | work\n    | A6" in out
    assert "problem 10/2 (gold 5), step 99, answer kept" in out

    code, out, _ = run_main("samples", str(run), "--step", "49", "--changed-only")
    assert code == 0 and "problem 10/2" in out and "problem 15/3" not in out
    assert "attempt 1: WRONG, answer 4" in out and "attempt 2: right, answer 5" in out


@pytest.mark.parametrize("args, message", [
    (["--step", "50"], "no samples at step 50 in "),
    (["--step", "x"], "'x' is not a valid integer"),
])
def test_the_samples_command_names_what_is_missing(tmp_path, args, message):
    _write(tmp_path / "run", [_record(49, "10/2", ["4", "5"], [0.0, 1.0])])
    code, _, err = run_main("samples", str(tmp_path / "run"), *args)
    assert code == 2 and message in err and "Traceback" not in err
    code, _, err = run_main("samples", str(tmp_path / "nowhere"))
    assert code == 2 and "no samples.jsonl in" in err and len(err.strip().splitlines()) == 1
