"""The 1-D sweep of one world knob (`selfcorrect report` with figures.knob_line), on
hand-made study trees."""

import pytest
import yaml

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.report.study import read_study, write_report
from tests.test_phase_map import METHODS, put, row


def write_spec(tmp_path, points, **extra):
    spec = {"seeds": [0, 1], "figures": {"knob_line": {
        "knob": "misread m", "points": points, "methods": METHODS, **extra}}}
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_each_point_gets_its_rows_and_the_figure(tmp_path):
    for name in ("m0", "m0.6", "main"):
        put(tmp_path / name, "base", [(0.5, 0.5)] * (3 if name == "main" else 2))
    put(tmp_path / "m0", "score", [(0.5, 0.60), (0.5, 0.64)])
    put(tmp_path / "main", "score", [(0.5, 0.6), (0.5, 0.7), (0.5, 0.8)])
    points = {"0.6": str(tmp_path / "m0.6"), "0": str(tmp_path / "m0"),
              "0.3": {"runs": str(tmp_path / "main"), "seeds": [0, 1, 2]}}
    files = write_report(write_spec(tmp_path, points), tmp_path / "out")
    assert {f.name for f in files} == {"knob-line.png", "report.md"}
    assert (tmp_path / "out/knob-line.png").read_bytes().startswith(b"\x89PNG")
    report = (tmp_path / "out/report.md").read_text()
    # Delta 0.10 and 0.14: mean 12.0 +- 12.706205 * 0.02828 / sqrt(2) = 25.4
    assert row(report, "0", "SCoRe").endswith(
        "| 2 | 50.0 | 62.0 | +12.0 [-13.4, 37.4] | 17.0 | 5.0 | 25.0 |")
    # the point with its own three seeds: 20.0 +- 4.302653 * 0.1 / sqrt(3) = 24.8
    assert row(report, "0.3", "SCoRe").endswith("| 3 | 50.0 | 70.0 | +20.0 [-4.8, 44.8] | "
                                                "25.0 | 5.0 | 25.0 |")
    assert row(report, "0.6", "SCoRe").endswith("| 0 of 2 | not run | - | - | - | - | - |")
    assert report.index("| 0 | Base |") < report.index("| 0.3 | Base |") \
        < report.index("| 0.6 | Base |")  # in knob order, whatever the spec's order


@pytest.mark.parametrize("change, message", [
    ({"points": {"0": "a"}}, "two or more knob values"),
    ({"points": {"zero": "a", "1": "b"}}, "not a number"),
    ({"points": {"0": "a", "0.0": "b"}}, "listed twice"),
    ({"methods": {"SCoRe": "runs/score"}}, "containing {cell}"),
    ({"knob": None, "colour": "red"}, "exactly knob, points and methods"),
])
def test_bad_specs_are_usage_errors(tmp_path, change, message):
    line = {"knob": "m", "points": {"0": "a", "1": "b"}, "methods": METHODS}
    line.update(change)
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"figures": {"knob_line": line}}))
    with pytest.raises(UsageError, match=message):
        read_study(spec, runs="r")
