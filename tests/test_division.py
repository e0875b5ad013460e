import random

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
