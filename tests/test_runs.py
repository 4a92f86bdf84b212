from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.errors import ConfigError
from synth_pipeline.runs import run_folder, safe_run_id, step_input, step_output, write_json
from testsupport import file_size_limit


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


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process may not create anything in: a read-only one, or for root (whom permissions do not
    stop) sysfs, which refuses new folders to everyone."""
    if os.geteuid() == 0:
        return Path("/sys/synth-pipeline-test-state")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder




def test_an_unwritable_state_folder_is_a_config_error(tmp_path):
    state = unwritable_folder(tmp_path)
    run_dir = run_folder(state, "rel", "r1")
    with pytest.raises(ConfigError, match=f"cannot write the 'extract' step's output under {run_dir}: "):
        with step_output(run_dir, "extract"):
            pytest.fail("the step ran without a folder to write to")


@pytest.mark.parametrize("writer", ["json", "parquet"])
def test_a_full_disk_is_a_config_error_and_leaves_nothing(tmp_path, writer):
    run_dir = tmp_path / "run"
    with step_output(run_dir, "extract") as out:
        (out / "old.json").write_text("earlier attempt")
    frame = pd.DataFrame({"a": np.arange(200_000, dtype="float64")})
    with pytest.raises(ConfigError, match=r"cannot write the 'extract' step's output under .*: .*File too large"):
        with file_size_limit(64 * 1024), step_output(run_dir, "extract") as out:
            if writer == "json":
                write_json(out / "report.json", {"rows": frame["a"].tolist()})
            else:
                frame.to_parquet(out / "table.parquet")
    assert list(run_dir.iterdir()) == []  # neither a partial partition nor the stale one


def test_other_os_errors_are_not_blamed_on_the_state_folder(tmp_path):
    # A refused connection inside a step is not the state folder's fault: it goes up unchanged.
    with pytest.raises(ConnectionRefusedError):
        with step_output(tmp_path / "run", "extract"):
            raise ConnectionRefusedError(111, "Connection refused")
