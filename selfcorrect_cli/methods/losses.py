"""Pure tensor functions for SCoRe's two-turn policy gradient (see score.py).

Everything here is a function of tensors and numbers only, so each piece is tested against
hand-computed values (tests/test_losses.py):
- `pack_trajectories`: each trajectory as ONE sequence when its turns nest (turn 2's prompt
  starts with turn 1's prompt and response, as a chat template renders them), so one forward
  pass gives both turns' log-probs; right padding, so no attention mask is needed. Each scored
  position carries the turn it trains; prompts and the correction instruction are never trained.
- `token_logprobs`, `token_kl`, `token_entropy`: per-token quantities from log-softmax outputs.
- `turn_rewards`, `turn_returns`: SCoRe's rewards per turn (Stage I / Stage II with the shaping
  bonus) and the two credit assignments.
- `rloo_advantages`, `tree_advantages`: REINFORCE with leave-one-out baselines, for flat groups
  and for trees (m second attempts under each first attempt).
- `policy_loss`: the REINFORCE loss with per-token advantages and KL coefficients.

The KL to the reference comes in two formulations (score.kl_estimator), both penalising
KL(policy || reference):
- "exact": the full-vocabulary KL at every visited position, added to the loss. Its gradient is
  the gradient of the per-position KLs with the visited prefixes held fixed: it leaves out the
  score-function term (how the policy changes which prefixes are visited). Low variance, and
  cheap when the vocabulary is small (the built-in world).
- "sampled": the sampled sequence log-ratio log pi(y) / pi_ref(y), times beta, subtracted from
  each turn's reward before the baseline, the paper's "KL penalty in the objective". Its
  REINFORCE gradient is, in expectation, exactly the gradient of beta * KL(pi || pi_ref) over
  sequences (the pathwise part E[grad log pi] is zero). Costs no vocabulary-sized work: use it
  for real models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CREDIT_CHOICES = ("per_turn", "return")


@dataclass
class PackedTurns:
    ids: torch.Tensor
    """(R, L) token ids, right-padded."""
    turn: torch.Tensor
    """(R, L-1) the turn (0-based) that position j's next token trains, -1 where nothing is
    trained (prompt, instruction, padding, or a turn trained in another row)."""
    trajectory: torch.Tensor
    """(R,) the trajectory each row belongs to."""
    lengths: torch.Tensor
    """(R,) tokens in each row before its padding."""

    @property
    def mask(self) -> torch.Tensor:
        return self.turn >= 0

    def to(self, device) -> PackedTurns:
        return PackedTurns(self.ids.to(device), self.turn.to(device),
                           self.trajectory.to(device), self.lengths.to(device))

    def select(self, index: torch.Tensor) -> PackedTurns:
        """The rows `index`, cut to the longest of them (no compute spent on shared padding)."""
        width = int(self.lengths[index].max())
        return PackedTurns(self.ids[index, :width], self.turn[index, : width - 1],
                           self.trajectory[index], self.lengths[index])


def pack_trajectories(prompts: list[list[list[int]]], responses: list[list[list[int]]],
                      pad_id: int, trained: list[list[bool]] | None = None) -> PackedTurns:
    """Rows of token ids for a batch of trajectories, one row per trajectory when turns nest.

    prompts[b][k], responses[b][k]: trajectory b's turn-k prompt ids and sampled response ids.
    A turn whose prompt does not start with the row so far (a tokenizer that re-tokenises the
    first attempt differently) starts a new row of its own. trained[b][k] False keeps turn k of
    trajectory b in context without training it (tree siblings train their shared first
    attempt once).

    >>> packed = pack_trajectories([[[5], [5, 8, 2, 6]]], [[[8, 2], [9, 2]]], pad_id=0)
    >>> packed.ids.tolist()           # one row: prompt 5, y1 = 8 2, instruction 6, y2 = 9 2
    [[5, 8, 2, 6, 9, 2]]
    >>> packed.turn.tolist()          # position j trains token j + 1
    [[0, 0, -1, 1, 1]]
    >>> pack_trajectories([[[5], [7, 8, 2, 6]]], [[[8, 2], [9, 2]]], 0).ids.tolist()
    [[5, 8, 2, 0, 0, 0], [7, 8, 2, 6, 9, 2]]
    """
    rows: list[tuple[list[int], list[tuple[int, int, int]], int]] = []  # ids, spans, trajectory
    for b, (turn_prompts, turn_responses) in enumerate(zip(prompts, responses, strict=True)):
        ids: list[int] = []
        spans: list[tuple[int, int, int]] = []  # (start, end, turn) of trained target positions
        for k, (p, r) in enumerate(zip(turn_prompts, turn_responses, strict=True)):
            if ids and p[: len(ids)] != ids:
                rows.append((ids, spans, b))
                ids, spans = [], []
            start = len(p)
            ids = list(p) + list(r)
            if trained is None or trained[b][k]:
                spans.append((start - 1, len(ids) - 1, k))
        rows.append((ids, spans, b))
    width = max(len(ids) for ids, _, _ in rows)
    out_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (R, L)
    turn = torch.full((len(rows), width - 1), -1, dtype=torch.long)  # (R, L-1)
    for row, (ids, spans, _) in enumerate(rows):
        out_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        for start, end, k in spans:
            turn[row, start:end] = k
    trajectory = torch.tensor([b for _, _, b in rows], dtype=torch.long)
    lengths = torch.tensor([len(ids) for ids, _, _ in rows], dtype=torch.long)
    return PackedTurns(out_ids, turn, trajectory, lengths)


def log_softmax_next(logits: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the next token at each position: (R, L, V) -> (R, L-1, V)."""
    return torch.log_softmax(logits[:, :-1].float(), dim=-1)


