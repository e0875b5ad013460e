"""What "same seed, same numbers" means here: bitwise on one machine with the same threads."""

import json

import torch
from safetensors.torch import load_file

from tests.conftest import TINY_PRETRAIN, run_cli, with_sets


def _pretrain(out, seed: int) -> dict:
    run_cli("pretrain", *with_sets(f"run.out_dir={out}", f"run.seed={seed}", *TINY_PRETRAIN),
            env={"OMP_NUM_THREADS": "1"})
    return load_file(str(out / "model" / "model.safetensors"))


def test_pretraining_is_bitwise_repeatable_and_the_seed_changes_the_model(tmp_path):
    first, again = _pretrain(tmp_path / "a", 0), _pretrain(tmp_path / "b", 0)
    other = _pretrain(tmp_path / "c", 1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    env = json.loads((tmp_path / "a" / "environment.json").read_text())
    assert env["torch_threads"] == 1 and env["packages"]["torch"].startswith("2.")
    assert env["cpu"]
