"""The ledger's configuration (`config/ledger.yaml`): per dataset, its lifetime budget and the sources it covers.

Both belong to the data owner, not to the spec author: a spec names the dataset it spends from (`privacy.dataset`),
and without a binding it could read one dataset's people while spending another's budget. So each dataset lists its
sources, and a spec whose sources are not all bound to its dataset is refused before anything is charged:

    datasets:
      heart_disease:
        epsilon: 6.0
        delta: 3.0e-5
        sources:
          - path: data/heart_disease/processed.*.data     # relative to the project root; glob within one segment
          - sql: {conn_id: clinic_warehouse, table: "clinic.*"}   # or url: ...; table glob or exact query

A file source is bound by its path as the spec writes it (placeholders such as `{ds}` included, which a `*`
segment covers), made absolute against the project root and normalised, so `..` cannot step out of a bound folder.
A SQL source is bound by its connection (the Airflow connection id, or the URL without its password and driver) and
by its table (a glob) or its query (the exact text, whitespace aside). A dataset without `sources:` binds nothing:
no spec may spend from it.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Annotated

import sqlalchemy as sa
import yaml
from pydantic import Field, ValidationError, model_validator

from synth_pipeline.errors import ConfigError, PrivacyConfigError
from synth_pipeline.spec import LoadedSpec, SourceSpec, SqlSource
from synth_pipeline.spec.base import NAME_PATTERN, Frozen

LEDGER_CONFIG_ENV = "SYNTH_PIPELINE_LEDGER_CONFIG"
DEFAULT_CONFIG = Path("config") / "ledger.yaml"


class SqlIdentity(Frozen):
    conn_id: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlIdentity:
        if (self.url is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'url' or 'conn_id'")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' (a glob) or 'query' (the exact text)")
        if self.url is not None:
            _connection(self.url)
        return self


class SourceBinding(Frozen):
    """One source a dataset covers: a file `path` (glob) or a `sql` connection with its table (glob) or query."""

    path: str | None = Field(None, min_length=1)
    sql: SqlIdentity | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceBinding:
        if (self.path is None) == (self.sql is None):
            raise ValueError("give exactly one of 'path' (a file or glob) or 'sql' (a connection and table or query)")
        return self


class LifetimeBudget(Frozen):
    """What the data owner grants one dataset: its lifetime (epsilon, delta) and the sources whose people it covers."""

    epsilon: float = Field(gt=0, allow_inf_nan=False)
    delta: float = Field(ge=0, lt=1)
    sources: tuple[SourceBinding, ...] = ()


class LedgerConfig(Frozen):
    datasets: dict[Annotated[str, Field(pattern=NAME_PATTERN)], LifetimeBudget]


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
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
                             f"{e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors(include_url=False))
        raise ConfigError(f"ledger config {path}: {problems}") from None


def ledger_config_path(project_root: Path) -> Path:
    configured = os.environ.get(LEDGER_CONFIG_ENV)
    return Path(configured).expanduser().resolve() if configured else project_root / DEFAULT_CONFIG


def _connection(url: str) -> sa.URL:
    """Which database a URL reads: without its password (a credential) and its driver."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError("not a SQLAlchemy database URL") from None
    # The driver does not change which database is read; `postgres://` is Airflow's spelling of `postgresql://`.
    backend = parsed.get_backend_name()
    return sa.URL.create("postgresql" if backend == "postgres" else backend, username=parsed.username,
                         host=parsed.host, port=parsed.port, database=parsed.database, query=parsed.query)


def _absolute(path: str, root: PurePosixPath) -> PurePosixPath:
    return PurePosixPath(os.path.normpath(root / path))


def _path_binds(pattern: str, path: str, project_root: Path) -> bool:
    root = PurePosixPath(os.path.normpath(project_root))
    bound, read = _absolute(pattern, root), _absolute(path, root)
    if bound.is_relative_to(root):
        # Compared below the root, so that glob characters in the root's own name are never read as a pattern.
        if not read.is_relative_to(root):
            return False
        bound, read = "/" / bound.relative_to(root), "/" / read.relative_to(root)
    # An absolute pattern must match the whole path, and its `*` stays within one segment.
    return read.match(str(bound))


def _binds(binding: SourceBinding, source: SourceSpec, project_root: Path) -> bool:
    if isinstance(source, SqlSource):
        return binding.sql is not None and _sql_binds(binding.sql, source)
    return binding.path is not None and _path_binds(binding.path, source.path, project_root)


def _sql_binds(bound: SqlIdentity, source: SqlSource) -> bool:
    if bound.conn_id is not None:
        same_connection = source.conn_id == bound.conn_id
    else:
        try:
            same_connection = source.url is not None and _connection(source.url) == _connection(bound.url)
        except ValueError:
            return False
    if not same_connection:
        return False
    if bound.table is not None:
        return source.table is not None and fnmatchcase(source.table, bound.table)
    return source.query is not None and source.query.split() == bound.query.split()


def _describe(source: SourceSpec) -> str:
    if not isinstance(source, SqlSource):
        return source.path
    if source.conn_id is not None:
        connection = f"connection {source.conn_id}"
    else:
        try:
            connection = _connection(source.url).render_as_string(hide_password=True)
        except ValueError:
            connection = "an unparseable database URL"
    return f"{connection}, " + (f"table {source.table}" if source.table is not None else "a query")


def check_dataset_sources(loaded: LoadedSpec, budget: LifetimeBudget) -> None:
    """Refuse (PrivacyConfigError) a spec that reads a source its ledger dataset does not cover; reads no data."""
    dataset = loaded.spec.dataset
    unbound = [f"{name!r} ({_describe(source)})" for name, source in loaded.spec.sources.items()
               if not any(_binds(binding, source, loaded.project_root) for binding in budget.sources)]
    if unbound:
        raise PrivacyConfigError(
            f"release {loaded.spec.name!r} spends from dataset {dataset!r}, but the ledger config does not bind "
            f"source{'s' if len(unbound) > 1 else ''} {', '.join(unbound)} to that dataset; nothing was charged. "
            f"A dataset's sources are set by its data owner under datasets.{dataset}.sources in the ledger config, "
            "not by the spec: spend from the dataset these sources belong to, or ask the data owner to bind them")
