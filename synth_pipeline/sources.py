"""Reading source tables into DataFrames, as they are: no cleaning here (that is `harmonize`).

Errors name the source and the file or connection, never row contents.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from synth_pipeline.errors import SourceError
from synth_pipeline.spec import CsvSource, LoadedSpec, ParquetSource, SourceSpec, SqlSource

ConnectionResolver = Callable[[str], str]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class RunContext:
    """What a run knows about itself: used to pick each batch's snapshot of the sources."""

    run_id: str
    data_interval_start: str | None = None  # ISO 8601
    data_interval_end: str | None = None

    def parameters(self) -> dict[str, str]:
        start = self.data_interval_start or ""
        return {
            "run_id": self.run_id,
            "data_interval_start": start,
            "data_interval_end": self.data_interval_end or "",
            "ds": start[:10],
            "ds_nodash": start[:10].replace("-", ""),
        }


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
    parameters = context.parameters()

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in parameters:
            raise SourceError(f"{where}: unknown placeholder {{{name}}} (known: {', '.join(sorted(parameters))})")
        if not parameters[name]:
            raise SourceError(f"{where}: placeholder {{{name}}} needs a run with a data interval")
        return parameters[name]

    return _PLACEHOLDER.sub(substitute, template)


def _first_row(path: Path, options) -> list[str]:
    with path.open(encoding=options.encoding, newline="") as handle:
        for _ in range(options.skiprows):
            handle.readline()
        row = next(csv.reader(handle, delimiter=options.sep, skipinitialspace=options.skipinitialspace), [])
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
        first_row = _first_row(path, options)
        if options.names:
            _check_unique(name, list(options.names), "options.names")
            if first_row and len(first_row) != len(options.names):
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
    except UnicodeDecodeError:
        raise SourceError(f"source {name!r}: {path} is not valid {options.encoding} text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        # pandas' parser messages cite line numbers and column counts, not cell values.
        raise SourceError(f"source {name!r}: cannot parse {path} as CSV: {str(exc).splitlines()[0]}") from None
    return frame


def _read_parquet(name: str, source: ParquetSource, path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=list(source.columns) if source.columns else None)
    except Exception as exc:  # pyarrow raises many types; a source error must name the file, not crash
        raise SourceError(f"source {name!r}: cannot read {path} as Parquet ({type(exc).__name__})") from None


def _read_sql(name: str, source: SqlSource, context: RunContext, resolve_connection: ConnectionResolver) -> pd.DataFrame:
    import sqlalchemy as sa

    url = source.url if source.url is not None else resolve_connection(source.conn_id)
    try:
        engine = sa.create_engine(sqlalchemy_url(url))
    except Exception as exc:
        raise SourceError(f"source {name!r}: invalid database URL ({type(exc).__name__})") from None
    if source.table is not None:
        statement = sa.text(f"SELECT * FROM {source.table}")  # table name validated by the spec as an identifier
        parameters = {}
    else:
        statement = sa.text(source.query)
        wanted = set(re.findall(r"(?<!:):(\w+)", source.query))
        parameters = {key: value for key, value in context.parameters().items() if key in wanted}
    try:
        with engine.connect() as connection:
            frame = pd.read_sql_query(statement, connection, params=parameters)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        # pandas wraps SQLAlchemy's error; the driver's first line says what went wrong (missing table, auth).
        # Only that line is kept: SQLAlchemy appends the statement and its parameters.
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
        return _read_sql(name, source, context, resolve_connection)
    path = loaded.resolve(fill_placeholders(source.path, context, where=f"sources.{name}.path"))
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
