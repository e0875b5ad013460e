"""Hand-computed checks of SCoRe's pure tensor functions (selfcorrect_cli/methods/losses.py)."""

import math

import pytest
import torch

from selfcorrect_cli.config import ScoreConfig
from selfcorrect_cli.methods import losses
from selfcorrect_cli.methods.kl_control import KLController
from selfcorrect_cli.methods.policy_update import turn_advantages
from selfcorrect_cli.rollout.chat import prompt_ids
from selfcorrect_cli.tasks.prompts import BUILTIN_CORRECTION_INSTRUCTION, conversation
from selfcorrect_cli.world.tiny_model import build_tokenizer


def _two_turn_ids(tok, y1="7:7*3=21,A7", y2="8:A8"):
    end = [tok.eos_token_id]
    p1 = prompt_ids(tok, conversation("184/23", [], BUILTIN_CORRECTION_INSTRUCTION))
    p2 = prompt_ids(tok, conversation("184/23", [y1], BUILTIN_CORRECTION_INSTRUCTION))
    r1 = tok(y1, add_special_tokens=False)["input_ids"] + end
    r2 = tok(y2, add_special_tokens=False)["input_ids"] + end
    return p1, r1, p2, r2


def test_one_row_per_trajectory_and_masks_cover_only_sampled_response_tokens():
    tok = build_tokenizer()
    p1, r1, p2, r2 = _two_turn_ids(tok)
    assert p2[: len(p1) + len(r1)] == p1 + r1  # the chat template nests the turns
    packed = losses.pack_trajectories([[p1, p2]], [[r1, r2]], tok.pad_token_id)
    assert packed.ids.shape == (1, len(p2) + len(r2)) and packed.trajectory.tolist() == [0]
    ids, turn = packed.ids[0, 1:], packed.turn[0]
    assert ids[turn == 0].tolist() == r1 and ids[turn == 1].tolist() == r2
    # turn 2's prompt holds y1 and the correction instruction; the instruction is never trained
    text2 = tok.decode(packed.ids[0, : len(p2)])
    assert BUILTIN_CORRECTION_INSTRUCTION in text2
    assert (turn[len(p1) + len(r1) - 1: len(p2) - 1] == -1).all()
    assert (turn[: len(p1) - 1] == -1).all()


def test_turns_that_do_not_nest_get_rows_of_their_own_and_untrained_turns_no_targets():
    packed = losses.pack_trajectories([[[5], [6, 8, 2, 7]], [[5], [5, 9, 2, 7]]],
                                      [[[8, 2], [3, 2]], [[9, 2], [4, 2]]], pad_id=0,
                                      trained=[[True, True], [False, True]])
    assert packed.trajectory.tolist() == [0, 0, 1]
    assert packed.turn.tolist() == [[0, 0, -1, -1, -1], [-1, -1, -1, 1, 1],
                                    [-1, -1, -1, 1, 1]]
    assert packed.lengths.tolist() == [3, 6, 6]
    part = packed.select(torch.tensor([0]))
    assert part.ids.tolist() == [[5, 8, 2]] and part.turn.tolist() == [[0, 0]]


def test_per_turn_sums_add_each_trajectorys_tokens_by_turn():
    packed = losses.pack_trajectories([[[5], [6, 8, 2, 7]], [[5], [5, 9, 2, 7]]],
                                      [[[8, 2], [3, 2]], [[9, 2], [4, 2]]], pad_id=0)
    values = torch.arange(15, dtype=torch.float).reshape(3, 5)
    # row 0: turn 0 at positions 0, 1 -> 0 + 1; row 1: turn 1 at 3, 4 -> 8 + 9;
    # row 2: turn 0 at 0, 1 -> 10 + 11, turn 1 at 3, 4 -> 13 + 14
    assert losses.per_turn_sums(values, packed, batch=2, turns=2).tolist() == [[1, 17], [21, 27]]


def test_shaped_rewards_stage1_and_stage2():
    r1 = torch.tensor([0.0, 0.0, 1.0, 1.0])
    r2 = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert losses.turn_rewards(r1, r2, 1, alpha=10.0).tolist() == [
        [0, 0], [0, 1], [0, 0], [0, 1]]
    assert losses.turn_rewards(r1, r2, 2, alpha=10.0).tolist() == [
        [0, 0], [0, 11], [1, -10], [1, 1]]
    assert losses.turn_rewards(r1, r2, 2, alpha=0.0).tolist() == [
        [0, 0], [0, 1], [1, 0], [1, 1]]


