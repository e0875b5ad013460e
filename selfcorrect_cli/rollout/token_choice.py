"""How the next token is chosen from a step's logits: one temperature and top-p filter, two draws.

Every strategy (rollout/generation.py) chooses tokens the same way: greedy at temperature 0,
else the softmax at the temperature restricted to the nucleus (`nucleus`). What differs is how
a token is drawn from those probabilities, each the cheapest where its loop runs:
- `next_tokens`, the host loop's: one uniform per row against the running sum (inverse CDF);
- `choose`, the device loop's: the exponential race, which needs no host value and so fits in a
  CUDA graph (rollout/device_loop.py).
"""

from __future__ import annotations

import torch

from selfcorrect_cli.config import SamplingConfig


def nucleus(logits: torch.Tensor, temperature: float,
            top_p: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The probabilities at `temperature` (> 0), kept to the top-p nucleus.

    logits (B, V) -> (probs (B, V), order): with top_p < 1 the probabilities are sorted in
    descending order with every token outside the nucleus set to 0, and order (B, V) maps a
    sorted column back to its token id; with top_p >= 1 they are in token order and order is
    None.

    >>> probs, order = nucleus(torch.log(torch.tensor([[0.2, 0.5, 0.3]])), 1.0, 0.6)
    >>> [round(p, 2) for p in probs[0].tolist()], order[0].tolist()
    ([0.5, 0.3, 0.0], [1, 2, 0])
    """
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    if top_p >= 1.0:
        return probs, None
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs > top_p  # keep the first token
    return sorted_probs.masked_fill(outside, 0.0), order


def next_tokens(logits: torch.Tensor, sampling: SamplingConfig,
                generator: torch.Generator) -> torch.Tensor:
    """The host loop's choice: greedy at temperature 0, else a draw from the nucleus by
    inverse CDF, in the nucleus's sorted order. logits (B, V) -> (B,)"""
    if sampling.temperature <= 0:
        return logits.argmax(dim=-1)
    probs, order = nucleus(logits, sampling.temperature, sampling.top_p)
    picked = inverse_cdf_draw(probs, generator)
    return picked if order is None else order.gather(-1, picked[:, None]).squeeze(-1)


def inverse_cdf_draw(weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row, drawn with probability proportional to `weights` (B, V) >= 0.

    One uniform per row against the running sum: cheaper on a CPU than torch.multinomial, which
    draws an exponential for every vocabulary entry (`benchmarks/bench_sampling.py --tables
    draw`).

    >>> inverse_cdf_draw(torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]), torch.Generator())[0]
    tensor(1)
    """
    running = weights.cumsum(-1)  # (B, V)
    uniform = torch.rand((len(weights), 1), generator=generator, device=weights.device)
    # the first index whose running sum exceeds u * total: a zero weight is never picked, as
    # its running sum equals its predecessor's, except past the end when u * total rounds up
    # to the total, which the last positive weight's index catches
    picked = (running <= uniform * running[:, -1:]).sum(-1)
    last_positive = weights.shape[-1] - 1 - (weights.flip(-1) > 0).to(torch.uint8).argmax(-1)
    return torch.minimum(picked, last_positive)


def choose(logits: torch.Tensor, temperature: float, top_p: float,
           noise: torch.Tensor | None) -> torch.Tensor:
    """The device loop's choice: greedy at temperature 0, else a draw from the nucleus by the
    exponential race with the given Exp(1) `noise` (B, V). logits (B, V) -> (B,)

    Drawing E_i ~ Exp(1) for every token and taking argmax_i p_i / E_i picks token i with
    probability p_i (the minimum of independent exponentials E_i / p_i is the one with the
    largest rate).

    >>> logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    >>> int(choose(logits, 0.0, 1.0, None))
    0
    >>> int(choose(logits, 1.0, 1.0, torch.tensor([[1.0, 0.1, 1.0]])))  # 0.3 / 0.1 wins
    1
    >>> int(choose(logits, 1.0, 0.4, torch.tensor([[1.0, 0.1, 1.0]])))  # outside the nucleus
    0
    """
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs, order = nucleus(logits, temperature, top_p)
    if order is not None:  # back to token order, where the noise is drawn
        probs = torch.zeros_like(probs).scatter(-1, order, probs)
    # a zero draw would make 0 / 0 (a token outside the nucleus) a NaN, which argmax picks
    return (probs / noise.clamp_min(torch.finfo(noise.dtype).tiny)).argmax(dim=-1)  # (B,)


def device_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on `device` seeded from `generator`: sampling stays on the GPU (no copy of
    the (B, V) probabilities per step) and stays reproducible from the caller's seed."""
    if generator.device == device:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)
