"""The built-in world: integer division by guess-and-check, with the check written out.

A problem is `a/b` with a = b*q + r (r < b); the gold answer is q = a // b. An attempt writes a
guess g, multiplies it out digit by digit, adds b, and commits:

    prompt   184/23
    attempt  7:7*3=21,7*2+2=16,161+23=184,LOW,A7

g is right iff g*b <= a < g*b + b. The written check (161 <= 184 < 184? no) tells a reader in
which direction a wrong guess is off, so a second attempt can beat a fresh retry only through
the information in the first: checking a candidate is easier than producing one. With
`world.verdict` the attempt also states the check's conclusion (LOW, OK or HIGH), which a tiny
model can read where it cannot compare the numbers; with `world.check_slip` the written
product is sometimes off by one divisor, so the stated verdict is sometimes wrong (noisy
verification); with `world.misread` the solver sometimes misreads the divisor and writes a
consistent attempt for the wrong number. The knobs act on every attempt of the solver, in
either turn, and `DivisionTask.mistake_kind` reads from an attempt's text which mistake it made.

Errors come from capability: the pretraining solver looks at the divisor rounded down to a
multiple of `solver_rounding` and guesses uniformly among the quotients that the rounded
bounds allow, like a person who only reads b's tens digit. The tiny model imitates it.
"""

from __future__ import annotations

import hashlib
import random
import re

from selfcorrect_cli.config import BUILTIN_SPLITS, WorldConfig
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks.base import Problem, Task
from selfcorrect_cli.tasks.prompts import BUILTIN_CORRECTION_INSTRUCTION

_ANSWER = re.compile(r"A(\d+)\s*$")
# The whole attempt as write_attempt lays it out; group 1 is the divisor its check is for. A
# slip on the guess 0 writes the product -b, hence the sign.
_ATTEMPT = re.compile(r"\d+:\d+\*\d+=\d+,\d+\*\d+\+\d+=\d+,"
                      r"-?\d+\+(\d+)=-?\d+,(?:(?:LOW|OK|HIGH),)?A\d+")


VERDICTS = ("LOW", "OK", "HIGH")
# Why an attempt is right or wrong (DivisionTask.mistake_kind), in the order tables show them.
MISTAKE_KINDS = ("right", "guess", "misread", "slip", "malformed")


def verdict_from_check(a: int, b: int, written_product: int) -> str:
    """What the written check says about the guess: LOW if a >= product + b, HIGH if
    product > a, else OK. It follows the *written* numbers, so a slip misleads it.

    >>> verdict_from_check(184, 23, 161), verdict_from_check(184, 23, 184), verdict_from_check(184, 23, 207)
    ('LOW', 'OK', 'HIGH')
    """
    if written_product > a:
        return "HIGH"
    return "LOW" if written_product + b <= a else "OK"


def write_attempt(a: int, b: int, guess: int, slip: int = 0, verdict: bool = False) -> str:
    """The written attempt for guess g on a/b: g*b in two digit steps, then product + b.

    `slip` (-1, 0 or +1) writes the product off by slip * b, an arithmetic slip in the check:
    the digit steps stay right, so a reader who re-checks can see it. `verdict` appends the
    check's conclusion (verdict_from_check on the written product) before the answer.

    >>> write_attempt(184, 23, 7)
    '7:7*3=21,7*2+2=16,161+23=184,A7'
    >>> write_attempt(184, 23, 7, verdict=True)
    '7:7*3=21,7*2+2=16,161+23=184,LOW,A7'
    >>> write_attempt(184, 23, 8, slip=1, verdict=True)
    '8:8*3=24,8*2+2=18,207+23=230,HIGH,A8'
    """
    units, tens = b % 10, b // 10
    low = guess * units
    high = guess * tens + low // 10
    product = high * 10 + low % 10 + slip * b
    conclusion = f"{verdict_from_check(a, b, product)}," if verdict else ""
    return (
        f"{guess}:{guess}*{units}={low},{guess}*{tens}+{low // 10}={high},"
        f"{product}+{b}={product + b},{conclusion}A{guess}"
    )


