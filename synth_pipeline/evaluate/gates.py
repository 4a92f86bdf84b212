"""Gates: each headline figure against its threshold in `spec.gates`. A figure that could not be computed fails its
gate (fail closed); a gate that does not apply to this release (no prediction target, a single column) says so and
passes.

The verdicts here are comparisons of unnoised figures: advice for the steward in the internal report. The
automatic release decision takes `decision_figures` (the marginal TVDs, whose per-person sensitivity is stated) to
`synth_pipeline.privacy.decision`, which decides under noise.

A risk estimated from a sample of attacks comes with a confidence interval, and its gate decides on the interval's
lower end: it fails only when the evidence says the risk is above its threshold. At the bundled tables' sizes a point
estimate moves by more than its distance to the threshold between re-runs on the same synthetic table (attribute
inference read 0.19, 0.0 and 0.0 on one 3,000-row table), so a point-estimate gate flips; the interval narrows as
1/sqrt(attacks), so the allowance scales with the table's size by itself."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from synth_pipeline.privacy.decision import GatedFigure
from synth_pipeline.spec.evaluation import RiskGates, UtilityGates


@dataclass(frozen=True)
class GateVerdict:
    name: str
    value: float | None
    limit: float
    direction: Literal["max", "min"]  # "max": the value may be at most the limit; "min": at least
    passed: bool
    note: str = ""
    interval: tuple[float, float] | None = None  # the figure's confidence interval, when the gate decides on it

    def describe(self) -> str:
        relation = "<=" if self.direction == "max" else ">="
        shown = "not computed" if self.value is None else f"{self.value:.4g}"
        if self.interval is not None and self.value is not None:
            shown += f" (interval {self.interval[0]:.4g} to {self.interval[1]:.4g}; the gate reads its lower end)"
        verdict = "passed" if self.passed else "FAILED"
        note = f"; {self.note}" if self.note else ""
        return f"{self.name} = {shown} (must be {relation} {self.limit:g}): {verdict}{note}"

    def to_dict(self) -> dict:
        return asdict(self)


def gate(name: str, value: float | None, limit: float, direction: Literal["max", "min"], note: str = "") -> GateVerdict:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return GateVerdict(name, None, limit, direction, False, note or "the check did not produce a figure")
    passed = value <= limit if direction == "max" else value >= limit
    return GateVerdict(name, float(value), limit, direction, bool(passed), note)


def risk_gate(name: str, value: float | None, interval: list | tuple | None, limit: float, note: str = "") -> GateVerdict:
    """A "max" gate on an estimated risk: failed only when its interval's lower end is above the limit. Without an
    interval it falls back to the point estimate (fail closed on a missing figure, as `gate`)."""
    if value is None or interval is None or any(v is None or math.isnan(v) for v in (value, *interval)):
        return gate(name, value, limit, "max", note)
    low, high = float(interval[0]), float(interval[1])
    return GateVerdict(name, float(value), limit, "max", bool(low <= limit), note, (low, high))


def not_applicable(name: str, limit: float, direction: Literal["max", "min"], reason: str) -> GateVerdict:
    return GateVerdict(name, None, limit, direction, True, f"not applicable: {reason}")


def failures(verdicts: list[GateVerdict]) -> list[GateVerdict]:
    return [verdict for verdict in verdicts if not verdict.passed]


def summary(title: str, verdicts: list[GateVerdict]) -> str:
    failed = failures(verdicts)
    lines = [f"{title}: {len(failed)} of {len(verdicts)} gates failed"]
    lines += [f"  - {verdict.describe()}" for verdict in failed]
    return "\n".join(lines)


def figure(section: dict | None, *path: str) -> float | None:
    """A nested figure, or None when its check did not run or failed."""
    value = section
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def decision_figures(utility: dict, gates: UtilityGates, *, sensitivity: float) -> list[GatedFigure]:
    """The figures the automatic release decision takes: the mean 1- and 2-way (and, when gated, 3-way) marginal TVDs,
    each a mean of TVDs against the size floor, so that one person moves it by at most `sensitivity`."""
    marginals = utility.get("marginals", {})
    limits = [("tvd_1way", "1", gates.max_tvd_1way), ("tvd_2way", "2", gates.max_tvd_2way)]
    if gates.max_tvd_3way is not None:
        limits.append(("tvd_3way", "3", gates.max_tvd_3way))
    return [GatedFigure(name, figure(marginals, ways, "mean"), limit, "max", sensitivity)
            for name, ways, limit in limits]


def utility_verdicts(utility: dict, gates: UtilityGates) -> list[GateVerdict]:
    """The utility figures of `run_validate`'s report against `gates.utility`."""
    marginals = utility.get("marginals", {})
    verdicts = [gate("tvd_1way", figure(marginals, "1", "mean"), gates.max_tvd_1way, "max"),
                gate("tvd_2way", figure(marginals, "2", "mean"), gates.max_tvd_2way, "max")]
    tstr = utility.get("tstr")
    if tstr is not None and tstr.get("not_applicable"):
        verdicts.append(not_applicable("tstr_ratio", gates.min_tstr_ratio, "min", tstr["not_applicable"]))
    else:
        verdicts.append(gate("tstr_ratio", figure(tstr, "ratio"), gates.min_tstr_ratio, "min",
                             figure(tstr, "note") or ""))
    if gates.max_tvd_3way is not None:
        verdicts.append(gate("tvd_3way", figure(marginals, "3", "mean"), gates.max_tvd_3way, "max"))
    if gates.max_association_difference is not None:
        verdicts.append(gate("association_difference", figure(utility.get("association"), "mean_difference"),
                             gates.max_association_difference, "max"))
    if gates.max_query_relative_error is not None:
        for query in utility.get("queries") or [{"name": "(queries)"}]:
            verdicts.append(gate(f"query {query['name']} relative error", query.get("mean_relative_error"),
                                 gates.max_query_relative_error, "max"))
    return verdicts


