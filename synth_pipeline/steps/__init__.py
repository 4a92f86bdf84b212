"""One function per DAG task: `run_<step>(spec_path, run_dir, ...) -> small dict`.

Each loads the spec, hands the pure stage only its slice of it, reads its inputs from earlier steps' partitions and
writes its own. The returned dict goes through XCom, which every Airflow user can read (and Airflow writes it into
the task log): URIs, names, hashes, verdicts, spec and ledger figures, and DP values, never a count or a statistic of
private data. The modules follow the DAG's order; this package re-exports every step so the DAG and the CLI find
them by name.
"""

from synth_pipeline.steps.budget import mark_charge_spent, run_charge_budget, run_settle_budget, run_split
from synth_pipeline.steps.evaluate import run_reidentify, run_validate
from synth_pipeline.steps.generate import run_sample, run_train
from synth_pipeline.steps.pii import run_pii_scan
from synth_pipeline.steps.prepare import run_extract, run_harmonize, run_quality_gate
from synth_pipeline.steps.release import run_publish, run_retention, run_review
from synth_pipeline.steps.report import run_report

# Steps the CLI can run on their own (`synth-pipeline run-step`), in the DAG's order; review and publish need the
# approval's context.
STEPS = ("extract", "harmonize", "quality_gate", "pii_scan", "split", "charge_budget", "train", "settle_budget",
         "sample", "validate", "reidentify", "report")

# The XCom fields (dotted paths) whose values are DP outputs: they may differ between neighbouring inputs (a source
# with or without one person). Every other field, and every line of the task log outside DP_LOGGERS, must be the same
# for both: tests/test_neighbouring_inputs.py holds the steps to this list.
DP_OUTPUT_FIELDS = {
    "sample": ("rows",),  # the model's DP row count (or the spec's publish.rows)
    "validate": ("passed", "release_decision.passed"),  # the noisy threshold test's verdict
    "report": ("gates_passed",),  # follows validate's verdict
}
# Loggers whose lines report DP outputs only: the generators' accountant, their DP selections and noisy figures.
DP_LOGGERS = ("synth_pipeline.generators.aim", "synth_pipeline.generators.aim_select",
              "synth_pipeline.generators.autoregressive")

__all__ = ["DP_LOGGERS", "DP_OUTPUT_FIELDS", "STEPS", "mark_charge_spent", "run_charge_budget", "run_extract", "run_harmonize", "run_pii_scan",
           "run_publish", "run_quality_gate", "run_reidentify", "run_report", "run_retention", "run_review",
           "run_sample", "run_settle_budget", "run_split", "run_train", "run_validate"]