def stated_verdict(response: str) -> str | None:
    """The verdict an attempt states, or None if it states none.

    >>> stated_verdict("7:7*3=21,7*2+2=16,161+23=184,LOW,A7"), stated_verdict("7:7*3=21,A7")
    ('LOW', None)
    """
    parts = response.strip().split(",")
    return parts[-2] if len(parts) >= 2 and parts[-2] in VERDICTS else None


def true_verdict(guess: int, answer: int) -> str:
    """What an exact check would say about the guess.

    >>> true_verdict(7, 8), true_verdict(8, 8), true_verdict(9, 8)
    ('LOW', 'OK', 'HIGH')
    """
    return "OK" if guess == answer else ("LOW" if guess < answer else "HIGH")


def solver_guess_range(a: int, b: int, world: WorldConfig) -> tuple[int, int]:
    """Quotients the capability-limited solver considers: it only sees b rounded down.

    >>> solver_guess_range(184, 23, WorldConfig())   # sees 20..30: 184//30=6 .. 184//20=9
    (6, 9)
    """
    rounded = max(b - b % world.solver_rounding, 1)
    # The cap binds only for a misread divisor (a // b <= quotient_max for every problem), where
    # it keeps the solver's guesses to the quotients it knows problems have.
    low = min(a // (rounded + world.solver_rounding), world.quotient_max)
    high = min(a // rounded, world.quotient_max)
    return low, max(low, high)


def divisor_misreadings(b: int, world: WorldConfig) -> list[int]:
    """What b can be misread as: its leading digit one lower or one higher, where that is
    still a divisor of the world. The leading digit is the one the solver reads
    (solver_rounding), so misreading it changes its guesses; being off by one keeps them about
    as near the answer as its own guesses are (a uniformly drawn digit would put many at the
    ends of the quotient range, far from any answer).

    >>> divisor_misreadings(23, WorldConfig()), divisor_misreadings(17, WorldConfig())
    ([13, 33], [27])
    """
    place = 10 ** (len(str(b)) - 1)
    return [b + step * place for step in (-1, 1)
            if 1 <= b // place + step <= 9
            and world.divisor_min <= b + step * place <= world.divisor_max]


def misread_divisor(b: int, world: WorldConfig, rng: random.Random) -> int:
    """The divisor as the solver misreads it: one of divisor_misreadings, uniformly (b itself
    when there is none, so a narrow divisor range can leave misreads impossible).

    >>> misread_divisor(23, WorldConfig(), random.Random(0)) in (13, 33)
    True
    """
    readings = divisor_misreadings(b, world)
    return rng.choice(readings) if readings else b


def solve_like_pretraining_solver(a: int, b: int, world: WorldConfig, rng: random.Random) -> str:
    """One attempt from the process that wrote the pretraining data, for either turn: with
    probability `world.misread` it reads the divisor wrong (misread_divisor) and does all that
    follows for the number it read; a guess uniform over the solver's range; for an attempt
    that read b right, with probability `world.check_slip` a slip of +-b in the written
    product; the verdict if `world.verdict`. So a wrong attempt has one cause, the one
    `DivisionTask.mistake_kind` reads. Nothing here sees an earlier attempt."""
    # Draw only when a knob is on, so a world without it keeps its random stream (and data).
    read = (misread_divisor(b, world, rng)
            if world.misread > 0 and rng.random() < world.misread else b)
    low, high = solver_guess_range(a, read, world)
    guess = rng.randint(low, high)
    slip = (rng.choice((-1, 1))
            if read == b and world.check_slip > 0 and rng.random() < world.check_slip else 0)
    return write_attempt(a, read, guess, slip=slip, verdict=world.verdict)


def hash_split(a: int, b: int, world: WorldConfig) -> str:
    """The split of problem a/b, a fixed hash of (a, b) whatever the seed: one problem in
    `test_fraction_den` is test, one more validation (tuning and periodic evaluation), the
    rest train.

    >>> [hash_split(a, 23, WorldConfig()) for a in (187, 188, 195)]
    ['train', 'validation', 'test']
    """
    digest = hashlib.sha256(f"{a}/{b}".encode()).digest()
    residue = int.from_bytes(digest[:4], "big") % world.test_fraction_den
    return {0: "test", 1: "validation"}.get(residue, "train")


class DivisionTask(Task):
    """Built-in task; problems are generated, never downloaded."""

    name = "division"
    correction_instruction = BUILTIN_CORRECTION_INSTRUCTION

    def __init__(self, world: WorldConfig, order_seed: int = 0):
        self.world = world
        self.order_seed = order_seed
        self._splits: dict[str, list[Problem]] | None = None

    def load(self, split: str) -> list[Problem]:
        if split not in BUILTIN_SPLITS:
            raise UsageError(f"division task has splits {', '.join(BUILTIN_SPLITS)}, not {split!r}")
        if self._splits is None:
            self._splits = self._generate()
        return self._splits[split]

    def _generate(self) -> dict[str, list[Problem]]:
        world = self.world
        splits: dict[str, list[Problem]] = {split: [] for split in BUILTIN_SPLITS}
        for b in range(world.divisor_min, world.divisor_max + 1):
            for q in range(1, world.quotient_max + 1):
                for r in range(b):
                    a = b * q + r
                    low, high = solver_guess_range(a, b, world)
                    if high - low + 1 < world.min_candidates:
                        continue
                    split = hash_split(a, b, world)
                    splits[split].append(Problem(id=f"{a}/{b}", question=f"{a}/{b}", answer=str(q)))
        for problems in splits.values():
            random.Random(self.order_seed).shuffle(problems)
        return splits

    def first_prompt(self, problem: Problem) -> str:
        return problem.question

    def extract_answer(self, response: str) -> str | None:
        """The digits after the last `A` at the end of the attempt.

        >>> DivisionTask(WorldConfig()).extract_answer("7:7*3=21,7*2+2=16,161+23=184,A7")
        '7'
        >>> DivisionTask(WorldConfig()).extract_answer("7:7*3=21,") is None
        True
        """
        match = _ANSWER.search(response.strip())
        return match.group(1) if match else None

    def verify(self, problem: Problem, response: str) -> float:
        answer = self.extract_answer(response)
        return float(answer is not None and int(answer) == int(problem.answer))

    def mistake_kind(self, problem: Problem, response: str) -> str:
        """Why an attempt is right or wrong, read from its text against the problem, so the
        model's attempts get labels as well as the solver's:
        - "right": the answer is right (whatever the check says; the label follows the reward);
        - "malformed": wrong, and not laid out as an attempt;
        - "guess": a wrong guess whose check is correct for the problem's divisor, so the
          check (and its verdict) points the way;
        - "misread": the check is correct, but for another divisor than the prompt's;
        - "slip": the written check is wrong (a product, a step, the sum or the verdict does
          not hold for its own numbers, or it is about another guess than the answer).

        >>> task, problem = DivisionTask(WorldConfig()), Problem("184/23", "184/23", "8")
        >>> task.mistake_kind(problem, "8:8*3=24,8*2+2=18,184+23=207,OK,A8")
        'right'
        >>> task.mistake_kind(problem, "7:7*3=21,7*2+2=16,161+23=184,LOW,A7")
        'guess'
        >>> task.mistake_kind(problem, "5:5*3=15,5*3+1=16,165+33=198,OK,A5")   # read 33
        'misread'
        >>> task.mistake_kind(problem, "7:7*3=21,7*2+2=16,184+23=207,OK,A7")   # 7*23 is 161
        'slip'
        >>> task.mistake_kind(problem, "7:7*3=21,A7"), task.mistake_kind(problem, "")
        ('malformed', 'malformed')
        """
        text = response.strip()
        if self.verify(problem, text):
            return "right"
        layout = _ATTEMPT.fullmatch(text)
        if layout is None:
            return "malformed"
        a, b = map(int, problem.question.split("/"))
        guess, divisor = int(self.extract_answer(text)), int(layout.group(1))
        verdict = stated_verdict(text) is not None
        if text == write_attempt(a, b, guess, verdict=verdict):
            return "guess"
        if divisor not in (0, b) and text == write_attempt(a, divisor, guess, verdict=verdict):
            return "misread"
        return "slip"
