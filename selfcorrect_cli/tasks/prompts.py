"""Turn layout and correction instructions: the one place that says what each turn holds.

A conversation for attempt t is the chat
    user: x1 (the task's first prompt)
    assistant: y1
    user: <correction instruction>
    assistant: y2
    ... (the instruction is repeated after every attempt)
and it always goes through the tokenizer's chat template, so a real chat model and the
built-in model take the same path.
"""

# The paper's instruction for math (SCoRe, Kumar et al. 2024, section 6), with its request for
# the final answer in a fixed form.
MATH_CORRECTION_INSTRUCTION = (
    "There might be an error in the solution above because of lack of understanding of the "
    "question. Please correct the error, if any, and rewrite the solution. Only output the "
    "final solution! At the end of the Solution, when you give your final answer, write it in "
    "the form \"Final Answer: The final answer is $answer$. I hope it is correct.\""
)

# The same idea for code, phrased as a Python comment, as in the paper's MBPP/HumanEval runs.
CODE_CORRECTION_INSTRUCTION = (
    "# There might be an error in the code above because of lack of understanding of the "
    "question. Please correct the error, if any, and rewrite the solution. Only output the "
    "final correct Python program!"
)

# The built-in world's tokenizer spells text one character per token, so its instruction is
# short; it carries no hint about what is wrong.
BUILTIN_CORRECTION_INSTRUCTION = "check and retry"


def conversation(first_prompt: str, attempts: list[str], instruction: str) -> list[dict]:
    """The chat messages that ask for attempt len(attempts) + 1.

    >>> conversation("2+2?", ["5"], "retry")
    [{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '5'}, \
{'role': 'user', 'content': 'retry'}]
    """
    messages = [{"role": "user", "content": first_prompt}]
    for attempt in attempts:
        messages.append({"role": "assistant", "content": attempt})
        messages.append({"role": "user", "content": instruction})
    return messages


# First-turn prompts of the real tasks (x1). The math wording is the paper's (SCoRe, appendix):
# the model is asked for one solution that ends in a fixed final-answer line, which the
# graders parse.
MATH_FIRST_PROMPT = (
    "You are a math expert. When you respond, respond only with the Solution of the final "
    "Problem, thinking step by step. At the end of the Solution, when you give your final "
    "answer, write it in the form \"Final Answer: The final answer is $answer$. I hope it is "
    "correct.\"\n\nProblem:\n{question}\n\nSolution:"
)

# GSM8K answers are numbers; the same final-answer line keeps one extraction path for all math.
GSM8K_FIRST_PROMPT = MATH_FIRST_PROMPT

# MBPP's own prompt (Austin et al. 2021): the description and its tests, asking for a program.
MBPP_FIRST_PROMPT = (
    "You are an expert Python programmer, and here is your task: {question} Your code should "
    "pass these tests:\n\n{tests}\n\nWrite the complete Python program in one ```python code "
    "block."
)

# HumanEval gives a signature and docstring; the model writes the whole function.
HUMANEVAL_FIRST_PROMPT = (
    "Complete the following Python function. Write the complete function, including the "
    "signature, in one ```python code block.\n\n```python\n{question}```"
)
