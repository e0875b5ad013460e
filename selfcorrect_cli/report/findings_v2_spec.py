"""The declaration of `selfcorrect findings-v2`: experiments/builtin/findings-v2.yaml, read and
checked before anything is measured, so that a typo in a role or a statistic is a one-line
error, never a claim quietly "not run".

The spec names, per role, one eval run directory per seed (`{runs}` and `{seed}` as in
report/paths.py), the mismatch experiment's own.json per seed, the second RL seed of SCoRe,
and the families of claims: `{name, stat, a, b, sign}` each, `stat` one of STATISTICS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.read import read_spec_yaml
from selfcorrect_cli.measure import contrasts
from selfcorrect_cli.report.paths import expand, parse_seeds

SPEC_KEYS = {"runs", "seeds", "alpha", "bootstrap", "bootstrap_seed", "roles",
             "mismatch_experiment", "families", "score_rl_seed2"}
CLAIM_KEYS = {"name", "stat", "a", "b", "sign"}
# stat -> (statistic, whether b is "required", "optional" or "forbidden")
STATISTICS = {"acc_t2": (contrasts.acc_t2, "required"), "delta": (contrasts.delta, "optional"),
              "discrimination": (contrasts.discrimination, "required"),
              "kind_spread": (contrasts.kind_spread, "required"),
              "mismatch_gap": (contrasts.mismatch_gap, "forbidden")}


@dataclass(frozen=True)
class Claim:
    family: str
    index: int       # position among all claims of the spec: seeds its bootstrap generator
    name: str
    stat: str
    a: str
    b: str | None
    sign: int

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.a,) if self.b is None else (self.a, self.b)


@dataclass
class Spec:
    path: str
    root: str
    seeds: list[int]
    alpha: float
    bootstrap: int
    bootstrap_seed: int
    roles: dict[str, dict[int, Path]]          # role -> seed -> eval run directory
    mismatch: dict[int, Path] | None           # seed -> own.json
    rl_seed2: dict[int, Path] | None           # seed -> SCoRe's second-RL-seed eval directory
    claims: list[Claim]


def read_v2_spec(path: str | Path, runs: str | None = None, seeds: str | None = None) -> Spec:
    """The declaration, checked: every problem in it is a UsageError naming it."""
    raw = read_spec_yaml(path, "findings-v2 spec")
    if unknown := set(raw) - SPEC_KEYS:
        raise UsageError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(SPEC_KEYS)}")
    root = runs or str(raw.get("runs", "runs/builtin"))
    seed_list = parse_seeds(seeds if seeds is not None else raw.get("seeds"), [0])

    def per_seed(template, where) -> dict[int, Path]:
        if not isinstance(template, str) or "{seed}" not in template:
            raise UsageError(f"{path}: {where} must be a path with {{seed}} in it")
        return dict(zip(seed_list, map(Path, expand(template, root, seed_list))))

    roles = raw.get("roles")
    if not isinstance(roles, dict) or not roles:
        raise UsageError(f"{path}: roles must map role names to eval run directories")
    spec = Spec(str(path), root, seed_list, _fraction(raw, "alpha", 0.05, path),
                _count(raw, "bootstrap", 2000, path, 1), _count(raw, "bootstrap_seed", 0, path, 0),
                {role: per_seed(t, f"roles.{role}") for role, t in roles.items()},
                None, None, [])
    if "mismatch_experiment" in raw:
        spec.mismatch = per_seed(raw["mismatch_experiment"], "mismatch_experiment")
    if "score_rl_seed2" in raw:
        spec.rl_seed2 = per_seed(raw["score_rl_seed2"], "score_rl_seed2")
    families = raw.get("families")
    if not isinstance(families, dict) or not families:
        raise UsageError(f"{path}: families must map family names to lists of claims")
    for family, claims in families.items():
        if not isinstance(claims, list) or not claims:
            raise UsageError(f"{path}: family {family!r} must be a non-empty list of claims")
        for number, item in enumerate(claims, start=1):
            claim = _claim(item, family, len(spec.claims), spec, f"{path}: {family} claim {number}")
            if any(c.name == claim.name for c in spec.claims):
                raise UsageError(f"{path}: two claims are named {claim.name!r}")
            spec.claims.append(claim)
    return spec


def _claim(item, family: str, index: int, spec: Spec, where: str) -> Claim:
    if not isinstance(item, dict):
        raise UsageError(f"{where} must be a mapping with keys {sorted(CLAIM_KEYS)}")
    if unknown := set(item) - CLAIM_KEYS:
        raise UsageError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(CLAIM_KEYS)}")
    if not all(item.get(key) for key in ("name", "stat", "a")):
        raise UsageError(f"{where}: needs name, stat and a")
    stat, b = item["stat"], item.get("b")
    if not isinstance(stat, str) or stat not in STATISTICS:
        raise UsageError(f"{where}: unknown stat {stat!r}; known: {sorted(STATISTICS)}")
    for role in (item["a"], b):
        if role is not None and (not isinstance(role, str) or role not in spec.roles):
            raise UsageError(f"{where}: role {role!r} is not in roles ({sorted(spec.roles)})")
    needs_b = STATISTICS[stat][1]
    if (needs_b == "required" and b is None) or (needs_b == "forbidden" and b is not None):
        raise UsageError(f"{where}: stat {stat} {'needs' if b is None else 'takes no'} b")
    if stat == "mismatch_gap" and spec.mismatch is None:
        raise UsageError(f"{where}: mismatch_gap needs mismatch_experiment in the spec")
    if item.get("sign", 1) not in (1, -1):
        raise UsageError(f"{where}: sign must be 1 or -1")
    return Claim(family, index, str(item["name"]), stat, item["a"], b, int(item.get("sign", 1)))


def _fraction(raw, key, default, path) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise UsageError(f"{path}: {key} must be a number between 0 and 1")
    return float(value)


def _count(raw, key, default, path, least: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{path}: {key} must be an integer of at least {least}")
    return value
