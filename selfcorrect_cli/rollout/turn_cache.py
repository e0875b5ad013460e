"""A finished attempt's KV cache, carried into the next attempt of the same conversations.

The next attempt's prompt is the whole conversation so far, rendered again by the chat
template. For a template that renders a conversation's prefix as a prefix of the whole (all
common ones do), it starts with the previous prompt and the tokens just sampled, whose keys and
values the cache already holds; only the rest (the end of the assistant turn, the correction
instruction, the next generation prompt) needs a forward pass. On the built-in world that is a
third of the turn-2 prompt. The re-rendered ids are compared with what the cache holds, row by
row: if any row differs (a tokenizer that merges across the boundary another way), the whole
batch is prefilled afresh instead, so the tokens fed are always the prompt's own.

Both of our loops keep one where the model has a lean decoder (rollout/static_decoder.py): the
host loop (rollout/host_loop.py) and the device loop (rollout/device_loop.py); `generate` and
the host loop's plain-forward fallback do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from selfcorrect_cli.rollout.static_decoder import LeanDecoder


@dataclass
class TurnCache:
    decoder: LeanDecoder
    held: list[list[int]]
    """Per row, the tokens whose keys and values the cache holds; token i sits at position i."""

    def repeat_rows(self, times: int) -> TurnCache:
        """Each row `times` times in a row (tree rollouts: m second attempts per first)."""
        index = torch.arange(len(self.held), device=self.decoder.allowed.device)
        self.decoder.select_rows(index.repeat_interleave(times))
        return TurnCache(self.decoder, [row for row in self.held for _ in range(times)])

    @classmethod
    def after(cls, decoder: LeanDecoder, prompts: list[list[int]], rows: list[list[int]],
              fed: int) -> TurnCache:
        """The cache an attempt leaves: each row's prompt and the first `fed` tokens of its
        (trimmed) response, which are what the decoder was fed."""
        return cls(decoder, [p + r[:fed] for p, r in zip(prompts, rows)])

    def resume(self, prompts: list[list[int]], pad_id: int,
               max_new_tokens: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Feed what each prompt adds to the cache -> the logits after each prompt and the
        position of its first new token (`extend`); None when the prompts do not continue the
        cache (`rest`), and the caller prefills them afresh."""
        rest = self.rest(prompts)
        return None if rest is None else self.extend(rest, pad_id, max_new_tokens)

    def rest(self, prompts: list[list[int]]) -> list[list[int]] | None:
        """Each prompt's tokens after what the cache holds, or None when some prompt does not
        start with its row's held tokens or adds nothing (the logits after it are not kept)."""
        if len(prompts) != len(self.held):
            return None
        rest = []
        for prompt, held in zip(prompts, self.held):
            if len(prompt) <= len(held) or prompt[:len(held)] != held:
                return None
            rest.append(prompt[len(held):])
        return rest

    def extend(self, rest: list[list[int]], pad_id: int,
               max_new_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed each row's remaining prompt tokens, right-aligned in one block -> the logits
        after each prompt (B, V) and the position of each row's first new token (B, 1)."""
        device = self.decoder.allowed.device
        width = max(map(len, rest))
        tokens = torch.full((len(rest), width), pad_id, dtype=torch.long)
        positions = torch.zeros((len(rest), width), dtype=torch.long)
        real = torch.zeros((len(rest), width), dtype=torch.bool)
        for row, (extra, held) in enumerate(zip(rest, self.held)):
            tokens[row, width - len(extra):] = torch.tensor(extra)
            positions[row, width - len(extra):] = torch.arange(len(held), len(held) + len(extra))
            real[row, width - len(extra):] = True
        logits = self.decoder.extend(tokens.to(device), positions.to(device), real.to(device),
                                     then_new=max_new_tokens)
        next_position = torch.tensor([[len(h) + len(e)] for h, e in zip(self.held, rest)],
                                     device=device)
        return logits, next_position
