"""One SCoRe policy-gradient step: rewards -> advantages -> packed sequences -> loss -> update.

Each trajectory is one sequence (losses.pack_trajectories): a single forward pass of the policy
and one of the reference give both turns' log-probs and KL. Rows are split into micro-batches
(score.micro_batch_rows) whose gradients accumulate, so no step ever holds the whole batch's
(rows x tokens x vocabulary) logits at once; each micro-batch is cut to its longest row. The
policy keeps float32 master weights; with a bfloat16/float16 model.dtype the forward passes run
under autocast, so updates smaller than bf16's resolution still accumulate.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.metrics import answer_changed_rate
from selfcorrect_cli.methods import losses
from selfcorrect_cli.methods.kl_control import KLController


class TrainingDiverged(UsageError):
    """The loss or the gradient became NaN or infinite; the update was not applied."""


def turn_advantages(s, rewards: torch.Tensor, stage: int,
                    kl_penalty: torch.Tensor | None = None) -> torch.Tensor:
    """What each turn's tokens are weighted by, from verifier rewards (B, turns) -> (B, turns).

    REINFORCE: SCoRe's per-turn rewards (minus the sampled KL penalty, when the KL sits in the
    reward), credited per turn or through the return, minus leave-one-out baselines (trees:
    losses.tree_advantages). Stage I always credits per turn: the first attempt is held near
    the base by beta2 alone, and r2 never trains the turn-1 tokens. STaR in Stage II: 1 for a
    correct attempt and 0 otherwise (minus the sampled KL penalty), i.e. fine-tuning on the
    policy's own correct attempts. Offline first attempts were not sampled by the policy, so
    they get no policy gradient. In Stage II, score.turn2_baseline=first_attempt leaves the
    shaped reward's -alpha * r1 out of turn 2's advantage, and score.advantage_norm rescales
    each turn to its plain reward's spread (config.py says why).
    """
    penalty = torch.zeros_like(rewards) if kl_penalty is None else kl_penalty
    if stage == 2 and s.stage2_update == "star":
        advantages = rewards - penalty
    else:
        advantages = _shaped_advantages(s, rewards, stage, penalty)
        if stage == 2 and s.advantage_norm == "verifier_spread":
            advantages = losses.rescale_to_spread(advantages, _plain_advantages(s, rewards))
    if not s.online_turn1:
        advantages[:, 0] = 0.0
    return advantages


def _shaped_advantages(s, rewards, stage: int, penalty) -> torch.Tensor:
    """Leave-one-out advantages of the stage's (shaped) rewards, credited as configured."""
    if s.turns == 1:
        return losses.rloo_advantages(rewards[:, :1] - penalty, s.samples_per_problem)
    r1, r2 = rewards[:, 0], rewards[:, 1]
    shaped = losses.turn_rewards(r1, r2, stage, s.alpha) - penalty  # (B, 2)
    credit = s.credit if stage == 2 else "per_turn"
    advantages = losses.tree_advantages(shaped, credit, s.samples_per_problem, s.turn2_samples)
    if stage == 2 and s.turn2_baseline == "first_attempt" and s.turn2_samples == 1:
        # -alpha * r1 is fixed once y1 is drawn: it carries no signal for the turn-2 tokens,
        # only the noise of the other trajectories' first attempts
        known = shaped[:, 1] + s.alpha * r1
        advantages[:, 1] = losses.rloo_advantages(known[:, None], s.samples_per_problem)[:, 0]
    return advantages


def _plain_advantages(s, rewards) -> torch.Tensor:
    """Leave-one-out advantages of each turn's own verifier reward, per turn: the scale that
    verifier_spread gives the shaped ones."""
    if s.turns == 1:
        return losses.rloo_advantages(rewards[:, :1], s.samples_per_problem)
    return losses.tree_advantages(rewards, "per_turn", s.samples_per_problem, s.turn2_samples)


