"""The privacy budget ledger: each dataset's lifetime (epsilon, delta) and every run's charge against it.

A run's charge moves through three states (DESIGN.md, invariant 3):

    reserve ──► reserved ──► mark_spent ──► spent        (the generator read the data: the charge is final)
                    └────── release_unspent ──► released  (the run failed before training: it costs nothing)

`reserve` refuses, in one transaction, a charge that would take spent + reserved + requested past the lifetime
budget, concurrent runs included: PostgreSQL locks the dataset's row (`SELECT ... FOR UPDATE`), SQLite takes the
database's write lock up front (`BEGIN IMMEDIATE`), so two runs cannot both read the same "remaining" and both pass.
A charge is keyed by (dataset, release, run id) under a unique constraint: a retried task finds its entry and is not
charged twice. The release is part of the key because two releases may spend from one dataset and Airflow gives
their scheduled runs the same run id (`scheduled__<date>`).

Composition across releases is basic (sequential) composition (Dwork & Roth 2014, Theorem 3.16): releases that are
(eps_i, delta_i)-DP are together (sum eps_i, sum delta_i)-DP. Each run is accounted separately, by its own generator
and accountant, and the ledger keeps only its (epsilon, delta). From those two numbers alone basic composition is the
bound that holds for any mix of mechanisms chosen adaptively; the tighter bounds need more: RDP or PRV composition
needs every mechanism's full privacy curve, and advanced composition (Dwork, Rothblum & Vadhan 2010) only wins for
many small-epsilon releases and costs an extra delta. A lifetime cap must never be an underestimate, so it adds.

Lifetimes come from `config/ledger.yaml` (not the spec: a spec must not grant itself budget). A dataset with no
configured lifetime cannot be charged (fail closed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal

import sqlalchemy as sa
import yaml
from pydantic import Field, ValidationError
from sqlalchemy.dialects import postgresql, sqlite

from synth_pipeline.errors import BudgetExceeded, ConfigError, LedgerError
from synth_pipeline.runs import state_dir
from synth_pipeline.spec import LoadedSpec
from synth_pipeline.spec.base import NAME_PATTERN, Frozen

LEDGER_URL_ENV = "SYNTH_PIPELINE_LEDGER_URL"
LEDGER_CONFIG_ENV = "SYNTH_PIPELINE_LEDGER_CONFIG"
DEFAULT_CONFIG = Path("config") / "ledger.yaml"

RESERVED, SPENT, RELEASED = "reserved", "spent", "released"
Status = Literal["reserved", "spent", "released"]
# Lifetimes and charges are decimal numbers held in binary floats: 0.1 + 0.2 exceeds 0.3 by 5.6e-17. A relative
# slack of 1e-12 lets a charge that fits exactly pass, and is far below any privacy-relevant difference.
_RELATIVE_SLACK = 1e-12

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
    "privacy_budget_charges", metadata,
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
    sa.UniqueConstraint("dataset", "release", "run_id", name="uq_privacy_budget_charge_per_run"),
    sa.CheckConstraint("status IN ('reserved', 'spent', 'released')", name="ck_privacy_budget_charge_status"),
    sa.CheckConstraint("epsilon > 0 AND delta >= 0", name="ck_privacy_budget_charge_positive"),
)


class LifetimeBudget(Frozen):
    epsilon: float = Field(gt=0, allow_inf_nan=False)
    delta: float = Field(ge=0, lt=1)


class LedgerConfig(Frozen):
    datasets: dict[Annotated[str, Field(pattern=NAME_PATTERN)], LifetimeBudget]


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    dataset: str
    release: str
    run_id: str
    epsilon: float
    delta: float
    mechanism: str
    status: Status
    spec_hash: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict:
        return {**asdict(self), "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class DatasetBudget:
    """Where one dataset stands. `lifetime_*` and `remaining_*` are None for a dataset holding charges whose
    lifetime is no longer configured (it can be shown, not charged)."""

    dataset: str
    lifetime_epsilon: float | None
    lifetime_delta: float | None
    spent_epsilon: float
    spent_delta: float
    reserved_epsilon: float
    reserved_delta: float
    entries: tuple[LedgerEntry, ...]

    @property
    def remaining_epsilon(self) -> float | None:
        if self.lifetime_epsilon is None:
            return None
        return self.lifetime_epsilon - self.spent_epsilon - self.reserved_epsilon

    @property
    def remaining_delta(self) -> float | None:
        if self.lifetime_delta is None:
            return None
        return self.lifetime_delta - self.spent_delta - self.reserved_delta

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "composition": "basic",
                "lifetime": {"epsilon": self.lifetime_epsilon, "delta": self.lifetime_delta},
                "spent": {"epsilon": self.spent_epsilon, "delta": self.spent_delta},
                "reserved": {"epsilon": self.reserved_epsilon, "delta": self.reserved_delta},
                "remaining": {"epsilon": self.remaining_epsilon, "delta": self.remaining_delta},
                "entries": [entry.to_dict() for entry in self.entries]}


@dataclass(frozen=True)
class Settlement:
    """What `release_unspent` did: released a reservation, kept a spent charge, or found nothing to do."""

    action: Literal["released", "kept_spent", "already_released", "no_entry"]
    entry: LedgerEntry | None


def load_budgets(path: Path) -> dict[str, LifetimeBudget]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"ledger config {path}: cannot read it ({exc.strerror}); it must list each dataset's "
                          "lifetime budget (see config/ledger.yaml)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"ledger config {path}: not valid YAML ({exc})") from None
    try:
        return dict(LedgerConfig.model_validate(raw).datasets)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise ConfigError(f"ledger config {path}: {problems}") from None


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the ledger writes is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _entry(row: sa.Row) -> LedgerEntry:
    values = row._asdict()
    return LedgerEntry(**{**values, "created_at": _utc(values["created_at"]), "updated_at": _utc(values["updated_at"])})


def _ledger_failure(doing: str, exc: sa.exc.OperationalError) -> LedgerError:
    detail = (str(exc.orig).strip().splitlines() or [""])[0]
    return LedgerError(f"the budget ledger failed while {doing} ({type(exc.orig).__name__}: {detail}); nothing was "
                       "changed: check $SYNTH_PIPELINE_LEDGER_URL and retry the task")


def _fits(total: float, lifetime: float) -> bool:
    return total <= lifetime * (1 + _RELATIVE_SLACK)


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


class BudgetLedger:
    """Charges against each dataset's lifetime budget. Privacy arguments are keyword-only, without defaults."""

    def __init__(self, engine: sa.Engine, budgets: dict[str, LifetimeBudget]):
        self._engine = engine
        self._budgets = dict(budgets)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        try:
            try:
                metadata.create_all(engine)
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                # Two workers creating the tables at once: one wins; the other finds them on the second look.
                metadata.create_all(engine)
        except sa.exc.OperationalError as exc:
            raise _ledger_failure("opening it", exc) from None

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> BudgetLedger:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def lifetime(self, dataset: str) -> LifetimeBudget:
        budget = self._budgets.get(dataset)
        if budget is None:
            raise ConfigError(f"dataset {dataset!r} has no lifetime privacy budget in the ledger config: add it under "
                              f"'datasets:' (epsilon, delta) before any release may spend from it")
        return budget

    def reserve(self, *, dataset: str, release: str, run_id: str, epsilon: float, delta: float, mechanism: str,
                spec_hash: str) -> LedgerEntry:
        """Reserve this run's (epsilon, delta), or raise BudgetExceeded; a retry returns the run's existing entry."""
        if not (math.isfinite(epsilon) and epsilon > 0) or not (0 <= delta < 1):
            raise LedgerError(f"run {run_id!r}: epsilon must be finite and > 0 and delta in [0, 1), got "
                              f"epsilon={epsilon!r}, delta={delta!r}")
        budget = self.lifetime(dataset)
        with self._transaction(f"reserving run {run_id!r}") as connection:
            self._lock_dataset(connection, dataset, budget)
            existing = self._find(connection, dataset, release, run_id)
            if existing is not None:
                if (existing.epsilon, existing.delta, existing.spec_hash) != (epsilon, delta, spec_hash):
                    raise LedgerError(
                        f"dataset {dataset!r}, release {release!r}, run {run_id!r} already holds a charge of "
                        f"epsilon={existing.epsilon:g}, delta={existing.delta:g} for spec {existing.spec_hash[:12]}; "
                        f"this attempt asks epsilon={epsilon:g}, delta={delta:g} for spec {spec_hash[:12]}. A run "
                        "must not change its spec: start a new run")
                if existing.status != RELEASED:
                    return existing
            self._refuse_if_over(connection, dataset, budget, run_id=run_id, epsilon=epsilon, delta=delta)
            now = datetime.now(timezone.utc)
            if existing is not None:
                connection.execute(sa.update(charges_table).where(charges_table.c.id == existing.id)
                                   .values(status=RESERVED, mechanism=mechanism, updated_at=now))
            else:
                connection.execute(sa.insert(charges_table).values(
                    dataset=dataset, release=release, run_id=run_id, epsilon=epsilon, delta=delta,
                    mechanism=mechanism, status=RESERVED, spec_hash=spec_hash, created_at=now, updated_at=now))
            return self._find(connection, dataset, release, run_id)

    def mark_spent(self, *, dataset: str, release: str, run_id: str, spec_hash: str) -> LedgerEntry:
        """reserved -> spent. The train step calls this before the generator reads any data; idempotent."""
        with self._transaction(f"marking run {run_id!r} spent") as connection:
            entry = self._find(connection, dataset, release, run_id, lock=True)
            if entry is None:
                raise LedgerError(f"dataset {dataset!r}, release {release!r}, run {run_id!r} has no reservation: run "
                                  "charge_budget first (nothing may read the data before the budget is charged)")
            if entry.spec_hash != spec_hash:
                raise LedgerError(f"run {run_id!r} reserved its budget for spec {entry.spec_hash[:12]} but trains with "
                                  f"spec {spec_hash[:12]}: start a new run")
            if entry.status == RELEASED:
                raise LedgerError(f"run {run_id!r}'s reservation (entry {entry.id}) was released when the run was "
                                  "settled: run charge_budget again to reserve it under the lifetime check")
            if entry.status == RESERVED:
                connection.execute(sa.update(charges_table).where(charges_table.c.id == entry.id)
                                   .values(status=SPENT, updated_at=datetime.now(timezone.utc)))
                entry = self._find(connection, dataset, release, run_id)
            return entry

    def release_unspent(self, *, dataset: str, release: str, run_id: str) -> Settlement:
        """reserved -> released (a run that failed before training charges nothing); a spent charge is kept."""
        with self._transaction(f"settling run {run_id!r}") as connection:
            entry = self._find(connection, dataset, release, run_id, lock=True)
            if entry is None:
                return Settlement("no_entry", None)
            if entry.status == SPENT:
                return Settlement("kept_spent", entry)
            if entry.status == RELEASED:
                return Settlement("already_released", entry)
            connection.execute(sa.update(charges_table).where(charges_table.c.id == entry.id)
                               .values(status=RELEASED, updated_at=datetime.now(timezone.utc)))
            return Settlement("released", self._find(connection, dataset, release, run_id))

    def summary(self, dataset: str | None = None) -> list[DatasetBudget]:
        """Per dataset: lifetime, spent, reserved, remaining and the entries. Every configured dataset, plus any
        that holds charges without a configured lifetime; a named dataset must be one of those."""
        query = sa.select(charges_table).order_by(charges_table.c.id)
        if dataset is not None:
            query = query.where(charges_table.c.dataset == dataset)
        with self._transaction("reading the charges") as connection:
            entries = [_entry(row) for row in connection.execute(query)]
        names = sorted({*self._budgets, *(e.dataset for e in entries)}) if dataset is None else [dataset]
        if dataset is not None and dataset not in self._budgets and not entries:
            self.lifetime(dataset)  # raises: neither configured nor ever charged
        return [self._standing(name, [e for e in entries if e.dataset == name]) for name in names]

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sa.Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except sa.exc.OperationalError as exc:
            # Unreachable, locked past the timeout, or a serialisation failure: nothing was committed.
            raise _ledger_failure(doing, exc) from None

    def _standing(self, dataset: str, entries: list[LedgerEntry]) -> DatasetBudget:
        budget = self._budgets.get(dataset)

        def total(status: str, field: str) -> float:
            return math.fsum(getattr(e, field) for e in entries if e.status == status)

        return DatasetBudget(dataset, budget.epsilon if budget else None, budget.delta if budget else None,
                             total(SPENT, "epsilon"), total(SPENT, "delta"), total(RESERVED, "epsilon"),
                             total(RESERVED, "delta"), tuple(entries))

    def _lock_dataset(self, connection: sa.Connection, dataset: str, budget: LifetimeBudget) -> None:
        now = datetime.now(timezone.utc)
        connection.execute(self._insert(datasets_table).values(
            name=dataset, lifetime_epsilon=budget.epsilon, lifetime_delta=budget.delta, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["name"]))
        # FOR UPDATE blocks a concurrent charge of this dataset until we commit; SQLite already holds the write lock.
        row = connection.execute(sa.select(datasets_table).where(datasets_table.c.name == dataset)
                                 .with_for_update()).one()
        if (row.lifetime_epsilon, row.lifetime_delta) != (budget.epsilon, budget.delta):
            connection.execute(sa.update(datasets_table).where(datasets_table.c.name == dataset).values(
                lifetime_epsilon=budget.epsilon, lifetime_delta=budget.delta, updated_at=now))

    def _refuse_if_over(self, connection: sa.Connection, dataset: str, budget: LifetimeBudget, *, run_id: str,
                        epsilon: float, delta: float) -> None:
        rows = connection.execute(sa.select(charges_table).where(
            charges_table.c.dataset == dataset, charges_table.c.status.in_((RESERVED, SPENT)))).all()
        standing = self._standing(dataset, [_entry(row) for row in rows])
        problems = []
        for name, spent, reserved, requested, lifetime in (
            ("epsilon", standing.spent_epsilon, standing.reserved_epsilon, epsilon, budget.epsilon),
            ("delta", standing.spent_delta, standing.reserved_delta, delta, budget.delta),
        ):
            total = math.fsum((spent, reserved, requested))
            if not _fits(total, lifetime):
                problems.append(f"{name}: spent {spent:.6g} + reserved {reserved:.6g} + requested {requested:.6g} = "
                                f"{total:.6g} > lifetime {lifetime:.6g} (remaining {lifetime - spent - reserved:.6g})")
        if problems:
            raise BudgetExceeded(f"dataset {dataset!r}: run {run_id!r} would exceed the lifetime privacy budget; "
                                 f"nothing was charged. " + "; ".join(problems))

    def _find(self, connection: sa.Connection, dataset: str, release: str, run_id: str, *,
              lock: bool = False) -> LedgerEntry | None:
        query = sa.select(charges_table).where(charges_table.c.dataset == dataset, charges_table.c.release == release,
                                               charges_table.c.run_id == run_id)
        row = connection.execute(query.with_for_update() if lock else query).one_or_none()
        return None if row is None else _entry(row)


def ledger_url(project_root: Path) -> str:
    """$SYNTH_PIPELINE_LEDGER_URL (PostgreSQL in production), else the SQLite file `<state>/ledger.sqlite`."""
    return os.environ.get(LEDGER_URL_ENV) or f"sqlite:///{state_dir(project_root) / 'ledger.sqlite'}"


def ledger_config_path(project_root: Path) -> Path:
    configured = os.environ.get(LEDGER_CONFIG_ENV)
    return Path(configured).expanduser().resolve() if configured else project_root / DEFAULT_CONFIG


def open_ledger(project_root: Path) -> BudgetLedger:
    return BudgetLedger(create_ledger_engine(ledger_url(project_root)), load_budgets(ledger_config_path(project_root)))


def ledger_for(loaded: LoadedSpec) -> BudgetLedger:
    """The ledger a loaded spec's project charges (use it as a context manager, or close it)."""
    return open_ledger(loaded.project_root)
