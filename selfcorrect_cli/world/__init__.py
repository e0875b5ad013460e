"""The built-in world's model: the character tokenizer, the tiny Llama, and its pretraining.

The world's task itself (integer division by guess-and-check) is tasks/division.py, so the
task factory names every task in one place.
May import: config, errors, io, tasks, rollout.
"""
