from __future__ import annotations

import copy
import os
import re
import time
from pathlib import Path

import pytest
import yaml

from synth_pipeline.cli import main as cli
from synth_pipeline.errors import SpecError
from synth_pipeline.spec import CategoricalColumn, NumericColumn, discover_specs, load_spec
from synth_pipeline.spec.schedule import AIRFLOW_PRESETS

ROOT = Path(__file__).resolve().parent.parent
ADULT = ROOT / "releases" / "adult_income.yaml"


def _raw() -> dict:
    return yaml.safe_load(ADULT.read_text())


def _write(tmp_path: Path, document: dict | str, name: str = "adult_income") -> Path:
    path = tmp_path / "releases" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize("path", discover_specs(ROOT / "releases"), ids=lambda p: p.stem)
def test_bundled_specs_are_valid(path):
    loaded = load_spec(path)
    assert loaded.spec.name == path.stem
    assert len(loaded.spec_hash) == 64
    # The demo publishes these: a seeded run is refused at publication (tests seed their own copies).
    assert loaded.spec.generator is None or loaded.spec.generator.seed is None


def test_adult_spec_holds_the_public_domain_from_adult_names():
    spec = load_spec(ADULT).spec
    age = spec.schema["age"]
    assert isinstance(age, NumericColumn) and (age.min, age.max) == (17, 90)
    workclass = spec.schema["workclass"]
    assert isinstance(workclass, CategoricalColumn) and workclass.nullable and len(workclass.categories) == 8
    assert len(spec.schema["native_country"].categories) == 41
    assert spec.schema["income"].categories == ("<=50K", ">50K")


def test_spec_objects_are_frozen():
    spec = load_spec(ADULT).spec
    with pytest.raises(Exception):
        spec.name = "other"  # type: ignore[misc]


def test_hash_is_stable_under_reformatting_and_changes_with_content(tmp_path):
    original = load_spec(ADULT).spec_hash
    reordered = dict(reversed(list(_raw().items())))  # other key order, no comments, block style
    assert load_spec(_write(tmp_path, reordered)).spec_hash == original
    changed = _raw()
    changed["privacy"]["epsilon"] = 2.0
    assert load_spec(_write(tmp_path, changed)).spec_hash != original


def _set(path: str, value):
    def mutate(document: dict) -> None:
        *parents, last = path.split(".")
        node = document
        for key in parents:
            node = node[key]
        node[last] = value
    return mutate


def _delete(path: str):
    def mutate(document: dict) -> None:
        *parents, last = path.split(".")
        node = document
        for key in parents:
            node = node[key]
        del node[last]
    return mutate


def _both(*mutations):
    def mutate(document: dict) -> None:
        for mutation in mutations:
            mutation(document)
    return mutate


def _wide(document: dict) -> None:
    """Sixty more (boolean) columns: 75 in all."""
    document["schema"].update({f"flag{i}": {"type": "boolean", "nullable": True} for i in range(60)})


