"""`sources:` where each source table is read from (files or SQL), and how."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

import sqlparse
from pydantic import Field, field_validator, model_validator

from synth_pipeline.spec.base import Frozen
from synth_pipeline.spec.limits import MAX_COLUMNS, MAX_LABEL_CHARS

# Caps on what a source entry controls (see synth_pipeline.spec.limits for the others). A path longer than Linux's
# PATH_MAX names no file. `skiprows` is a loop over lines before the header check: 10^12 would spin for hours.
# A query is text sent to the database, not a program: 20,000 characters is far beyond a hand-written SELECT, and
# checking it (sqlparse) stays under half a second on the dag-processor, which validates every spec on each parse.
MAX_PATH_CHARS = 4_096
MAX_SKIPROWS = 1_000_000
MAX_NA_VALUES = 1_000
MAX_QUERY_CHARS = 20_000
Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS)]


class CsvOptions(Frozen):
    header: bool = True
    names: tuple[Label, ...] | None = Field(None, max_length=MAX_COLUMNS)
    sep: str = ","
    skipinitialspace: bool = False
    na_values: tuple[Label, ...] = Field((), max_length=MAX_NA_VALUES)
    skiprows: int = Field(0, ge=0, le=MAX_SKIPROWS)
    encoding: str = Field("utf-8", max_length=64)

    @field_validator("header", mode="before")
    @classmethod
    def _pandas_header(cls, header: object) -> object:
        """`header: true` (the first row names the columns) or `false` (no header row: give `names`). pandas'
        spellings are read as pandas reads them, not as numbers coerced to booleans (`0` once became false, and the
        header row was read as data): `0` is the first row, `null` none; a header further down is skiprows."""
        if header is None:
            return False
        if isinstance(header, int) and not isinstance(header, bool):
            if header == 0:
                return True
            raise ValueError(f"header: {header} would make row {header} the header (pandas); write header: true "
                             f"and skiprows: {header} to skip the {header} line(s) above it")
        if isinstance(header, str) and header.strip().lower() in ("0", "infer"):
            return True
        return header

    @field_validator("sep")
    @classmethod
    def _one_character(cls, sep: str) -> str:
        # More than one character makes pandas treat `sep` as a regular expression (and its python engine run it
        # on every line: `(a+)+$` backtracks for ever); the header check's csv reader takes one character only.
        if len(sep) != 1 or sep in "\"\r\n":
            raise ValueError("must be one character other than a quote or a line break (regular expressions are not "
                             "supported)")
        return sep

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, encoding: str) -> str:
        try:
            "".encode(encoding)  # unknown codecs and bytes-to-bytes ones (zlib, base64) raise LookupError
        except LookupError:
            raise ValueError(f"unknown text encoding {encoding[:40]!r}") from None
        return encoding


# Placeholders a file path may use: dates of the run's data interval, validated as ISO dates when the run starts.
# `{run_id}` is not one: whoever triggers a run chooses its id, and must not choose which file is read.
PATH_PLACEHOLDERS = ("ds", "ds_nodash", "data_interval_start", "data_interval_end")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class _FileSource(Frozen):
    path: str = Field(max_length=MAX_PATH_CHARS)

    @field_validator("path")
    @classmethod
    def _one_file(cls, path: str) -> str:
        """A source path names one file; only the data interval's dates may vary it."""
        if not path.strip():
            raise ValueError("must name a file")
        if "\x00" in path:
            raise ValueError("may not contain a NUL character")
        if any(character in path for character in "*?["):
            raise ValueError("names one file: glob patterns (*, ?, [...]) are not supported")
        refused = sorted({name for name in _PLACEHOLDER.findall(path) if name not in PATH_PLACEHOLDERS})
        if "run_id" in refused:
            raise ValueError("may not use {run_id}: whoever triggers a run chooses its id, so it must not choose the "
                             "file (use {ds} or the data interval; :run_id stays available as an SQL bind parameter)")
        if refused:
            raise ValueError(f"unknown placeholder(s) {', '.join('{' + name + '}' for name in refused)} (known: "
                             f"{', '.join('{' + name + '}' for name in PATH_PLACEHOLDERS)})")
        return path


class CsvSource(_FileSource):
    format: Literal["csv"]
    options: CsvOptions = CsvOptions()


class ParquetSource(_FileSource):
    format: Literal["parquet"]
    columns: tuple[Label, ...] | None = Field(None, max_length=MAX_COLUMNS)


class SqlSource(Frozen):
    """A query (or whole table) read through SQLAlchemy.

    `url` is a SQLAlchemy URL; `conn_id` names an Airflow Connection, resolved inside the task. The query is one
    SELECT (`WITH ... SELECT` included) and may use the bind parameters :ds, :data_interval_start,
    :data_interval_end and :run_id. It runs in a read-only session (`synth_pipeline.sources`): refusing other
    statements here says so at validation, the read-only session is what holds if a write hides in a SELECT.
    """

    format: Literal["sql"]
    url: str | None = Field(None, max_length=MAX_PATH_CHARS)
    conn_id: Label | None = None
    query: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    table: Label | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlSource:
        if (self.url is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'url' or 'conn_id'")
        if (self.query is None) == (self.table is None):
            raise ValueError("give exactly one of 'query' or 'table'")
        if self.table is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", self.table):
            raise ValueError(f"table must be a plain [schema.]name, got {self.table!r}")
        if self.query is not None:
            _one_select(self.query)
        return self


def _one_select(query: str) -> None:
    # sqlparse splits on `;` outside string literals, quoted names, comments and dollar quotes: `DROP ...; COMMIT;
    # SELECT ...` is three statements, `SELECT ';'` one.
    try:
        statements = [s for s in sqlparse.parse(query) if s.token_first(skip_cm=True, skip_ws=True) is not None]
    except sqlparse.exceptions.SQLParseError:  # its guard against quadratic grouping: over 10,000 tokens in a list
        raise ValueError("query has too many tokens to be checked; select fewer columns or split the source") from None
    if len(statements) != 1:
        raise ValueError(f"query must be one SQL statement, found {len(statements)}")
    kind = statements[0].get_type()
    if kind != "SELECT":
        raise ValueError(f"query must be a SELECT (WITH ... SELECT included), found {kind}: a source is only read")


SourceSpec = Annotated[Union[CsvSource, ParquetSource, SqlSource], Field(discriminator="format")]
SOURCE_FORMATS = ("csv", "parquet", "sql")
