"""The host loop: one token per step for the whole batch, the host checking the stop tokens
after each. On a CPU the checks cost nothing and this is the fastest loop.

A model the lean decoder supports (rollout/static_decoder.py) decodes through its
`HostDecoder`, whose cache then carries into the next attempt of the same rows
(rollout/turn_cache.py); any other model decodes through its own forward and Hugging Face
cache (the plain-forward fallback), and every attempt is prefilled afresh.
"""

from __future__ import annotations

import torch

from selfcorrect_cli.config import SamplingConfig
from selfcorrect_cli.rollout import static_decoder
from selfcorrect_cli.rollout.models import stop_token_ids
from selfcorrect_cli.rollout.prefill import Prefill, prefill, trim
from selfcorrect_cli.rollout.token_choice import device_generator, next_tokens
from selfcorrect_cli.rollout.turn_cache import TurnCache


class HostLoop:
    """The strategy (rollout/generation.py) for every model off CUDA, and on CUDA for models
    the lean decoder does not support."""

    name = "host"

    @torch.no_grad()
    def sample(self, model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
               generator: torch.Generator,
               previous: TurnCache | None) -> tuple[list[list[int]], TurnCache | None]:
        generator = device_generator(generator, model.device)
        stops = torch.tensor(stop_token_ids(model, tokenizer), device=model.device)
        resumed = (previous.resume(prompts, tokenizer.pad_token_id, sampling.max_new_tokens)
                   if previous is not None else None)
        if resumed is not None:  # the cache held each prompt's start: only the rest was fed
            decoder, start = previous.decoder, Prefill(None, None, *resumed)
        else:
            decoder, start = None, prefill(model, tokenizer.pad_token_id, prompts)
        rows, decoder, fed = _loop(model, tokenizer.pad_token_id, stops, start, sampling,
                                   generator, decoder)
        rows = trim(rows, stops.tolist())
        if decoder is None:  # the plain-forward fallback: no cache to hand on
            return rows, None
        return rows, TurnCache.after(decoder, prompts, rows, fed)


def _loop(model, pad_id: int, stops: torch.Tensor, start: Prefill, sampling: SamplingConfig,
          generator: torch.Generator, decoder: static_decoder.HostDecoder | None):
    """Continues `decoder` when given (its cache already holds the prompts), else starts from
    the prefill, with the lean decoder where the model allows. -> (rows of sampled ids, the
    decoder or None, how many sampled columns were fed back: the cache holds each row's first
    `fed` response tokens, padding after a stop kept out of attention)."""
    cache, mask, logits = start.cache, start.mask, start.logits
    next_position = start.next_position
    if decoder is None and static_decoder.supports(model):
        decoder = static_decoder.HostDecoder(model, cache, mask, sampling.max_new_tokens)
    finished = torch.zeros(len(logits), dtype=torch.bool, device=logits.device)
    generated = []
    fed = 0
    for step in range(sampling.max_new_tokens):
        token = next_tokens(logits, sampling, generator)
        token = token.masked_fill(finished, pad_id)
        generated.append(token)
        real = ~finished
        finished |= torch.isin(token, stops)
        if bool(finished.all()) or step == sampling.max_new_tokens - 1:
            break
        if decoder is not None:
            logits = decoder.step(token, next_position, real)
            fed += 1
        else:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            out = model(input_ids=token[:, None], attention_mask=mask, position_ids=next_position,
                        cache=cache, use_cache=True)
            cache = out.cache
            logits = out.logits[:, -1]
        next_position = next_position + 1
    return torch.stack(generated, dim=1).tolist(), decoder, fed
