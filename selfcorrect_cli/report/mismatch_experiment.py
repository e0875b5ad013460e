"""`selfcorrect mismatch-report`: the someone-else's-traces experiment over seeds, as a table.

Reads <runs>/seed<s>/mismatch-exp/<arm>.json (analyses/someone_else.py, {role: result}) for
every seed and arm: `own` (SFT on the seed's own base model's traces, collector = that base,
SCoRe beside as the on-policy reference) and `other` (SFT from the seed's base on the traces of
the next seed's base, collector = that other base). Per arm and method: the fix rates on the
collector's and on the model's own first attempts (mean and 95% t-interval over seeds), their
gap with a paired t-interval (the same seed's two rates), and the total-variation distance
between the two mixes of mistakes. A missing file is a one-line error.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.read import read_json
from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.measure.statistics import aggregate
from selfcorrect_cli.report.findings import LABELS
from selfcorrect_cli.report.tables import markdown_table, percent_cell

ARMS = {"own": "own collector (the model's own base)",
        "other": "someone else's collector (the next seed's base)"}


def experiment_path(runs: str | Path, seed, arm: str) -> Path:
    return Path(runs) / f"seed{seed}" / "mismatch-exp" / f"{arm}.json"


def read_experiment(runs: str | Path, seeds: list, arms=tuple(ARMS)) -> dict[str, list[dict]]:
    """{arm: [the arm's {role: result} of each seed, in seed order]}."""
    return {arm: [read_json(experiment_path(runs, s, arm), "run `selfcorrect mismatch-experiment` "
                            "(make mismatch-study)") for s in seeds] for arm in arms}


def mean_mixes(dirs: list[str]) -> tuple[dict[str, dict[str, float]], int]:
    """The experiment's error mixes for the mismatch figure, mean over the seeds whose files
    exist in `dirs` (each seed's mismatch-exp folder): per arm the collector's and each
    trained model's own; ({}, 0) when none exists. Returns (mixes, seeds found).

    >>> import json, tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(f"{d}/own.json", "w").write(json.dumps({"star": {"mix_collector": {"guess": .5,
    ...     "slip": .5}, "mix_own": {"guess": 1.0, "slip": 0.0}}}))
    >>> mean_mixes([d])
    ({'collector (own arm)': {'guess': 0.5, 'slip': 0.5}, 'STaR (own arm)': {'guess': 1.0, 'slip': 0.0}}, 1)
    """
    series: dict[str, list[dict]] = {}
    found = set()
    for d in dirs:
        for arm in ARMS:
            path = Path(d) / f"{arm}.json"
            if not path.exists():
                continue
            found.add(d)
            results = read_json(path, "")
            first = next(iter(results.values()), {})
            series.setdefault(f"collector ({arm} arm)", []).append(first.get("mix_collector") or {})
            for role, result in results.items():
                series.setdefault(f"{LABELS.get(role, role)} ({arm} arm)", []).append(
                    result.get("mix_own") or {})
    mixes = {}
    for label, seeds in series.items():
        seeds = [m for m in seeds if m]
        if seeds:
            kinds = list(dict.fromkeys(k for m in seeds for k in m))
            mixes[label] = {k: mean(m.get(k, 0.0) for m in seeds) for k in kinds}
    return mixes, len(found)


def _cell(values: list, signed: bool = False) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    e = aggregate(present)
    return percent_cell(e.mean, e.low, e.high, signed=signed)


def arm_rows(per_seed: list[dict]) -> list[list]:
    """Table rows of one arm: per role (in the order of the first seed's file) the two fix
    rates, their paired gap, the mixes' TV distance and the seeds counted.

    >>> seeds = [{"star": {"fix_collector": .5, "fix_own": .25, "mix_distance_tv": .1}},
    ...          {"star": {"fix_collector": .7, "fix_own": .25, "mix_distance_tv": .3}}]
    >>> arm_rows(seeds)[0][:3] + arm_rows(seeds)[0][4:]
    ['STaR', '60.0 [-67.1, 187.1]', '25.0 [25.0, 25.0]', '0.200', 2]
    >>> arm_rows(seeds)[0][3]   # gaps 0.25 and 0.45: mean 0.35, t(1) = 12.706 * 0.1
    '+35.0 [-92.1, 162.1]'
    """
    rows = []
    for role in per_seed[0]:
        results = [seed[role] for seed in per_seed if role in seed]
        gaps = [r["fix_collector"] - r["fix_own"] for r in results
                if r["fix_collector"] is not None and r["fix_own"] is not None]
        tv = [r["mix_distance_tv"] for r in results if r.get("mix_distance_tv") is not None]
        rows.append([LABELS.get(role, role), _cell([r["fix_collector"] for r in results]),
                     _cell([r["fix_own"] for r in results]), _cell(gaps, signed=True),
                     f"{mean(tv):.3f}" if tv else "-", len(gaps)])
    return rows


def experiment_table(data: dict[str, list[dict]], seeds: list) -> str:
    """The Markdown table of every arm, with its notes."""
    head = ["arm", "method", "fix on collector's first attempts", "fix on own first attempts",
            "gap (collector - own)", "mix distance (TV)", "seeds"]
    body = [[ARMS.get(arm, arm), *row] for arm, per_seed in data.items()
            for row in arm_rows(per_seed)]
    first = data[next(iter(data))][0]
    s = next(iter(first.values()))["settings"]
    notes = (f"Seeds {', '.join(map(str, seeds))}; {s['n_problems']} problems of split "
             f"{s['split']} per seed. First attempts of both sides sampled at "
             f"T={s['first_attempt_temperature']:g}, one per problem; the trained model's second "
             "attempt greedy. Fix rate: % of wrong first attempts whose second attempt is right. "
             "Brackets: 95% t-interval over seeds; the gap's is paired (each seed's two rates). "
             "Mix distance: total-variation distance between the mistake kinds of the two sides' "
             "wrong first attempts (0 the same mix, 1 disjoint), mean over seeds.")
    return ("## Someone else's traces: fix rates on the collector's and on the model's own "
            "first attempts\n\n" + markdown_table(head, body) + f"\n\n{notes}\n")


def write_experiment_table(runs: str | Path, seeds: list, out: str | Path) -> Path:
    if not seeds:
        raise UsageError("mismatch-report needs at least one seed")
    out = Path(out)
    write_atomic(out, experiment_table(read_experiment(runs, seeds), seeds))
    return out
