"""The run folder: `<state>/runs/<release>/<run_id>/<step>/`, one partition per step.

A step writes into a hidden temporary folder and renames it into place when it is complete, so a reader never
finds a half-written partition. A failed step leaves no partition of its own behind, and touches no other. A state
folder that cannot be written (read-only, full, over the file size limit, not permitted) is a ConfigError naming
the folder, with nothing half-written left in it.
"""

from __future__ import annotations

import errno
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
# What a folder that cannot take a step's output says: read-only, not permitted, full, over the file size limit
# (`ulimit -f`: Python ignores SIGXFSZ, so the write fails with EFBIG), over quota, failing disk.
STATE_WRITE_ERRORS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EFBIG, errno.EDQUOT,
                                errno.EIO})


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


def _unwritable(run_dir: Path, step: str, exc: OSError) -> ConfigError:
    # strerror is the system's text ("No space left on device"); pyarrow's OSErrors carry none, only a message
    # about the file, never about its rows.
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    return ConfigError(f"cannot write the {step!r} step's output under {run_dir}: {reason} (check the state "
                       f"folder's permissions and free space; {STATE_ENV} chooses it)")


@contextmanager
def step_output(run_dir: Path, step: str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `<run_dir>/<step>/` in one rename.

    An OSError escaping the step that says a folder cannot be written (STATE_WRITE_ERRORS), about a file in the run
    folder or about no named file (pyarrow's), is the state folder failing and becomes a ConfigError; one about a
    file elsewhere (a publication store) or of another kind (a refused connection) is left as it is.
    """
    final = run_dir / step
    pending = run_dir / f".{step}.pending-{uuid.uuid4().hex[:8]}"
    try:
        pending.mkdir(parents=True)
    except OSError as exc:
        raise _unwritable(run_dir, step, exc) from None
    try:
        yield pending
        if final.exists():
            retired = run_dir / f".{step}.retired-{uuid.uuid4().hex[:8]}"
            final.rename(retired)
            pending.rename(final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            pending.rename(final)
    except BaseException as exc:
        shutil.rmtree(pending, ignore_errors=True)
        # An output from an earlier attempt no longer matches this step's inputs: remove it too.
        shutil.rmtree(final, ignore_errors=True)
        if _state_folder_failed(exc, run_dir):
            raise _unwritable(run_dir, step, exc) from None
        raise


def _state_folder_failed(exc: BaseException, run_dir: Path) -> bool:
    if not isinstance(exc, OSError) or exc.errno not in STATE_WRITE_ERRORS:
        return False
    named = [Path(os.fsdecode(name)) for name in (exc.filename, exc.filename2)
             if isinstance(name, (str, bytes, os.PathLike))]
    return not named or any(path.resolve().is_relative_to(run_dir.resolve()) for path in named)


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
