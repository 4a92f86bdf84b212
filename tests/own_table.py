"""The decisions a data engineer makes after `synth-pipeline init bank_customers`, as the README's "Your own table"
walks through them: every TODO filled from public knowledge (the category lists from data/bank_customers/
bank-names.txt, the UCI code book; bounds from what the columns mean, wide where unsure, with estimate_bounds), the
target chosen, and the data owner's ledger entry added."""

from __future__ import annotations

from pathlib import Path

import yaml

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
CODE_BOOK = {  # bank-names.txt, attribute information
    "job": ["admin.", "unknown", "unemployed", "management", "housemaid", "entrepreneur", "student", "blue-collar",
            "self-employed", "retired", "technician", "services"],
    "marital": ["married", "divorced", "single"],
    "education": ["unknown", "secondary", "primary", "tertiary"],
    "contact": ["unknown", "telephone", "cellular"],
    "month": MONTHS,
    "poutcome": ["unknown", "other", "failure", "success"],
}
BOUNDS = {  # (min, max, more): public meaning of each column
    "age": (18, 100, {}),
    "balance": (-20_000, 200_000, {"estimate_bounds": True, "atoms": [0]}),  # euros; often exactly 0
    "day": (1, 31, {}),
    "duration": (0, 5_000, {"estimate_bounds": True}),  # seconds of the last call
    "campaign": (1, 100, {"estimate_bounds": True}),
    "pdays": (-1, 999, {"atoms": [-1]}),  # -1: not contacted before (the code book)
    "previous": (0, 300, {"estimate_bounds": True, "atoms": [0]}),
}


def fill_in(spec_path: Path, *, steward: str) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    spec.update(description="Synthetic bank telemarketing customers (UCI Bank Marketing, bank.csv).",
                owner="data-platform", purpose="Teaching: modelling who subscribes a term deposit.",
                privacy_unit="row", evaluation={"target": "y"})
    for column, levels in CODE_BOOK.items():
        spec["schema"][column]["categories"] = levels
    for column, (low, high, more) in BOUNDS.items():
        spec["schema"][column].update(min=low, max=high, **more)
    spec["privacy"] = {"epsilon": 2.0, "delta": 1e-6, "min_individuals": 1000,
                       "estimation": {"epsilon": 0.2, "delta": 1e-7}}
    spec["approval"]["stewards"] = [steward]
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))


def add_ledger_entry(project: Path) -> None:
    """The data owner's part: the proposal init wrote, with a lifetime, added to config/ledger.yaml."""
    proposal = yaml.safe_load((project / "config" / "bank_customers.ledger-proposal.yaml").read_text())
    entry = proposal["datasets"]["bank_customers"]
    entry.update(epsilon=10.0, delta=1e-5)
    ledger_path = project / "config" / "ledger.yaml"
    ledger = yaml.safe_load(ledger_path.read_text()) if ledger_path.exists() else {}
    ledger.setdefault("datasets", {})["bank_customers"] = entry
    ledger_path.write_text(yaml.safe_dump(ledger, sort_keys=False))
