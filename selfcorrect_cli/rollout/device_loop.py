"""The GPU decoding loop: every per-token operation stays on the device, one CUDA graph per call.

The host loop (rollout/host_loop.py) asks the device a question every token (are all rows done?),
and each of a decode step's few hundred kernels is launched from Python. Here one step is
`advance`: the lean decode step (static_decoder.DeviceDecoder.forward, at a fixed width), the choice of the
next token, and the bookkeeping (stop tokens, finished rows, the output buffer, the next slot
and positions), all written in place into tensors allocated before the first step. Every call
of `advance` therefore has the same shapes and reads no host value, so on CUDA it is recorded
once into a CUDA graph and replayed per token; the host looks at the finished rows only every
CHECK_EVERY steps.

Sampling inside the graph: the exponential race (token_choice.choose). The noise is drawn from
the caller's generator into a fixed buffer before each replay, outside the graph, so graphs need
no RNG support and a seed gives the same tokens with or without graphs.

The decoder's cache carries into the next attempt of the same rows (rollout/turn_cache.py), as
in the host loop: the next prompt's rest is fed as one block, then decoding goes on from there.

Everything except `capture_graph` runs on any device, so the CPU tests run this exact loop
eagerly (tests/test_fast_rollout.py, tests/test_turn_cache.py); `capture_graph` is the only
CUDA-only code.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from selfcorrect_cli.config import SamplingConfig
from selfcorrect_cli.rollout.models import stop_token_ids
from selfcorrect_cli.rollout.prefill import prefill, trim
from selfcorrect_cli.rollout.static_decoder import DeviceDecoder
from selfcorrect_cli.rollout.token_choice import choose, device_generator
from selfcorrect_cli.rollout.turn_cache import TurnCache

CHECK_EVERY = 16
"""Steps between the host's looks at the finished rows (each look waits for the device)."""


@dataclass(frozen=True)
class DeviceLoop:
    """The strategy (rollout/generation.py): the loop below, with its step recorded as a CUDA
    graph when `graphs` (CUDA only) or run eagerly (any device: tests, debugging)."""

    graphs: bool

    @property
    def name(self) -> str:
        return "graph" if self.graphs else "device"

    @torch.no_grad()
    def sample(self, model, tokenizer, prompts: list[list[int]], sampling: SamplingConfig,
               generator: torch.Generator,
               previous: TurnCache | None) -> tuple[list[list[int]], TurnCache]:
        generator = device_generator(generator, model.device)
        stops = torch.tensor(stop_token_ids(model, tokenizer), device=model.device)
        resumed = (previous.resume(prompts, tokenizer.pad_token_id, sampling.max_new_tokens)
                   if previous is not None else None)
        if resumed is not None:  # the cache held each prompt's start: only the rest was fed
            decoder, (logits, next_position) = previous.decoder, resumed
        else:
            start = prefill(model, tokenizer.pad_token_id, prompts)
            decoder = DeviceDecoder(model, start.cache, start.mask, sampling.max_new_tokens)
            start.cache = None  # copied into the decoder's buffers; free it before decoding
            logits, next_position = start.logits, start.next_position
        choice = Choice(sampling.temperature, sampling.top_p, tokenizer.pad_token_id, stops)
        chosen = decode(decoder, logits, next_position, sampling.max_new_tokens, choice,
                        generator, graphs=self.graphs)
        fed = decoder.keep_attempt(chosen, stops)
        rows = trim(chosen.tolist(), stops.tolist())
        return rows, TurnCache.after(decoder, prompts, rows, fed)


@dataclass
class LoopState:
    """The tensors one step reads and writes in place (a CUDA graph replays on these)."""

    token: torch.Tensor  # (B,) the last chosen token, the next step's input
    position: torch.Tensor  # (B, 1) its position
    slot: torch.Tensor  # (1,) the cache slot it goes to
    finished: torch.Tensor  # (B,) bool: the row has emitted a stop token
    out: torch.Tensor  # (B, max_new_tokens) chosen tokens, pad after a row's stop
    count: torch.Tensor  # (1,) tokens chosen so far (the next column of `out`)
    noise: torch.Tensor | None  # (B, V) float32 Exp(1) draws, None when greedy


