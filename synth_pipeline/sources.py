"""Reading source tables into DataFrames, as they are: no cleaning here (that is `harmonize`).

Errors name the source and the file or connection, never row contents. A file source resolves, symlinks followed,
inside the folders the operator allows for sources (`synth_pipeline.paths`); an SQL source runs one SELECT in a
read-only session, so a spec can neither read the worker's files nor change a database.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from synth_pipeline.errors import SourceError
from synth_pipeline.paths import confined
from synth_pipeline.spec import CsvSource, LoadedSpec, ParquetSource, SourceSpec, SqlSource
from synth_pipeline.spec.sources import PATH_PLACEHOLDERS

ConnectionResolver = Callable[[str], str]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The header check's csv reader refuses a cell over 128 KiB by default; a wide first cell is legitimate text up to
# this cap (pandas, which reads the rest, has no such limit). Above it the file is refused as corrupt.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
_TEXT_CHUNK = 1024 * 1024
# How each dialect makes a session read-only. The session default, not only the current transaction: it also
# covers a transaction the statement would start after ending ours. Other dialects are refused.
READ_ONLY_SESSION = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
}


@dataclass(frozen=True)
class RunContext:
    """What a run knows about itself: used to pick each batch's snapshot of the sources."""

    run_id: str
    data_interval_start: str | None = None  # ISO 8601
    data_interval_end: str | None = None

    def __post_init__(self) -> None:
        # The interval's dates may name a source file ({ds}): anything but a date could climb out of its folder.
        for key in ("data_interval_start", "data_interval_end"):
            _interval_bound(getattr(self, key), key)

    def parameters(self) -> dict[str, str]:
        """Every placeholder's value; empty where the run has no data interval. The run id is an SQL bind
        parameter only: the spec refuses it in file paths."""
        start = _interval_bound(self.data_interval_start, "data_interval_start")
        day = start.date().isoformat() if start else ""
        return {
            "run_id": self.run_id,
            "data_interval_start": self.data_interval_start or "",
            "data_interval_end": self.data_interval_end or "",
            "ds": day,
            "ds_nodash": day.replace("-", ""),
        }


