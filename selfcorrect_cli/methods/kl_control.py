"""The KL coefficient of each turn at each step: SCoRe's fixed schedule, or adapted to a target.

Stage I holds turn 1 with beta2 and turn 2 with beta1 (the paper). In Stage II, and in
methods without a Stage I, each turn has beta1, unless score.kl_target_turn{1,2} asks for a
target: then that turn's coefficient is adapted step by step toward the target KL
(losses.adapted_kl_coefficient), starting from the coefficient the turn had in Stage I (beta2
for turn 1 after a Stage I). Why: in Stage II the first attempt is rewarded for the first time,
and under a fixed small beta1 it drifts from the first attempts Stage I's corrections were
learned on (docs/built-in-world.md, "Stage II"); a target bounds that drift in nats, whatever
the reward's scale.

The adapted coefficients are state: they go into every checkpoint (state_dict), so a resumed
run continues with the same ones.
"""

from __future__ import annotations

from selfcorrect_cli.methods.losses import adapted_kl_coefficient


class KLController:
    """Per-turn KL coefficients for score.turns turns.

    >>> from selfcorrect_cli.config import ScoreConfig
    >>> kl = KLController(ScoreConfig(beta1=0.05, beta2=0.5, kl_target_turn1=1.0))
    >>> kl.betas(stage=1), kl.betas(stage=2)
    ([0.5, 0.05], [0.5, 0.05])
    >>> kl.observe(stage=2, kl_per_turn=[2.0, 9.0])    # turn 1 above target: +2%
    >>> kl.betas(stage=2)
    [0.51, 0.05]
    """

    def __init__(self, s):
        self.s = s
        self.targets = [s.kl_target_turn1, s.kl_target_turn2][: s.turns]
        # turn 1 takes over from beta2 only where a Stage I held it with beta2
        start = [s.beta2 if s.stage1_steps > 0 else s.beta1, s.beta1]
        self.adapted = [start[k] if target > 0 else None for k, target in enumerate(self.targets)]

    def betas(self, stage: int) -> list[float]:
        """The coefficient of each turn for a step of `stage`."""
        if stage == 1:
            return [self.s.beta2, self.s.beta1][: self.s.turns]
        return [self.s.beta1 if beta is None else beta for beta in self.adapted]

    def observe(self, stage: int, kl_per_turn: list[float]) -> None:
        """Adapt after a Stage-II step, from its measured KL per trained response of each turn."""
        if stage == 1:
            return
        for k, (beta, target) in enumerate(zip(self.adapted, self.targets, strict=True)):
            if beta is not None:
                self.adapted[k] = adapted_kl_coefficient(beta, kl_per_turn[k], target,
                                                         self.s.kl_adapt_rate)

    def state_dict(self) -> dict:
        return {"adapted": list(self.adapted)}

    def load_state_dict(self, state: dict) -> None:
        self.adapted = list(state["adapted"])