def test_credit_assignments_against_hand_computed_returns():
    shaped = torch.tensor([[0.0, 11.0], [1.0, -10.0], [1.0, 1.0]])
    assert losses.turn_returns(shaped, "per_turn").tolist() == shaped.tolist()
    # return: turn 1 gets r1 + r2 + alpha (r2 - r1)
    assert losses.turn_returns(shaped, "return").tolist() == [[11, 11], [-9, -10], [2, 1]]
    with pytest.raises(ValueError):
        losses.turn_returns(shaped, "discounted")


def test_rloo_advantages_hand_computed():
    returns = torch.tensor([[1.0, 2.0], [0.0, 0.0], [0.0, 4.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]])
    adv = losses.rloo_advantages(returns, n=3)
    # problem 0, turn 1: 1 - (0+0)/2 = 1; 0 - (1+0)/2 = -0.5 (twice)
    # problem 0, turn 2: 2 - 2 = 0; 0 - 3 = -3; 4 - 1 = 3. problem 1: all equal -> 0.
    assert adv.tolist() == [[1, 0], [-0.5, -3], [-0.5, 3], [0, 0], [0, 0], [0, 0]]


@pytest.mark.parametrize("credit, expected", [
    # samples of one problem (n = 2): (r1, r2) = (0, 1) and (1, 1); alpha = 10, Stage II.
    # per turn: turn 1 rewards 0, 1 -> adv -1, 1; turn 2 shaped 11, 1 -> adv 10, -10
    ("per_turn", [[-1.0, 10.0], [1.0, -10.0]]),
    # return: turn 1 returns 11, 2 -> adv 9, -9; turn 2 as above
    ("return", [[9.0, 10.0], [-9.0, -10.0]]),
])
def test_turn_advantages_stage2(credit, expected):
    s = ScoreConfig(alpha=10.0, samples_per_problem=2, credit=credit)
    rewards = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    assert turn_advantages(s, rewards, stage=2).tolist() == expected


def test_turn_advantages_stage1_star_offline_and_single_turn():
    rewards = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    s = ScoreConfig(samples_per_problem=2, credit="per_turn")
    assert turn_advantages(s, rewards, stage=1).tolist() == [[0, 1], [0, -1]]
    s = ScoreConfig(samples_per_problem=2, stage2_update="star")
    assert turn_advantages(s, rewards, stage=2).tolist() == [[0, 1], [1, 0]]
    s = ScoreConfig(samples_per_problem=2, online_turn1=False, credit="return", alpha=0.0)
    assert turn_advantages(s, rewards, stage=2)[:, 0].tolist() == [0, 0]
    s = ScoreConfig(samples_per_problem=2, turns=1)
    assert turn_advantages(s, rewards[:, :1], stage=2).tolist() == [[-1], [1]]


def test_fixed_kl_schedule():
    kl = KLController(ScoreConfig(beta1=0.01, beta2=0.1, kl_target_turn1=0.0))
    assert kl.betas(1) == [0.1, 0.01] and kl.betas(2) == [0.01, 0.01]
    kl.observe(2, [50.0, 50.0])  # no target: nothing adapts
    assert kl.betas(2) == [0.01, 0.01]
    assert KLController(ScoreConfig(turns=1, beta1=0.01, kl_target_turn1=0.0)).betas(2) == [0.01]


def test_kl_controller_adapts_each_turn_toward_its_target_and_resumes():
    s = ScoreConfig(beta1=0.05, beta2=0.5, kl_target_turn1=1.0, kl_target_turn2=2.0)
    kl = KLController(s)
    kl.observe(1, [9.0, 9.0])  # Stage I never adapts
    assert kl.betas(2) == [0.5, 0.05]  # turn 1 takes over from beta2
    kl.observe(2, [3.0, 1.0])  # turn 1 above its target (+20% clipped), turn 2 below (-50%)
    assert kl.betas(2) == pytest.approx([0.5 * 1.02, 0.05 * 0.98])
    kl.observe(2, [1.1, 2.0])  # error +0.1 -> +1%; on target -> unchanged
    assert kl.betas(2) == pytest.approx([0.5 * 1.02 * 1.01, 0.05 * 0.98])
    resumed = KLController(s)
    resumed.load_state_dict(kl.state_dict())
    assert resumed.betas(2) == kl.betas(2)
    # without a Stage I (single-turn RL, naive two-turn RL) turn 1 starts from beta1
    one_stage = KLController(ScoreConfig(stage1_steps=0, beta1=0.05, kl_target_turn1=1.0))
    assert one_stage.betas(2) == [0.05, 0.05]


