"""Constants the tests share. A module of its own, not `conftest`: sub-folders have conftest files too, and
`from conftest import ...` would find whichever was imported last."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
# Two Airflow users: the release specs' steward, and alice, who is not one (for the four-eyes and 403 cases).
TEST_USERS = {"steward": "steward-test-password", "alice": "alice-test-password"}
