"""The run folder: `<state>/runs/<release>/<run_id>/<step>/`, one partition per step.

A step writes into a hidden temporary folder and renames it into place when it is complete, so a reader never
finds a half-written partition. A failed step leaves no partition of its own behind, and touches no other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synth_pipeline.errors import ConfigError

STATE_ENV = "SYNTH_PIPELINE_STATE"


def state_dir(project_root: Path) -> Path:
    """Where runs live: $SYNTH_PIPELINE_STATE, else `.state/` in the project (the embedded default)."""
    configured = os.environ.get(STATE_ENV)
    return Path(configured).expanduser().resolve() if configured else project_root / ".state"


def safe_run_id(run_id: str) -> str:
    # Airflow run ids hold ':' and '+' (manual__2026-01-01T00:00:00+00:00); keep folder names portable.
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
    if not cleaned.strip("._"):
        raise ConfigError(f"run id {run_id!r} gives no usable folder name")
    return cleaned


def run_folder(state: Path, release: str, run_id: str) -> Path:
    return state / "runs" / release / safe_run_id(run_id)


@contextmanager
def step_output(run_dir: Path, step: str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `<run_dir>/<step>/` in one rename."""
    final = run_dir / step
    pending = run_dir / f".{step}.pending-{uuid.uuid4().hex[:8]}"
    pending.mkdir(parents=True)
    try:
        yield pending
    except BaseException:
        shutil.rmtree(pending, ignore_errors=True)
        # An output from an earlier attempt no longer matches this step's inputs: remove it too.
        shutil.rmtree(final, ignore_errors=True)
        raise
    if final.exists():
        retired = run_dir / f".{step}.retired-{uuid.uuid4().hex[:8]}"
        final.rename(retired)
        pending.rename(final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        pending.rename(final)


def write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def step_input(run_dir: Path, step: str) -> Path:
    folder = run_dir / step
    if not folder.is_dir():
        raise ConfigError(f"{folder} does not exist: run the '{step}' step of this run first")
    return folder


def describe_run(run_dir: Path) -> list[tuple[str, list[tuple[str, int]]]]:
    """Each completed step with its files and sizes, in the order they were written."""
    steps = [p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")] if run_dir.is_dir() else []
    steps.sort(key=lambda p: p.stat().st_mtime)
    return [(p.name, [(f.name, f.stat().st_size) for f in sorted(p.iterdir()) if f.is_file()]) for p in steps]


def latest_run(state: Path, release: str) -> Path | None:
    runs = [p for p in (state / "runs" / release).glob("*") if p.is_dir()]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None