@pytest.mark.parametrize("rewards, chain, first_attempt", [
    # one problem, n = 2, alpha 10, Stage II. Both second attempts right, first attempts differ:
    # the chain baseline hands turn 2 the first attempts' difference (+-10), which no turn-2
    # token caused; leaving -alpha * r1 out gives 11 - 11 = 0.
    ([[0.0, 1.0], [1.0, 1.0]], [[-1, 10], [1, -10]], [[-1, 0], [1, 0]]),
    # same first attempts: both baselines agree (shaped 11 and 0)
    ([[0.0, 1.0], [0.0, 0.0]], [[0, 11], [0, -11]], [[0, 11], [0, -11]]),
])
def test_turn2_baseline_that_conditions_on_the_first_attempt(rewards, chain, first_attempt):
    rewards = torch.tensor(rewards)
    s = ScoreConfig(alpha=10.0, samples_per_problem=2)
    assert turn_advantages(s, rewards, stage=2).tolist() == chain
    s.turn2_baseline = "first_attempt"
    assert turn_advantages(s, rewards, stage=2).tolist() == first_attempt


@pytest.mark.parametrize("rewards, expected", [
    # chain advantages [[-1, 10], [1, -10]]; plain r2 advantages are 0 (both right): turn 2
    # keeps the shaped direction at the plain size, 0; turn 1 (r1 itself) keeps its size
    ([[0.0, 1.0], [1.0, 1.0]], [[-1, 0], [1, 0]]),
    # shaped turn 2 [11, -11] at the spread of plain [1, -1]; turn 1 all 0 stays 0
    ([[0.0, 1.0], [0.0, 0.0]], [[0, 1], [0, -1]]),
])
def test_verifier_spread_keeps_shaped_advantages_in_reward_units(rewards, expected):
    s = ScoreConfig(alpha=10.0, samples_per_problem=2, advantage_norm="verifier_spread")
    assert turn_advantages(s, torch.tensor(rewards), stage=2).tolist() == expected


def test_stage2_fixes_change_nothing_where_they_should_not():
    torch.manual_seed(0)
    rewards = torch.randint(0, 2, (32, 2)).float()
    today = ScoreConfig(samples_per_problem=8)
    fixed = ScoreConfig(samples_per_problem=8, advantage_norm="verifier_spread",
                        turn2_baseline="first_attempt", kl_target_turn1=0.5)
    # Stage I reads none of them
    assert torch.equal(turn_advantages(today, rewards, 1), turn_advantages(fixed, rewards, 1))
    # alpha 0 under per-turn credit: the shaped rewards are the plain ones (factor exactly 1)
    today.alpha = fixed.alpha = 0.0
    assert torch.equal(turn_advantages(today, rewards, 2), turn_advantages(fixed, rewards, 2))


def test_star_stage2_with_sampled_kl_keeps_the_penalty():
    s = ScoreConfig(samples_per_problem=2, stage2_update="star", kl_estimator="sampled")
    rewards = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    penalty = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    assert torch.allclose(turn_advantages(s, rewards, 2, penalty), rewards - penalty)


def test_tree_advantages_hand_computed():
    # one problem, n = 2 first attempts, m = 2 second attempts each; rewards already shaped
    rewards = torch.tensor([[0.0, 11.0], [0.0, 0.0], [1.0, 1.0], [1.0, -10.0]])
    adv = losses.tree_advantages(rewards, "per_turn", n=2, m=2)
    # turn 2 against the sibling: 11 - 0, 0 - 11, 1 - (-10), -10 - 1
    assert adv[:, 1].tolist() == [11.0, -11.0, 11.0, -11.0]
    # turn 1: first attempts r1 = 0, 1 -> -1, +1, shared by both siblings
    assert adv[:, 0].tolist() == [-1.0, -1.0, 1.0, 1.0]
    # return credit: first-attempt returns 0 + 5.5 and 1 - 4.5 -> 5.5 - (-3.5) = +9, -9
    assert losses.tree_advantages(rewards, "return", n=2, m=2)[:, 0].tolist() == [9, 9, -9, -9]
    # m = 1 is flat RLOO over the problem's trajectories
    flat = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    assert losses.tree_advantages(flat, "per_turn", n=2, m=1).tolist() == [[-1, 0], [1, 0]]


def test_stage1_never_credits_r2_to_turn1_even_with_return_credit():
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    s = ScoreConfig(samples_per_problem=2, credit="return")
    assert turn_advantages(s, rewards, stage=1)[:, 0].tolist() == [0, 0]
    assert turn_advantages(s, rewards, stage=2)[:, 0].tolist() == [11, -11]


