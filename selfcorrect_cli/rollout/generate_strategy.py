"""The reference strategy: transformers' `generate` with the same settings (sampling.backend
"hf"), what the benchmarks and the equality tests compare our loops against."""

from __future__ import annotations

import torch

from selfcorrect_cli.config import SamplingConfig
from selfcorrect_cli.rollout.models import stop_token_ids
from selfcorrect_cli.rollout.prefill import left_pad, trim
from selfcorrect_cli.rollout.turn_cache import TurnCache


class Generate:
    name = "generate"

    @torch.no_grad()
    def sample(self, model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
               generator: torch.Generator, previous: TurnCache | None) -> tuple[list[list[int]], None]:
        """Every attempt from a fresh prompt: generate keeps no cache between calls."""
        ids, mask = left_pad(prompts, tokenizer.pad_token_id, model.device)
        greedy = sampling.temperature <= 0
        # generate draws from the global RNG; seed it from our generator to stay reproducible
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        stops = stop_token_ids(model, tokenizer)
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=sampling.max_new_tokens,
            do_sample=not greedy, temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p, top_k=None,
            eos_token_id=stops, pad_token_id=tokenizer.pad_token_id,
        )
        return trim(out[:, ids.shape[1]:].tolist(), stops), None