PERSON = {"key": "fnlwgt", "max_rows": 3}  # adult has no person key: any schema column will do for validation
NEGATIVE_CASES = [
    ("number expected", _set("schema.age.max", "ninety"), "schema.age.max: expected a number, got 'ninety'"),
    ("unknown top-level key", _set("colour", "blue"), "colour: unknown key"),
    ("unknown column key", _set("schema.age.maximum", 3), "schema.age.maximum: unknown key"),
    ("unknown source option", _set("sources.train.options.delimiter", ";"), "sources.train.options.delimiter: unknown key"),
    ("missing required key", _delete("privacy"), "privacy: required key is missing"),
    ("unknown column type", _set("schema.age.type", "number"), "schema.age.type: expected one of 'integer', 'float'"),
    ("unknown source format", _set("sources.train.format", "xlsx"), "sources.train.format: expected one of 'csv', 'parquet', 'sql', got 'xlsx'"),
    ("min above max", _set("schema.age.min", 95), "schema.age: min (95.0) is greater than max (90.0)"),
    ("map_to outside categories", _set("schema.race.out_of_domain", {"map_to": "Martian"}), "is not one of the categories"),
    ("null policy needs nullable", _set("schema.age.out_of_domain", "null"), "schema.age: out_of_domain 'null' needs nullable: true"),
    ("harmonize names unknown source", _set("harmonize.sources.extra", {}), "harmonize.sources.extra: no source named 'extra'"),
    ("recode of unknown column", _set("harmonize.recode", {"salary": {"a": "b"}}), "harmonize.recode.salary: not a schema column"),
    ("rename to unknown column", _set("harmonize.sources.train.rename", {"x": "y"}), "target 'y' is not a schema column"),
    ("dedupe key unknown", _set("harmonize.dedupe.keys", ["ssn"]), "harmonize.dedupe.keys: 'ssn' is not a schema column"),
    ("privacy unit unknown", _set("privacy_unit", "person_id"), "privacy_unit: expected 'row' or {key: COLUMN, max_rows: N}, got 'person_id'"),
    ("privacy unit key unknown", _set("privacy_unit", {"key": "person_id", "max_rows": 3}), "privacy_unit.key: 'person_id' is not a schema column"),
    ("undeclared categories without estimation budget", _delete("schema.sex.categories"), "schema.sex: its domain must be estimated under DP"),
    ("unknown generator", _set("generator", {"name": "gan"}), "generator.name: expected one of ['aim', 'dpsgd_autoregressive'], got 'gan'"),
    ("bad generator parameter", _set("generator", {"name": "aim", "params": {"rounds": 0}}), "generator.params.rounds: Input should be greater than or equal to 2"),
    ("unknown generator parameter", _set("generator", {"name": "aim", "params": {"epochs": 3}}), "generator.params.epochs: Extra inputs are not permitted"),
    ("epsilon not positive", _set("privacy.epsilon", 0), "privacy.epsilon: input should be greater than or equal to 0.01, got 0"),
    # Values that used to pass validation and fail late: after the data was read, the budget charged, or approval.
    ("epsilon infinite", _set("privacy.epsilon", float("inf")), "privacy.epsilon: input should be a finite number"),
    ("epsilon too small", _set("privacy.epsilon", 1e-300), "privacy.epsilon: input should be greater than or equal to 0.01"),
    ("epsilon too large", _set("privacy.epsilon", 1e308), "privacy.epsilon: input should be less than or equal to 20"),
    ("bound infinite", _set("schema.age.max", float("inf")), "schema.age.max: input should be a finite number"),
    ("bound beyond float precision", _set("schema.age.max", 1e300), "schema.age.max: input should be less than or equal to"),
    ("generator share too small", _set("privacy.decision_epsilon", 0.99995), "the generator needs the rest"),
    ("decision epsilon too small", _set("privacy.decision_epsilon", 1e-300), "privacy.decision_epsilon: input should be greater than or equal to 0.0001"),
    ("estimation delta 0 for estimated categories",
     _both(_set("schema.sex", {"type": "categorical"}), _set("privacy.estimation", {"epsilon": 0.1, "delta": 0})),
     "privacy.estimation.delta: must be above 0 to estimate the categories of sex"),
    ("retention overflows dates", _set("retention_days", 10**9), "retention_days: input should be less than or equal to 3653"),
    ("approval timeout infinite", _set("approval.timeout_hours", float("inf")), "approval.timeout_hours: input should be a finite number"),
    ("publish rows beyond memory", _set("publish.rows", 10**12), "publish.rows: input should be less than or equal to 10000000"),
    ("publish cells beyond memory", _both(_wide, _set("publish.rows", 10**7)),
     "publish.rows: 10,000,000 rows of 75 columns are more than 200,000,000 cells"),
    ("max_categories beyond memory", _set("schema.sex", {"type": "categorical", "max_categories": 10**9}),
     "schema.sex.max_categories: input should be less than or equal to 100000"),
    ("categories beyond the generator's levels", _set("schema.sex.categories", [f"level{i}" for i in range(1001)]),
     "schema.sex.categories: 1001 levels, more than generator.params.max_levels (1000)"),
    ("bins beyond the generator's levels", _set("generator.params", {"numeric_bins": 1000, "max_levels": 500}),
     "generator.params: numeric_bins (1000) must not exceed max_levels (500)"),
    ("workload too large", _both(_wide, _set("generator.params", {"workload_ways": 3})),
     "generator.params.workload_ways: 3-way marginals on 75 columns are 67,525 marginals, more than 10,000"),
    ("network beyond memory", _set("generator", {"name": "dpsgd_autoregressive",
                                                 "params": {"hidden": 4096, "embedding_dim": 512}}),
     "generator.params: the network on 15 columns would have up to"),
    ("schedule not cron", _set("schedule", "* * * * * * * *"), "schedule: expected one of Airflow's presets"),
    ("schedule unknown preset", _set("schedule", "@fortnightly"), "schedule: unknown preset '@fortnightly'"),
    ("description too long", _set("description", "x" * 4001), "description: string should have at most 4000 characters"),
    ("too many tags", _set("tags", [f"t{i}" for i in range(33)]), "tags: tuple should have at most 32 items"),
    ("negative seed", _set("generator.seed", -1), "generator.seed: input should be greater than or equal to 0"),
    ("tiny one-way share", _set("generator.params", {"one_way_share": 1e-300}), "generator.params.one_way_share"),
    ("attack size beyond a task", _set("evaluation.attacks", {"inference": 10**9}), "evaluation.attacks.inference"),
    ("bad release name", _set("name", "Adult Income"), "name: string should match pattern"),
    ("empty categories", _set("schema.sex.categories", []), "schema.sex.categories"),
    ("duplicate categories", _set("schema.sex.categories", ["Male", "Male"]), "schema.sex: categories contain duplicates"),
    ("negative skiprows", _set("sources.test.options.skiprows", -1), "sources.test.options.skiprows"),
    ("sql with url and conn_id", _set("sources.train", {"format": "sql", "url": "sqlite://", "conn_id": "x", "table": "t"}),
     "sources.train: give exactly one of 'url' or 'conn_id'"),
    ("sql table not an identifier", _set("sources.train", {"format": "sql", "url": "sqlite://", "table": "t; drop"}),
     "table must be a plain [schema.]name"),
    ("estimated categories that reject", _set("schema.sex", {"type": "categorical", "out_of_domain": "reject"}),
     "schema.sex.out_of_domain: 'reject' cannot go with categories estimated under DP"),
    ("estimated categories not nullable", _set("schema.sex", {"type": "categorical", "nullable": False}),
     "schema.sex: nullable: false cannot go with categories estimated under DP"),
    ("dedupe on some columns with row units", _set("harmonize.dedupe.keys", ["age", "sex"]),
     "harmonize.dedupe.keys: with privacy_unit: row only whole rows may be de-duplicated"),
    ("dedupe keys without the unit's key", _both(_set("privacy_unit", PERSON), _set("harmonize.dedupe.keys", ["age"])),
     "harmonize.dedupe.keys: must include privacy_unit.key ('fnlwgt')"),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in NEGATIVE_CASES], ids=[c[0] for c in NEGATIVE_CASES])
