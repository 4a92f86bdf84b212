from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from synth_pipeline.cli import main as cli
from synth_pipeline.errors import SpecError
from synth_pipeline.spec import CategoricalColumn, NumericColumn, discover_specs, load_spec

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
    ("epsilon not positive", _set("privacy.epsilon", 0), "privacy.epsilon: input should be greater than 0, got 0"),
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


@pytest.mark.parametrize(
    "text,expected",
    [
        ("name: adult_income\nname: again\n", "duplicate key 'name'"),
        ("[1, 2]\n", "expected a mapping at the top level"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
    ids=["duplicate key", "not a mapping", "broken yaml"],
)
def test_unparseable_specs(tmp_path, text, expected):
    with pytest.raises(SpecError, match=expected):
        load_spec(_write(tmp_path, text))


def test_name_must_match_file_name(tmp_path):
    with pytest.raises(SpecError, match="name: expected the file name 'other', got 'adult_income'"):
        load_spec(_write(tmp_path, _raw(), name="other"))


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read the file"):
        load_spec(tmp_path / "releases" / "nope.yaml")


def test_cli_validate_spec(tmp_path, capsys):
    assert cli(["validate-spec", str(ADULT)]) == 0
    assert "OK" in capsys.readouterr().out
    broken = _raw()
    broken["schema"]["age"]["max"] = "ninety"
    assert cli(["validate-spec", str(ADULT), str(_write(tmp_path, broken))]) == 1
    captured = capsys.readouterr()
    assert "schema.age.max: expected a number, got 'ninety'" in captured.err
    assert f"{ADULT}: OK" in captured.out
