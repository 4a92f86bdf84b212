"""The privacy budget ledger: each dataset's lifetime (epsilon, delta) and every charge against it.

A run's charge moves through three states (DESIGN.md, invariant 3):

    reserve ──► reserved ──► begin_fit ──► spent        (the generator is about to read the data: the charge is final)
                    └────── release_unspent ──► released  (the run failed before training: it costs nothing)

Every fit that reads the data is charged. The run's first fit turns its reservation (attempt 1) into a spent charge;
a later fit of the same run (an Airflow clear or retry, a manual re-run) is a new use of the data with fresh noise,
so `begin_fit` adds a row of its own, attempt n + 1, spent at once at the same (epsilon, delta) under the same
lifetime check, or refuses it (BudgetExceeded) before any data is read. `reserve` stays idempotent: a retried
`charge_budget` finds the run's charge and charges nothing more.

`reserve` and `begin_fit` refuse, in one transaction, a charge that would take spent + reserved + requested past the
lifetime budget, concurrent runs included: PostgreSQL locks the dataset's row (`SELECT ... FOR UPDATE`), SQLite
takes the database's write lock up front (`BEGIN IMMEDIATE`), so two runs cannot both read the same "remaining" and
both pass. A charge is keyed by (dataset, release, run id, attempt) under a unique constraint. The release is part
of the key because two releases may spend from one dataset and Airflow gives their scheduled runs the same run id
(`scheduled__<date>`). `plan_reserve` and `plan_fit` run the same checks and write nothing (a dry run).

Composition across releases is basic (sequential) composition (Dwork & Roth 2014, Theorem 3.16): releases that are
(eps_i, delta_i)-DP are together (sum eps_i, sum delta_i)-DP. Each run is accounted separately, by its own generator
and accountant, and the ledger keeps only its (epsilon, delta). From those two numbers alone basic composition is the
bound that holds for any mix of mechanisms chosen adaptively; the tighter bounds need more: RDP or PRV composition
needs every mechanism's full privacy curve, and advanced composition (Dwork, Rothblum & Vadhan 2010) only wins for
many small-epsilon releases and costs an extra delta. A lifetime cap must never be an underestimate, so it adds.

Lifetimes and the sources each dataset covers come from `config/ledger.yaml` (`ledger_config`; the data owner's,
not the spec's: a spec must not grant itself budget, nor spend one dataset's budget on another's people). A dataset
with no configured lifetime cannot be charged (fail closed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from synth_pipeline.errors import BudgetExceeded, ConfigError, LedgerError
from synth_pipeline.privacy.ledger_config import LifetimeBudget, check_dataset_sources, ledger_config_path, load_budgets
from synth_pipeline.privacy.ledger_schema import charges_table, create_ledger_engine, datasets_table, prepare_schema
from synth_pipeline.runs import state_dir
from synth_pipeline.spec import LoadedSpec

LEDGER_URL_ENV = "SYNTH_PIPELINE_LEDGER_URL"

RESERVED, SPENT, RELEASED = "reserved", "spent", "released"
Status = Literal["reserved", "spent", "released"]
# Lifetimes and charges are decimal numbers held in binary floats: 0.1 + 0.2 exceeds 0.3 by 5.6e-17. A relative
# slack of 1e-12 lets a charge that fits exactly pass, and is far below any privacy-relevant difference.
_RELATIVE_SLACK = 1e-12


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    dataset: str
    release: str
    run_id: str
    attempt: int
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
class ChargePlan:
    """What `reserve` or `begin_fit` would do, found by a dry run under the same checks: `charges` is False for a
    retry that finds its charge in place."""

    dataset: str
    release: str
    run_id: str
    attempt: int
    epsilon: float
    delta: float
    charges: bool
    action: str


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


class BudgetLedger:
    """Charges against each dataset's lifetime budget. Privacy arguments are keyword-only, without defaults."""

    def __init__(self, engine: sa.Engine, budgets: dict[str, LifetimeBudget]):
        self._engine = engine
        self._budgets = dict(budgets)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        try:
            prepare_schema(engine)
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

    def check_sources(self, loaded: LoadedSpec) -> None:
        """Refuse a spec that reads a source the ledger config does not bind to its dataset (PrivacyConfigError)."""
        check_dataset_sources(loaded, self.lifetime(loaded.spec.dataset))

    def reserve(self, *, dataset: str, release: str, run_id: str, epsilon: float, delta: float, mechanism: str,
                spec_hash: str) -> LedgerEntry:
        """Reserve this run's (epsilon, delta), or raise BudgetExceeded; a retry returns the run's existing charge."""
        with self._transaction(f"reserving run {run_id!r}") as connection:
            existing, charges = self._check_reserve(connection, dataset, release, run_id, epsilon=epsilon,
                                                    delta=delta, spec_hash=spec_hash)
            if not charges:
                return existing
            now = datetime.now(timezone.utc)
            if existing is not None:
                connection.execute(sa.update(charges_table).where(charges_table.c.id == existing.id)
                                   .values(status=RESERVED, mechanism=mechanism, updated_at=now))
            else:
                connection.execute(sa.insert(charges_table).values(
                    dataset=dataset, release=release, run_id=run_id, attempt=1, epsilon=epsilon, delta=delta,
                    mechanism=mechanism, status=RESERVED, spec_hash=spec_hash, created_at=now, updated_at=now))
            return self._latest(connection, dataset, release, run_id)

    def plan_reserve(self, *, dataset: str, release: str, run_id: str, epsilon: float, delta: float,
                     spec_hash: str) -> ChargePlan:
        """`reserve`'s refusals and outcome, without writing."""
        with self._transaction(f"checking run {run_id!r}'s reservation", write=False) as connection:
            existing, charges = self._check_reserve(connection, dataset, release, run_id, epsilon=epsilon,
                                                    delta=delta, spec_hash=spec_hash)
        action = (f"reserve epsilon={epsilon:g}, delta={delta:g}" if charges else
                  f"nothing: the run already holds a {existing.status} charge (entry {existing.id})")
        return ChargePlan(dataset, release, run_id, existing.attempt if existing else 1, epsilon, delta, charges,
                          action)

    def begin_fit(self, *, dataset: str, release: str, run_id: str, spec_hash: str) -> LedgerEntry:
        """Charge one fit, before the generator reads any data: the run's reservation becomes spent, or, when the
        run has fitted before, a new attempt is charged and spent at once (BudgetExceeded past the lifetime)."""
        with self._transaction(f"charging a fit of run {run_id!r}") as connection:
            latest, refit = self._check_fit(connection, dataset, release, run_id, spec_hash=spec_hash)
            now = datetime.now(timezone.utc)
            if refit:
                connection.execute(sa.insert(charges_table).values(
                    dataset=dataset, release=release, run_id=run_id, attempt=latest.attempt + 1,
                    epsilon=latest.epsilon, delta=latest.delta, mechanism=latest.mechanism, status=SPENT,
                    spec_hash=spec_hash, created_at=now, updated_at=now))
            else:
                connection.execute(sa.update(charges_table).where(charges_table.c.id == latest.id)
                                   .values(status=SPENT, updated_at=now))
            return self._latest(connection, dataset, release, run_id)

    def plan_fit(self, *, dataset: str, release: str, run_id: str, spec_hash: str) -> ChargePlan:
        """`begin_fit`'s refusals and outcome, without writing."""
        with self._transaction(f"checking a fit of run {run_id!r}", write=False) as connection:
            latest, refit = self._check_fit(connection, dataset, release, run_id, spec_hash=spec_hash)
        action = (f"charge fit attempt {latest.attempt + 1} as a new spent entry (the run fitted before)" if refit
                  else f"mark the run's reservation (entry {latest.id}) spent")
        attempt = latest.attempt + 1 if refit else latest.attempt
        return ChargePlan(dataset, release, run_id, attempt, latest.epsilon, latest.delta, True, action)

    def release_unspent(self, *, dataset: str, release: str, run_id: str) -> Settlement:
        """reserved -> released (a run that failed before training charges nothing); a spent charge is kept."""
        with self._transaction(f"settling run {run_id!r}") as connection:
            entry = self._latest(connection, dataset, release, run_id, lock=True)
            if entry is None:
                return Settlement("no_entry", None)
            if entry.status == SPENT:
                return Settlement("kept_spent", entry)
            if entry.status == RELEASED:
                return Settlement("already_released", entry)
            connection.execute(sa.update(charges_table).where(charges_table.c.id == entry.id)
                               .values(status=RELEASED, updated_at=datetime.now(timezone.utc)))
            return Settlement("released", self._latest(connection, dataset, release, run_id))

    def summary(self, dataset: str | None = None) -> list[DatasetBudget]:
        """Per dataset: lifetime, spent, reserved, remaining and every entry (each fit attempt its own). Every
        configured dataset, plus any that holds charges without a configured lifetime; a named dataset must be one
        of those."""
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
    def _transaction(self, doing: str, *, write: bool = True) -> Iterator[sa.Connection]:
        try:
            with self._engine.connect() as connection, connection.begin() as transaction:
                yield connection
                if not write:
                    # A dry run takes the same locks and runs the same checks; what they wrote is undone.
                    transaction.rollback()
        except sa.exc.OperationalError as exc:
            # Unreachable, locked past the timeout, or a serialisation failure: nothing was committed.
            raise _ledger_failure(doing, exc) from None

    def _check_reserve(self, connection: sa.Connection, dataset: str, release: str, run_id: str, *, epsilon: float,
                       delta: float, spec_hash: str) -> tuple[LedgerEntry | None, bool]:
        """(the run's latest charge, whether reserving charges anything); raises what `reserve` refuses."""
        if not (math.isfinite(epsilon) and epsilon > 0) or not (0 <= delta < 1):
            raise LedgerError(f"run {run_id!r}: epsilon must be finite and > 0 and delta in [0, 1), got "
                              f"epsilon={epsilon!r}, delta={delta!r}")
        budget = self.lifetime(dataset)
        self._lock_dataset(connection, dataset, budget)
        existing = self._latest(connection, dataset, release, run_id)
        if existing is not None:
            if (existing.epsilon, existing.delta, existing.spec_hash) != (epsilon, delta, spec_hash):
                raise LedgerError(
                    f"dataset {dataset!r}, release {release!r}, run {run_id!r} already holds a charge of "
                    f"epsilon={existing.epsilon:g}, delta={existing.delta:g} for spec {existing.spec_hash[:12]}; "
                    f"this attempt asks epsilon={epsilon:g}, delta={delta:g} for spec {spec_hash[:12]}. A run "
                    "must not change its spec: start a new run")
            if existing.status != RELEASED:
                return existing, False
        self._refuse_if_over(connection, dataset, budget, charge=f"run {run_id!r}", epsilon=epsilon, delta=delta)
        return existing, True

    def _check_fit(self, connection: sa.Connection, dataset: str, release: str, run_id: str, *,
                   spec_hash: str) -> tuple[LedgerEntry, bool]:
        """(the run's latest charge, whether this fit is a refit needing a new charge); raises what `begin_fit`
        refuses."""
        budget = self.lifetime(dataset)
        self._lock_dataset(connection, dataset, budget)
        latest = self._latest(connection, dataset, release, run_id)
        if latest is None:
            raise LedgerError(f"dataset {dataset!r}, release {release!r}, run {run_id!r} has no reservation: run "
                              "charge_budget first (nothing may read the data before the budget is charged)")
        if latest.spec_hash != spec_hash:
            raise LedgerError(f"run {run_id!r} reserved its budget for spec {latest.spec_hash[:12]} but trains with "
                              f"spec {spec_hash[:12]}: start a new run")
        if latest.status == RELEASED:
            raise LedgerError(f"run {run_id!r}'s reservation (entry {latest.id}) was released when the run was "
                              "settled: run charge_budget again to reserve it under the lifetime check")
        if latest.status == RESERVED:
            return latest, False
        self._refuse_if_over(connection, dataset, budget, epsilon=latest.epsilon, delta=latest.delta,
                             charge=f"run {run_id!r}, fit attempt {latest.attempt + 1} (the run already fitted "
                                    f"{latest.attempt} time{'s' if latest.attempt > 1 else ''}; every fit reads the "
                                    "data anew and is charged)")
        return latest, True

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

    def _refuse_if_over(self, connection: sa.Connection, dataset: str, budget: LifetimeBudget, *, charge: str,
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
            raise BudgetExceeded(f"dataset {dataset!r}: {charge} would exceed the lifetime privacy budget; "
                                 f"nothing was charged. " + "; ".join(problems))

    def _latest(self, connection: sa.Connection, dataset: str, release: str, run_id: str, *,
                lock: bool = False) -> LedgerEntry | None:
        """The run's charge of its latest fit attempt (its reservation until it fits twice)."""
        query = (sa.select(charges_table)
                 .where(charges_table.c.dataset == dataset, charges_table.c.release == release,
                        charges_table.c.run_id == run_id)
                 .order_by(charges_table.c.attempt.desc()).limit(1))
        row = connection.execute(query.with_for_update() if lock else query).one_or_none()
        return None if row is None else _entry(row)


def ledger_url(project_root: Path) -> str:
    """$SYNTH_PIPELINE_LEDGER_URL (PostgreSQL in production), else the SQLite file `<state>/ledger.sqlite`."""
    return os.environ.get(LEDGER_URL_ENV) or f"sqlite:///{state_dir(project_root) / 'ledger.sqlite'}"


def open_ledger(project_root: Path) -> BudgetLedger:
    return BudgetLedger(create_ledger_engine(ledger_url(project_root)), load_budgets(ledger_config_path(project_root)))


def ledger_for(loaded: LoadedSpec) -> BudgetLedger:
    """The ledger a loaded spec's project charges (use it as a context manager, or close it)."""
    return open_ledger(loaded.project_root)
