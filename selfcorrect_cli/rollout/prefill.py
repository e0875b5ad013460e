"""What every decoding loop starts from and ends with: the prompts' forward pass (`prefill`),
left padding, and cutting sampled rows at their stop token."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Prefill:
    """The prompts' forward pass, which every loop starts from."""

    cache: object  # the model's KV cache over the prompts
    mask: torch.Tensor  # (B, T) 1 for prompt tokens, 0 for left padding
    logits: torch.Tensor  # (B, V) next-token logits after each prompt
    next_position: torch.Tensor  # (B, 1) position of the first generated token


def prefill(model, pad_id: int, prompts: list[list[int]]) -> Prefill:
    """The prompts' forward pass, each distinct prompt once (a problem's n samples share
    theirs), its cache rows then copied out to every row that asked for it."""
    distinct: dict[tuple, int] = {}
    row_of = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
    unique = [list(p) for p in distinct]
    ids, mask = left_pad(unique, pad_id, model.device)  # (U, T)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding must not shift positions
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                logits_to_keep=1)
    cache, logits = out.cache, out.logits[:, -1]
    del out
    if len(unique) < len(prompts):
        index = torch.tensor(row_of, device=model.device)
        cache.reorder_cache(index)  # index_select along the batch: an expansion here
        mask, logits, positions = mask[index], logits[index], positions[index]
    return Prefill(cache, mask, logits, positions[:, -1:] + 1)


def left_pad(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """-> ids (B, T) and mask (B, T), each prompt right-aligned after `pad_id`s (mask 0)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    return ids.to(device), mask.to(device)


def trim(rows: list[list[int]], stops: list[int]) -> list[list[int]]:
    """Cut each row after its first stop token (kept) or at the end.

    >>> trim([[5, 2, 0, 0], [5, 6, 7]], stops=[2])
    [[5, 2], [5, 6, 7]]
    """
    trimmed = []
    for row in rows:
        end = next((i + 1 for i, tok in enumerate(row) if tok in stops), len(row))
        trimmed.append(row[:end])
    return trimmed
