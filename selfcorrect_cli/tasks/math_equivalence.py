"""Are two LaTeX answers the same mathematical object? math-verify, with a timeout that works anywhere.

math-verify's own timeouts use signal.alarm, which raises in any thread but the main one. We
turn them off (parsing_timeout=None, timeout_seconds=None) and bound the work ourselves:
- in the main thread, with our own SIGALRM timer around parse + verify;
- elsewhere (a worker thread), in a short-lived child process that we kill on timeout.
A timeout counts as "not equal": a reward of 0, never an error.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import signal
import threading

_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\ |\s|\^\{?\\circ\}?|\\\$|\$")


class _Timeout(BaseException):
    """Raised by our alarm; a BaseException so library `except Exception` blocks let it through."""


def normalize_latex(answer: str) -> str:
    """A cheap canonical spelling for the fast path (exact match after removing layout noise).

    >>> normalize_latex("\\\\left( 3, \\\\dfrac{\\\\pi}{2} \\\\right)")
    '(3,\\\\frac{\\\\pi}{2})'
    """
    text = _NOISE.sub("", answer)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text.rstrip(".")


def math_equal(gold: str, predicted: str | None, timeout_s: float = 5.0) -> bool:
    """True when `predicted` is mathematically equal to `gold` (both LaTeX, no $ needed).

    >>> math_equal("\\\\frac{1}{2}", "0.5"), math_equal("x^2+2x", "2x+x^2"), math_equal("3", "4")
    (True, True, False)
    """
    if predicted is None or not predicted.strip():
        return False
    if normalize_latex(gold) == normalize_latex(predicted):
        return True
    # loaded here, not under the timeout: the first import (sympy, the LaTeX grammar) can take
    # longer than timeout_s on a busy machine, and would fail a correct answer
    import math_verify  # noqa: F401
    if threading.current_thread() is threading.main_thread():
        return _verify_under_alarm(gold, predicted, timeout_s)
    return _verify_in_child_process(gold, predicted, timeout_s)


class _DropTimeoutDisabledNotice(logging.Filter):
    """math-verify warns that we turned its timeouts off; we did, on purpose (see above)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


def _parse_and_verify(gold: str, predicted: str) -> bool:
    import math_verify  # imported late: it pulls in sympy and the LaTeX grammar

    for name in ("math_verify.parser", "math_verify.grader"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTimeoutDisabledNotice) for f in logger.filters):
            logger.addFilter(_DropTimeoutDisabledNotice())

    gold_parsed = math_verify.parse(f"${gold}$", parsing_timeout=None)
    predicted_parsed = math_verify.parse(f"${predicted}$", parsing_timeout=None)
    if not gold_parsed or not predicted_parsed:
        return False
    return bool(math_verify.verify(gold_parsed, predicted_parsed, timeout_seconds=None))


def _verify_under_alarm(gold: str, predicted: str, timeout_s: float) -> bool:
    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return _parse_and_verify(gold, predicted)
    except _Timeout:
        return False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _child_main(connection, gold: str, predicted: str, timeout_s: float) -> None:
    try:
        # The child's only thread is its main thread, so the alarm works there.
        connection.send(_verify_under_alarm(gold, predicted, timeout_s))
    except Exception:  # noqa: BLE001 - any crash in the grader means "not equal"
        connection.send(False)
    finally:
        connection.close()


def _verify_in_child_process(gold: str, predicted: str, timeout_s: float) -> bool:
    # forkserver: forking a parent with live threads (torch, thread pools) can deadlock.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["math_verify"])
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(sender, gold, predicted, timeout_s), daemon=True)
    child.start()
    sender.close()
    try:
        if receiver.poll(timeout_s + 10.0):  # + start-up; the child stops itself at timeout_s
            return bool(receiver.recv())
        return False
    except EOFError:  # the child died without answering
        return False
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