def autocast(device: torch.device, dtype: torch.dtype):
    """bf16/fp16 compute over float32 master weights; nothing to do for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def policy_step(cfg, accelerator, policy, reference, optimizer, tokenizer, trajectories,
                stage: int, step: int, compute_dtype: torch.dtype,
                turn_betas: list[float] | None = None) -> dict:
    """One REINFORCE update from a batch of trajectories; returns the step's statistics.

    turn_betas: each turn's KL coefficient (methods/kl_control.py); None: a fresh controller's,
    i.e. what the stage starts with before any adaptation."""
    s = cfg.score
    if turn_betas is None:
        turn_betas = KLController(s).betas(stage)
    batch, turns = len(trajectories), s.turns
    device = accelerator.device
    rewards = torch.tensor([[a.reward for a in t.attempts] for t in trajectories])  # (B, turns)
    siblings = s.turn2_samples if turns == 2 else 1
    # Tree siblings share their first attempt: it is trained once, in the first sibling's row.
    trained = [[k > 0 or t.sample_index % siblings == 0 for k in range(turns)] for t in trajectories]
    packed = losses.pack_trajectories(
        [[a.prompt_ids for a in t.attempts] for t in trajectories],
        [[a.response_ids for a in t.attempts] for t in trajectories],
        tokenizer.pad_token_id, trained)
    units = sum(map(sum, trained))
    betas = torch.tensor(turn_betas, device=device)
    chunks = _micro_batches(packed, s.micro_batch_rows)
    run = _Forward(policy, reference, device, compute_dtype)

    kl_penalty, sums = None, {"loss": 0.0, "kl": torch.zeros(batch, turns), "entropy": 0.0,
                              "tokens": 0.0}
    if s.kl_estimator == "sampled":
        with torch.no_grad():  # the penalty enters the advantages, so it is needed first
            log_ratio = sum(run.sequence_log_ratio(packed.select(c), batch, turns) for c in chunks)
        kl_penalty = betas.cpu() * log_ratio.cpu()  # (B, turns)
        sums["kl"] = log_ratio.cpu()  # logged as it is: no second reference pass
    advantages = turn_advantages(s, rewards, stage, kl_penalty).to(device)  # (B, turns)

    log_entropy = s.stats_every > 0 and step % s.stats_every == 0
    for chunk in chunks:
        part = packed.select(chunk).to(device)
        loss, kl_tokens, logp_all = run.loss(part, advantages, betas, s.kl_estimator, units)
        accelerator.backward(loss)
        with torch.no_grad():
            sums["loss"] += loss.item()
            if kl_tokens is not None:
                sums["kl"] += losses.per_turn_sums(kl_tokens, part, batch, turns).cpu()
            sums["tokens"] += part.mask.sum().item()
            if log_entropy:
                sums["entropy"] += (losses.token_entropy(logp_all) * part.mask).sum().item()
        del loss, logp_all
    grad_norm = accelerator.clip_grad_norm_(policy.parameters(), s.max_grad_norm)
    _stop_if_diverged(cfg, accelerator, optimizer, sums["loss"], grad_norm, stage, step)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

    stats = _step_stats(trajectories, rewards, sums, trained, grad_norm, turns)
    stats.update({f"train/beta_turn{k + 1}": beta for k, beta in enumerate(turn_betas)})
    if log_entropy:
        stats["train/entropy"] = sums["entropy"] / max(sums["tokens"], 1.0)
    return stats


class _Forward:
    """The policy's and the reference's log-probs over one micro-batch of packed rows."""

    def __init__(self, policy, reference, device, compute_dtype):
        self.policy, self.reference, self.device = policy, reference, device
        self.cast = lambda: autocast(device, compute_dtype)

    def _logp_all(self, model, ids: torch.Tensor) -> torch.Tensor:
        # Right padding: causal attention never lets a real token see a pad, so no mask is
        # needed, and attention runs on the fast causal path.
        with self.cast():
            logits = model(input_ids=ids).logits  # (R, L, V)
        return losses.log_softmax_next(logits)  # (R, L-1, V) float32

    def sequence_log_ratio(self, part: losses.PackedTurns, batch: int, turns: int) -> torch.Tensor:
        """log pi(y) - log pi_ref(y) of each trajectory's turns, (batch, turns)."""
        part = part.to(self.device)
        logp = losses.token_logprobs(self._logp_all(self.policy, part.ids), part.ids)
        ref = losses.token_logprobs(self._logp_all(self.reference, part.ids), part.ids)
        return losses.per_turn_sums(logp - ref, part, batch, turns).cpu()

    def loss(self, part: losses.PackedTurns, advantages, betas, estimator: str, units: int):
        """(loss, per-token exact KL for logging or None, the policy's log-softmax).

        The sampled estimator's KL is already in the advantages (and its log-ratio in the
        step's statistics), so the reference runs here only for the exact one."""
        logp_all = self._logp_all(self.policy, part.ids)
        logp = losses.token_logprobs(logp_all, part.ids)  # (R, L-1)
        turn = part.turn.clamp(min=0)
        token_adv = advantages[part.trajectory[:, None], turn]  # (R, L-1)
        if estimator == "sampled":
            loss = losses.policy_loss(logp, None, part.mask, token_adv, None, units)
            return loss, None, logp_all.detach()
        with torch.no_grad():
            ref_all = self._logp_all(self.reference, part.ids)
        kl = losses.token_kl(logp_all, ref_all)  # (R, L-1)
        loss = losses.policy_loss(logp, kl, part.mask, token_adv, betas[turn], units)
        return loss, kl.detach(), logp_all.detach()


