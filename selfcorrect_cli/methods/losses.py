"""Pure tensor functions for SCoRe's two-turn policy gradient (see score.py).

Everything here is a function of tensors and numbers only, so each piece is tested against
hand-computed values (tests/test_losses.py):
- `pack_turns`: each turn's sequence (its prompt, then its sampled response) as one padded
  batch, with a mask that is 1 only on the sampled response tokens. The prompt of turn 2 holds
  the problem, the first attempt and the correction instruction: none of it is trained there.
- `token_logprobs`, `token_kl`, `token_entropy`: per-token quantities on the response mask.
- `turn_rewards` and `turn_returns`: SCoRe's rewards per turn (Stage I / Stage II with the
  shaping bonus) and the two credit assignments.
- `rloo_advantages`: REINFORCE with a leave-one-out baseline over the n samples of a problem.
- `policy_loss`: the REINFORCE loss with a per-row (so per-turn) KL coefficient.
"""

from __future__ import annotations

import torch

CREDIT_CHOICES = ("per_turn", "return")


def pack_turns(prompts: list[list[int]], responses: list[list[int]],
               pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded rows of prompt + response, the attention mask, and the target mask.

    The target mask is aligned with `token_logprobs`' output: position j scores token j + 1,
    so it is 1 exactly where token j + 1 is a sampled response token.

    >>> ids, attn, target = pack_turns([[5, 6], [7]], [[8, 2], [9, 9, 2]], pad_id=0)
    >>> ids.tolist()
    [[5, 6, 8, 2], [7, 9, 9, 2]]
    >>> target.tolist()           # row 0: tokens 8, 2 are scored at positions 1, 2
    [[0, 1, 1], [1, 1, 1]]
    """
    width = max(len(p) + len(r) for p, r in zip(prompts, responses, strict=True))
    rows = len(prompts)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)  # (R, L)
    attention = torch.zeros((rows, width), dtype=torch.long)  # (R, L)
    target = torch.zeros((rows, width - 1), dtype=torch.long)  # (R, L-1)
    for row, (p, r) in enumerate(zip(prompts, responses)):
        n = len(p) + len(r)
        ids[row, :n] = torch.tensor(p + r, dtype=torch.long)
        attention[row, :n] = 1
        target[row, len(p) - 1:n - 1] = 1
    return ids, attention, target


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each next token: logits (R, L, V), ids (R, L) -> (R, L-1).

    >>> logits = torch.zeros(1, 2, 4)        # uniform over 4 tokens
    >>> token_logprobs(logits, torch.tensor([[0, 3]])).exp()
    tensor([[0.2500]])
    """
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (R, L-1, V)
    return logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (R, L-1)


def token_kl(logits: torch.Tensor, ref_logits: torch.Tensor, logp: torch.Tensor,
             ref_logp: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token KL(policy || reference) at each scored position, (R, L-1).

    "exact": the full-vocabulary sum  sum_v p(v) (log p(v) - log q(v)), no sampling noise (the
    default; cheap for small vocabularies). "k3": the unbiased, always non-negative estimate
    exp(q - p) - (q - p) - 1 from the sampled token's log-probs only (for large vocabularies).

    >>> a, b = torch.zeros(1, 2, 2), torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    >>> token_kl(a, b, torch.zeros(1, 1), torch.zeros(1, 1), "exact")
    tensor([[0.]])
    """
    if estimator == "exact":
        logp_all = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (R, L-1, V)
        ref_all = torch.log_softmax(ref_logits[:, :-1].float(), dim=-1)
        return (logp_all.exp() * (logp_all - ref_all)).sum(-1)
    if estimator == "k3":
        log_ratio = ref_logp - logp  # (R, L-1)
        return log_ratio.exp() - log_ratio - 1
    raise ValueError(f"unknown KL estimator {estimator!r} (exact or k3)")


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the policy at each scored position: (R, L, V) -> (R, L-1)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def turn_rewards(r1: torch.Tensor, r2: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
    """SCoRe's reward for each turn, (B,) x 2 -> (B, 2).

    Stage I pays only the second attempt (turn 1 is held by the KL alone). Stage II pays r1 for
    turn 1 and the shaped r2 + alpha (r2 - r1) for turn 2: a bonus for wrong->right, a charge
    for right->wrong.

    >>> r1, r2 = torch.tensor([0., 1., 1.]), torch.tensor([1., 0., 1.])
    >>> turn_rewards(r1, r2, stage=1, alpha=10.0).tolist()
    [[0.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    >>> turn_rewards(r1, r2, stage=2, alpha=10.0).tolist()
    [[0.0, 11.0], [1.0, -10.0], [1.0, 1.0]]
    """
    if stage == 1:
        return torch.stack([torch.zeros_like(r1), r2], dim=-1)
    if stage == 2:
        return torch.stack([r1, r2 + alpha * (r2 - r1)], dim=-1)
    raise ValueError(f"stage must be 1 or 2, not {stage}")


def turn_returns(rewards: torch.Tensor, credit: str) -> torch.Tensor:
    """What each turn's tokens are credited with, (B, T) -> (B, T).

    "per_turn": each turn's own reward. "return": the undiscounted return-to-go, so the shaped
    turn-2 reward also reaches the turn-1 tokens (FEASIBILITY.md: only this one changes what
    turn 1 learns; per turn, -alpha * r1 is a constant for the turn-2 tokens given y1).

    >>> rewards = torch.tensor([[0., 11.], [1., -10.]])
    >>> turn_returns(rewards, "per_turn").tolist()
    [[0.0, 11.0], [1.0, -10.0]]
    >>> turn_returns(rewards, "return").tolist()
    [[11.0, 11.0], [-9.0, -10.0]]
    """
    if credit == "per_turn":
        return rewards
    if credit == "return":
        return rewards.flip(-1).cumsum(-1).flip(-1)
    raise ValueError(f"unknown credit assignment {credit!r} ({' or '.join(CREDIT_CHOICES)})")


def rloo_advantages(returns: torch.Tensor, n: int) -> torch.Tensor:
    """Leave-one-out advantages within each problem's n samples, per turn.

    returns: (B, T) in problem-major order (B = problems * n) -> (B, T). Each sample's baseline
    is the mean of the other n - 1 samples of the same problem and turn.

    >>> rloo_advantages(torch.tensor([[1.], [0.], [0.], [1.], [1.], [1.]]), n=3).tolist()
    [[1.0], [-0.5], [-0.5], [0.0], [0.0], [0.0]]
    """
    if n < 2:
        raise ValueError("RLOO needs at least 2 samples per problem")
    grouped = returns.reshape(-1, n, returns.shape[-1])  # (P, n, T)
    others = (grouped.sum(1, keepdim=True) - grouped) / (n - 1)
    return (grouped - others).reshape(returns.shape)


def policy_loss(logp: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor,
                advantages: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """REINFORCE with a KL penalty, one scalar to minimise.

    logp, kl, mask: (R, L-1) per token; advantages, betas: (R,) per row (a row is one turn of
    one trajectory, so each turn has its own advantage and its own KL coefficient). Sums over a
    row's tokens (a sequence-level objective, as the paper's), means over rows:
        loss = mean_rows( sum_tokens( -A * log p + beta * KL ) )

    >>> logp = torch.log(torch.tensor([[0.5, 0.25]]))
    >>> policy_loss(logp, torch.tensor([[0.1, 0.3]]), torch.tensor([[1, 0]]),
    ...             torch.tensor([2.0]), torch.tensor([0.5]))   # -2 log .5 + .5 * .1
    tensor(1.4363)
    """
    mask = mask.float()
    per_token = -advantages[:, None] * logp + betas[:, None] * kl  # (R, L-1)
    return ((per_token * mask).sum(-1)).mean()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` where `mask` is 1 (0 when the mask is empty)."""
    mask = mask.float()
    return (values * mask).sum() / mask.sum().clamp(min=1.0)
