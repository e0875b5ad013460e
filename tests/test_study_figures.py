import os

import pytest

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.statistics import mean_and_ci
from selfcorrect_cli.report.figures import (
    plot_accuracy_by_attempt,
    plot_phase_map,
    plot_training_logs,
    plot_winner_map,
)


@pytest.mark.parametrize("values, expected", [
    ([1, 2, 3], (2.0, 2.0 - 4.3027 / 3**0.5, 2.0 + 4.3027 / 3**0.5)),
    # sd of [0, 1] is 1/sqrt(2), so the half-width is 12.7062 * (1/sqrt(2)) / sqrt(2) = 6.3531
    ([0.0, 1.0], (0.5, 0.5 - 6.3531, 0.5 + 6.3531)),
    # no spread, no width
    ([0.4, 0.4, 0.4], (0.4, 0.4, 0.4)),
    ([0.7], (0.7, 0.7, 0.7)),
])
def test_mean_and_ci(values, expected):
    assert mean_and_ci(values) == pytest.approx(expected, abs=1e-4)


def test_mean_and_ci_rejects_empty():
    with pytest.raises(ValueError):
        mean_and_ci([])


def test_accuracy_by_attempt_figure(tmp_path):
    out = tmp_path / "fig8.png"
    plot_accuracy_by_attempt({"SCoRe": [[0.60, 0.64, 0.65], [0.62, 0.66, 0.66]],
                              "base": [[0.55, 0.50, 0.49]]}, out)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["fig8.png"]


def test_accuracy_by_attempt_rejects_ragged_seeds(tmp_path):
    with pytest.raises(UsageError, match=r"'SCoRe' has seeds with different numbers of attempts"):
        plot_accuracy_by_attempt({"SCoRe": [[0.6, 0.64], [0.6]]}, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_phase_map_figures(tmp_path):
    grid = ([0.5, 0.7], [0.0, 0.1, 0.25])
    # SCoRe lacks (0.7, 0.25) and has one seed short at (0.5, 0.1); Base lacks (0.5, 0)
    score = {(c, s): (4.0 - 10 * s, "*" if (c, s) == (0.5, 0.1) else "") for c in grid[0]
             for s in grid[1] if (c, s) != (0.7, 0.25)}
    base = {(c, s): (-1.0, "") for c in grid[0] for s in grid[1] if (c, s) != (0.5, 0.0)}
    rows = [("Delta(t1,t2) (points)", True, {"Base": base, "SCoRe": score}),
            ("Acc@t2 (%)", False, {"Base": {}, "SCoRe": {(0.5, 0.0): (60.0, "")}})]
    plot_phase_map(grid, rows, tmp_path / "map.png")
    plot_winner_map(grid, [("best Acc@t2", {(0.5, 0.0): ("SCoRe", "SCoRe\nlead +2.0\nclear", True),
                                            (0.7, 0.1): (None, "tie\nSTaR\n= SCoRe", False)}),
                           ("best Delta", {})], {"STaR": "C0", "SCoRe": "C1"},
                    tmp_path / "winners.png")
    for name in ("map.png", "winners.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png", "winners.png"]


def test_empty_inputs_are_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        plot_accuracy_by_attempt({}, tmp_path / "b.png")


def test_figure_is_readable_by_others(tmp_path):
    # the temporary file must not carry a private (0600) mode over to the figure
    out = tmp_path / "fig8.png"
    previous = os.umask(0o022)  # a usual umask, whatever the one this test runs under
    try:
        plot_accuracy_by_attempt({"SCoRe": [[0.6, 0.64]]}, out)
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o644


def test_training_curves_figure(tmp_path):
    log = [{"step": s, "train/reward_t1": 0.1 * s, "train/answer_changed": 0.5} for s in range(12)]
    log.append({"step": 11, "eval/delta": 0.02})
    out = tmp_path / "curves.png"
    plot_training_logs([("SCoRe", log), ("w/o Stage I", log[:5])], out)
    assert out.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary file left
