import random

import pytest

from selfcorrect_cli.config import WorldConfig
from selfcorrect_cli.tasks.base import Problem
from selfcorrect_cli.tasks.division import (
    DivisionTask,
    solve_like_pretraining_solver,
    solver_guess_range,
    write_attempt,
)


def test_splits_are_disjoint_reproducible_and_independent_of_order_seed():
    a = DivisionTask(WorldConfig(), order_seed=0)
    b = DivisionTask(WorldConfig(), order_seed=1)
    train, test = {p.id for p in a.load("train")}, {p.id for p in a.load("test")}
    assert train.isdisjoint(test)
    assert len(test) > 2048 and len(train) > 5 * len(test)
    assert test == {p.id for p in b.load("test")}
    assert [p.id for p in a.load("test")] == [p.id for p in DivisionTask(WorldConfig()).load("test")]


def test_every_problem_is_consistent_and_leaves_room_for_error():
    world = WorldConfig()
    for problem in DivisionTask(world).load("test")[:500]:
        a, b = map(int, problem.id.split("/"))
        assert int(problem.answer) == a // b
        low, high = solver_guess_range(a, b, world)
        assert high - low + 1 >= world.min_candidates


def test_verify_and_extract():
    task = DivisionTask(WorldConfig())
    problem = Problem(id="184/23", question="184/23", answer="8")
    assert task.verify(problem, write_attempt(184, 23, 8)) == 1.0
    assert task.verify(problem, write_attempt(184, 23, 7)) == 0.0
    assert task.verify(problem, "gibberish") == 0.0
    assert task.extract_answer("8:8*3=24,A8") == "8"


def test_written_check_brackets_the_dividend_only_for_the_right_guess():
    # g is right iff g*b <= a < g*b + b, which the attempt's last sum shows
    for guess in range(1, 10):
        attempt = write_attempt(184, 23, guess)
        product, total = attempt.split(",")[2].split("=")[0].split("+")[0], attempt.split("=")[-1]
        total = int(total.split(",")[0])
        assert (int(product) <= 184 < total) == (guess == 184 // 23)


def test_solver_accuracy_sits_well_inside_zero_and_one():
    world, rng = WorldConfig(), random.Random(0)
    task = DivisionTask(world)
    problems = task.load("test")[:1000]
    hits = sum(task.verify(p, solve_like_pretraining_solver(*map(int, p.id.split("/")), world, rng))
               for p in problems)
    assert 0.3 < hits / len(problems) < 0.7


# --- the world knobs: verdicts and slips, and that the data holds no correction skill --------

def _conversations(world: WorldConfig, n: int, seed: int = 0):
    """n two-turn pretraining conversations on training problems: (a, b, turn 1, turn 2)."""
    from selfcorrect_cli.config import ExperimentConfig
    from selfcorrect_cli.world.pretrain import pretraining_conversation

    cfg = ExperimentConfig()
    cfg.world, cfg.pretrain.two_turn_fraction = world, 1.0
    rng = random.Random(seed)
    problems = DivisionTask(world).load("train")
    rows = []
    for _ in range(n):
        a, b = map(int, rng.choice(problems).id.split("/"))
        messages = pretraining_conversation(cfg, a, b, rng)
        rows.append((a, b, messages[1]["content"], messages[-1]["content"]))
    return rows


def _guess(attempt: str) -> int:
    return int(attempt.rsplit("A", 1)[1])


def _verdict(attempt: str) -> str:
    return attempt.split(",")[-2]


def test_verdict_follows_the_written_check_and_slips_mislead_it():
    assert write_attempt(184, 23, 7, verdict=True).endswith(",LOW,A7")
    assert write_attempt(184, 23, 8, verdict=True).endswith(",OK,A8")
    assert write_attempt(184, 23, 9, verdict=True).endswith(",HIGH,A9")
    # a slip of -b on the right guess writes 7*23 = 161: the check then says LOW
    assert write_attempt(184, 23, 8, slip=-1, verdict=True) == "8:8*3=24,8*2+2=18,161+23=184,LOW,A8"


@pytest.mark.parametrize("slip", [0.0, 0.25])
def test_verdicts_are_right_unless_a_slip_moves_the_check_across_the_answer(slip):
    world = WorldConfig(verdict=True, check_slip=slip)
    rows = _conversations(world, 4000)
    wrong = [_verdict(t1) != ("OK" if _guess(t1) == a // b else "LOW" if _guess(t1) < a // b
                              else "HIGH") for a, b, t1, _ in rows]
    rate = sum(wrong) / len(wrong)
    if slip == 0:
        assert rate == 0
    else:  # a slip flips the verdict for right guesses and for half the neighbours' slips
        assert 0.05 < rate < slip


@pytest.mark.parametrize("copy,slip", [(0.0, 0.0), (0.7, 0.25), (0.0, 0.4)])
def test_second_attempts_are_no_better_than_fresh_retries(copy, slip):
    """The data must hold no correction skill: given a wrong first attempt, the second is right
    exactly as often as a copy (never) or a fresh uniform guess (1/k) would be, whatever the
    first attempt's verdict said. An informed second attempt would beat this expectation."""
    world = WorldConfig(verdict=True, check_slip=slip, copy_propensity=copy)
    rows = _conversations(world, 12000, seed=1)
    first_right = sum(_guess(t1) == a // b for a, b, t1, _ in rows)
    second_right = sum(_guess(t2) == a // b for a, b, _, t2 in rows)
    # Same distribution in both turns: accuracies agree within ~4 standard errors.
    assert abs(first_right - second_right) < 4 * (2 * len(rows) * 0.25) ** 0.5
    for verdict in ("LOW", "HIGH", "OK"):
        after_wrong = [(a, b, t2) for a, b, t1, t2 in rows
                       if _guess(t1) != a // b and _verdict(t1) == verdict]
        if len(after_wrong) < 200:
            continue
        observed = sum(_guess(t2) == a // b for a, b, t2 in after_wrong)
        chances = [(1 - copy) / (lambda r: r[1] - r[0] + 1)(solver_guess_range(a, b, world))
                   for a, b, _ in after_wrong]
        expected, spread = sum(chances), sum(p * (1 - p) for p in chances) ** 0.5
        assert abs(observed - expected) < 4 * spread, (verdict, observed, expected)
