"""The `report` step: the steward's internal report, and the public data card that travels with the release.

It runs even when a check failed (the DAG gives it trigger rule all_done), so the steward can see why, and then fails
itself, so the run ends failed whether or not it has an approval step. The data card needs a synthetic table: a run
that never sampled gets the internal report only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synth_pipeline.errors import GatesFailed
from synth_pipeline.privacy.ledger import ledger_for
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.report.data_card import CARD_HTML, CARD_JSON, build_data_card, render_data_card
from synth_pipeline.report.internal import build_internal_report
from synth_pipeline.runs import read_json, step_output, write_json
from synth_pipeline.spec import load_spec
from synth_pipeline.summary import GATED_STEPS, gate_verdicts, step_reports

INTERNAL = "report.html"


def run_report(spec_path: str | Path, run_dir: Path, *, run_id: str) -> dict:
    loaded = load_spec(spec_path)
    spec = loaded.spec
    reports = step_reports(run_dir)
    distributions_path = run_dir / "validate" / "distributions.json"
    distributions = read_json(distributions_path) if distributions_path.is_file() else {}
    with ledger_for(loaded) as ledger:
        [standing] = ledger.summary(spec.dataset)
    gates = gate_verdicts(reports)
    synthetic_path = run_dir / "sample" / "synthetic.parquet"
    with step_output(run_dir, "report") as out:
        (out / INTERNAL).write_text(build_internal_report(release=spec.name, run_id=run_id, reports=reports,
                                                          distributions=distributions, standing=standing.to_dict(),
                                                          pii_classes={name: rule.class_ for name, rule
                                                                       in spec.pii.columns.items()}),
                                    encoding="utf-8")
        card = None
        if synthetic_path.is_file() and "train" in reports:
            train = reports["train"]
            schema, left_out = modelled_columns(spec)
            card = build_data_card(
                spec, released_schema=schema, not_released=left_out, synthetic=pd.read_parquet(synthetic_path),
                generator={"name": train["generator"], "params": train["params"]},
                privacy=_public_privacy(train["privacy"], (reports.get("validate") or {}).get("release_decision")),
                gates=gates,
                estimated=_estimated_domains(run_dir, train["privacy"].get("estimation")))
            write_json(out / CARD_JSON, card)
            (out / CARD_HTML).write_text(render_data_card(card), encoding="utf-8")
        write_json(out / "report.json", {"spec_hash": loaded.spec_hash, "gates": gates,
                                         "data_card": card is not None, "passed": all(gates.values())})
    failed = sorted(step for step, passed in gates.items() if not passed)
    missing = sorted(set(GATED_STEPS) - set(gates))
    if failed or missing:
        # The report exists for the steward; the run itself must end failed, approval or not.
        raise GatesFailed(f"release {spec.name!r}: " + "; ".join(
            ([f"gates failed: {', '.join(failed)}"] if failed else []) +
            ([f"checks that never reported: {', '.join(missing)}"] if missing else [])) +
            f". The internal report is at {run_dir / 'report' / INTERNAL}")
    return {"uri": str(run_dir / "report" / INTERNAL), "data_card": str(run_dir / "report" / CARD_HTML) if card else None,
            "gates_passed": True}


def _estimated_domains(run_dir: Path, estimation: dict | None) -> dict[str, str]:
    """What DP estimation made of each undeclared domain, read from the trained model's (DP) domain."""
    if not estimation:
        return {}
    codecs = {codec["name"]: codec for codec in read_json(run_dir / "train" / "model" / "model.json")["domain"]}
    described = {}
    for name in estimation.get("columns", {}):
        codec = codecs.get(name, {})
        if codec.get("levels"):
            shape = f"{len(codec['levels'])} categories"
        elif codec.get("edges"):
            # An ordinal codec's bins are [edge, next edge) over whole numbers: its last edge is max + 1.
            high = codec["edges"][-1] - 1 if codec["kind"] == "ordinal" else codec["edges"][-1]
            shape = f"{codec['edges'][0]:g} .. {high:g}"
        else:
            shape = "estimated"
        described[name] = f"{shape} (estimated under DP)"
    return described


def _public_privacy(privacy: dict, decision: dict | None) -> dict:
    """The accountant's own figures (DP outputs and parameters) for the card: what was spent, on what, how.

    The train step's report holds the generator's account (`accountant.report`: epsilon at the delta the generator
    was given, and each charge) and, when a domain was estimated, the estimation's report; the validate step's holds
    the release decision (pure epsilon-DP). The generator got what the other two left, so the run's spend is the sum
    of the three (basic composition)."""
    generator, estimation, decision = privacy["generator"], privacy.get("estimation") or {}, decision or {}
    uses: dict[tuple[str, str], int] = {}
    for charge in generator["charges"]:
        key = (charge["mechanism"], charge["purpose"])
        uses[key] = uses.get(key, 0) + int(charge.get("count", 1))
    parts = (["DP domain estimation"] if estimation else []) + ["the generator's account"] + (
        ["the release decision"] if decision else [])
    public = {
        "epsilon_spent": generator["epsilon"] + estimation.get("epsilon_spent", 0.0) + decision.get("epsilon", 0.0),
        "delta_spent": generator["delta"] + estimation.get("delta_spent", 0.0) + decision.get("delta", 0.0),
        "accountant": generator["accountant"],
        "composition": "basic: " + " plus ".join(parts) if len(parts) > 1 else "the generator's account alone",
        "generator_epsilon_spent": generator["epsilon"],
        "mechanisms": [{"mechanism": mechanism, "purpose": purpose, "uses": count}
                       for (mechanism, purpose), count in uses.items()],
    }
    if estimation:
        public["domain_estimation"] = {"epsilon": estimation.get("epsilon_spent"), "delta": estimation.get("delta_spent"),
                                       "columns": sorted(estimation.get("columns", {}))}
    if decision:
        public["release_decision"] = {key: decision[key] for key in ("mechanism", "epsilon", "delta", "passed")}
    return public
