"""Constants the tests share. A module of its own, not `conftest`: sub-folders have conftest files too, and
`from conftest import ...` would find whichever was imported last."""

from __future__ import annotations

import resource
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
# Two Airflow users: the release specs' steward, and alice, who is not one (for the four-eyes and 403 cases).
TEST_USERS = {"steward": "steward-test-password", "alice": "alice-test-password"}


def copy_project(parent: Path) -> Path:
    """A throwaway project root under `parent` with releases/, expectations/, data/ and config/ copied."""
    import shutil

    root = parent / "project"
    for folder in ("releases", "expectations", "data", "config"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, root / folder)
    return root


@contextmanager
def file_size_limit(limit: int):
    """`ulimit -f` for this process: Python ignores SIGXFSZ, so a write past the limit fails with EFBIG (a full disk)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
