"""A lean decode step for Llama-family models, over a preallocated (static) KV cache.

Why: at the built-in world's size (hidden 64) a decode step is a few dozen tiny tensor ops,
and Hugging Face's per-call machinery (mask building, cache objects growing by concatenation,
output dataclasses) costs more than the arithmetic. The prompt is still prefilled by the
model's own forward; each later token goes through `step`, which reads the same weights and
computes the same function (RMSNorm in float32, rotary embeddings from the model's own rotary
module, so any rope scaling it applies, grouped-query attention, SwiGLU MLP), writing keys and values in place into buffers
sized for the whole generation. Greedy output equals `generate` (tests/test_generation.py).

Only architectures whose decoder layer is exactly that (model_type in SUPPORTED) use it; any
other model keeps the Hugging Face loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SUPPORTED = ("llama", "qwen2")  # Llama layers; Qwen2 adds biases to q, k, v, which we apply


def supports(model) -> bool:
    config = model.config
    return (getattr(config, "model_type", None) in SUPPORTED
            and getattr(config, "hidden_act", "silu") == "silu"
            and not getattr(config, "use_sliding_window", False))


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class StaticDecoder:
    """Decode one token per call for a batch, after a prefill whose cache it takes over."""

    def __init__(self, model, prefill_cache, prompt_mask: torch.Tensor, max_new_tokens: int):
        self.model = model
        self.config = model.config
        self.eps = self.config.rms_norm_eps
        batch, width = prompt_mask.shape
        total = width + max_new_tokens
        self.keys, self.values = [], []
        for layer in prefill_cache.layers:  # (B, kv_heads, T, head_dim) each
            k = layer.keys.new_zeros(*layer.keys.shape[:2], total, layer.keys.shape[-1])
            v = torch.zeros_like(k)
            k[:, :, :width], v[:, :, :width] = layer.keys, layer.values
            self.keys.append(k)
            self.values.append(v)
        # (B, 1, 1, total): which cached positions each row may attend to (not its left pads)
        self.allowed = torch.zeros(batch, 1, 1, total, dtype=torch.bool, device=prompt_mask.device)
        self.allowed[:, 0, 0, :width] = prompt_mask.bool()
        self.length = width

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens (B,), positions (B, 1) -> next-token logits (B, V)."""
        inner = self.model.model
        t = self.length
        self.allowed[:, 0, 0, t] = True
        x = inner.embed_tokens(tokens[:, None])  # (B, 1, D)
        cos, sin = inner.rotary_emb(x, positions)  # (B, 1, head_dim) each
        cos, sin = cos[:, None], sin[:, None]  # broadcast over heads
        mask = self.allowed[..., : t + 1]
        for index, layer in enumerate(inner.layers):
            x = x + self._attention(layer.self_attn, _rms_norm(
                x, layer.input_layernorm.weight, self.eps), cos, sin, index, mask, t)
            h = _rms_norm(x, layer.post_attention_layernorm.weight, self.eps)
            mlp = layer.mlp
            x = x + mlp.down_proj(F.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
        x = _rms_norm(x, inner.norm.weight, self.eps)
        self.length = t + 1
        return self.model.lm_head(x)[:, -1]  # (B, V)

    def _attention(self, attn, h, cos, sin, index, mask, t) -> torch.Tensor:
        batch = h.shape[0]
        head_dim = attn.head_dim
        q = attn.q_proj(h).view(batch, 1, -1, head_dim).transpose(1, 2)  # (B, H, 1, hd)
        k = attn.k_proj(h).view(batch, 1, -1, head_dim).transpose(1, 2)  # (B, KV, 1, hd)
        v = attn.v_proj(h).view(batch, 1, -1, head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        self.keys[index][:, :, t:t + 1] = k
        self.values[index][:, :, t:t + 1] = v
        keys, values = self.keys[index][:, :, : t + 1], self.values[index][:, :, : t + 1]
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=attn.scaling,
                                             enable_gqa=keys.shape[1] != q.shape[1])
        return attn.o_proj(out.transpose(1, 2).reshape(batch, 1, -1))  # (B, 1, D)
