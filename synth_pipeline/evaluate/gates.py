"""Gates: each headline figure against its threshold in `spec.gates`. A figure that could not be computed fails its
gate (fail closed); a gate that does not apply to this release (no prediction target, a single column) says so and
passes.

The verdicts here are exact comparisons of unnoised figures: advice for the steward in the internal report. The
automatic release decision takes `decision_figures` (the marginal TVDs, whose per-person sensitivity is stated) to
`synth_pipeline.privacy.decision`, which decides under noise."""

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

    def describe(self) -> str:
        relation = "<=" if self.direction == "max" else ">="
        shown = "not computed" if self.value is None else f"{self.value:.4g}"
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


def risk_verdicts(risk: dict, gates: RiskGates) -> list[GateVerdict]:
    """The figures of `run_reidentify`'s report against `gates.risk`."""
    verdicts = [
        gate("dcr_share_at_equal_sizes", figure(risk.get("distance"), "dcr_share", "share_at_equal_sizes"),
             gates.max_dcr_share, "max"),
        gate("exact_match_excess", figure(risk.get("distance"), "exact_matches", "excess_rate"),
             gates.max_exact_match_rate, "max", "share of synthetic rows equal to a training row, minus the holdout's"),
        gate("singling_out_risk", figure(risk.get("singling_out"), "risk"), gates.max_singling_out_risk, "max"),
    ]
    linkability = risk.get("linkability") or {}
    if linkability.get("not_applicable"):
        verdicts.append(not_applicable("linkability_risk", gates.max_linkability_risk, "max",
                                       linkability["not_applicable"]))
    else:
        verdicts.append(gate("linkability_risk", linkability.get("risk"), gates.max_linkability_risk, "max"))
    inference = risk.get("attribute_inference") or {}
    if inference.get("not_applicable"):
        verdicts.append(not_applicable("attribute_inference_risk", gates.max_attribute_inference_risk, "max",
                                       inference["not_applicable"]))
    else:
        verdicts.append(gate("attribute_inference_risk", inference.get("max_risk"),
                             gates.max_attribute_inference_risk, "max", "the largest over the secret columns"))
    membership = risk.get("membership")
    verdicts.append(gate("membership_advantage", figure(membership, "advantage"), gates.max_membership_advantage,
                         "max", "the stronger of the two attacks"))
    if gates.enforce_dp_bound:
        verdicts.append(gate("membership_advantage_lower_limit", figure(membership, "advantage_lower_bound"),
                             figure(membership, "dp_bound") if figure(membership, "dp_bound") is not None else 0.0,
                             "max", "must not exceed the (epsilon, delta)-DP bound on any attack"))
    return verdicts
