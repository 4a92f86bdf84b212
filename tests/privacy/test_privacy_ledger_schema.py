"""A ledger created before fit attempts were charged is upgraded in place when opened (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from synth_pipeline.errors import BudgetExceeded
from synth_pipeline.privacy.ledger import BudgetLedger, LifetimeBudget, create_ledger_engine

HASH = "a" * 64
BUDGETS = {"census": LifetimeBudget(epsilon=3.0, delta=3e-5)}


def key(run_id: str) -> dict:
    return {"dataset": "census", "release": "census_release", "run_id": run_id}


def standing(ledger: BudgetLedger):
    [result] = ledger.summary("census")
    return result


def test_workers_opening_an_old_ledger_at_once_upgrade_it_once(url):
    _old_schema(url, [("trained", "spent")])
    barrier = threading.Barrier(4)
    crashed = []

    def open_it() -> None:
        engine = create_ledger_engine(url)
        try:
            barrier.wait()
            BudgetLedger(engine, BUDGETS).close()
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            crashed.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not crashed, crashed
    with BudgetLedger(create_ledger_engine(url), BUDGETS) as ledger:
        assert [(e.run_id, e.attempt) for e in standing(ledger).entries] == [("trained", 1)]
        assert ledger.begin_fit(**key("trained"), spec_hash=HASH).attempt == 2


def _old_schema(url: str, rows: list[tuple[str, str]]) -> None:
    """The ledger as the version before fit attempts created it: one charge per (dataset, release, run id)."""
    old = sa.MetaData()
    sa.Table("privacy_budget_datasets", old, sa.Column("name", sa.String(63), primary_key=True),
             sa.Column("lifetime_epsilon", sa.Double, nullable=False),
             sa.Column("lifetime_delta", sa.Double, nullable=False),
             sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    charges = sa.Table(
        "privacy_budget_charges", old,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(63), sa.ForeignKey("privacy_budget_datasets.name"), nullable=False),
        sa.Column("release", sa.String(63), nullable=False), sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("epsilon", sa.Double, nullable=False), sa.Column("delta", sa.Double, nullable=False),
        sa.Column("mechanism", sa.Text, nullable=False), sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("dataset", "release", "run_id", name="uq_privacy_budget_charge_per_run"),
        sa.CheckConstraint("status IN ('reserved', 'spent', 'released')", name="ck_privacy_budget_charge_status"),
        sa.CheckConstraint("epsilon > 0 AND delta >= 0", name="ck_privacy_budget_charge_positive"))
    engine = create_ledger_engine(url)
    try:
        old.create_all(engine)
        now = sa.func.now()
        with engine.begin() as connection:
            connection.execute(old.tables["privacy_budget_datasets"].insert().values(
                name="census", lifetime_epsilon=3.0, lifetime_delta=3e-5, updated_at=now))
            for run_id, status in rows:
                connection.execute(charges.insert().values(
                    dataset="census", release="census_release", run_id=run_id, epsilon=1.0, delta=1e-6,
                    mechanism="generator=test", status=status, spec_hash=HASH, created_at=now, updated_at=now))
    finally:
        engine.dispose()


def test_a_ledger_from_before_attempts_is_upgraded_when_opened(url):
    _old_schema(url, [("trained", "spent"), ("waiting", "reserved"), ("failed", "released")])
    with BudgetLedger(create_ledger_engine(url), BUDGETS) as ledger:
        assert [(e.run_id, e.attempt, e.status) for e in standing(ledger).entries] == [
            ("trained", 1, "spent"), ("waiting", 1, "reserved"), ("failed", 1, "released")]
        refit = ledger.begin_fit(**key("trained"), spec_hash=HASH)  # the old unique key would refuse this row
        assert (refit.attempt, refit.status) == (2, "spent")
        assert ledger.begin_fit(**key("waiting"), spec_hash=HASH).attempt == 1
    # Opened again (a second worker, a restart): the upgrade is found done and nothing changes.
    with BudgetLedger(create_ledger_engine(url), BUDGETS) as ledger:
        after = standing(ledger)
        assert [(e.run_id, e.attempt, e.status) for e in after.entries] == [
            ("trained", 1, "spent"), ("waiting", 1, "spent"), ("failed", 1, "released"), ("trained", 2, "spent")]
        assert (after.spent_epsilon, after.reserved_epsilon) == (3.0, 0.0)
        with pytest.raises(BudgetExceeded, match="fit attempt 3"):
            ledger.begin_fit(**key("trained"), spec_hash=HASH)