@dataclass
class Choice:
    """How tokens are chosen; fixed for a call, so a graph can bake them in."""

    temperature: float
    top_p: float
    pad_id: int
    stops: torch.Tensor  # (S,) stop token ids, on the device


def record(state: LoopState, logits: torch.Tensor, choice: Choice) -> None:
    """Choose the next tokens from `logits` (B, V) and book them, in place."""
    token = choose(logits, choice.temperature, choice.top_p, state.noise)
    token = token.masked_fill(state.finished, choice.pad_id)
    state.out.index_copy_(1, state.count, token[:, None])
    state.count += 1
    state.finished |= (token[:, None] == choice.stops).any(-1)
    state.token.copy_(token)


def advance(decoder, state: LoopState, choice: Choice) -> None:
    """One decode step at the decoder's full width, then `record`: shapes never change."""
    logits = decoder.forward(state.token, state.position, state.slot)
    state.slot += 1
    state.position += 1
    record(state, logits, choice)


def start(logits: torch.Tensor, next_position: torch.Tensor, width: int, max_new_tokens: int,
          choice: Choice) -> LoopState:
    """The loop's tensors before the first token: nothing chosen, the first slot is `width`."""
    batch, vocab = logits.shape
    device = logits.device
    return LoopState(
        token=torch.zeros(batch, dtype=torch.long, device=device),
        position=next_position.clone(),
        slot=torch.tensor([width], device=device),
        finished=torch.zeros(batch, dtype=torch.bool, device=device),
        out=torch.full((batch, max_new_tokens), choice.pad_id, dtype=torch.long, device=device),
        count=torch.zeros(1, dtype=torch.long, device=device),
        noise=(torch.empty(batch, vocab, dtype=torch.float32, device=device)
               if choice.temperature > 0 else None),
    )


@torch.no_grad()
def decode(decoder, logits: torch.Tensor, next_position: torch.Tensor, max_new_tokens: int,
           choice: Choice, generator: torch.Generator, graphs: bool) -> torch.Tensor:
    """Up to `max_new_tokens` tokens per row after a prefill -> (B, n) chosen tokens, pad after
    each row's stop token; n < max_new_tokens only when every row stopped (found at most
    CHECK_EVERY - 1 steps late). With `graphs` (CUDA only) steps after the first are replays."""
    state = start(logits, next_position, decoder.length, max_new_tokens, choice)  # length: width

    def draw() -> None:
        if state.noise is not None:
            state.noise.exponential_(generator=generator)

    def step() -> None:
        advance(decoder, state, choice)

    draw()
    record(state, logits, choice)  # the first token comes from the prefill
    run: Callable[[], None] = step
    capture = graphs
    done = 1
    while done < max_new_tokens and not bool(state.finished.all()):
        for _ in range(min(CHECK_EVERY, max_new_tokens - done)):
            draw()
            if capture:  # the capture's warm-up is this step
                run, capture = capture_graph(step, logits.device) or step, False
            else:
                run()
            done += 1
    return state.out[:, :done]


def capture_graph(step: Callable[[], None], device: torch.device) -> Callable[[], None] | None:
    """Run `step` once on a side stream (the warm-up capture needs, and the loop's real next
    step), then record it into a CUDA graph: the returned replay repeats `step`. On a failed
    capture, warn and return None; the caller keeps calling `step` (same results, slower)."""
    if device.type != "cuda":
        raise ValueError(f"CUDA graphs need a CUDA device, not {device}")
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        # thread_local: CUDA calls from other threads do not invalidate this capture
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            step()  # recorded, not run: the state is exactly as the warm-up left it
    except RuntimeError as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        warnings.warn(f"CUDA graph capture failed ({message}); decoding continues without "
                      "graphs, same tokens, slower", RuntimeWarning, stacklevel=3)
        return None
    return graph.replay
