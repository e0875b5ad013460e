"""Pure helpers that find the final answer written in a math response.

Models end a solution in one of a few ways: the paper's line "Final Answer: The final answer
is $X$. I hope it is correct.", a LaTeX \\boxed{X}, or GSM8K's "#### X". These functions find
those spans; deciding whether an answer is right is the task's job.
"""

from __future__ import annotations

import re

_FINAL_ANSWER = re.compile(r"final answer is\s*:?\s*", re.IGNORECASE)
_HOPE = re.compile(r"\.?\s*I hope it is correct\.?\s*$", re.IGNORECASE | re.DOTALL)
_LABEL = re.compile(r"final answer\s*:\s*(the\s*)?$", re.IGNORECASE)
_BOX_COMMANDS = ("\\boxed", "\\fbox")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), with nested braces balanced.

    >>> last_boxed(r"so $\\boxed{\\frac{1}{2}}$ and then \\boxed{3}")
    '3'
    >>> last_boxed(r"answer: \\boxed{\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> last_boxed(r"\\boxed 7") , last_boxed(r"\\boxed{unclosed") , last_boxed("none")
    ('7', None, None)
    """
    start = max(text.rfind(command) for command in _BOX_COMMANDS)
    if start < 0:
        return None
    command = next(c for c in _BOX_COMMANDS if text.startswith(c, start))
    rest = text[start + len(command):]
    if rest.startswith(" "):  # "\boxed 7": the argument is the next token
        token = rest.split()[0] if rest.split() else ""
        return token.rstrip(".$") or None
    if not rest.startswith("{"):
        return None
    return _balanced_group(rest)


def _balanced_group(text: str) -> str | None:
    """The content of the brace group that opens `text`, or None when it never closes."""
    depth = 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[1:index]
    return None


def final_answer_statement(text: str) -> str | None:
    """X from the last "The final answer is $X$. I hope it is correct." in `text`.

    >>> final_answer_statement("... Final Answer: The final answer is $\\\\frac{3}{4}$. I hope it is correct.")
    '\\\\frac{3}{4}'
    >>> final_answer_statement("Final Answer: The final answer is 12")
    '12'
    >>> final_answer_statement("The final answer is positive, because ...") is None
    True
    """
    matches = list(_FINAL_ANSWER.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    tail = text[last.end():].split("\n")[0]  # the statement is one line
    hoped = _HOPE.search(tail) is not None
    tail = _HOPE.sub("", tail).strip()
    labelled = _LABEL.search(text[:last.start()]) is not None
    # Prose such as "The final answer is positive, because ..." is not a statement of the answer.
    if not (hoped or labelled or tail.startswith(("$", "\\(", "\\[", "\\boxed"))):
        return None
    answer = strip_math_delimiters(tail)
    return answer or None


def strip_math_delimiters(text: str) -> str:
    """Remove one layer of $...$ / \\(...\\) / \\boxed{...} and a trailing period.

    >>> strip_math_delimiters("$\\\\boxed{5}$.")
    '5'
    >>> strip_math_delimiters("\\\\(x^2\\\\)")
    'x^2'
    """
    text = text.strip().rstrip(".").strip()
    for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(opening) and text.endswith(closing) and len(text) > len(opening) + len(closing) - 1:
            text = text[len(opening): len(text) - len(closing)].strip()
            break
    boxed = last_boxed(text) if text.startswith(_BOX_COMMANDS) else None
    return (boxed if boxed is not None else text).strip().rstrip(".").strip()


def after_hashes(text: str) -> str | None:
    """The text after the last "####" marker (GSM8K's gold-answer format), up to the line end.

    >>> after_hashes("She makes 9 * 2 = $18.\\n#### 18")
    '18'
    >>> after_hashes("no marker") is None
    True
    """
    index = text.rfind("####")
    if index < 0:
        return None
    answer = text[index + 4:].strip().split("\n")[0].strip()
    return answer or None


def last_nonempty_line(text: str) -> str | None:
    """The last line with any text, with a leading "Answer:"-style label removed.

    >>> last_nonempty_line("work\\n\\nAnswer: 42\\n")
    '42'
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = re.sub(r"^(final answer|the answer is|answer)\s*[:=]?\s*", "", lines[-1], flags=re.IGNORECASE)
    return strip_math_delimiters(line) or None
