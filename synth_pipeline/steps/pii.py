"""The `pii_scan` step: scan the harmonized table, stop on undeclared PII, apply the declared actions.

Reads `harmonize/table.parquet` (already through the quality gate); writes `pii_scan/report.json` always and
`pii_scan/table.parquet` (the table after the actions, typed as `pii.output_schema`) only when the gate passes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from synth_pipeline.errors import PIIFound, PipelineError
from synth_pipeline.pii import output_schema
from synth_pipeline.pii.classify import scan_table
from synth_pipeline.pii.engine import analyzer_for, custom_classes, engine_config
from synth_pipeline.pii.keys import SecretResolver, env_secret_resolver, pseudonym_key
from synth_pipeline.pii.policy import apply_actions, gate, schema_mismatches
from synth_pipeline.pii.report import pii_found_message, scan_document
from synth_pipeline.runs import step_input, step_output, write_json
from synth_pipeline.spec import load_spec

TABLE = "table.parquet"
REPORT = "report.json"
PROGRESS_EVERY = 5  # columns
log = logging.getLogger(__name__)


def _log_progress(done: int, total: int, _elapsed: float) -> None:
    # No elapsed time in the task log: it grows with the private row count (the run folder's report keeps it).
    if done % PROGRESS_EVERY == 0 or done == total:
        log.info("pii_scan: %d of %d columns scanned", done, total)


def run_pii_scan(spec_path: str | Path, run_dir: Path, *, resolve_secret: SecretResolver = env_secret_resolver) -> dict:
    loaded = load_spec(spec_path)
    spec, pii = loaded.spec, loaded.spec.pii
    # A missing key must fail before any data is read.
    pseudonymizing = any(rule.action == "pseudonymize" for rule in pii.columns.values())
    key = pseudonym_key(pii.key, resolve_secret=resolve_secret) if pseudonymizing else None
    config = engine_config(pii, project_root=loaded.project_root)
    table = pd.read_parquet(step_input(run_dir, "harmonize") / TABLE)
    analyzer = analyzer_for(config)

    started = time.perf_counter()
    findings = scan_table(table, analyzer=analyzer, sample_size=pii.sample_size,
                          rng=np.random.default_rng(pii.sample_seed), custom_classes=custom_classes(config),
                          progress=_log_progress)
    violations = gate(findings, pii, custom_classes=custom_classes(config))
    document = {"spec_hash": loaded.spec_hash, "rows": len(table),
                **scan_document(findings, violations, sample_size=pii.sample_size,
                                elapsed_s=time.perf_counter() - started)}
    if violations:
        # The report is written before the run stops: the steward needs to see what failed. No table is written.
        with step_output(run_dir, "pii_scan") as out:
            write_json(out / REPORT, document)
        raise PIIFound(pii_found_message(spec.name, violations, with_counts=False))

    released_schema = output_schema(spec.schema, pii)
    released, actions = apply_actions(table, spec.schema, pii, key=key, analyzer=analyzer)
    mismatches = schema_mismatches(released, released_schema)
    if mismatches:
        raise PipelineError("pii_scan produced a table that does not fit its output schema: " + "; ".join(mismatches))
    with step_output(run_dir, "pii_scan") as out:
        released.to_parquet(out / TABLE, index=False)
        write_json(out / REPORT, {**document, "actions": actions, "released_columns": list(released.columns),
                                  "elapsed_s": round(time.perf_counter() - started, 3)})
    # Column names and verdicts only: row counts and the scan's per-class findings stay in the run folder's report.
    return {"uri": str(run_dir / "pii_scan" / TABLE), "report": str(run_dir / "pii_scan" / REPORT),
            "released_columns": list(released.columns), "passed": True}