def _worst_interval(inference: dict) -> tuple[float, float] | None:
    """The interval of the largest inference risk over the secrets: any secret's evidence counts."""
    intervals = [result.get("confidence_interval") for result in (inference.get("secrets") or {}).values()
                 if isinstance(result, dict)]
    if not intervals or any(not isinstance(i, (list, tuple)) or len(i) != 2 for i in intervals):
        return None
    return max(i[0] for i in intervals), max(i[1] for i in intervals)


def risk_verdicts(risk: dict, gates: RiskGates) -> list[GateVerdict]:
    """The figures of `run_reidentify`'s report against `gates.risk`."""
    distance = risk.get("distance")
    verdicts = [
        risk_gate("dcr_share_at_equal_sizes", figure(distance, "dcr_share", "share_at_equal_sizes"),
                  figure(distance, "dcr_share", "confidence_interval"), gates.max_dcr_share),
        gate("exact_match_excess", figure(distance, "exact_matches", "excess_rate"),
             gates.max_exact_match_rate, "max", "share of synthetic rows equal to a training row, minus the holdout's"),
        risk_gate("singling_out_risk", figure(risk.get("singling_out"), "risk"),
                  figure(risk.get("singling_out"), "confidence_interval"), gates.max_singling_out_risk),
    ]
    linkability = risk.get("linkability") or {}
    if linkability.get("not_applicable"):
        verdicts.append(not_applicable("linkability_risk", gates.max_linkability_risk, "max",
                                       linkability["not_applicable"]))
    else:
        verdicts.append(risk_gate("linkability_risk", linkability.get("risk"), linkability.get("confidence_interval"),
                                  gates.max_linkability_risk))
    inference = risk.get("attribute_inference") or {}
    if inference.get("not_applicable"):
        verdicts.append(not_applicable("attribute_inference_risk", gates.max_attribute_inference_risk, "max",
                                       inference["not_applicable"]))
    else:
        verdicts.append(risk_gate("attribute_inference_risk", inference.get("max_risk"), _worst_interval(inference),
                                  gates.max_attribute_inference_risk,
                                  "the largest over the secret columns (interval: the largest lower and upper ends)"))
    membership = risk.get("membership")
    strongest = figure(membership, "attacks", figure(membership, "strongest") or "")
    verdicts.append(risk_gate("membership_advantage", figure(membership, "advantage"),
                              figure(strongest, "advantage_interval") if isinstance(strongest, dict) else None,
                              gates.max_membership_advantage, "the stronger of the two attacks"))
    if gates.enforce_dp_bound:
        verdicts.append(gate("membership_advantage_lower_limit", figure(membership, "advantage_lower_bound"),
                             figure(membership, "dp_bound") if figure(membership, "dp_bound") is not None else 0.0,
                             "max", "must not exceed the (epsilon, delta)-DP bound on any attack"))
    return verdicts
