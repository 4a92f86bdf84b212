"""One function per DAG task: `run_<step>(spec_path, run_dir, ...) -> small dict`.

Each loads the spec, hands the pure stage only its slice of it, reads its inputs from earlier steps' partitions and
writes its own. The returned dict goes through XCom: URIs, counts and hashes, never rows. The modules follow the
DAG's order; this package re-exports every step so the DAG and the CLI find them by name.
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

__all__ = ["STEPS", "mark_charge_spent", "run_charge_budget", "run_extract", "run_harmonize", "run_pii_scan",
           "run_publish", "run_quality_gate", "run_reidentify", "run_report", "run_retention", "run_review",
           "run_sample", "run_settle_budget", "run_split", "run_train", "run_validate"]
