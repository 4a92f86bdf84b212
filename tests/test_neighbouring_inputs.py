"""Neighbouring inputs: what Airflow users see must not tell D from D minus one person or D plus a copy of one.

The bundled heart-disease release runs step by step, with the same seed, on three versions of its Cleveland file:
D, D without its first patient, and D with a copy of its first patient (which the whole-row de-duplication then
removes: before this test, XCom said so with `duplicates_removed`). Everything the steps through `charge_budget`
return (XCom), log or raise must be byte-identical once run ids, paths and timestamps are masked. From `train` on,
values may differ only in the fields `synth_pipeline.steps.DP_OUTPUT_FIELDS` lists and in the lines of the loggers
in `DP_LOGGERS`: the DP outputs, declared in one place.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from synth_pipeline.runs import run_folder
from synth_pipeline.sources import RunContext
from synth_pipeline.steps import (
    DP_LOGGERS,
    DP_OUTPUT_FIELDS,
    run_charge_budget,
    run_extract,
    run_harmonize,
    run_pii_scan,
    run_quality_gate,
    run_reidentify,
    run_report,
    run_review,
    run_sample,
    run_split,
    run_train,
    run_validate,
)
from testsupport import copy_project

RUN_ID = "neighbours"
SEED = 11
CLEVELAND = Path("data") / "heart_disease" / "processed.cleveland.data"
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?")
_TEMP_PATH = re.compile(r"/tmp/[^\s'\"]+")
# Lines a library logs once per process, whichever variant happens to run first.
_ONCE_PER_PROCESS = ("Using device of type",)


def _variant(tmp_path: Path, name: str, edit) -> Path:
    root = copy_project(tmp_path / name)
    # The spec's seed fixes every noise draw after `train` too (the release decision's included), so the three
    # variants differ only in their data; unseeded, the decision's fresh noise would make the test flaky.
    spec = root / "releases" / "heart_disease.yaml"
    spec.write_text(spec.read_text().replace("  name: aim\n", f"  name: aim\n  seed: {SEED}\n", 1))
    lines = (root / CLEVELAND).read_text().splitlines(keepends=True)
    (root / CLEVELAND).write_text("".join(edit(lines)))
    return root


VARIANTS = {
    "D": lambda lines: lines,
    "D minus one person": lambda lines: lines[1:],
    "D plus a copy of one person": lambda lines: lines + lines[:1],
}


def _mask(text: str, root: Path) -> str:
    text = text.replace(str(root.parent), "<VARIANT>")
    return _TEMP_PATH.sub("<TMP>", _TIMESTAMP.sub("<TIME>", text))


def _drop(value: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        value = value.get(key, {})
    value.pop(last, None)


def _run(root: Path, monkeypatch, caplog) -> dict[str, dict]:
    """Each step's (XCom, log lines) on one variant, in its own state folder and ledger."""
    monkeypatch.setenv("SYNTH_PIPELINE_STATE", str(root.parent / "state"))
    spec = root / "releases" / "heart_disease.yaml"
    run_dir = run_folder(root.parent / "state", "heart_disease", RUN_ID)
    steps = [
        ("extract", lambda: run_extract(spec, run_dir, context=RunContext(RUN_ID))),
        ("harmonize", lambda: run_harmonize(spec, run_dir)),
        ("quality_gate", lambda: run_quality_gate(spec, run_dir)),
        ("pii_scan", lambda: run_pii_scan(spec, run_dir)),
        ("split", lambda: run_split(spec, run_dir, seed=SEED)),
        ("charge_budget", lambda: run_charge_budget(spec, run_dir, run_id=RUN_ID)),
        ("train", lambda: run_train(spec, run_dir, run_id=RUN_ID, seed=SEED)),
        ("sample", lambda: run_sample(spec, run_dir, seed=SEED)),
        ("validate", lambda: run_validate(spec, run_dir)),
        ("reidentify", lambda: run_reidentify(spec, run_dir)),
        ("report", lambda: run_report(spec, run_dir, run_id=RUN_ID)),
        ("review", lambda: run_review(spec, run_dir, run_id=RUN_ID)),
    ]
    seen = {}
    for step, call in steps:
        caplog.clear()
        try:
            xcom = json.loads(json.dumps(call(), default=str))
        except Exception as exc:  # noqa: BLE001 - an error is an output too: its type and text must match
            xcom = {"raised": type(exc).__name__, "message": str(exc)}
        for field in DP_OUTPUT_FIELDS.get(step, ()):
            _drop(xcom, field)
        logs = [f"{record.name} {record.levelname} {record.getMessage()}" for record in caplog.records
                if not record.name.startswith(DP_LOGGERS)
                and not record.getMessage().startswith(_ONCE_PER_PROCESS)]
        seen[step] = json.loads(_mask(json.dumps({"xcom": xcom, "logs": logs}, sort_keys=True), root))
    return seen


@pytest.mark.slow
def test_steps_cannot_tell_neighbouring_inputs_apart(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    outputs = {name: _run(_variant(tmp_path, name.replace(" ", "_"), edit), monkeypatch, caplog)
               for name, edit in VARIANTS.items()}
    reference = outputs["D"]
    failed = {step: output["xcom"] for step, output in reference.items() if "raised" in output["xcom"]}
    assert not failed, failed  # the release itself succeeds on D
    for name, seen in outputs.items():
        for step, output in reference.items():
            assert seen[step] == output, f"{step} differs between D and {name}"
    # The comparison has teeth: the run folders themselves differ (the private reports hold the true counts).
    reports = [json.loads((tmp_path / name.replace(" ", "_") / "state" / "runs" / "heart_disease" / RUN_ID /
                           "harmonize" / "report.json").read_text()) for name in VARIANTS]
    assert len({(r["rows_out"], r["duplicates_removed"]) for r in reports}) == 3
