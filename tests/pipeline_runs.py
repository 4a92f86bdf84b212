"""Run folders brought to a given step through the real steps, for the tests of the steps after it."""

from __future__ import annotations

from synth_pipeline.privacy.ledger import ledger_for
from synth_pipeline.runs import run_folder
from synth_pipeline.sources import RunContext
from synth_pipeline.spec import load_spec
from synth_pipeline.steps import (
    run_charge_budget,
    run_extract,
    run_harmonize,
    run_pii_scan,
    run_quality_gate,
    run_split,
)


def prepared(spec, state_dir, run_id: str, *, seed: int = 3):
    """A run folder charged and ready to train."""
    run_dir = run_folder(state_dir, load_spec(spec).spec.name, run_id)
    run_extract(spec, run_dir, context=RunContext(run_id))
    run_harmonize(spec, run_dir)
    run_quality_gate(spec, run_dir)
    run_pii_scan(spec, run_dir)
    run_split(spec, run_dir, seed=seed)
    run_charge_budget(spec, run_dir, run_id=run_id)
    return run_dir


def entry_status(spec, run_id: str) -> str:
    loaded = load_spec(spec)
    with ledger_for(loaded) as ledger:
        [standing] = ledger.summary(loaded.spec.dataset)
    return {entry.run_id: entry.status for entry in standing.entries}[run_id]


def pin_spec(spec_path, *, seed: int = 7, approval: bool = True) -> None:
    """Make a copied spec reproducible for a test (a fixed seed), or take its approval step away. (dag.test() never
    times an approval out: a test whose steward never answers is stopped by pytest-timeout.)"""
    import yaml

    document = yaml.safe_load(spec_path.read_text())
    document["generator"]["seed"] = seed
    if not approval:
        document.pop("approval", None)
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
