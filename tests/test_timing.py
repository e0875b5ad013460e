"""timing.json: one record per command, in the run directory the command prepared first."""

import json

from selfcorrect_cli.io import timing


def test_only_the_commands_own_run_directory_gets_a_record(tmp_path, monkeypatch):
    monkeypatch.setattr(timing, "_RUN_DIRS", [])
    own, nested = tmp_path / "star", tmp_path / "star/round-2/collect"
    own.mkdir()
    nested.mkdir(parents=True)
    timing.track(own)
    timing.track(nested)  # a STaR round's collection, inside the same process
    timing.record_costs()
    record = json.loads((own / "timing.json").read_text())
    assert set(record) == {"wall_s", "process_s", "threads"}
    assert record["wall_s"] >= 0 and record["process_s"] > 0 and record["threads"] >= 1
    assert not (nested / "timing.json").exists()


def test_a_command_without_a_run_directory_records_beside_its_output(tmp_path, monkeypatch):
    monkeypatch.setattr(timing, "_RUN_DIRS", [])
    timing.track(tmp_path / "own.json")
    timing.record_costs()
    assert json.loads((tmp_path / "own.timing.json").read_text())["process_s"] > 0
