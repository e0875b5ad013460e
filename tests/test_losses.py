"""Hand-computed checks of SCoRe's pure tensor functions (selfcorrect_cli/methods/losses.py)."""

import math

import pytest
import torch

from selfcorrect_cli.methods import losses
from selfcorrect_cli.world.tiny_model import build_tokenizer
from selfcorrect_cli.rollout.chat import prompt_ids
from selfcorrect_cli.config import ScoreConfig
from selfcorrect_cli.tasks.prompts import BUILTIN_CORRECTION_INSTRUCTION, conversation
from selfcorrect_cli.methods.score import turn_advantages, turn_betas


def test_masks_cover_only_sampled_response_tokens_of_each_turn():
    tok = build_tokenizer()
    y1, y2 = "7:7*3=21,A7", "8:A8"
    end = [tok.eos_token_id]
    p1 = prompt_ids(tok, conversation("184/23", [], BUILTIN_CORRECTION_INSTRUCTION))
    p2 = prompt_ids(tok, conversation("184/23", [y1], BUILTIN_CORRECTION_INSTRUCTION))
    r1 = tok(y1, add_special_tokens=False)["input_ids"] + end
    r2 = tok(y2, add_special_tokens=False)["input_ids"] + end
    ids, attention, target = losses.pack_turns([p1, p2], [r1, r2], tok.pad_token_id)
    for row, (p, r) in enumerate([(p1, r1), (p2, r2)]):
        scored = ids[row, 1:][target[row].bool()].tolist()  # the tokens the mask trains
        assert scored == r
        assert attention[row].sum().item() == len(p) + len(r)
    # turn 2's prompt holds y1 and the correction instruction; none of it is scored there
    text2 = tok.decode(ids[1, : len(p2)])
    assert BUILTIN_CORRECTION_INSTRUCTION in text2 and y1 in text2
    assert target[1, : len(p2) - 1].sum() == 0
    # the turn boundary: turn 2's first scored token is the first token after its prompt
    assert target[1].nonzero()[0].item() == len(p2) - 1


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


def test_turn_betas():
    s = ScoreConfig(beta1=0.01, beta2=0.1)
    assert turn_betas(s, 1) == [0.1, 0.01] and turn_betas(s, 2) == [0.01, 0.01]
    assert turn_betas(ScoreConfig(turns=1, beta1=0.01), 2) == [0.01]


def test_kl_exact_matches_closed_form_and_k3_is_unbiased():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.5, 0.25, 0.25])
    logits, ref = p.log().expand(1, 2, 3), q.log().expand(1, 2, 3)
    expected = float((p * (p.log() - q.log())).sum())
    exact = losses.token_kl(logits, ref, None, None, "exact")
    assert exact.shape == (1, 1) and math.isclose(exact.item(), expected, rel_tol=1e-5)
    # k3 averaged over the policy's own tokens is the same KL
    k3 = sum(p[v] * losses.token_kl(None, None, p[v].log().view(1, 1), q[v].log().view(1, 1),
                                    "k3") for v in range(3))
    assert math.isclose(k3.item(), expected, rel_tol=1e-5)


def test_policy_loss_per_turn_advantage_and_beta():
    logp = torch.log(torch.tensor([[0.5, 0.5, 0.9], [0.25, 0.5, 0.9]])).requires_grad_()
    kl = torch.tensor([[0.1, 0.2, 9.0], [0.3, 0.4, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])  # last position is padding: never counted
    adv, beta = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.0])
    loss = losses.policy_loss(logp, kl, mask, adv, beta)
    row0 = -(math.log(0.5) * 2) + 0.5 * 0.3
    row1 = 2 * (math.log(0.25) + math.log(0.5))
    assert math.isclose(loss.item(), (row0 + row1) / 2, rel_tol=1e-6)
    loss.backward()
    assert logp.grad.tolist() == [[-0.5, -0.5, 0.0], [1.0, 1.0, 0.0]]


def test_token_logprobs_and_entropy():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]]])
    ids = torch.tensor([[1, 0, 1]])
    assert torch.allclose(losses.token_logprobs(logits, ids),
                          torch.tensor([[math.log(0.5), math.log(0.25)]]))
    ent = losses.token_entropy(logits)
    assert math.isclose(ent[0, 0].item(), math.log(2), rel_tol=1e-6)
