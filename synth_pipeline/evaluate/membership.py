"""Membership inference: can an attacker holding the synthetic table tell training rows from fresh real rows?

The holdout is split in two: a REFERENCE half (the attacker's sample of the population, as in DOMIAS) and a
NON-MEMBER half. Members are a training sample of the non-members' size. Two attacks score each target x:

- distance to synthetic: -d(x, nearest synthetic row). A generator that memorises puts synthetic rows on its
  training rows.
- density ratio (DOMIAS, van Breugel et al., AISTATS 2023): p_synthetic(x) / p_reference(x). Memorisation shows as
  synthetic density in excess of the population's; dividing by the reference density stops dense regions, where
  every real row is close to some synthetic row, from passing for members. The densities are nearest-neighbour
  estimates, p(x) ~ 1 / (n r_1(x)^D), whose log ratio is D (log r_ref - log r_syn) + const: the ranking, which is all
  an AUC or a threshold uses, needs neither the intrinsic dimension D nor the constant.

Each attack reports its ROC AUC (0.5 = chance; Hanley & McNeil 1982 interval) and its membership advantage
TPR - FPR (Yeom et al., CSF 2018). The advantage's threshold is chosen on one half of the targets and measured on
the other, both ways round, so that a chance attack scores ~0 instead of the upward-biased maximum over thresholds.

Beside them, the bound (epsilon, delta)-DP puts on any attack's advantage. DP bounds every test's power by
TPR <= e^eps FPR + delta and 1 - FPR <= e^eps (1 - TPR) + delta (Kairouz, Oh & Viswanath, ICML 2015); maximising
TPR - FPR under both gives (e^eps - 1 + 2 delta) / (e^eps + 1), which is (e^eps - 1)/(e^eps + 1) at delta = 0
(Humphries et al., CSF 2023).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm, rankdata

from synth_pipeline.evaluate.encoding import MixedEncoder, nearest

_FLOOR = 1e-9  # a zero distance (an exact copy) gets a finite log


def advantage_bound(*, epsilon: float, delta: float) -> float:
    """Largest TPR - FPR any membership test can reach against an (epsilon, delta)-DP mechanism."""
    return min(1.0, (math.expm1(epsilon) + 2 * delta) / (math.exp(epsilon) + 1))


def auc(scores_members: np.ndarray, scores_non_members: np.ndarray) -> float:
    """P(score of a member > score of a non-member), ties one half (the Mann-Whitney statistic)."""
    ranks = rankdata(np.concatenate([scores_members, scores_non_members]))
    m, n = len(scores_members), len(scores_non_members)
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


def auc_interval(value: float, members: int, non_members: int, confidence: float) -> list[float]:
    """Hanley & McNeil (1982) standard error of an AUC, as a normal interval clipped to [0, 1]."""
    q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
    variance = (value * (1 - value) + (members - 1) * (q1 - value * value)
                + (non_members - 1) * (q2 - value * value)) / (members * non_members)
    half = norm.ppf(0.5 + confidence / 2) * math.sqrt(max(variance, 0.0))
    return [max(value - half, 0.0), min(value + half, 1.0)]


def _best_threshold(members: np.ndarray, non_members: np.ndarray) -> float:
    """The threshold t maximising TPR - FPR for the rule 'member if score >= t'."""
    candidates = np.unique(np.concatenate([members, non_members]))
    tpr = 1.0 - np.searchsorted(np.sort(members), candidates, side="left") / len(members)
    fpr = 1.0 - np.searchsorted(np.sort(non_members), candidates, side="left") / len(non_members)
    return float(candidates[int(np.argmax(tpr - fpr))])


def held_out_advantage(members: np.ndarray, non_members: np.ndarray, *, rng: np.random.Generator) -> float:
    """TPR - FPR at a threshold fitted on the other half of the targets, averaged over both halves."""
    member_half = rng.permutation(len(members)) < len(members) // 2
    non_member_half = rng.permutation(len(non_members)) < len(non_members) // 2
    results = []
    for fit in (True, False):
        threshold = _best_threshold(members[member_half == fit], non_members[non_member_half == fit])
        tpr = float((members[member_half != fit] >= threshold).mean())
        fpr = float((non_members[non_member_half != fit] >= threshold).mean())
        results.append(tpr - fpr)
    return float(np.mean(results))


def _attack_result(members: np.ndarray, non_members: np.ndarray, confidence: float, rng: np.random.Generator) -> dict:
    value = auc(members, non_members)
    advantage = held_out_advantage(members, non_members, rng=rng)
    # Two proportions, each on half the targets, averaged over two halves: a conservative normal interval.
    variance = (0.25 / (len(members) / 2) + 0.25 / (len(non_members) / 2)) / 2
    half = norm.ppf(0.5 + confidence / 2) * math.sqrt(variance)
    return {"auc": value, "auc_interval": auc_interval(value, len(members), len(non_members), confidence),
            "advantage": advantage, "advantage_interval": [max(advantage - half, -1.0), min(advantage + half, 1.0)]}


def membership_inference(synthetic, train, holdout, encoder: MixedEncoder, *, targets: int, epsilon: float,
                         delta: float, confidence: float, rng: np.random.Generator) -> dict:
    """Both attacks on `targets` members and as many non-members (fewer if the holdout is small)."""
    if len(holdout) < 4 or len(train) < 2:
        raise ValueError("membership inference needs at least 4 holdout rows and 2 training rows")
    order = rng.permutation(len(holdout))
    reference, outside = order[: len(holdout) // 2], order[len(holdout) // 2:]
    size = min(targets, len(outside), len(train))
    non_members = holdout.iloc[np.sort(rng.choice(outside, size=size, replace=False))]
    members = train.iloc[np.sort(rng.choice(len(train), size=size, replace=False))]

    synthetic_matrix = encoder.encode(synthetic)
    reference_matrix = encoder.encode(holdout.iloc[np.sort(reference)])
    scores = {}
    for name, frame in (("members", members), ("non_members", non_members)):
        matrix = encoder.encode(frame)
        to_synthetic = np.sqrt(nearest(matrix, synthetic_matrix).squared[:, 0])
        to_reference = np.sqrt(nearest(matrix, reference_matrix).squared[:, 0])
        scores[name] = {"distance": -to_synthetic,
                        "density_ratio": np.log(to_reference + _FLOOR) - np.log(to_synthetic + _FLOOR)}
    attacks = {attack: _attack_result(scores["members"][attack], scores["non_members"][attack], confidence, rng)
               for attack in ("distance", "density_ratio")}
    strongest = max(attacks, key=lambda attack: attacks[attack]["advantage"])
    bound = advantage_bound(epsilon=epsilon, delta=delta)
    return {
        "attacks": attacks,
        "strongest": strongest,
        "advantage": attacks[strongest]["advantage"],
        "advantage_lower_bound": attacks[strongest]["advantage_interval"][0],
        "dp_bound": bound,
        "epsilon": epsilon,
        "delta": delta,
        "members": size,
        "non_members": size,
        "reference_rows": len(reference),
        "confidence": confidence,
    }
