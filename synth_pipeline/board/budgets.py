"""The budgets page's data: each ledger dataset's standing and every charge, from `BudgetLedger.summary`.

Ledger figures are spec and DP figures, which every Airflow user may see (README, "Privacy model").
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from synth_pipeline.board.data import BoardPaths
from synth_pipeline.errors import LedgerError
from synth_pipeline.privacy.ledger import (
    RELEASED,
    RESERVED,
    SPENT,
    BudgetLedger,
    DatasetBudget,
    ledger_url,
    open_ledger,
)
from synth_pipeline.privacy.ledger_config import ledger_config_path
from synth_pipeline.privacy.ledger_schema import charges_table

# The summary is read again at least this often, even when nothing seems to have changed.
LEDGER_TTL_S = 60.0


class _LedgerView:
    """The ledger's `summary`, read again only when the charges changed. A summary reads every charge (100 ms for
    10,000) and, on SQLite, takes the ledger's write lock like a charge does; the board is read far more often than
    a charge is made, so it first asks a plain reader what changed: the number of charges, the newest id, the sum
    of their status codes (every transition changes it) and the latest update."""

    def __init__(self, project_root: Path):
        self.ledger: BudgetLedger = open_ledger(project_root)  # prepares (or upgrades) the schema first
        self._reader = sa.create_engine(ledger_url(project_root))
        self._lock = threading.Lock()
        self._cached: tuple[tuple, float, list[DatasetBudget]] | None = None

    def close(self) -> None:
        self.ledger.close()
        self._reader.dispose()

    def _changes(self) -> tuple:
        status = sa.case({RESERVED: 1, SPENT: 2, RELEASED: 4}, value=charges_table.c.status, else_=8)
        query = sa.select(sa.func.count(), sa.func.max(charges_table.c.id), sa.func.sum(status),
                          sa.func.max(charges_table.c.updated_at))
        try:
            with self._reader.connect() as connection:
                return tuple(connection.execute(query).one())
        except sa.exc.OperationalError as exc:
            raise LedgerError(f"the budget ledger cannot be read ({type(exc.orig).__name__}); check "
                              "$SYNTH_PIPELINE_LEDGER_URL") from None

    def summary(self) -> list[DatasetBudget]:
        changes = self._changes()
        with self._lock:
            cached = self._cached
        if cached and cached[0] == changes and time.monotonic() - cached[1] < LEDGER_TTL_S:
            return cached[2]
        budgets = self.ledger.summary()
        with self._lock:
            self._cached = (changes, time.monotonic(), budgets)
        return budgets


_ledgers: dict[tuple, _LedgerView] = {}
_ledgers_lock = threading.Lock()


def _ledger(project_root: Path) -> _LedgerView:
    """The open ledger for this (URL, config file version): opening one prepares the schema, too slow for each
    view; a changed config opens it anew, so lifetimes are never stale."""
    config = ledger_config_path(project_root)
    try:
        stamp = config.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (ledger_url(project_root), str(config), stamp)
    with _ledgers_lock:
        if key not in _ledgers:
            for stale in list(_ledgers):  # the config changed, or another project: one open ledger at a time
                _ledgers.pop(stale).close()
            _ledgers[key] = _LedgerView(project_root)
        return _ledgers[key]


def summary(paths: BoardPaths) -> list[DatasetBudget]:
    """Each ledger dataset: lifetime, spent, reserved, remaining and every charge (`BudgetLedger.summary`)."""
    return _ledger(paths.project_root).summary()


_ENTRY_FIELDS = ("id", "dataset", "release", "run_id", "attempt", "epsilon", "delta", "mechanism", "status",
                 "spec_hash")


def to_dict(budget: DatasetBudget) -> dict:
    """`DatasetBudget.to_dict`'s document, built field by field: `dataclasses.asdict` deep-copies every entry,
    which took 300 ms of a 10,000-charge page."""
    document = budget.to_dict() if not budget.entries else DatasetBudget(
        budget.dataset, budget.lifetime_epsilon, budget.lifetime_delta, budget.spent_epsilon, budget.spent_delta,
        budget.reserved_epsilon, budget.reserved_delta, ()).to_dict()
    document["entries"] = [{**{name: getattr(entry, name) for name in _ENTRY_FIELDS},
                            "created_at": entry.created_at.isoformat(), "updated_at": entry.updated_at.isoformat()}
                           for entry in budget.entries]
    return document