def test_tree_advantages_through_turn_advantages():
    s = ScoreConfig(samples_per_problem=2, turn2_samples=2, alpha=0.0)
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    assert turn_advantages(s, rewards, stage=2).tolist() == [[-1, 1], [-1, -1], [1, 0], [1, 0]]


def test_exact_kl_matches_closed_form():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.5, 0.25, 0.25])
    logp_all = losses.log_softmax_next(p.log().expand(1, 2, 3))
    ref_all = losses.log_softmax_next(q.log().expand(1, 2, 3))
    expected = float((p * (p.log() - q.log())).sum())
    exact = losses.token_kl(logp_all, ref_all)
    assert exact.shape == (1, 1) and math.isclose(exact.item(), expected, rel_tol=1e-5)


def _kl_gradient(theta, q, beta):
    """d/dtheta of beta * KL(softmax(theta) || q), by autograd on the closed form."""
    theta = theta.clone().requires_grad_()
    p = torch.softmax(theta, -1)
    (beta * (p * (p.log() - q.log())).sum()).backward()
    return theta.grad


def test_sampled_kl_in_the_reward_has_the_gradient_of_the_kl():
    """E_y[-(r(y) - beta log p/q (y) - b) grad log p(y)] = grad (beta KL(p || q)) when r = b = 0:
    the expectation is taken exactly, over all three one-token sequences."""
    theta, q, beta = torch.tensor([0.3, -0.2, 0.5]), torch.tensor([0.5, 0.25, 0.25]), 0.7
    logits = theta.clone().requires_grad_()
    logp = torch.log_softmax(logits, -1)
    p = logp.exp().detach()
    log_ratio = (logp - q.log()).detach()
    advantages = -beta * log_ratio  # the penalty inside the reward, no baseline
    # one row per possible token y, weighted by p(y): the exact expectation of the estimator
    loss = sum(p[y] * losses.policy_loss(logp[y].view(1, 1), None, torch.ones(1, 1),
                                         advantages[y].view(1, 1), None, units=1)
               for y in range(3))
    loss.backward()
    assert torch.allclose(logits.grad, _kl_gradient(theta, q, beta), atol=1e-6)


def test_exact_kl_in_the_loss_has_the_gradient_of_the_per_position_kl():
    theta, q, beta = torch.tensor([0.3, -0.2, 0.5]), torch.tensor([0.5, 0.25, 0.25]), 0.7
    logits = theta.clone().requires_grad_()
    logp_all = losses.log_softmax_next(logits.expand(1, 2, 3))
    kl = losses.token_kl(logp_all, losses.log_softmax_next(q.log().expand(1, 2, 3)))
    zero = torch.zeros(1, 1)
    losses.policy_loss(zero, kl, torch.ones(1, 1), zero, torch.full((1, 1), beta), 1).backward()
    assert torch.allclose(logits.grad, _kl_gradient(theta, q, beta), atol=1e-6)


def test_policy_loss_per_token_advantage_and_beta():
    logp = torch.log(torch.tensor([[0.5, 0.5, 0.9], [0.25, 0.5, 0.9]])).requires_grad_()
    kl = torch.tensor([[0.1, 0.2, 9.0], [0.3, 0.4, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])  # last position is padding: never counted
    adv = torch.tensor([[1.0, 1.0, 5.0], [-2.0, -2.0, 5.0]])
    beta = torch.tensor([[0.5, 0.5, 1.0], [0.0, 0.0, 1.0]])
    loss = losses.policy_loss(logp, kl, mask, adv, beta, units=2)
    row0 = -(math.log(0.5) * 2) + 0.5 * 0.3
    row1 = 2 * (math.log(0.25) + math.log(0.5))
    assert math.isclose(loss.item(), (row0 + row1) / 2, rel_tol=1e-6)
    loss.backward()
    assert logp.grad.tolist() == [[-0.5, -0.5, 0.0], [1.0, 1.0, 0.0]]


def test_token_logprobs_and_entropy():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]]])
    ids = torch.tensor([[1, 0, 1]])
    logp_all = losses.log_softmax_next(logits)
    assert torch.allclose(losses.token_logprobs(logp_all, ids),
                          torch.tensor([[math.log(0.5), math.log(0.25)]]))
    ent = losses.token_entropy(logp_all)
    assert math.isclose(ent[0, 0].item(), math.log(2), rel_tol=1e-6)