def _micro_batches(packed: losses.PackedTurns, rows: int) -> list[torch.Tensor]:
    """Row indices of each micro-batch: sorted by length, so each is cut to little padding."""
    order = torch.argsort(packed.lengths, descending=True)
    size = rows if rows > 0 else len(order)
    return [order[i:i + size] for i in range(0, len(order), size)]


def _stop_if_diverged(cfg, accelerator, optimizer, loss: float, grad_norm, stage, step) -> None:
    ok = torch.isfinite(torch.tensor(loss)) and torch.isfinite(torch.as_tensor(grad_norm).cpu())
    bad = torch.tensor(float(not ok), device=accelerator.device)
    if accelerator.reduce(bad, reduction="sum").item() > 0:
        optimizer.zero_grad(set_to_none=True)
        raise TrainingDiverged(
            f"loss {loss} / gradient norm {float(grad_norm)} at step {step} "
            f"(stage {stage}): stopped before the update; the last good checkpoint is kept in "
            f"{Path(cfg.run.out_dir) / 'checkpoints' / 'last'}. Lower score.lr or raise the KL "
            f"coefficients (score.beta1, score.beta2).")


def _step_stats(trajectories, rewards, sums, trained, grad_norm, turns) -> dict:
    counts = torch.tensor(trained, dtype=torch.float).sum(0).clamp(min=1.0)  # (turns,)
    seq_kl = sums["kl"].sum(0) / counts  # (turns,) KL per trained sequence of each turn
    stats = {"train/loss": sums["loss"], "train/grad_norm": float(grad_norm),
             "train/response_tokens": sums["tokens"] / float(counts.sum())}
    for k in range(turns):
        stats[f"train/reward_t{k + 1}"] = rewards[:, k].mean().item()
        stats[f"train/kl_turn{k + 1}"] = seq_kl[k].item()
    if turns == 2:
        r1, r2 = rewards[:, 0], rewards[:, 1]
        stats["train/i2c"] = ((r1 == 0) & (r2 == 1)).float().mean().item()
        stats["train/c2i"] = ((r1 == 1) & (r2 == 0)).float().mean().item()
        stats["train/answer_changed"] = answer_changed_rate(
            [t.attempts[0].answer for t in trajectories],
            [t.attempts[1].answer for t in trajectories])
        stats["train/delta"] = stats["train/reward_t2"] - stats["train/reward_t1"]
    return stats
