"""`synth-pipeline scan-pii` and `run-step pii_scan`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from testsupport import SHARED_DATA
from synth_pipeline.cli import main as cli
from synth_pipeline.spec import PiiSpec

FABRIC = SHARED_DATA / "presidio_samples" / "fabric_sample_data.csv"
needs_shared = pytest.mark.skipif(not FABRIC.is_file(), reason=f"shared data not found at {SHARED_DATA}")


@needs_shared
def test_the_table_and_a_pii_block_that_a_spec_accepts(capsys):
    assert cli(["scan-pii", str(FABRIC)]) == 0
    out, err = capsys.readouterr()
    assert "20 rows, 7 columns" in out and "user_query  free_text" in out and "email       direct_identifier" in out
    block = yaml.safe_load(out[out.index("pii:"):])["pii"]
    suggested = PiiSpec.model_validate(block)
    assert {n: (c.class_, c.action) for n, c in suggested.columns.items()} == {
        "name": ("direct_identifier", "drop"), "email": ("direct_identifier", "drop"),
        "street": ("direct_identifier", "drop"), "city": ("quasi_identifier", "keep"),
        "state": ("quasi_identifier", "keep"), "user_query": ("free_text", "redact")}
    assert "scan-pii: 5/7 columns" in err and "scan-pii: 7/7 columns" in err  # progress, on stderr
    assert "john.doe" not in out + err  # counts and names of entity types, never the values


@needs_shared
def test_json_for_automation(capsys):
    assert cli(["scan-pii", str(FABRIC), "--json", "--sample-size", "10"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [set(c) for c in document["columns"]] == [{"name", "class", "entities"}] * 7
    email = next(c for c in document["columns"] if c["name"] == "email")
    assert email == {"name": "email", "class": "direct_identifier", "entities": {"EMAIL_ADDRESS": 10}}


def test_undeclared_pii_under_a_spec_exits_2_and_names_the_column(tmp_path, capsys):
    table = tmp_path / "harmonized.csv"
    pd.DataFrame({"age": [30, 40, 50] * 10, "contact": ["jane.roe@example.com", "joe@example.org", "x@y.net"] * 10}
                 ).to_csv(table, index=False)
    assert cli(["scan-pii", str(table), "--spec", "releases/heart_disease.yaml", "--json"]) == 2
    err = capsys.readouterr().err
    assert "contact: EMAIL_ADDRESS (30 of 30 sampled values); direct_identifier, not in pii.columns" in err
    assert "jane.roe" not in err


@pytest.mark.parametrize(("content", "expected"), [
    (b"name,blob\nJohn Smith,caf\xe9\nMary Jones,na\xefve\n",
     {"name": ("direct_identifier", None), "blob": (None, "text that is not valid UTF-8 among the sampled values")}),
    (b"a,b\n,\n , \n", {"a": ("none", None), "b": ("none", None)}),
])
def test_bad_files_are_scanned_or_explained(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert cli(["scan-pii", str(path), "--json"]) == 0
    columns = {c["name"]: (c["class"], c.get("unscannable")) for c in json.loads(capsys.readouterr().out)["columns"]}
    assert columns == expected


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["scan-pii", "no/such/file.csv"], 2, "no/such/file.csv: no such file"),
    (["scan-pii", "releases/heart_disease.yaml"], 2, "cannot read it as CSV"),
])
def test_unreadable_inputs_are_errors_with_a_message(capsys, argv, code, message):
    assert cli(argv) == code
    assert message in capsys.readouterr().err


def test_a_sample_size_must_be_positive(capsys):
    with pytest.raises(SystemExit) as caught:
        cli(["scan-pii", "x.csv", "--sample-size", "0"])
    assert caught.value.code == 2 and "must be a positive number" in capsys.readouterr().err


def test_run_step_pii_scan(project, state_dir, capsys):
    spec = str(project / "releases" / "heart_disease.yaml")
    for step in ("extract", "harmonize", "quality_gate", "pii_scan"):
        assert cli(["run-step", step, spec, "--run-id", "dev1"]) == 0
    result = json.loads(capsys.readouterr().out.split("\n}\n")[-2] + "\n}")
    assert result["passed"] and result["uri"].endswith("dev1/pii_scan/table.parquet")


def test_a_file_without_personal_data_gets_an_empty_block(tmp_path, capsys):
    path = tmp_path / "measurements.csv"
    pd.DataFrame({"reading": [0.5, 1.25, 3.0] * 5, "count": [1, 2, 3] * 5}).to_csv(path, index=False)
    assert cli(["scan-pii", str(path)]) == 0
    out = capsys.readouterr().out
    assert PiiSpec.model_validate(yaml.safe_load(out[out.index("pii:"):])["pii"]).columns == {}
