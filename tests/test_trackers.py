"""run.report_to: TensorBoard event files beside unchanged JSONL logs for pretraining, SFT and
SCoRe; the config's spellings; a missing tracker package is a one-line UsageError."""

import json
import sys

import pytest

from selfcorrect_cli.config import load_config
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.methods import score
from selfcorrect_cli.methods.correction_data import build_d_star
from selfcorrect_cli.methods.sft import fine_tune
from tests.conftest import TINY_PRETRAIN, run_cli, run_main, with_sets
from tests.test_sft import handmade_records

TINY_RL = ["score.stage1_steps=1", "score.stage2_steps=1", "score.problems_per_step=2",
           "score.samples_per_problem=2", "score.max_new_tokens=16", "score.checkpoint_every=2",
           "score.eval_every=0"]


def _scalars(log_dir) -> dict[str, list[int]]:
    """Scalar tag -> logged steps, read back from the TensorBoard event files under log_dir."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_pretrain_sft_and_score_write_tensorboard_events(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed "
                                              "(pip install 'selfcorrect[tensorboard]')")
    base = tmp_path / "base"
    few_steps = [s for s in TINY_PRETRAIN if not s.startswith(("pretrain.steps", "pretrain.log"))]
    run_cli("pretrain", *with_sets(f"run.out_dir={base}", *few_steps, "pretrain.steps=3",
                                   "pretrain.log_every=1", "run.report_to=tensorboard"))
    assert list((base / "tb").glob("events.out.tfevents.*"))
    assert _scalars(base / "tb")["train/loss"] == [0, 1, 2]
    log = [json.loads(line) for line in (base / "pretrain_log.jsonl").read_text().splitlines()]
    assert [sorted(row) for row in log] == [["step", "train/loss", "train/lr"]] * 3

    sft_cfg = load_config(None, [f"train.base_model={base / 'model'}", f"run.out_dir={tmp_path}",
                                 "sft.batch_size=4", "sft.max_steps=2", "sft.log_every=1",
                                 "run.report_to=[tensorboard]"])
    fine_tune(sft_cfg, build_d_star(handmade_records()), tmp_path / "sft", progress=False)
    assert list((tmp_path / "sft" / "tb").glob("events.out.tfevents.*"))
    assert _scalars(tmp_path / "sft" / "tb")["train/loss"] == [1, 2]

    out = tmp_path / "score"
    score.train_score(load_config(None, [
        "train.method=score", f"train.base_model={base / 'model'}", f"run.out_dir={out}",
        "run.report_to=tensorboard", *TINY_RL]), progress=False)
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert _scalars(out / "tb")["train/reward_t1"] == [0, 1]
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("value, names", [
    ("none", "none"), ("tensorboard,wandb", "tensorboard,wandb"),
    ("[tensorboard, wandb]", ["tensorboard", "wandb"])])
def test_report_to_takes_a_list_or_a_comma_string(value, names):
    assert load_config(None, [f"run.report_to={value}"]).run.report_to == names


def test_unknown_tracker_is_a_usage_error():
    with pytest.raises(UsageError, match="run.report_to must be .* none, tensorboard or wandb"):
        load_config(None, ["run.report_to=tensorbord"])


def test_missing_tracker_package_is_a_one_line_error_before_any_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # what an environment without wandb shows
    out = tmp_path / "run"
    code, _, err = run_main("pretrain", *with_sets(f"run.out_dir={out}",
                                                   "run.report_to=wandb"))
    assert code == 2
    assert err.strip().count("\n") == 0 and "needs the wandb package" in err
    assert not out.exists()
