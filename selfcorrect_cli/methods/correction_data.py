"""The four offline correction datasets of the SCoRe paper, built from collected traces (pure).

Every builder turns trace records (see traces.py) into `Correction` tuples (x1, y1, y2): the
problem, a first attempt and the attempt to train as its correction. Training only ever uses
y2 as a target; y1 sits in the prompt.

- D_STaR:  within one trace, a wrong first attempt followed by a right second attempt.
- D+_STaR: D_STaR plus, within one trace, a right first attempt followed by a right second.
- D_SFT:   every wrong response (first or second turn) paired with a random right response to
           the same problem, drawn from all first- and second-turn samples (Welleck et al.).
- D+_SFT:  D_SFT plus every right response paired with a random right response.

Two traces of problem "9/3" (gold 3), the first wrong then right, the second right twice:

    >>> records = [_example("9/3", ("2", 0.0), ("3", 1.0)), _example("9/3", ("3", 1.0), ("3", 1.0))]
    >>> [(c.first, c.second) for c in build_d_star(records).examples]
    [('A2', 'A3')]
    >>> [(c.first, c.second) for c in build_d_plus_star(records).examples]
    [('A2', 'A3'), ('A3', 'A3')]
    >>> build_d_sft(records, seed=0).summary("D_SFT")
    'D_SFT: 1 tuples from 2 traces (1 problems)'
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from selfcorrect_cli.tasks.prompts import conversation


@dataclass(frozen=True)
class Correction:
    """One training tuple: y2 is the target, given x1, y1 and the correction instruction."""

    problem_id: str
    prompt: str
    first: str
    second: str


@dataclass
class CorrectionData:
    """The tuples of one dataset and the numbers behind them, for the build report."""

    examples: list[Correction] = field(default_factory=list)
    n_traces: int = 0
    n_problems: int = 0

    def summary(self, name: str) -> str:
        used = len({c.problem_id for c in self.examples})
        return (f"{name}: {len(self.examples)} tuples from {self.n_traces} traces "
                f"({used} problems)")


def _two_turn(records: list[dict]) -> list[dict]:
    return [r for r in records if len(r["turns"]) >= 2]


def _right(turn: dict) -> bool:
    return turn["reward"] > 0.5


def _within_trace(records: list[dict], keep_right_right: bool) -> CorrectionData:
    traces = _two_turn(records)
    examples = []
    for record in traces:
        first, second = record["turns"][0], record["turns"][1]
        if _right(second) and (keep_right_right or not _right(first)):
            examples.append(Correction(record["problem_id"], first["prompt"],
                                       first["response"], second["response"]))
    return CorrectionData(examples, len(traces), len({r["problem_id"] for r in traces}))


def build_d_star(records: list[dict]) -> CorrectionData:
    """D_STaR: (x, y1, y2) of traces whose first attempt is wrong and second is right."""
    return _within_trace(records, keep_right_right=False)


def build_d_plus_star(records: list[dict]) -> CorrectionData:
    """D+_STaR: D_STaR plus the traces whose two attempts are both right."""
    return _within_trace(records, keep_right_right=True)


def _pairs(records: list[dict], keep_right_right: bool, seed: int) -> CorrectionData:
    """Pair responses of the first two turns with a right response to the same problem.

    Each response counts once per sample (a second attempt that repeats the first counts
    twice, as it was sampled twice). Problems with no right response give no pairs.
    """
    traces = _two_turn(records)
    rng = random.Random(seed)
    pool: dict[str, list[tuple[str, dict]]] = defaultdict(list)  # problem -> (x1, turn)
    for record in traces:
        prompt = record["turns"][0]["prompt"]
        for turn in record["turns"][:2]:
            pool[record["problem_id"]].append((prompt, turn))
    examples = []
    for problem_id in sorted(pool):
        rights = [t["response"] for _, t in pool[problem_id] if _right(t)]
        if not rights:
            continue
        for prompt, turn in pool[problem_id]:
            if _right(turn) and not keep_right_right:
                continue
            examples.append(Correction(problem_id, prompt, turn["response"], rng.choice(rights)))
    return CorrectionData(examples, len(traces), len(pool))


def build_d_sft(records: list[dict], seed: int = 0) -> CorrectionData:
    """D_SFT: every wrong response paired with a random right response to its problem."""
    return _pairs(records, keep_right_right=False, seed=seed)


def build_d_plus_sft(records: list[dict], seed: int = 0) -> CorrectionData:
    """D+_SFT: D_SFT plus every right response paired with a random right response."""
    return _pairs(records, keep_right_right=True, seed=seed)


def build_dataset(method: str, variant: str, records: list[dict], seed: int = 0) -> CorrectionData:
    """The dataset a training method uses: method star or pair-sft, variant d or d_plus."""
    builders = {("star", "d"): build_d_star, ("star", "d_plus"): build_d_plus_star,
                ("pair-sft", "d"): lambda r: build_d_sft(r, seed),
                ("pair-sft", "d_plus"): lambda r: build_d_plus_sft(r, seed)}
    if (method, variant) not in builders:
        raise ValueError(f"no dataset for method {method!r} and variant {variant!r}")
    return builders[method, variant](records)


def dataset_name(method: str, variant: str) -> str:
    """The paper's name for a dataset.

    >>> dataset_name("pair-sft", "d_plus")
    'D+_SFT'
    """
    return ("D+" if variant == "d_plus" else "D") + ("_STaR" if method == "star" else "_SFT")


def to_prompt_completion(example: Correction, instruction: str) -> dict:
    """TRL's conversational prompt-completion row: prompt [x1, y1, instruction], completion [y2].

    >>> to_prompt_completion(Correction("1/1", "1/1", "A2", "A1"), "retry")["completion"]
    [{'role': 'assistant', 'content': 'A1'}]
    """
    return {"prompt": conversation(example.prompt, [example.first], instruction),
            "completion": [{"role": "assistant", "content": example.second}]}


def _example(problem_id: str, *turns: tuple[str, float]) -> dict:
    """A hand-made trace record (for doctests and tests): turns of (answer, reward)."""
    return {"problem_id": problem_id, "sample_index": 0, "gold": "",
            "turns": [{"prompt": problem_id if i == 0 else "retry", "response": f"A{answer}",
                       "answer": answer, "reward": reward} for i, (answer, reward) in enumerate(turns)]}
