"""The review's hostile sources and faults (rows 11-15, 35, 37-54, 82, 83 of /work/shared/reviews/hostile-inputs.md),
each run through `synth-pipeline run-step` (in process: `cli.main`) on a copy of the bundled heart_disease project.

Every case asserts the exit code, the typed error in one line (no traceback), no partial output of the failing step
in the run folder, and that a canary file outside the project never reaches the run folder. The cases that must be
read (a BOM, a 1 MB cell, a short row, a declared date format) run the step after and check its outcome.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from synth_pipeline.cli import main
from synth_pipeline.errors import PathNotAllowed
from synth_pipeline.pii.engine import engine_config
from synth_pipeline.spec import PiiSpec
from testsupport import copy_project, file_size_limit

CANARY = "CANARY-host-7f3a9"  # only in the file outside the project
DATA_CANARY = "CANARY-7f3a9-NUM"  # a cell of a project's own source: read, but never shown in an error
CLEVELAND = "data/heart_disease/processed.cleveland.data"
NAMES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak", "slope", "ca",
         "thal", "num"]
ROW = "63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,3.0,0.0,6.0,0"


@dataclass(frozen=True)
class World:
    project: Path
    spec: dict
    outside: Path  # a heart-shaped CSV outside the project, holding the canary: readable if anything let it through

    def write(self, relative: str, content: bytes | str) -> str:
        path = self.project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return relative

    def source(self, **changes) -> None:
        self.spec["sources"]["cleveland"].update(changes)

    def csv(self, text: bytes | str, **options) -> None:
        self.source(path=self.write("data/hostile/cleveland.csv", text),
                    options={"header": False, "names": NAMES, **options})


@dataclass(frozen=True)
class Case:
    row: str
    edit: Callable[[World], None]
    rc: int
    message: str  # regex on stderr (on stdout when rc is 0)
    step: str = "extract"
    before: tuple[str, ...] = ()  # steps run (and expected to pass) first
    argv: tuple[str, ...] = ()
    fault: Callable[[Path], object] | None = None  # a context manager around the step, given the state folder
    check: Callable[[Path], None] | None = None  # on the run folder, after a successful step


def _rows(text: str, count: int = 3) -> str:
    return "".join(f"{text}\n" for _ in range(count))


def _symlink_out(world: World) -> None:
    link = world.project / "data" / "hostile" / "link.data"
    link.parent.mkdir(parents=True)
    link.symlink_to(world.outside)
    world.source(path="data/hostile/link.data")


def _sqlite(world: World) -> str:
    """data/hostile/heart.db: the Cleveland rows tagged with a run id, and a victim table."""
    frame = pd.read_csv(world.project / CLEVELAND, header=None, names=NAMES, dtype=str)
    with sqlite3.connect(world.project / "data" / "hostile" / "heart.db") as connection:
        frame.assign(tag="r1").to_sql("heart", connection, index=False)
        connection.execute("CREATE TABLE victim (id integer)")
        connection.execute("INSERT INTO victim VALUES (1)")
    return "sqlite:///data/hostile/heart.db"


def _sql(query: str) -> Callable[[World], None]:
    def edit(world: World) -> None:
        (world.project / "data" / "hostile").mkdir(parents=True)
        world.spec["sources"]["cleveland"] = {"format": "sql", "url": _sqlite(world), "query": query}
    return edit


def _parquet(frame_or_bytes) -> Callable[[World], None]:
    def edit(world: World) -> None:
        path = world.project / "data" / "hostile" / "cleveland.parquet"
        path.parent.mkdir(parents=True)
        if isinstance(frame_or_bytes, bytes):
            path.write_bytes(frame_or_bytes)
        else:
            frame_or_bytes(world).to_parquet(path)
        world.spec["sources"]["cleveland"] = {"format": "parquet", "path": "data/hostile/cleveland.parquet"}
    return edit


def _cleveland(world: World, **replace) -> pd.DataFrame:
    frame = pd.read_csv(world.project / CLEVELAND, header=None, names=NAMES, dtype=str)
    return frame.assign(**replace)


def _dates(values: list[str], **column) -> Callable[[World], None]:
    def edit(world: World) -> None:
        world.csv("".join(f"{ROW},{value}\n" for value in values), names=[*NAMES, "visit"])
        world.spec["schema"]["visit"] = {"type": "datetime", "min": "2000-01-01", "max": "2030-12-31", **column}
        world.spec["pii"]["columns"]["visit"] = {"class": "quasi_identifier", "action": "keep"}
    return edit


def _file_size_limit(state: Path):
    return file_size_limit(2048)


@contextmanager
def _read_only_state(state: Path):
    """The state folder cannot be written: a read-only folder, or for root (whom permissions do not stop) a folder
    under sysfs, which refuses new folders to everyone."""
    if os.geteuid() == 0:
        os.environ["SYNTH_PIPELINE_STATE"] = "/sys/synth-pipeline-hostile-state"
    else:
        state.mkdir(parents=True, exist_ok=True)
        state.chmod(0o555)
    try:
        yield
    finally:
        os.environ["SYNTH_PIPELINE_STATE"] = str(state)
        if state.exists():
            state.chmod(0o755)


def _harmonize_report(check: Callable[[dict], bool]) -> Callable[[Path], None]:
    def verify(run_dir: Path) -> None:
        import json
        assert check(json.loads((run_dir / "harmonize" / "report.json").read_text()))
    return verify


def _all_hospitals(world: World) -> None:
    """The bundled spec as it is, four sources: its quality gate passes, so the run reaches the ledger."""
    world.spec.update(yaml.safe_load((world.project / "releases" / "heart_disease.yaml").read_text()))


@contextmanager
def _read_only_ledger(state: Path):
    """A SQLite ledger that exists (with its tables) but opens read-only, as on a read-only mount (root is not
    stopped by permissions, so SQLite's own read-only mode stands in for one)."""
    from synth_pipeline.privacy.ledger import LEDGER_URL_ENV
    from synth_pipeline.privacy.ledger_schema import create_ledger_engine, prepare_schema

    path = state / "ledger-ro.sqlite"
    engine = create_ledger_engine(f"sqlite:///{path}")
    prepare_schema(engine)
    engine.dispose()
    os.environ[LEDGER_URL_ENV] = f"sqlite:///file:{path}?mode=ro&uri=true"
    try:
        yield
    finally:
        os.environ.pop(LEDGER_URL_ENV)


OUTSIDE = "sources\\.cleveland\\.path: .* resolves outside the folders allowed for sources"
CASES = [
    Case("11-dot-dot", lambda w: w.source(path="../outside.csv"), 2, OUTSIDE),
    Case("11-etc-passwd", lambda w: w.source(path="../../../../etc/passwd"), 2, OUTSIDE),
    Case("12-run-id-in-path", lambda w: w.source(path="data/{run_id}"), 1,
         r"sources\.cleveland\.path: may not use \{run_id\}", argv=("--run-id", "../../../../etc/passwd")),
    Case("13-unknown-placeholder", lambda w: w.source(path="data/{unknown_ph}.csv"), 1,
         r"sources\.cleveland\.path: unknown placeholder\(s\) \{unknown_ph\}"),
    Case("13-ds-without-interval", lambda w: w.source(path="data/heart_disease/{ds}.csv"), 2,
         r"placeholder \{ds\} needs a run with a data interval"),
    Case("13-interval-not-a-date", lambda w: w.source(path="data/heart_disease/{ds}.csv"), 2,
         "data_interval_start must be an ISO 8601 date", argv=("--data-interval-start", "../../../..")),
    Case("14-sql-bind-injection", _sql("SELECT * FROM heart WHERE tag = :run_id"), 0, '"sources"',
         argv=("--run-id", "x' OR '1'='1"),
         check=lambda run_dir: pd.read_parquet(run_dir / "extract" / "cleveland.parquet").empty),
    Case("15-sql-drop-commit-select", _sql("DROP TABLE victim; COMMIT; SELECT * FROM heart WHERE tag = :run_id"), 1,
         r"sources\.cleveland: query must be one SQL statement, found 3"),
    Case("15-sql-delete-returning", _sql("DELETE FROM victim RETURNING *"), 1,
         r"sources\.cleveland: query must be a SELECT"),
    Case("35-suite-outside", lambda w: w.spec["quality"].update(suite="../../../../etc/passwd"), 2,
         r"quality\.suite: .* resolves outside the folders allowed for suites", step="quality_gate"),
    Case("37-empty-csv", lambda w: w.csv(""), 2, "source 'cleveland': cannot parse .* as CSV: No columns to parse"),
    Case("38-header-only", lambda w: w.csv(",".join(NAMES) + "\n", header=True, names=None), 2,
         "no rows left after cleaning", step="harmonize", before=("extract",)),
    Case("39-bom", lambda w: w.csv(b"\xef\xbb\xbf" + _rows(ROW).encode()), 0, '"uri"', step="harmonize",
         before=("extract",), check=_harmonize_report(lambda report: report["rows_rejected"] == 0)),
    Case("40-nul-byte", lambda w: w.csv(_rows(ROW) + ROW.replace("145.0", "14\x005.0") + "\n"), 2,
         "source 'cleveland': .* has a NUL character on line 4"),
    Case("41-latin-1", lambda w: w.csv(_rows(ROW).encode() + b"\xe9\n"), 2, "is not valid utf-8 text"),
    Case("42-1mb-cell", lambda w: w.csv("x" * 1_000_000 + ROW[4:] + "\n" + _rows(ROW)), 2,
         "source 'cleveland', column 'age': some values cannot be read as a number", step="harmonize",
         before=("extract",)),
    Case("43-long-row", lambda w: w.csv(_rows(ROW) + ROW + ",1,2\n"), 2, "Expected 14 fields in line 4, saw 16"),
    Case("43-short-row", lambda w: w.csv(_rows(ROW) + "63.0,1.0\n"), 0, '"uri"', step="harmonize",
         before=("extract",), check=_harmonize_report(lambda report: report["rows_rejected"] == 1)),
    Case("44-duplicate-columns", lambda w: w.csv("age," + ",".join(NAMES[:13]) + "\n" + _rows(ROW), header=True,
                                                 names=None), 2, "duplicate column names in .*: age"),
    Case("45-non-nullable-all-null", lambda w: w.csv(_rows(ROW.replace("63.0,1.0,", "63.0,?,", 1))), 2,
         "no rows left after cleaning", step="harmonize", before=("extract",)),
    Case("45-nullable-all-null", lambda w: w.csv(_rows(ROW.replace("233.0", "?"))), 0, '"uri"', step="harmonize",
         before=("extract",)),
    Case("46-thousands-separator", lambda w: w.csv(_rows(ROW) + ROW.replace("233.0", '"1,234"') + "\n"
                                                   + ROW.replace("233.0", DATA_CANARY) + "\n"), 2,
         "column 'chol': some values cannot be read as a number", step="harmonize", before=("extract",)),
    Case("47-mixed-dates", _dates(["2020-01-05", "05/01/2020", "5.1.2020", "Jan 5 2020"]), 2,
         "column 'visit': some values cannot be read as an ISO 8601 date/time", step="harmonize", before=("extract",)),
    Case("47-declared-format", _dates(["05/01/2020", "31/12/2020"], format="%d/%m/%Y"), 0, '"uri"',
         step="harmonize", before=("extract",)),
    Case("48-extra-nested-column", _parquet(lambda w: _cleveland(w, extra=[[1, 2]] * 303)), 0, '"uri"',
         step="harmonize", before=("extract",),
         check=_harmonize_report(lambda report: report["dropped_source_columns"]["cleveland"] == ["extra"])),
    Case("49-list-in-a-declared-column", _parquet(lambda w: _cleveland(w, thal=[["3.0", "6.0"]] * 303)), 2,
         "source 'cleveland', column 'thal': holds lists or structures", step="harmonize", before=("extract",)),
    Case("50-truncated-parquet", lambda w: (_parquet(_cleveland)(w), (w.project / "data/hostile/cleveland.parquet")
                                            .write_bytes((w.project / "data/hostile/cleveland.parquet")
                                                         .read_bytes()[:500])), 2,
         r"cannot read .* as Parquet"),
    Case("50-random-bytes-parquet", _parquet(os.urandom(4096)), 2, r"cannot read .* as Parquet"),
    Case("51-symlink-out", _symlink_out, 2, OUTSIDE),
    Case("52-proc-environ", lambda w: w.source(path="/proc/self/environ"), 2, OUTSIDE),
    Case("53-regex-sep", lambda w: w.csv(_rows(ROW), sep="(a+)+$"), 1,
         r"sources\.cleveland\.options\.sep: must be one character"),
    Case("53-unknown-codec", lambda w: w.csv(_rows(ROW), encoding="no-such-codec"), 1,
         r"sources\.cleveland\.options\.encoding: unknown text encoding"),
    Case("54-canary-in-a-number", lambda w: w.csv(_rows(ROW) + ROW.replace("145.0", DATA_CANARY) + "\n"), 2,
         "column 'trestbps': some values cannot be read as a number", step="harmonize", before=("extract",)),
    Case("82-disk-full", lambda w: None, 2, r"cannot write the 'extract' step's output under .*: .*File too large",
         fault=_file_size_limit),
    Case("83-read-only-state", lambda w: None, 2, r"cannot write the 'extract' step's output under .*: ",
         fault=_read_only_state),
    Case("84-read-only-ledger", _all_hospitals, 2,
         r"the budget ledger failed while .* \(OperationalError: attempt to write a readonly database\); nothing "
         "was changed",
         step="charge_budget", before=("extract", "harmonize", "quality_gate", "pii_scan", "split"),
         fault=_read_only_ledger),
]


@pytest.fixture
def world(tmp_path, state_dir) -> World:
    project = copy_project(tmp_path)
    outside = tmp_path / "outside.csv"
    outside.write_text(_rows(ROW.replace("233.0", CANARY), 30))
    spec = yaml.safe_load((project / "releases" / "heart_disease.yaml").read_text())
    # One source keeps each case small; the other hospitals' mappings go with their sources.
    spec["sources"] = {"cleveland": spec["sources"]["cleveland"]}
    spec["harmonize"]["sources"] = {"cleveland": spec["harmonize"]["sources"]["cleveland"]}
    return World(project, spec, outside)


def _run(world: World, step: str, argv: tuple[str, ...], capsys) -> tuple[int, str, str]:
    options = dict(zip(argv[::2], argv[1::2]))
    options.setdefault("--run-id", "r1")
    rc = main(["run-step", step, str(world.project / "releases" / "heart_disease.yaml"),
               *[part for pair in options.items() for part in pair]])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("case", CASES, ids=[case.row for case in CASES])
def test_hostile_source(world, state_dir, capsys, case):
    case.edit(world)
    (world.project / "releases" / "heart_disease.yaml").write_text(yaml.safe_dump(world.spec, sort_keys=False))
    for step in case.before:
        rc, _, err = _run(world, step, case.argv, capsys)
        assert rc == 0, err
    with case.fault(state_dir) if case.fault else nullcontext():
        rc, out, err = _run(world, case.step, case.argv, capsys)
    assert "Traceback" not in out + err
    assert rc == case.rc, err
    if rc == 0:
        assert re.search(case.message, out), out
    else:
        assert re.search(case.message, err), err
        assert len(err.strip().splitlines()) == 1, err  # one typed line
        assert CANARY not in err and DATA_CANARY not in err and "1,234" not in err
    runs = state_dir / "runs" / "heart_disease"
    written = [p for p in runs.rglob("*")] if runs.is_dir() else []
    assert not [p for p in written if p.name.startswith(".")], "a temporary folder was left behind"
    if rc != 0:
        assert not [p for p in written if p.is_dir() and p.name == case.step], f"partial {case.step} output"
    assert not [p for p in written if p.is_file() and CANARY.encode() in p.read_bytes()], "a host file was copied"
    if case.check is not None:
        case.check(next(runs.iterdir()))


def test_sql_write_attempts_leave_the_database_as_it_was(world, state_dir, capsys):
    """Row 15 against SQLite: the refused statement never ran, the read-only session never wrote."""
    _sql("DROP TABLE victim; COMMIT; SELECT * FROM heart WHERE tag = :run_id")(world)
    (world.project / "releases" / "heart_disease.yaml").write_text(yaml.safe_dump(world.spec, sort_keys=False))
    assert _run(world, "extract", (), capsys)[0] == 1
    with sqlite3.connect(world.project / "data" / "hostile" / "heart.db") as connection:
        assert connection.execute("SELECT count(*) FROM victim").fetchone() == (1,)


@pytest.mark.parametrize("path", ["../outside.csv", "/etc/passwd", "config/link.yaml"])
def test_a_recognizers_file_outside_config_is_refused(world, path):
    (world.project / "config" / "link.yaml").symlink_to(world.outside)
    with pytest.raises(PathNotAllowed, match=r"pii\.recognizers_file: .* resolves outside the folders allowed"):
        engine_config(PiiSpec(recognizers_file=path), project_root=world.project)
