"""A lean decode step for Llama-family models, over a preallocated (static) KV cache.

Why: at the built-in world's size (hidden 64) a decode step is a few dozen tiny tensor ops,
and Hugging Face's per-call machinery (mask building, cache objects growing by concatenation,
output dataclasses) costs more than the arithmetic; on a GPU the same overhead is kernel
launches, which a CUDA graph removes once every step has the same shapes (rollout/device_loop.py).
The prompt is still prefilled by the model's own forward; each later token goes through one of
two decoders, which read the same weights and compute the same function (RMSNorm in
float32, rotary embeddings from the model's own rotary module, so any static rope scaling it
applies, grouped-query attention, SwiGLU MLP), writing keys and values in place into buffers
sized for the whole generation. Greedy output equals `generate` (tests/test_generation.py,
tests/test_fast_rollout.py). The two differ in how a step is addressed:
- `HostDecoder.step`: the slot and the attended width follow a host counter and the width grows
  by one slot per call (the host loop, rollout/host_loop.py; slicing is the cheapest on a CPU);
- `DeviceDecoder.forward`: the slot is a device tensor and the width fixed, so every call has
  the same shapes and reads no host value (the device loop, rollout/device_loop.py, whose step
  a CUDA graph records); query heads that share a key/value head are folded into the query
  length, so attention reads each cached head once and needs no grouped-query support from the
  attention kernel (equal to the plain form up to rounding).
Both can take a block of prompt tokens after a finished attempt (`extend`), which is how an
attempt's cache carries into the next (rollout/turn_cache.py).

Only architectures whose decoder layer is exactly that (model_type in SUPPORTED) with a rope
that does not depend on the sequence length use it; any other model keeps the Hugging Face loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

SUPPORTED = ("llama", "qwen2")  # Llama layers; Qwen2 adds biases to q, k, v, which we apply
# These ropes change their frequencies with the sequence length, so one table cannot hold them.
LENGTH_DEPENDENT_ROPES = ("dynamic", "longrope")


def supports(model) -> bool:
    config = model.config
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default")
    return (getattr(config, "model_type", None) in SUPPORTED
            and getattr(config, "hidden_act", "silu") == "silu"
            and not getattr(config, "use_sliding_window", False)
            and rope not in LENGTH_DEPENDENT_ROPES)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LeanDecoder:
    """The cache buffers and the arithmetic both decoders share; see HostDecoder, DeviceDecoder."""

    round_to = 1  # buffers rounded up to a multiple of this many slots

    def __init__(self, model, prefill_cache, prompt_mask: torch.Tensor, max_new_tokens: int):
        self.model = model
        self.config = model.config
        self.eps = self.config.rms_norm_eps
        batch, width = prompt_mask.shape
        # rounding the buffer up to a multiple keeps fused attention kernels on aligned rows
        self.capacity = -(-(width + max_new_tokens) // self.round_to) * self.round_to
        self.keys, self.values = [], []
        for layer in prefill_cache.layers:  # (B, kv_heads, T, head_dim) each
            k = layer.keys.new_zeros(*layer.keys.shape[:2], self.capacity, layer.keys.shape[-1])
            v = torch.zeros_like(k)
            k[:, :, :width], v[:, :, :width] = layer.keys, layer.values
            self.keys.append(k)
            self.values.append(v)
        # (B, 1, 1, capacity): which cached slots each row may attend to (not its left pads)
        self.allowed = torch.zeros(batch, 1, 1, self.capacity, dtype=torch.bool,
                                   device=prompt_mask.device)
        self.allowed[:, 0, 0, :width] = prompt_mask.bool()
        self._rotary_tables()
        self.length = width

    def _rotary_tables(self) -> None:
        """(capacity, head_dim) cos and sin: the model's own rotary module, evaluated once per
        position; it is elementwise in the position, so a row equals what a per-step call gives.
        A position never exceeds its slot, so `capacity` rows cover every position written."""
        every = torch.arange(self.capacity, device=self.allowed.device)[None]
        cos, sin = self.model.model.rotary_emb(self.keys[0], every)
        self.cos, self.sin = cos[0], sin[0]

    @torch.no_grad()
    def extend(self, tokens: torch.Tensor, positions: torch.Tensor, real: torch.Tensor,
               then_new: int) -> torch.Tensor:
        """Append a block of tokens (B, S) at `positions` (B, S) to every row, as a prefill
        would, and make room for `then_new` more; -> the logits after the block's last column.

        `real` (B, S) bool marks each row's tokens; the rest are padding that nothing attends
        to. Right-align each row's tokens so the last column is every row's newest token."""
        width = tokens.shape[1]
        self.grow(self.length + width + then_new)
        slots = slice(self.length, self.length + width)
        self.allowed[:, 0, 0, slots] = real
        seen = self.allowed[..., :self.length + width].expand(-1, -1, width, -1).clone()
        # within the block, column i sees columns up to i (causal), and only real ones
        seen[..., slots] &= torch.ones(width, width, dtype=torch.bool,
                                       device=tokens.device).tril()
        logits = self._run(tokens, positions, seen, self._write_from(self.length),
                           self.length + width, fold=False)
        self.length += width
        return logits

    def grow(self, capacity: int) -> None:
        """Reallocate the buffers for at least `capacity` slots, keeping what is written."""
        if capacity <= self.capacity:
            return
        capacity = -(-capacity // self.round_to) * self.round_to
        for buffers in (self.keys, self.values):
            for i, old in enumerate(buffers):
                buffers[i] = old.new_zeros(*old.shape[:2], capacity, old.shape[-1])
                buffers[i][:, :, :self.length] = old[:, :, :self.length]
        allowed = self.allowed.new_zeros(*self.allowed.shape[:3], capacity)
        allowed[..., :self.length] = self.allowed[..., :self.length]
        self.allowed, self.capacity = allowed, capacity
        self._rotary_tables()

    def select_rows(self, index: torch.Tensor) -> None:
        """Keep rows `index` (B',) of the cache, in that order; repeats copy a row (trees)."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]
        self.allowed = self.allowed.index_select(0, index)

    def _write_from(self, slot: int) -> Callable[[int, torch.Tensor, torch.Tensor], None]:
        """A writer of one layer's new keys and values (B, KV, S, hd) into slots slot.. by
        slicing (a host int: the cheapest on a CPU)."""
        def write(index: int, k: torch.Tensor, v: torch.Tensor) -> None:
            end = slot + k.shape[2]
            self.keys[index][:, :, slot:end], self.values[index][:, :, slot:end] = k, v
        return write

    def _run(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor,
             write: Callable, width: int, fold: bool) -> torch.Tensor:
        """tokens (B, S) at positions (B, S), their keys and values stored by `write`, each
        column attending as `mask` (B, 1, S, width) allows -> logits after the last column
        (B, V). `fold` (one column only): fold query-head groups onto their key/value head."""
        inner = self.model.model
        x = inner.embed_tokens(tokens)  # (B, S, D)
        cos = F.embedding(positions, self.cos)[:, None]  # (B, 1, S, hd): the rows' positions
        sin = F.embedding(positions, self.sin)[:, None]
        for index, layer in enumerate(inner.layers):
            x = x + self._attention(layer.self_attn, _rms_norm(
                x, layer.input_layernorm.weight, self.eps), cos, sin, index, mask, write, width,
                fold)
            h = _rms_norm(x, layer.post_attention_layernorm.weight, self.eps)
            mlp = layer.mlp
            x = x + mlp.down_proj(F.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
        x = _rms_norm(x[:, -1], inner.norm.weight, self.eps)  # only the last column's logits
        return self.model.lm_head(x)  # (B, V)

    def _attention(self, attn, h, cos, sin, index, mask, write, width, fold) -> torch.Tensor:
        batch, block = h.shape[:2]
        head_dim = attn.head_dim
        q = attn.q_proj(h).view(batch, block, -1, head_dim).transpose(1, 2)  # (B, H, S, hd)
        k = attn.k_proj(h).view(batch, block, -1, head_dim).transpose(1, 2)  # (B, KV, S, hd)
        v = attn.v_proj(h).view(batch, block, -1, head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        write(index, k, v)
        keys, values = self.keys[index][:, :, :width], self.values[index][:, :, :width]
        if fold:
            # heads kv*G .. kv*G+G-1 share key/value head kv (as Hugging Face's repeat_kv has it)
            q = q.reshape(batch, keys.shape[1], -1, head_dim)  # (B, KV, G, hd)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask,
                                                 scale=attn.scaling)  # (B, KV, G, hd)
            return attn.o_proj(out.reshape(batch, 1, -1))  # (B, 1, D)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=attn.scaling,
                                             enable_gqa=keys.shape[1] != q.shape[1])
        return attn.o_proj(out.transpose(1, 2).reshape(batch, block, -1))  # (B, S, D)


class HostDecoder(LeanDecoder):
    """One token per call, addressed by a host counter: the host loop's decoder."""

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, positions: torch.Tensor,
             real: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B,), positions (B, 1) -> next-token logits (B, V); advances the host counter.

        `real` (B,) bool: rows whose token is part of the text; the others (padding fed to rows
        that already stopped) are kept out of every later step's attention, so the cache can
        carry on into a next turn (rollout/turn_cache.py)."""
        slot = self.length
        self.allowed[:, 0, 0, slot] = True
        mask = self.allowed[..., :slot + 1]  # (B, 1, 1, width)
        logits = self._run(tokens[:, None], positions, mask, self._write_from(slot), slot + 1,
                           fold=False)
        if real is not None:
            self.allowed[:, 0, 0, slot] = real
        self.length += 1
        return logits


class DeviceDecoder(LeanDecoder):
    """One token per call at a fixed width, addressed by a device tensor: the device loop's
    decoder, whose call a CUDA graph records."""

    round_to = 16

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor, positions: torch.Tensor,
                slot: torch.Tensor) -> torch.Tensor:
        """Feed `tokens` (B,) at `positions` (B, 1), cached at `slot` (1,), attending over
        every slot of the buffer (unwritten ones are masked) -> next-token logits (B, V).

        Mutates only tensors (the cache and the mask), never a Python attribute, so a CUDA
        graph of one call replays as a correct next call."""
        self.allowed.index_fill_(3, slot, True)

        def write(index: int, k: torch.Tensor, v: torch.Tensor) -> None:
            self.keys[index].index_copy_(2, slot, k)
            self.values[index].index_copy_(2, slot, v)

        return self._run(tokens[:, None], positions, self.allowed, write, self.capacity,
                         fold=True)

    def keep_attempt(self, chosen: torch.Tensor, stops: torch.Tensor) -> int:
        """After the device loop chose `chosen` (B, n) from a start at slot `length`: hide the
        padding it fed to rows that had stopped, and move `length` past the fed tokens (all
        chosen but the last), so a next attempt can continue this cache. -> how many were fed."""
        fed = chosen.shape[1] - 1
        if fed > 0:
            is_stop = (chosen[:, :fed, None] == stops).any(-1)  # (B, fed)
            # a token is real when no stop came before it (the stop itself is real)
            before = torch.cumsum(is_stop.long(), dim=1) - is_stop.long()
            self.allowed[:, 0, 0, self.length:self.length + fed] = before == 0
        self.length += fed
        return fed