def test_invalid_specs_name_file_key_and_expectation(tmp_path, mutate, expected):
    document = copy.deepcopy(_raw())
    mutate(document)
    path = _write(tmp_path, document)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


DEDUPE_CASES = [
    # (privacy_unit, dedupe.keys, the problem or None when valid)
    ("row", None, None),
    ("row", "every column", None),
    ("row", ["age", "sex"], "with privacy_unit: row only whole rows may be de-duplicated"),
    ("row", ["fnlwgt"], "with privacy_unit: row only whole rows may be de-duplicated"),
    (PERSON, None, None),
    (PERSON, "every column", None),
    (PERSON, ["fnlwgt"], None),
    (PERSON, ["fnlwgt", "age"], None),
    (PERSON, ["age", "sex"], "must include privacy_unit.key ('fnlwgt')"),
    (PERSON, ["age"], "must include privacy_unit.key ('fnlwgt')"),
]


@pytest.mark.parametrize("unit,keys,problem", DEDUPE_CASES, ids=[f"{u if u == 'row' else 'key'}-{k}" for u, k, _ in DEDUPE_CASES])
def test_deduplication_never_reaches_across_privacy_units(tmp_path, unit, keys, problem):
    """One unit's rows may only ever remove that unit's own rows (the review's finding 7)."""
    document = _raw()
    document["privacy_unit"] = unit
    document["harmonize"]["dedupe"] = {"keys": list(document["schema"]) if keys == "every column" else keys,
                                       "keep": "first"}
    path = _write(tmp_path, document)
    if problem is None:
        load_spec(path)
        return
    with pytest.raises(SpecError, match=problem.replace("(", r"\(").replace(")", r"\)")) as caught:
        load_spec(path)
    assert f"{path}: harmonize.dedupe.keys: " in str(caught.value)


def test_estimated_categories_default_to_nulls_for_levels_too_rare_to_release(tmp_path):
    document = _raw()
    document["schema"]["sex"] = {"type": "categorical"}
    document["privacy"]["estimation"] = {"epsilon": 0.1, "delta": 1e-7}
    sex = load_spec(_write(tmp_path, document)).spec.schema["sex"]
    assert sex.needs_estimation and sex.nullable and sex.out_of_domain == "null"


BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(9))
UNPARSEABLE = [
    ("duplicate key", "name: adult_income\nname: again\n", "duplicate key 'name'"),
    ("not a mapping", "[1, 2]\n", "expected a mapping at the top level"),
    ("empty", "", "expected a mapping at the top level"),
    ("broken yaml", "name: [unclosed\n", "not valid YAML"),
    ("python tag", "name: !!python/object/apply:os.system [echo]\n", "not valid YAML"),
    ("latin-1 byte", "description: caf\xe9\n".encode("latin-1"), "not valid UTF-8 text (byte offset 16)"),
    ("larger than the cap", "description: " + "x" * (256 * 1024), "larger than 262,144 bytes"),
    ("deep nesting", "x: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper than 32 levels"),
    ("alias bomb", BOMB + "description: *l8\n", "expands to more than 200,000 values once its aliases are resolved"),
    ("alias chain nesting", "".join(f"c{i}: &c{i} [{f'*c{i - 1}' if i else 1}]\n" for i in range(40)),
     "nested deeper than 32 levels once its aliases are resolved"),
    ("recursive alias", "tags: &t [a, *t]\n", "a recursive alias"),
    ("impossible date", "description: 2020-13-45\n", "a value cannot be read (ValueError"),
    ("integer too long", "retention_days: " + "9" * 5000 + "\n", "a value cannot be read (ValueError"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in UNPARSEABLE], ids=[c[0] for c in UNPARSEABLE])
def test_unparseable_specs_raise_only_spec_error_and_fast(tmp_path, text, expected):
    path = tmp_path / "releases" / "adult_income.yaml"
    path.parent.mkdir()
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.perf_counter()
    with pytest.raises(SpecError, match=re.escape(expected)):
        load_spec(path)
    assert time.perf_counter() - started < 5


