from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from synth_pipeline.errors import PathNotAllowed, SourceError
from synth_pipeline.sources import RunContext, env_connection_resolver, fill_placeholders, read_source, sqlalchemy_url
from synth_pipeline.spec import LoadedSpec, SourceSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
SOURCE = TypeAdapter(SourceSpec)
CONTEXT = RunContext("scheduled__2026-03-01", "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")


@pytest.fixture
def loaded(tmp_path) -> LoadedSpec:
    """A real spec whose project root is tmp_path, so relative source paths resolve there (sources under data/)."""
    spec = load_spec(ROOT / "releases" / "adult_income.yaml")
    (tmp_path / "data").mkdir()
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
    (tmp_path / "data" / "in.csv").write_text(text)
    frame = read({"format": "csv", "path": "data/in.csv", "options": options}, loaded)
    assert list(frame.columns) == ["a", "b"]
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == expected


def test_parquet_source(tmp_path, loaded):
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(tmp_path / "data" / "in.parquet")
    frame = read({"format": "parquet", "path": "data/in.parquet", "columns": ["b"]}, loaded)
    assert frame["b"].tolist() == ["x", "y"] and list(frame.columns) == ["b"]


def test_path_placeholders_pick_the_runs_snapshot(tmp_path, loaded):
    (tmp_path / "data" / "batches").mkdir()
    (tmp_path / "data" / "batches" / "2026-03-01.csv").write_text("a,b\n1,2\n")
    frame = read({"format": "csv", "path": "data/batches/{ds}.csv"}, loaded)
    assert len(frame) == 1
    assert fill_placeholders("x/{ds_nodash}/{ds}", CONTEXT, where="w") == "x/20260301/2026-03-01"
    with pytest.raises(SourceError, match=r"unknown placeholder \{month\}"):
        fill_placeholders("{month}", CONTEXT, where="w")
    with pytest.raises(SourceError, match="needs a run with a data interval"):
        fill_placeholders("{ds}", RunContext("manual"), where="w")
    with pytest.raises(SourceError, match=r"\{run_id\} may not choose a file"):
        fill_placeholders("data/{run_id}.csv", RunContext("../../etc/passwd"), where="w")


@pytest.mark.parametrize("start", ["../../..", "2026-03-01/../..", "", "yesterday", "2026-13-01"])
def test_the_data_interval_must_be_dates(start):
    # {ds} names files: a data interval that is not a date could climb out of the sources folder.
    with pytest.raises(SourceError, match="data_interval_start must be an ISO 8601 date"):
        RunContext("manual", start, None)
    assert RunContext("manual", "2026-03-01", "2026-03-02T00:00:00+00:00").parameters()["ds_nodash"] == "20260301"


@pytest.mark.parametrize(
    "path,setup",
    [
        ("../outside.csv", None),
        ("data/../../outside.csv", None),
        ("{outside}", None),
        ("data/link.csv", "symlink"),
        ("data/dir/", "symlinked-folder"),
        ("/proc/self/environ", None),
    ],
    ids=["dot-dot", "dot-dot-inside-data", "absolute", "symlink-to-outside", "symlinked-folder", "proc"],
)
def test_a_source_outside_the_allowed_folders_is_refused(tmp_path, loaded, path, setup):
    canary = tmp_path / "outside.csv"
    canary.write_text("secret\nCANARY-host-file\n")
    if setup == "symlink":
        (tmp_path / "data" / "link.csv").symlink_to(canary)
    if setup == "symlinked-folder":
        (tmp_path / "data" / "dir").symlink_to(tmp_path, target_is_directory=True)
        path = "data/dir/outside.csv"
    path = path.replace("{outside}", str(canary))
    with pytest.raises(PathNotAllowed, match=r"sources\.s\.path: .* resolves outside the folders allowed for sources"):
        read({"format": "csv", "path": path}, loaded)