def _interval_bound(value: str | None, key: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise SourceError(f"{key} must be an ISO 8601 date or date-time (YYYY-MM-DD[THH:MM[:SS][+HH:MM]])") from None


def env_connection_resolver(conn_id: str) -> str:
    """Outside Airflow: resolve a connection id the way Airflow's environment backend does."""
    uri = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not uri:
        raise SourceError(f"connection {conn_id!r} is not defined (set AIRFLOW_CONN_{conn_id.upper()})")
    return uri


def sqlalchemy_url(uri: str) -> str:
    """Airflow writes PostgreSQL connections as postgres://, which SQLAlchemy 2 no longer accepts."""
    if uri.startswith("postgres://"):
        return "postgresql+psycopg2://" + uri.removeprefix("postgres://")
    return uri


def fill_placeholders(template: str, context: RunContext, *, where: str) -> str:
    """A file path's placeholders filled with the run's (validated) dates."""
    parameters = {name: value for name, value in context.parameters().items() if name in PATH_PLACEHOLDERS}

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name == "run_id":
            raise SourceError(f"{where}: {{run_id}} may not choose a file (whoever triggers a run chooses its id)")
        if name not in parameters:
            raise SourceError(f"{where}: unknown placeholder {{{name}}} (known: {', '.join(sorted(parameters))})")
        if not parameters[name]:
            raise SourceError(f"{where}: placeholder {{{name}}} needs a run with a data interval")
        return parameters[name]

    return _PLACEHOLDER.sub(substitute, template)


def _check_text(name: str, path: Path, encoding: str) -> None:
    """Decode the whole file once: pandas' C parser silently cuts a cell at a NUL character, so a corrupt cell
    would pass as a shorter value. Also finds an encoding error before pandas does."""
    with path.open(encoding=encoding, newline="") as handle:
        line = 1
        while chunk := handle.read(_TEXT_CHUNK):
            if "\x00" in chunk:
                line += chunk.count("\n", 0, chunk.index("\x00"))
                raise SourceError(f"source {name!r}: {path} has a NUL character on line {line} (a corrupt or binary "
                                  "file, not CSV text)")
            line += chunk.count("\n")


def _first_row(name: str, path: Path, options) -> list[str]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    with path.open(encoding=options.encoding, newline="") as handle:
        for _ in range(options.skiprows):
            handle.readline()
        try:
            row = next(csv.reader(handle, delimiter=options.sep, skipinitialspace=options.skipinitialspace), [])
        except csv.Error as exc:  # a cell over CSV_FIELD_LIMIT; the message names the limit, not the cell
            raise SourceError(f"source {name!r}: cannot parse {path} as CSV: {exc}") from None
    return [cell.strip() for cell in row]


def _check_unique(name: str, columns: list, where: object) -> None:
    duplicated = sorted({str(c) for c in columns if columns.count(c) > 1})
    if duplicated:
        raise SourceError(f"source {name!r}: duplicate column names in {where}: {', '.join(duplicated)}")


def _read_csv(name: str, source: CsvSource, path: Path) -> pd.DataFrame:
    options = source.options
    try:
        # pandas renames a repeated header to 'x.1' and pads rows when `names` lists too many columns, which would
        # hide both problems: check the raw first row.
        _check_text(name, path, options.encoding)
        first_row = _first_row(name, path, options)
        if not first_row:  # pandas would read an empty file as an empty table when `names` are given
            raise SourceError(f"source {name!r}: cannot parse {path} as CSV: No columns to parse from file")
        if options.names:
            _check_unique(name, list(options.names), "options.names")
            if len(first_row) != len(options.names):
                raise SourceError(f"source {name!r}: {path} has {len(first_row)} columns, options.names lists {len(options.names)}")
        elif options.header:
            _check_unique(name, first_row, path)
        frame = pd.read_csv(
            path,
            header=0 if options.header else None,
            names=list(options.names) if options.names else None,
            sep=options.sep,
            skipinitialspace=options.skipinitialspace,
            na_values=list(options.na_values),
            keep_default_na=True,
            skiprows=options.skiprows,
            encoding=options.encoding,
            dtype=str,  # types are the harmonizer's business: read text, coerce once, count failures
            skip_blank_lines=True,
        )
    except UnicodeError:
        raise SourceError(f"source {name!r}: {path} is not valid {options.encoding} text") from None
    except OSError as exc:
        raise SourceError(f"source {name!r}: cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        # pandas' parser messages cite line numbers and column counts, not cell values.
        raise SourceError(f"source {name!r}: cannot parse {path} as CSV: {str(exc).splitlines()[0]}") from None
    return frame


def _read_parquet(name: str, source: ParquetSource, path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=list(source.columns) if source.columns else None)
    except Exception as exc:  # pyarrow raises many types; a source error must name the file, not crash
        raise SourceError(f"source {name!r}: cannot read {path} as Parquet ({type(exc).__name__})") from None


def _database_url(name: str, source: SqlSource, loaded: LoadedSpec, resolve_connection: ConnectionResolver):
    """The engine URL. A SQLite database named by the spec's `url` is a local file: confined like a file source
    (an operator's connection, `conn_id`, is the operator's choice)."""
    import sqlalchemy as sa

    given = source.url if source.url is not None else resolve_connection(source.conn_id)
    try:
        url = sa.engine.make_url(sqlalchemy_url(given))
    except Exception as exc:
        raise SourceError(f"source {name!r}: invalid database URL ({type(exc).__name__})") from None
    if source.url is not None and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if url.query.get("uri"):
            raise SourceError(f"source {name!r}: sources.{name}.url: SQLite URI file names are not supported")
        database = confined(url.database, kind="sources", project_root=loaded.project_root, where=f"sources.{name}.url")
        url = url.set(database=str(database))
    return url


def _read_sql(name: str, source: SqlSource, loaded: LoadedSpec, context: RunContext,
              resolve_connection: ConnectionResolver) -> pd.DataFrame:
    import sqlalchemy as sa

    url = _database_url(name, source, loaded, resolve_connection)
    read_only = READ_ONLY_SESSION.get(url.get_backend_name())
    if read_only is None:
        raise SourceError(f"source {name!r}: no read-only mode is known for {url.get_backend_name()} databases "
                          f"(supported: {', '.join(READ_ONLY_SESSION)}); a source query must not be able to write")
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise SourceError(f"source {name!r}: invalid database URL ({type(exc).__name__})") from None
    if source.table is not None:
        statement = sa.text(f"SELECT * FROM {source.table}")  # table name validated by the spec as an identifier
        parameters = {}
    else:
        statement = sa.text(source.query)  # one SELECT: the spec refuses several statements and other kinds
        wanted = set(re.findall(r"(?<!:):(\w+)", source.query))
        parameters = {key: value for key, value in context.parameters().items() if key in wanted}
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(read_only)
            connection.commit()  # the session default holds from the next transaction on: the query's
            try:
                frame = pd.read_sql_query(statement, connection, params=parameters)
            finally:
                connection.rollback()  # a source is read, never written: nothing of this session is kept
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        # pandas wraps SQLAlchemy's error; the driver's first line says what went wrong (missing table, auth,
        # "cannot execute DELETE in a read-only transaction"). Only that line is kept: SQLAlchemy appends the
        # statement and its parameters.
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ is not None else exc
        reason = str(getattr(cause, "orig", cause)).strip().splitlines()[0]
        raise SourceError(f"source {name!r}: query failed on {engine.url.render_as_string(hide_password=True)}: {reason}") from None
    finally:
        engine.dispose()
    _check_unique(name, list(frame.columns), "the query result")
    return frame


def read_source(
    name: str,
    source: SourceSpec,
    *,
    loaded: LoadedSpec,
    context: RunContext,
    resolve_connection: ConnectionResolver = env_connection_resolver,
) -> pd.DataFrame:
    if isinstance(source, SqlSource):
        return _read_sql(name, source, loaded, context, resolve_connection)
    where = f"sources.{name}.path"
    path = confined(fill_placeholders(source.path, context, where=where), kind="sources",
                    project_root=loaded.project_root, where=where)
    if not path.is_file():
        raise SourceError(f"source {name!r}: file not found: {path}")
    if isinstance(source, CsvSource):
        frame = _read_csv(name, source, path)
    else:
        frame = _read_parquet(name, source, path)
    return frame


def read_sources(
    loaded: LoadedSpec, *, context: RunContext, resolve_connection: ConnectionResolver = env_connection_resolver
) -> Mapping[str, pd.DataFrame]:
    return {
        name: read_source(name, source, loaded=loaded, context=context, resolve_connection=resolve_connection)
        for name, source in loaded.spec.sources.items()
    }
