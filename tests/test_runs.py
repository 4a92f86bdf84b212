from __future__ import annotations

import pytest

from synth_pipeline.errors import ConfigError
from synth_pipeline.runs import run_folder, safe_run_id, step_input, step_output


@pytest.mark.parametrize(
    "run_id,expected",
    [("manual__2026-01-01T00:00:00+00:00", "manual__2026-01-01T00_00_00_00_00"), ("scheduled__x", "scheduled__x"),
     ("../../etc", ".._.._etc")],
)
def test_run_ids_become_safe_folder_names(run_id, expected):
    assert safe_run_id(run_id) == expected


def test_unusable_run_id():
    with pytest.raises(ConfigError):
        safe_run_id("///")


def test_step_output_appears_only_when_complete(tmp_path):
    run_dir = run_folder(tmp_path, "rel", "r1")
    with step_output(run_dir, "harmonize") as out:
        (out / "table.parquet").write_text("v1")
        assert not (run_dir / "harmonize").exists()  # invisible while being written
    assert (run_dir / "harmonize" / "table.parquet").read_text() == "v1"


def test_rerun_replaces_its_own_partition_only(tmp_path):
    run_dir = tmp_path / "run"
    for step in ("extract", "harmonize"):
        with step_output(run_dir, step) as out:
            (out / "a").write_text(step)
    with step_output(run_dir, "harmonize") as out:
        (out / "b").write_text("second")
    assert sorted(p.name for p in (run_dir / "harmonize").iterdir()) == ["b"]
    assert (run_dir / "extract" / "a").read_text() == "extract"
    assert sorted(p.name for p in run_dir.iterdir()) == ["extract", "harmonize"]  # no temporary folders left


def test_failed_step_leaves_no_partition_not_even_an_old_one(tmp_path):
    run_dir = tmp_path / "run"
    with step_output(run_dir, "harmonize") as out:
        (out / "table.parquet").write_text("old")
    with pytest.raises(RuntimeError):
        with step_output(run_dir, "harmonize") as out:
            (out / "table.parquet").write_text("half")
            raise RuntimeError("boom")
    assert list(run_dir.iterdir()) == []
    with pytest.raises(ConfigError, match="run the 'harmonize' step of this run first"):
        step_input(run_dir, "harmonize")