def test_the_operator_allows_more_source_folders(tmp_path, loaded, monkeypatch):
    elsewhere = tmp_path / "warehouse"
    elsewhere.mkdir()
    (elsewhere / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(PathNotAllowed):
        read({"format": "csv", "path": str(elsewhere / "t.csv")}, loaded)
    monkeypatch.setenv("SYNTH_PIPELINE_SOURCE_ROOTS", str(elsewhere))
    assert len(read({"format": "csv", "path": str(elsewhere / "t.csv")}, loaded)) == 1


@pytest.mark.parametrize(
    "setup,definition,message",
    [
        (None, {"format": "csv", "path": "data/missing.csv"}, "source 's': file not found"),
        (b"a,b\n\xff\xfe,1\n", {"format": "csv", "path": "data/f.csv"}, "is not valid utf-8 text"),
        (b'a,b\n"1,2\n', {"format": "csv", "path": "data/f.csv"}, "cannot parse"),
        (b"a,b,a\n1,2,3\n", {"format": "csv", "path": "data/f.csv"}, "duplicate column names in"),
        (b"", {"format": "csv", "path": "data/f.csv"}, "cannot parse"),
        (b"1,2\n", {"format": "csv", "path": "data/f.csv", "options": {"header": False, "names": ["a", "b", "c"]}}, "has 2 columns, options.names lists 3"),
        (b"not parquet", {"format": "parquet", "path": "data/f.csv"}, "cannot read"),
        (b"a,b\n1,2\n14\x005.0,3\n", {"format": "csv", "path": "data/f.csv"}, "has a NUL character on line 3"),
        (b"x" * (16 * 1024 * 1024 + 1) + b",1\n", {"format": "csv", "path": "data/f.csv", "options": {"header": False, "names": ["a", "b"]}}, "field larger than field limit"),
    ],
    ids=["missing-file", "bad-encoding", "unterminated-quote", "duplicate-columns", "empty-file", "names-mismatch", "bad-parquet",
         "nul-byte", "cell-over-the-cap"],
)
def test_unreadable_sources_raise_source_error(tmp_path, loaded, setup, definition, message):
    if setup is not None:
        (tmp_path / "data" / "f.csv").write_bytes(setup)
    with pytest.raises(SourceError, match=message):
        read(definition, loaded)


def test_a_wide_first_cell_is_read(tmp_path, loaded):
    # The header check's csv reader stops at 128 KiB by default; a 1 MB cell is still text.
    (tmp_path / "data" / "wide.csv").write_text("a,b\n" + "x" * 1_000_000 + ",1\n")
    assert read({"format": "csv", "path": "data/wide.csv", "options": {"header": False, "names": ["a", "b"]}},
                loaded)["a"].str.len().max() == 1_000_000


SQL = {"format": "sql", "url": "sqlite://"}


@pytest.mark.parametrize(
    "definition,refusal",
    [
        ({"format": "csv", "path": "data/x.csv", "options": {"sep": "(a+)+$"}}, "(?s)options.sep.*must be one character"),
        ({"format": "csv", "path": "data/x.csv", "options": {"sep": '"'}}, "(?s)options.sep.*must be one character"),
        ({"format": "csv", "path": "data/x.csv", "options": {"encoding": "no-such-codec"}}, "unknown text encoding"),
        ({"format": "csv", "path": "data/x.csv", "options": {"encoding": "zlib"}}, "unknown text encoding"),
        ({"format": "csv", "path": "data/x.csv", "options": {"skiprows": 10**12}}, "options.skiprows"),
        ({"format": "csv", "path": "data/*.csv"}, "glob patterns .* are not supported"),
        ({"format": "parquet", "path": "data/{run_id}.parquet"}, r"may not use \{run_id\}"),
        ({"format": "csv", "path": "data/{month}.csv"}, r"unknown placeholder\(s\) \{month\}"),
        ({"format": "csv", "path": "data/" + "x" * 5000}, "path"),
        ({**SQL, "query": "SELECT 1; SELECT 2"}, "query must be one SQL statement, found 2"),
        ({**SQL, "query": "INSERT INTO t VALUES (1)"}, "query must be a SELECT .* found INSERT"),
        ({**SQL, "query": "SELECT 1 " + "OR 1=1 " * 2800}, "query has too many tokens to be checked"),
        ({**SQL, "query": "SELECT " + "x" * 20_000}, "query"),
    ],
    ids=["regex-sep", "quote-sep", "unknown-codec", "bytes-codec", "endless-skiprows", "glob", "run-id", "unknown-placeholder",
         "long-path", "two-statements", "insert", "too-many-tokens", "long-query"],
)
def test_source_entries_are_checked_at_validation(definition, refusal):
    with pytest.raises(ValidationError, match=refusal):
        SOURCE.validate_python(definition)


@pytest.mark.parametrize("query", ["SELECT ';' AS semicolon -- ; not a second statement\n", "SELECT 1 /* ; */;",
                                   "WITH recent AS (SELECT 1 AS x) SELECT x FROM recent", "select $$;$$"])
def test_one_select_with_semicolons_in_literals_and_comments_is_accepted(query):
    assert SOURCE.validate_python({**SQL, "query": query}).query == query


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


@pytest.fixture
def victim(postgres_url):
    """A table of three rows, a function that empties it and a sequence, in the local PostgreSQL; dropped after."""
    name = f"victim_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE {name} (id integer)"))
        connection.execute(sa.text(f"INSERT INTO {name} VALUES (1), (2), (3)"))
        connection.execute(sa.text(f"CREATE SEQUENCE {name}_seq"))
        connection.execute(sa.text(f"CREATE FUNCTION {name}_wipe() RETURNS bigint LANGUAGE sql AS "
                                   f"$$ WITH gone AS (DELETE FROM {name} RETURNING 1) SELECT count(*) FROM gone $$"))
    yield name
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {name}_wipe()"))
        connection.execute(sa.text(f"DROP SEQUENCE IF EXISTS {name}_seq"))
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def _rows_left(postgres_url: str, table: str) -> int:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.services
@pytest.mark.parametrize(
    "query,refused_by",
    [
        ("DROP TABLE {v}; COMMIT; SELECT * FROM {v}", "query must be one SQL statement, found 3"),
        ("COMMIT; DELETE FROM {v}; SELECT 1", "query must be one SQL statement, found 3"),
        ("DELETE FROM {v} RETURNING *", "query must be a SELECT .* found DELETE"),
        ("WITH gone AS (SELECT 1) DELETE FROM {v}", "query must be a SELECT .* found DELETE"),
        ("WITH gone AS (DELETE FROM {v} RETURNING *) SELECT * FROM gone", "cannot execute SELECT in a read-only transaction"),
        ("SELECT * FROM {v} FOR UPDATE", "cannot execute SELECT FOR UPDATE in a read-only transaction"),
        ("SELECT {v}_wipe()", "cannot execute .* in a read-only transaction"),
        ("SELECT nextval('{v}_seq')", "cannot execute nextval\\(\\) in a read-only transaction"),
    ],
    ids=["drop-commit-select", "commit-delete", "delete-returning", "cte-then-delete", "data-modifying-cte",
         "select-for-update", "writing-function", "sequence"],
)
def test_a_sql_source_cannot_write(loaded, postgres_url, victim, query, refused_by):
    # The spec refuses what is not one SELECT; the read-only session refuses a write hidden in a SELECT.
    with pytest.raises((ValidationError, SourceError), match=refused_by):
        read({"format": "sql", "url": postgres_url, "query": query.replace("{v}", victim)}, loaded)
    assert _rows_left(postgres_url, victim) == 3
    assert len(read({"format": "sql", "url": postgres_url, "query": f"SELECT * FROM {victim}"}, loaded)) == 3


def test_a_sqlite_source_is_a_confined_file(tmp_path, loaded):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'in.db'}")
    pd.DataFrame({"a": [1, 2]}).to_sql("t", engine, index=False)
    engine.dispose()
    assert len(read({"format": "sql", "url": "sqlite:///data/in.db", "table": "t"}, loaded)) == 2
    (tmp_path / "outside.db").write_bytes((tmp_path / "data" / "in.db").read_bytes())
    with pytest.raises(PathNotAllowed, match=r"sources\.s\.url: .* resolves outside the folders allowed"):
        read({"format": "sql", "url": f"sqlite:///{tmp_path / 'outside.db'}", "table": "t"}, loaded)


def test_a_database_without_a_known_read_only_mode_is_refused(loaded):
    with pytest.raises(SourceError, match="no read-only mode is known for mysql databases"):
        read({"format": "sql", "url": "mysql://user@db.example/warehouse", "table": "t"}, loaded)
