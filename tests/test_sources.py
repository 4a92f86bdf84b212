from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter

from synth_pipeline.errors import SourceError
from synth_pipeline.sources import RunContext, env_connection_resolver, fill_placeholders, read_source, sqlalchemy_url
from synth_pipeline.spec import LoadedSpec, SourceSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
SOURCE = TypeAdapter(SourceSpec)
CONTEXT = RunContext("scheduled__2026-03-01", "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")


@pytest.fixture
def loaded(tmp_path) -> LoadedSpec:
    """A real spec whose project root is tmp_path, so relative source paths resolve there."""
    spec = load_spec(ROOT / "releases" / "adult_income.yaml")
    return LoadedSpec(spec=spec.spec, path=tmp_path / "releases" / "adult_income.yaml", spec_hash=spec.spec_hash)


def read(definition: dict, loaded: LoadedSpec, **kwargs) -> pd.DataFrame:
    return read_source("s", SOURCE.validate_python(definition), loaded=loaded, context=CONTEXT, **kwargs)


@pytest.mark.parametrize(
    "text,options,expected",
    [
        ("a,b\n1,2\n", {}, [["1", "2"]]),
        ("1;x\n", {"header": False, "names": ["a", "b"], "sep": ";"}, [["1", "x"]]),
        ("a, b\n1, y\n", {"skipinitialspace": True}, [["1", "y"]]),
        ("junk line\na,b\n1,NA?\n", {"skiprows": 1, "na_values": ["NA?"]}, [["1", None]]),
        ("a,b\n1,2\n\n", {}, [["1", "2"]]),
    ],
    ids=["header", "names-and-separator", "skipinitialspace", "skiprows-and-na", "trailing-blank-line"],
)
def test_csv_options(tmp_path, loaded, text, options, expected):
    (tmp_path / "in.csv").write_text(text)
    frame = read({"format": "csv", "path": "in.csv", "options": options}, loaded)
    assert list(frame.columns) == ["a", "b"]
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == expected


def test_parquet_source(tmp_path, loaded):
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(tmp_path / "in.parquet")
    frame = read({"format": "parquet", "path": "in.parquet", "columns": ["b"]}, loaded)
    assert frame["b"].tolist() == ["x", "y"] and list(frame.columns) == ["b"]


def test_path_placeholders_pick_the_runs_snapshot(tmp_path, loaded):
    (tmp_path / "batches").mkdir()
    (tmp_path / "batches" / "2026-03-01.csv").write_text("a,b\n1,2\n")
    frame = read({"format": "csv", "path": "batches/{ds}.csv"}, loaded)
    assert len(frame) == 1
    assert fill_placeholders("x/{ds_nodash}/{run_id}", CONTEXT, where="w") == "x/20260301/scheduled__2026-03-01"
    with pytest.raises(SourceError, match=r"unknown placeholder \{month\}"):
        fill_placeholders("{month}", CONTEXT, where="w")
    with pytest.raises(SourceError, match="needs a run with a data interval"):
        fill_placeholders("{ds}", RunContext("manual"), where="w")


@pytest.mark.parametrize(
    "setup,definition,message",
    [
        (None, {"format": "csv", "path": "missing.csv"}, "source 's': file not found"),
        (b"a,b\n\xff\xfe,1\n", {"format": "csv", "path": "f.csv"}, "is not valid utf-8 text"),
        (b'a,b\n"1,2\n', {"format": "csv", "path": "f.csv"}, "cannot parse"),
        (b"a,b,a\n1,2,3\n", {"format": "csv", "path": "f.csv"}, "duplicate column names in"),
        (b"", {"format": "csv", "path": "f.csv"}, "cannot parse"),
        (b"1,2\n", {"format": "csv", "path": "f.csv", "options": {"header": False, "names": ["a", "b", "c"]}}, "has 2 columns, options.names lists 3"),
        (b"not parquet", {"format": "parquet", "path": "f.csv"}, "cannot read"),
    ],
    ids=["missing-file", "bad-encoding", "unterminated-quote", "duplicate-columns", "empty-file", "names-mismatch", "bad-parquet"],
)
def test_unreadable_sources_raise_source_error(tmp_path, loaded, setup, definition, message):
    if setup is not None:
        (tmp_path / "f.csv").write_bytes(setup)
    with pytest.raises(SourceError, match=message):
        read(definition, loaded)


def test_airflow_style_urls_are_translated():
    assert sqlalchemy_url("postgres://u@h:5432/db") == "postgresql+psycopg2://u@h:5432/db"
    assert sqlalchemy_url("sqlite:///x.db") == "sqlite:///x.db"


def test_unknown_connection_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    with pytest.raises(SourceError, match="connection 'nope' is not defined"):
        env_connection_resolver("nope")


@pytest.fixture
def pg_table(postgres_url):
    """A table of two daily batches in the local PostgreSQL, dropped afterwards."""
    table = f"src_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url)
    frame = pd.DataFrame({"age": [39, 50, 38], "workclass": ["State-gov", "Private", None],
                          "batch_day": pd.to_datetime(["2026-03-01", "2026-03-01", "2026-03-02"]).date})
    frame.to_sql(table, engine, index=False)
    yield table
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


@pytest.mark.services
def test_sql_table_from_postgresql(loaded, postgres_url, pg_table):
    frame = read({"format": "sql", "url": postgres_url, "table": pg_table}, loaded)
    assert len(frame) == 3 and frame["workclass"].isna().sum() == 1


@pytest.mark.services
def test_sql_query_through_a_connection_id_with_the_data_interval(loaded, postgres_url, pg_table, monkeypatch):
    airflow_uri = postgres_url.replace("postgresql+psycopg2://", "postgres://")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", airflow_uri)
    definition = {"format": "sql", "conn_id": "warehouse",
                  "query": f"SELECT age, workclass FROM {pg_table} WHERE batch_day = CAST(:ds AS date)"}
    frame = read(definition, loaded)
    assert sorted(frame["age"]) == [39, 50]  # only this run's batch


@pytest.mark.services
def test_sql_errors_name_the_source_not_the_data(loaded, postgres_url):
    with pytest.raises(SourceError, match=r"source 's': query failed on postgresql\+psycopg2://postgres@.*does not exist"):
        read({"format": "sql", "url": postgres_url, "query": "SELECT * FROM no_such_table_here"}, loaded)
    with pytest.raises(SourceError, match="duplicate column names in the query result: x"):
        read({"format": "sql", "url": postgres_url, "query": "SELECT 1 AS x, 2 AS x"}, loaded)
