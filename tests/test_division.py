import hashlib
import random

import pytest

from selfcorrect_cli.config import WorldConfig
from selfcorrect_cli.tasks import division
from selfcorrect_cli.tasks.base import Problem
from selfcorrect_cli.tasks.division import (
    DivisionTask,
    divisor_misreadings,
    misread_divisor,
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
    # misread = 0: a misread attempt's verdict is right for the divisor it read (tested below)
    world = WorldConfig(verdict=True, check_slip=slip, misread=0.0)
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
    # misread = 0: the chances below are those of the prompt's divisor; the misreading world's
    # retries are tested against their own mixture further below
    world = WorldConfig(verdict=True, check_slip=slip, copy_propensity=copy, misread=0.0)
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


# --- mistakes of more than one kind: misreads, and the label of every attempt ---------------

KINDS = division.MISTAKE_KINDS




def _attempts_digest(world: WorldConfig) -> str:
    """A hash of the assistant turns of 2,000 pretraining conversations (five seeds) and of each
    generator's next draw, so that both the data and the random stream are pinned."""
    from selfcorrect_cli.config import ExperimentConfig
    from selfcorrect_cli.world.pretrain import pretraining_conversation

    cfg = ExperimentConfig()
    cfg.world, cfg.pretrain.two_turn_fraction = world, 0.5
    problems = DivisionTask(world).load("train")
    digest = hashlib.sha256()
    for seed in range(5):
        rng = random.Random(seed)
        for _ in range(400):
            a, b = map(int, rng.choice(problems).id.split("/"))
            attempts = [m["content"] for m in pretraining_conversation(cfg, a, b, rng)
                        if m["role"] == "assistant"]
            digest.update(("|".join(attempts) + "\n").encode())
        digest.update(repr(rng.random()).encode())
    return digest.hexdigest()[:16]


# Computed at commit 797db89, before world.misread existed.
@pytest.mark.parametrize("knobs, expected", [
    ({}, "589f4a12a9e8b18b"),
    ({"check_slip": 0.0}, "c7fde339ac88c6aa"),
    ({"verdict": False, "copy_propensity": 0.0, "check_slip": 0.4}, "6957425ddc4fbf7d"),
])
def test_without_misreads_the_data_is_bitwise_the_earlier_worlds(knobs, expected):
    assert _attempts_digest(WorldConfig(**knobs, misread=0.0)) == expected
    # the digest does see the knob: a misreading world writes other data
    assert _attempts_digest(WorldConfig(**knobs, misread=0.2)) != expected


def test_labels_name_the_cause_of_every_solver_attempt():
    task, world = DivisionTask(WorldConfig()), WorldConfig()
    for problem in task.load("test")[:300]:
        a, b = map(int, problem.id.split("/"))
        for guess in range(0, 10):
            def expect(kind):  # a right answer is "right", whatever its check says
                return "right" if guess == a // b else kind
            for verdict in (True, False):
                attempts = [(write_attempt(a, b, guess, verdict=verdict), expect("guess"))]
                attempts += [(write_attempt(a, b, guess, slip=slip, verdict=verdict), expect("slip"))
                             for slip in (-1, 1)]
                attempts += [(write_attempt(a, read, guess, verdict=verdict), expect("misread"))
                             for read in divisor_misreadings(b, world)]
                for attempt, kind in attempts:
                    assert task.mistake_kind(problem, attempt) == kind, attempt
        for junk in ("", "8", "9:9*3=", "A", "1:1*1=1,1*1+0=1,1+1=2,MAYBE,A1"):
            right = task.verify(problem, junk)
            assert task.mistake_kind(problem, junk) == ("right" if right else "malformed")


def test_a_check_about_another_guess_or_with_a_wrong_verdict_is_a_slip():
    task, problem = DivisionTask(WorldConfig()), Problem("184/23", "184/23", "8")
    assert task.mistake_kind(problem, "7:7*3=21,7*2+2=16,161+23=184,LOW,A6") == "slip"
    assert task.mistake_kind(problem, "7:7*3=21,7*2+2=16,161+23=184,OK,A7") == "slip"
    assert task.mistake_kind(problem, "7:7*3=22,7*2+2=16,161+23=184,LOW,A7") == "slip"


def test_a_misread_changes_the_leading_digit_by_one_within_the_divisor_range():
    assert divisor_misreadings(23, WorldConfig()) == [13, 33]
    assert divisor_misreadings(17, WorldConfig()) == [27]      # 07 is not two digits
    assert divisor_misreadings(95, WorldConfig()) == [85]
    assert divisor_misreadings(15, WorldConfig(divisor_max=19)) == []
    rng = random.Random(0)
    assert misread_divisor(15, WorldConfig(divisor_max=19), rng) == 15   # nothing else to read


def _fresh_kind_chances(a: int, b: int, world: WorldConfig) -> dict[str, float]:
    """The exact kind distribution of one fresh solver attempt on a/b, by enumeration."""
    q, chances = a // b, dict.fromkeys(KINDS, 0.0)
    readings = divisor_misreadings(b, world)
    misread = world.misread if readings else 0.0
    for read in readings:
        low, high = solver_guess_range(a, read, world)
        for guess in range(low, high + 1):
            kind = "right" if guess == q else "misread"
            chances[kind] += misread / len(readings) / (high - low + 1)
    low, high = solver_guess_range(a, b, world)
    for guess in range(low, high + 1):
        share = (1 - misread) / (high - low + 1)
        if guess == q:
            chances["right"] += share
        else:
            chances["slip"] += share * world.check_slip
            chances["guess"] += share * (1 - world.check_slip)
    return chances


def _written_divisor(attempt: str) -> int:
    return int(attempt.split(",")[2].split("+")[1].split("=")[0])


@pytest.mark.parametrize("misread, slip", [(0.0, 0.25), (0.3, 0.25), (0.3, 0.0), (0.6, 0.4)])
def test_each_kind_appears_at_its_intended_rate(misread, slip):
    world = WorldConfig(misread=misread, check_slip=slip)
    task, rows = DivisionTask(world), _conversations(world, 6000, seed=2)
    n = len(rows)
    # The causes, read off the text: the divisor written in the check is b' in a share
    # `misread` of attempts, and the product is off in a share (1 - misread) * slip.
    misreads = sum(_written_divisor(t1) != b for a, b, t1, _ in rows)
    assert abs(misreads - misread * n) <= 4 * (n * misread * (1 - misread)) ** 0.5
    slipped = [t1 for a, b, t1, _ in rows if _written_divisor(t1) == b
               and t1.split(",")[2].split("+")[0] != str(_guess(t1) * b)]
    p_slip = (1 - misread) * slip
    assert abs(len(slipped) - p_slip * n) <= 4 * (n * p_slip * (1 - p_slip)) ** 0.5
    # The labels, against the exact distribution of each sampled problem.
    chances = [_fresh_kind_chances(a, b, world) for a, b, _, _ in rows]
    for kind in KINDS:
        observed = sum(task.mistake_kind(Problem(f"{a}/{b}", f"{a}/{b}", str(a // b)), t1) == kind
                       for a, b, t1, _ in rows)
        expected = sum(c[kind] for c in chances)
        spread = sum(c[kind] * (1 - c[kind]) for c in chances) ** 0.5
        assert abs(observed - expected) <= 4 * spread + 1e-9, (kind, observed, expected)


# With c = 0.7 too few second attempts are fresh for the test to see a retry that merely avoids
# repeating its first attempt's kind; at c = 0.5 it does (checked by planting such a skill).
@pytest.mark.parametrize("copy, slip, misread", [(0.0, 0.25, 0.3), (0.5, 0.3, 0.3),
                                                 (0.0, 0.0, 0.5)])
def test_second_attempts_hold_no_skill_for_any_kind(copy, slip, misread):
    """Whatever kind the first attempt was, the second is a verbatim copy (probability c) or a
    fresh attempt whose kind depends on the problem alone: the count of each (first kind,
    second kind) pair matches that expectation within 4 standard deviations. A second attempt
    that fixed misreads, say, would show as too few misread -> misread pairs after a misread."""
    world = WorldConfig(misread=misread, check_slip=slip, copy_propensity=copy)
    task, rows = DivisionTask(world), _conversations(world, 12000, seed=3)
    labelled = []
    for a, b, t1, t2 in rows:
        problem = Problem(f"{a}/{b}", f"{a}/{b}", str(a // b))
        labelled.append((task.mistake_kind(problem, t1), task.mistake_kind(problem, t2),
                         _fresh_kind_chances(a, b, world)))
    for first in KINDS:
        after = [(second, chances) for kind, second, chances in labelled if kind == first]
        if len(after) < 200:
            continue
        for second in KINDS:
            chances = [copy * (second == first) + (1 - copy) * c[second] for _, c in after]
            observed = sum(kind == second for kind, _ in after)
            expected, spread = sum(chances), sum(p * (1 - p) for p in chances) ** 0.5
            assert abs(observed - expected) <= 4 * spread + 1e-9, (first, second, observed,
                                                                   expected)
