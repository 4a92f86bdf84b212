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
from synth_pipeline.report.data_card import build_data_card, render_data_card
from synth_pipeline.report.internal import build_internal_report
from synth_pipeline.runs import read_json, step_output, write_json
from synth_pipeline.spec import load_spec
from synth_pipeline.summary import GATED_STEPS, gate_verdicts, step_reports

INTERNAL = "report.html"
CARD_JSON, CARD_HTML = "data_card.json", "data_card.html"


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
                                                          distributions=distributions, standing=standing.to_dict()),
                                    encoding="utf-8")
        card = None
        if synthetic_path.is_file() and "train" in reports:
            train = reports["train"]
            schema, left_out = modelled_columns(spec)
            card = build_data_card(
                spec, released_schema=schema, not_released=left_out, synthetic=pd.read_parquet(synthetic_path),
                generator={"name": train["generator"], "params": train["params"]},
                privacy=_public_privacy(train["privacy"]), gates=gates,
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
        shape = (f"{len(codec['levels'])} categories" if codec.get("levels") else
                 f"{codec['edges'][0]:g} .. {codec['edges'][-1]:g}" if codec.get("edges") else "estimated")
        described[name] = f"{shape} (estimated under DP)"
    return described


def _public_privacy(privacy: dict) -> dict:
    """The accountant's own figures (DP outputs and parameters) for the card: what was spent, on what, how."""
    generator = privacy.get("generator") or {}
    public = {key: generator[key] for key in ("accountant", "epsilon_spent", "composition", "unit", "mechanisms")
              if key in generator}
    estimation = privacy.get("estimation")
    if estimation:
        public["domain_estimation"] = {"epsilon": estimation.get("epsilon_spent"), "delta": estimation.get("delta_spent"),
                                       "columns": sorted(estimation.get("columns", {}))}
    return public