def token_logprobs(logp_all: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each next token: logp_all (R, L-1, V), ids (R, L) -> (R, L-1).

    >>> logp_all = log_softmax_next(torch.zeros(1, 2, 4))        # uniform over 4 tokens
    >>> token_logprobs(logp_all, torch.tensor([[0, 3]])).exp()
    tensor([[0.2500]])
    """
    return logp_all.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (R, L-1)


def token_kl(logp_all: torch.Tensor, ref_logp_all: torch.Tensor) -> torch.Tensor:
    """Full-vocabulary KL(policy || reference) at each position: (R, L-1, V) x 2 -> (R, L-1).

    >>> a = log_softmax_next(torch.zeros(1, 2, 2))
    >>> token_kl(a, a)
    tensor([[0.]])
    """
    return (logp_all.exp() * (logp_all - ref_logp_all)).sum(-1)


def token_entropy(logp_all: torch.Tensor) -> torch.Tensor:
    """Entropy of the policy at each position: (R, L-1, V) -> (R, L-1)."""
    return -(logp_all.exp() * logp_all).sum(-1)


def per_turn_sums(values: torch.Tensor, packed: PackedTurns, batch: int, turns: int) -> torch.Tensor:
    """Sum of per-token `values` (R, L-1) over each trajectory's trained tokens of each turn.

    -> (batch, turns). Used for the sequence log-ratio of each turn (sampled KL) and for logging.

    >>> packed = pack_trajectories([[[5], [5, 8, 2, 6]]], [[[8, 2], [9, 2]]], pad_id=0)
    >>> per_turn_sums(torch.tensor([[1., 2., 4., 8., 16.]]), packed, batch=1, turns=2)
    tensor([[ 3., 24.]])
    """
    mask = packed.mask
    slot = packed.trajectory[:, None] * turns + packed.turn.clamp(min=0)  # (R, L-1)
    sums = torch.zeros(batch * turns, dtype=values.dtype, device=values.device)
    sums.index_add_(0, slot[mask], values[mask])
    return sums.reshape(batch, turns)


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

    "per_turn": each turn's own reward (the paper's per-turn rewards). "return": the
    undiscounted return-to-go, so the shaped turn-2 reward also reaches the turn-1 tokens
    (docs/built-in-world.md: under per-turn credit, -alpha * r1 is a constant for the turn-2
    tokens given y1; the return makes it change what turn 1 learns, and pays turn 1
    (1 - alpha) r1 + (1 + alpha) r2, which rewards a wrong first attempt that turn 2 fixes).

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
    """Leave-one-out advantages within consecutive groups of n samples, per turn.

    returns: (B, T) in group-major order (B = groups * n) -> (B, T). Each sample's baseline
    is the mean of the other n - 1 samples of the same group and turn.

    >>> rloo_advantages(torch.tensor([[1.], [0.], [0.], [1.], [1.], [1.]]), n=3).tolist()
    [[1.0], [-0.5], [-0.5], [0.0], [0.0], [0.0]]
    """
    if n < 2:
        raise ValueError("RLOO needs at least 2 samples per group")
    grouped = returns.reshape(-1, n, returns.shape[-1])  # (G, n, T)
    others = (grouped.sum(1, keepdim=True) - grouped) / (n - 1)
    return (grouped - others).reshape(returns.shape)


def tree_advantages(rewards: torch.Tensor, credit: str, n: int, m: int) -> torch.Tensor:
    """Advantages of two-turn trees: n first attempts per problem, m second attempts under each.

    rewards: (B, 2) per-turn rewards (already shaped), B = problems * n * m ordered
    (problem, first attempt, second attempt); siblings share their first attempt. Turn 2: the
    baseline is the mean over the other siblings of the same first attempt (with m = 1, over the
    problem's other trajectories, as in flat RLOO). Turn 1: each first attempt's return (its r1,
    plus its siblings' mean turn-2 reward under "return" credit), leave-one-out over the
    problem's n first attempts, given to every sibling.

    >>> r = torch.tensor([[0., 1.], [0., 0.], [1., 1.], [1., 1.]])   # 1 problem, n = m = 2
    >>> tree_advantages(r, "per_turn", n=2, m=2).tolist()
    [[-1.0, 1.0], [-1.0, -1.0], [1.0, 0.0], [1.0, 0.0]]
    >>> tree_advantages(r, "return", n=2, m=2)[:, 0].tolist()     # returns 0.5 and 2
    [-1.5, -1.5, 1.5, 1.5]
    """
    if m == 1:
        return rloo_advantages(turn_returns(rewards, credit), n)
    tree = rewards.reshape(-1, n, m, 2)  # (P, n, m, 2)
    second = rloo_advantages(tree[..., 1].reshape(-1, 1), m).reshape(tree.shape[:3])  # (P, n, m)
    first_return = tree[:, :, 0, 0]  # (P, n): siblings share r1
    if credit == "return":
        first_return = first_return + tree[..., 1].mean(-1)
    elif credit != "per_turn":
        raise ValueError(f"unknown credit assignment {credit!r} ({' or '.join(CREDIT_CHOICES)})")
    first = rloo_advantages(first_return.reshape(-1, 1), n).reshape(-1, n, 1)  # (P, n, 1)
    return torch.stack([first.expand_as(second), second], dim=-1).reshape(rewards.shape)


def policy_loss(logp: torch.Tensor, kl: torch.Tensor | None, mask: torch.Tensor,
                advantages: torch.Tensor, betas: torch.Tensor | None, units: int) -> torch.Tensor:
    """REINFORCE with a KL penalty, one scalar to minimise.

    logp, kl, mask, advantages, betas: (R, L-1) per token (each trained token carries its turn's
    advantage and KL coefficient). Sums over tokens (a sequence-level objective, as the
    paper's) and divides by `units`, the number of (trajectory, turn) pairs trained, so the
    scale does not depend on how the turns were packed into rows or micro-batches:
        loss = sum_tokens( -A * log p + beta * KL ) / units
    kl is None when the KL is already inside the advantages (the "sampled" formulation).

    >>> logp = torch.log(torch.tensor([[0.5, 0.25]]))
    >>> policy_loss(logp, torch.tensor([[0.1, 0.3]]), torch.tensor([[1, 0]]),
    ...             torch.tensor([[2.0, 2.0]]), torch.tensor([[0.5, 0.5]]), units=1)
    tensor(1.4363)
    """
    per_token = -advantages * logp  # (R, L-1)
    if kl is not None:
        per_token = per_token + betas * kl
    return (per_token * mask.float()).sum() / units


def rescale_to_spread(advantages: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each column of `advantages` rescaled to the spread (std over rows) of the same column of
    `reference`, (B, T) x 2 -> (B, T); a column whose std is 0 is left as it is.

    Used to keep shaped advantages in the units of the verifier's reward: the direction comes
    from the shaped reward, the size from the plain one.

    >>> rescale_to_spread(torch.tensor([[11.], [-11.]]), torch.tensor([[1.], [-1.]])).tolist()
    [[1.0], [-1.0]]
    >>> rescale_to_spread(torch.tensor([[2.], [0.]]), torch.tensor([[0.], [0.]])).tolist()
    [[0.0], [0.0]]
    >>> rescale_to_spread(torch.tensor([[0.], [0.]]), torch.tensor([[1.], [-1.]])).tolist()
    [[0.0], [0.0]]
    """
    have = advantages.std(0, unbiased=False)  # (T,)
    want = reference.std(0, unbiased=False)  # (T,)
    factor = torch.where(have > 0, want / torch.where(have > 0, have, 1.0), 1.0)
    return advantages * factor


def adapted_kl_coefficient(beta: float, kl: float, target: float, rate: float) -> float:
    """One step of the proportional KL controller (Ziegler et al. 2019, "Fine-Tuning Language
    Models from Human Preferences", Sec. 2.2): the coefficient grows when the measured KL is
    above the target and shrinks below it, by at most `rate` * 20% a step.

    >>> adapted_kl_coefficient(0.5, kl=2.0, target=1.0, rate=0.1)   # error clipped to +0.2
    0.51
    >>> round(adapted_kl_coefficient(0.5, kl=0.95, target=1.0, rate=0.1), 6)   # error -0.05
    0.4975
    """
    error = max(-0.2, min(0.2, (kl - target) / target))
    return beta * (1.0 + rate * error)
