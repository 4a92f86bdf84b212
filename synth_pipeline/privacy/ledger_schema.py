"""The ledger's tables, the engine whose transactions serialise charges, and the upgrade of an older ledger.

A charge row is keyed by (dataset, release, run id, attempt): attempt 1 is the run's reservation, and every later
fit of the same run is a row of its own (`BudgetLedger.begin_fit`). Ledgers created before attempts existed keyed a
charge by (dataset, release, run id) alone; `prepare_schema` upgrades them in place when the ledger is opened, in
one locked transaction, every existing charge becoming attempt 1.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from synth_pipeline.errors import ConfigError

CHARGES = "privacy_budget_charges"
_OLD_UNIQUE = "uq_privacy_budget_charge_per_run"

metadata = sa.MetaData()
datasets_table = sa.Table(
    "privacy_budget_datasets", metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    # The lifetime in force at the last charge (the config is authoritative; the row is what charges lock).
    sa.Column("lifetime_epsilon", sa.Double, nullable=False),
    sa.Column("lifetime_delta", sa.Double, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
charges_table = sa.Table(
    CHARGES, metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(63), sa.ForeignKey("privacy_budget_datasets.name"), nullable=False),
    sa.Column("release", sa.String(63), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("epsilon", sa.Double, nullable=False),
    sa.Column("delta", sa.Double, nullable=False),
    sa.Column("mechanism", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.UniqueConstraint("dataset", "release", "run_id", "attempt", name="uq_privacy_budget_charge_per_attempt"),
    sa.CheckConstraint("status IN ('reserved', 'spent', 'released')", name="ck_privacy_budget_charge_status"),
    sa.CheckConstraint("epsilon > 0 AND delta >= 0", name="ck_privacy_budget_charge_positive"),
    sa.CheckConstraint("attempt >= 1", name="ck_privacy_budget_charge_attempt"),
)
_COLUMNS_BEFORE_ATTEMPTS = [column.name for column in charges_table.columns if column.name != "attempt"]


def create_ledger_engine(url: str) -> sa.Engine:
    """An engine whose transactions serialise charges: SQLite's begin emits BEGIN IMMEDIATE (the write lock up
    front, so two readers cannot both decide that the last of the budget is theirs); PostgreSQL locks rows."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if backend != "sqlite":
        raise ConfigError(f"ledger URL {parsed.render_as_string(hide_password=True)}: only sqlite and postgresql "
                          "ledgers are supported (their locking is what makes a charge atomic)")
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 60, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _driver_leaves_transactions_to_us(dbapi_connection, _record) -> None:
        # pysqlite would otherwise open a DEFERRED transaction on the first write, after our reads.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _has_attempts(connection: sa.Connection) -> bool:
    return "attempt" in {column["name"] for column in sa.inspect(connection).get_columns(CHARGES)}


def _upgrade_postgresql(connection: sa.Connection) -> None:
    for statement in (
        f"ALTER TABLE {CHARGES} ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1",
        f"ALTER TABLE {CHARGES} ALTER COLUMN attempt DROP DEFAULT",
        f"ALTER TABLE {CHARGES} DROP CONSTRAINT {_OLD_UNIQUE}",
        (f"ALTER TABLE {CHARGES} ADD CONSTRAINT uq_privacy_budget_charge_per_attempt "
         "UNIQUE (dataset, release, run_id, attempt)"),
        f"ALTER TABLE {CHARGES} ADD CONSTRAINT ck_privacy_budget_charge_attempt CHECK (attempt >= 1)",
    ):
        connection.exec_driver_sql(statement)


def _upgrade_sqlite(connection: sa.Connection) -> None:
    # SQLite cannot drop a table's UNIQUE constraint: copy the rows into a table of the new shape and swap it in.
    copy = sa.MetaData()
    datasets_table.to_metadata(copy)
    upgraded = charges_table.to_metadata(copy, name=f"{CHARGES}_upgrade")
    upgraded.create(connection)
    columns = ", ".join(_COLUMNS_BEFORE_ATTEMPTS)
    connection.exec_driver_sql(f"INSERT INTO {upgraded.name} ({columns}, attempt) SELECT {columns}, 1 FROM {CHARGES}")
    connection.exec_driver_sql(f"DROP TABLE {CHARGES}")
    connection.exec_driver_sql(f"ALTER TABLE {upgraded.name} RENAME TO {CHARGES}")


def prepare_schema(engine: sa.Engine) -> None:
    """Create the tables, or upgrade a ledger created before fit attempts were charged (idempotent)."""
    try:
        metadata.create_all(engine)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
        # Two workers creating the tables at once: one wins; the other finds them on the second look.
        metadata.create_all(engine)
    with engine.connect() as connection:
        if _has_attempts(connection):
            return
    with engine.begin() as connection:
        # Under the table's lock (SQLite: the write lock BEGIN IMMEDIATE took), so that of two workers opening an
        # old ledger at once, one upgrades it and the other finds it done.
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"LOCK TABLE {CHARGES} IN ACCESS EXCLUSIVE MODE")
        if not _has_attempts(connection):
            (_upgrade_postgresql if engine.dialect.name == "postgresql" else _upgrade_sqlite)(connection)
