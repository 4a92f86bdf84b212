"""`sources:` where each source table is read from (files or SQL), and how."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from synth_pipeline.spec.base import Frozen


class CsvOptions(Frozen):
    header: bool = True
    names: tuple[str, ...] | None = None
    sep: str = ","
    skipinitialspace: bool = False
    na_values: tuple[str, ...] = ()
    skiprows: int = Field(0, ge=0)
    encoding: str = "utf-8"


class CsvSource(Frozen):
    format: Literal["csv"]
    path: str
    options: CsvOptions = CsvOptions()


class ParquetSource(Frozen):
    format: Literal["parquet"]
    path: str
    columns: tuple[str, ...] | None = None


class SqlSource(Frozen):
    """A query (or whole table) read through SQLAlchemy.

    `url` is a SQLAlchemy URL; `conn_id` names an Airflow Connection, resolved inside the task. The query may use
    the bind parameters :ds, :data_interval_start, :data_interval_end and :run_id.
    """

    format: Literal["sql"]
    url: str | None = None
    conn_id: str | None = None
    query: str | None = None
    table: str | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlSource:
        if (self.url is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'url' or 'conn_id'")
        if (self.query is None) == (self.table is None):
            raise ValueError("give exactly one of 'query' or 'table'")
        if self.table is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", self.table):
            raise ValueError(f"table must be a plain [schema.]name, got {self.table!r}")
        return self


SourceSpec = Annotated[Union[CsvSource, ParquetSource, SqlSource], Field(discriminator="format")]
SOURCE_FORMATS = ("csv", "parquet", "sql")