def test_error_messages_show_an_excerpt_of_a_huge_value(tmp_path):
    """A validated field given an alias standing for 10,000 values: the message quotes a few (one standing for 10^9
    values once hung the error formatting; the loader now refuses those before validation)."""
    text = _write(tmp_path, _raw()).read_text()
    bomb = "".join(f"m{i}: &m{i} [{', '.join([f'*m{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(4))
    path = _write(tmp_path, bomb + text.replace("description:", "x_description:", 1) + "description: *m3\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "description: expected a string, got [[[" in message and len(message) < 2_000


def test_schedule_presets_are_airflows():
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS

    assert set(AIRFLOW_PRESETS) == {*CRON_PRESETS, "@once", "@continuous"}


def test_name_must_match_file_name(tmp_path):
    with pytest.raises(SpecError, match="name: expected the file name 'other', got 'adult_income'"):
        load_spec(_write(tmp_path, _raw(), name="other"))


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read the file"):
        load_spec(tmp_path / "releases" / "nope.yaml")


@pytest.mark.parametrize("make", [os.mkdir, os.mkfifo], ids=["directory", "fifo"])
def test_not_a_regular_file(tmp_path, make):
    """A FIFO in the DAG folder would block the dag-processor's read forever."""
    path = tmp_path / "adult_income.yaml"
    make(path)
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(path)


def test_cli_validate_spec(tmp_path, capsys):
    assert cli(["validate-spec", str(ADULT)]) == 0
    assert "OK" in capsys.readouterr().out
    broken = _raw()
    broken["schema"]["age"]["max"] = "ninety"
    assert cli(["validate-spec", str(ADULT), str(_write(tmp_path, broken))]) == 1
    captured = capsys.readouterr()
    assert "schema.age.max: expected a number, got 'ninety'" in captured.err
    assert f"{ADULT}: OK" in captured.out


# --- issue 14, items 3 and 4: the suite file must exist; pandas' `header: 0`; bare YES/NO read as booleans ---------

def _project_spec(tmp_path: Path, edit=None) -> Path:
    from testsupport import copy_project

    root = copy_project(tmp_path)
    spec = root / "releases" / "adult_income.yaml"
    if edit is not None:
        document = yaml.safe_load(spec.read_text())
        edit(document)
        spec.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


SUITE_CASES = [
    ("present", lambda d: None, 0, ": OK"),
    ("missing", lambda d: d["quality"].update(suite="expectations/nope.json"),
     1, "quality.suite: no file at "),
    ("outside the suite folders", lambda d: d["quality"].update(suite="config/ledger.yaml"),
     1, "quality.suite: 'config/ledger.yaml' resolves outside the folders allowed for suites"),
    ("a folder", lambda d: d["quality"].update(suite="expectations"), 1, "quality.suite: no file at "),
    ("recognizers file missing", lambda d: d["pii"].update(recognizers_file="config/none.yaml"),
     1, "pii.recognizers_file: no file at "),
]


@pytest.mark.parametrize("edit,code,expected", [c[1:] for c in SUITE_CASES], ids=[c[0] for c in SUITE_CASES])
def test_validate_spec_refuses_a_spec_whose_files_are_missing(tmp_path, capsys, edit, code, expected):
    spec = _project_spec(tmp_path, edit)
    assert cli(["validate-spec", str(spec)]) == code
    out, err = capsys.readouterr()
    assert expected in (err if code else out)
    if code:
        assert err.startswith(f"{spec}: "), err


HEADER_CASES = [
    ("true", True, True), ("false", False, False), ("0 is pandas' first row", 0, True), ("null is none", None, False),
    ("'infer'", "infer", True),
    ("1 is refused", 1, "header: 1 would make row 1 the header (pandas); write header: true and skiprows: 1"),
    ("5 is refused", 5, "write header: true and skiprows: 5"),
    ("-1 is refused", -1, "header: -1 would make row -1"),
]


@pytest.mark.parametrize("header,expected", [c[1:] for c in HEADER_CASES], ids=[c[0] for c in HEADER_CASES])
def test_csv_header_reads_as_pandas_users_expect(tmp_path, header, expected):
    document = _raw()
    document["sources"]["train"]["options"]["header"] = header
    document["sources"]["test"]["options"] = {"header": True}
    path = _write(tmp_path, document)
    if isinstance(expected, bool):
        assert load_spec(path).spec.sources["train"].options.header is expected
    else:
        with pytest.raises(SpecError, match=re.escape(expected)):
            load_spec(path)


def test_header_zero_reads_the_first_row_as_the_header(tmp_path):
    """The reader, not only the model: `header: 0` once became false and the header row was read as data."""
    from synth_pipeline.sources import RunContext, read_source

    spec = _project_spec(tmp_path)
    (spec.parent.parent / "data" / "h.csv").write_text("age,income\n30,<=50K\n")
    text = spec.read_text()
    spec.write_text(text.replace("sources:\n", "sources:\n  h: {format: csv, path: data/h.csv, options: {header: 0}}\n", 1))
    loaded = load_spec(spec)
    frame = read_source("h", loaded.spec.sources["h"], loaded=loaded, context=RunContext("r1"))
    assert list(frame.columns) == ["age", "income"] and frame.values.tolist() == [["30", "<=50K"]]


BARE_BOOLEAN_CASES = [
    # (what, the edit of the adult spec's text, exit code, what stderr must contain)
    ("category NO", ("sex:            {type: categorical, categories: [Female, Male]}",
                     "sex:            {type: categorical, categories: [Female, Male, NO]}"), 1,
     ["schema.sex.categories.2: expected a string, got the boolean false: YAML reads a bare yes/no/on/off/true/false "
      "as a boolean; quote the value if you meant the text", 'note: line ', 'the bare word NO is read as the boolean '
      'false; if you meant the text, quote it: "NO"']),
    ("quoted NO is text", ("categories: [Female, Male]}", 'categories: [Female, Male, "NO"]}'), 0, []),
    ("valid, but a recode to Yes warns", ("recode:\n        income:", "recode:\n        sex: {F: Yes}\n        income:"),
     0, ['warning: line ', 'the bare word Yes is read as the boolean true; if you meant the text, quote it: "Yes"']),
]


@pytest.mark.parametrize("edit,code,expected", [c[1:] for c in BARE_BOOLEAN_CASES],
                         ids=[c[0] for c in BARE_BOOLEAN_CASES])
def test_bare_yes_no_are_explained_with_the_fix(tmp_path, capsys, edit, code, expected):
    spec = _project_spec(tmp_path)
    old, new = edit
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new, 1))
    assert cli(["validate-spec", str(spec)]) == code
    err = capsys.readouterr().err
    for part in expected:
        assert part in err, err
    if not expected:
        assert "bare word" not in err
    assert all(line.startswith(f"{spec}: ") for line in err.splitlines()), err
