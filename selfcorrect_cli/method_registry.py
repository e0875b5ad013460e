"""The methods of the study, the one table that names them: adding an ablation is one entry
here, plus its recipe (and its rows in the report specs that show it).

Each entry is one trained model of the built-in study: its recipe is
experiments/builtin/<kind>/<name>.yaml and its run folder <runs>/seed<s>/<kind>/<name>. An RL
entry without `trains` is also a value of `train.method`, whose ScoreConfig `settings` win over
the recipe and --set (method_config, config_values.py); an entry with `trains` runs another method
from a recipe of its own (STaR on one dataset, SCoRe with tree rollouts). Everything else reads
this table: config.py's choices of train.method, the Makefile's lists of runs (`main` makes the
main study's, `ablation` `make ablations`'), the study specs' `{method: NAME}` rows, and the
findings' roles, which findings.yaml and findings-v2.yaml spell with underscores because they
were declared before their runs; the table maps those spellings to methods.

Labels stay with the spec that prints them: one method has several (star-dplus is "STaR on
D+_STaR" in paper Table 1, "STaR" in Table 2 and in the findings).

Only the standard library, so that the Makefile can read the table before the virtual
environment exists:

    $ python3 selfcorrect_cli/method_registry.py rl main
    score single-turn-rl naive-two-turn
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

SFT, RL = "sft", "rl"  # the kinds: trained by methods/sft.py or by methods/score.py
MAIN, ABLATION = "main", "ablation"  # `make reproduce` trains the first, `make ablations` both


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # SFT or RL: its folder under each seed, and the loop that trains it
    group: str  # MAIN or ABLATION
    settings: dict | None = None
    """RL methods that are a train.method of their own: the ScoreConfig fields they set."""
    trains: str | None = None
    """The train.method its recipe sets, where that is not its own name."""
    role: str | None = None
    """Its role in the findings specs (findings.yaml, findings-v2.yaml), if it has one."""
    shares_stage1: bool = False
    """Differs from score only in settings that Stage II alone reads, so its Stage II starts from
    the seed's score run's Stage I (methods/shared_stage1.py checks that they match)."""

    @property
    def train_method(self) -> str:
        return self.trains or self.name


METHODS = (
    # The SFT baselines (paper Table 1): STaR and Pair-SFT, each on one dataset (sft.dataset
    # in its recipe).
    Method("star-dplus", SFT, MAIN, trains="star", role="star"),
    Method("pair-d", SFT, MAIN, trains="pair-sft", role="pair_sft"),
    Method("star-d", SFT, ABLATION, trains="star"),
    Method("pair-dplus", SFT, ABLATION, trains="pair-sft"),
    # SCoRe and its ablations (paper Tables 2 and 4): each a set of ScoreConfig settings.
    # Ablations that drop Stage I train for the same total number of steps in Stage II.
    Method("score", RL, MAIN, settings={}, role="score"),
    # The shaped turn-2 reward also reaches turn 1 through the return in Stage II; turn 1 is
    # then paid (1 - alpha) r1 + (1 + alpha) r2, which rewards sandbagging: name it in every
    # table.
    Method("score-return", RL, ABLATION, settings={"credit": "return"}, shares_stage1=True),
    # SCoRe with tree rollouts: score.turn2_samples and samples_per_problem in its recipe.
    Method("score-tree", RL, ABLATION, trains="score"),
    Method("single-turn-rl", RL, MAIN, settings={"turns": 1, "stage1_steps": 0},
           role="single_turn_rl"),
    Method("no-stage1", RL, ABLATION, settings={"stage1_steps": 0}, role="no_stage1"),
    Method("no-shaping", RL, ABLATION, settings={"alpha": 0.0}, role="no_shaping",
           shares_stage1=True),
    Method("star-stage2", RL, ABLATION, settings={"stage2_update": "star"}, role="star_stage2",
           shares_stage1=True),
    Method("offline-turn1", RL, ABLATION, settings={"online_turn1": False},
           role="offline_turn1"),
    # Plain multi-turn REINFORCE on r1 + r2: neither Stage I nor the shaping bonus (paper Sec. 4).
    Method("naive-two-turn", RL, MAIN, settings={"stage1_steps": 0, "alpha": 0.0},
           role="naive_two_turn"),
)

TRAIN_METHODS = tuple(dict.fromkeys(m.train_method for m in METHODS))
"""The choices of train.method, in the table's order: star, pair-sft, score, score-return, ..."""


def find(name: str) -> Method | None:
    """The entry called `name`, or None."""
    return next((m for m in METHODS if m.name == name), None)


def by_role(role: str) -> Method | None:
    """The entry a findings spec calls `role` (e.g. "single_turn_rl"), or None."""
    return next((m for m in METHODS if m.role == role), None)


def role_of(name: str) -> str:
    """The findings role of method `name`.

    >>> role_of("single-turn-rl")
    'single_turn_rl'
    """
    method = find(name)
    if method is None or method.role is None:
        raise KeyError(f"{name!r} is no method with a findings role")
    return method.role


def trained_by_sft(train_method: str) -> bool:
    """Whether methods/sft.py trains this value of train.method (else methods/score.py)."""
    return any(m.kind == SFT for m in METHODS if m.train_method == train_method)


def score_settings(train_method: str) -> dict:
    """The ScoreConfig settings of a value of train.method ({} for an SFT method)."""
    defining = next((m for m in METHODS if m.trains is None and m.name == train_method), None)
    return dict(defining.settings or {}) if defining is not None else {}


def apply_settings(score, train_method: str) -> None:
    """Set the method's ScoreConfig settings on `score` (a ScoreConfig), in place. A method that
    drops Stage I keeps the total budget: Stage I's steps move to Stage II.

    >>> from types import SimpleNamespace
    >>> s = SimpleNamespace(stage1_steps=3, stage2_steps=4, turns=2)
    >>> apply_settings(s, "single-turn-rl"); (s.stage1_steps, s.stage2_steps, s.turns)
    (0, 7, 1)
    """
    settings = score_settings(train_method)
    if settings.get("stage1_steps") == 0:
        score.stage2_steps += score.stage1_steps
    for key, value in settings.items():
        setattr(score, key, value)


def run_template(name: str) -> str:
    """The run folder of method `name` in a study spec's placeholders (report/paths.py).

    >>> run_template("no-shaping")
    '{runs}/seed{seed}/rl/no-shaping'
    """
    return f"{{runs}}/seed{{seed}}/{find(name).kind}/{name}"


def names(*filters: str) -> list[str]:
    """The names of the methods that match every filter: a kind (sft, rl), a group (main,
    ablation) or shared-stage1, in the table's order.

    >>> names("sft", "ablation")
    ['star-d', 'pair-dplus']
    >>> names("shared-stage1")
    ['score-return', 'no-shaping', 'star-stage2']
    """
    tests = {SFT: lambda m: m.kind == SFT, RL: lambda m: m.kind == RL,
             MAIN: lambda m: m.group == MAIN, ABLATION: lambda m: m.group == ABLATION,
             "shared-stage1": lambda m: m.shares_stage1}
    unknown = [f for f in filters if f not in tests]
    if unknown:
        raise ValueError(f"unknown filter(s) {unknown}; known: {', '.join(tests)}")
    return [m.name for m in METHODS if all(tests[f](m) for f in filters)]


if __name__ == "__main__":
    try:
        print(" ".join(names(*sys.argv[1:])))
    except ValueError as exc:
        sys.exit(f"{sys.argv[0]}: {exc}")
