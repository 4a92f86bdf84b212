"""`synth-pipeline init NAME --from FILE` (issue 14): a spec with a TODO for every decision, a suite scaffold and a
ledger proposal, none holding a value read from the data; `validate-spec` lists what is left, then passes once the
author fills it in. Also the name-only suggestions for atoms and values (issue 13) and the type inference."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from synth_pipeline.cli import main as cli
from synth_pipeline.errors import PipelineError, SpecError
from synth_pipeline.init.cli import initialise
from synth_pipeline.init.columns import infer_type, suggestions_for, target_name
from synth_pipeline.spec import load_spec
from synth_pipeline.spec.todo import todo_problems

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"]
# Distinctive values planted in the input: none may reach any file init writes (extremes, rare levels, a name).
CANARIES = {"surname": "Zqxvorthington", "region": "Qwzlandia", "age": "119", "balance": "918273.64",
            "balance_low": "-4242.17", "capital_gain": "7777331", "rating": "9", "email": "zqx.canary@example.org"}
ROWS = 120


def _people_csv(path: Path) -> Path:
    rng = random.Random(7)
    header = ["Person ID", "first_name", "last_name", "email", "ssn", "region", "age", "balance", "capital_gain",
              "rating", "smoker", "visit_date"]
    rows = []
    for index in range(ROWS):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append([f"P-{100000 + index * 37}", first, last, f"{first.lower()}.{last.lower()}{index}@mail.com",
                     f"{rng.randint(100, 665):03d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
                     rng.choice(["North", "South", "East", "West"]), str(rng.randint(20, 80)),
                     f"{rng.uniform(0, 5000):.2f}", str(rng.choice([0, 0, 0, rng.randint(1, 5000)])),
                     str(rng.randint(1, 5)), rng.choice(["yes", "no"]),
                     f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"])
    # The planted row: every canary at once (extremes, a rare level, a rare name).
    rows[17] = ["P-999999", "Jane", CANARIES["surname"], CANARIES["email"], "123-45-6789", CANARIES["region"],
                CANARIES["age"], CANARIES["balance"], CANARIES["capital_gain"], CANARIES["rating"], "no", "2024-02-29"]
    rows[18][7] = CANARIES["balance_low"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """One init run (the PII scan builds Presidio's analyzer once): a project with the file under data/."""
    root = tmp_path_factory.mktemp("init") / "project"
    (root / "data").mkdir(parents=True)
    source = _people_csv(root / "data" / "people.csv")
    done = initialise("people", source, root)
    assert done["warnings"] == []
    return root


SPEC = Path("releases/people.yaml")
WRITTEN = [SPEC, Path("expectations/people.json"), Path("config/people.ledger-proposal.yaml")]

# Every decision init leaves to the author, by key path.
EXPECTED_TODOS = [
    "description", "owner", "purpose", "schema.region.categories", "schema.age.min", "schema.age.max",
    "schema.balance.min", "schema.balance.max", "schema.capital_gain.min", "schema.capital_gain.max",
    "schema.rating.min", "schema.rating.max", "schema.visit_date.min", "schema.visit_date.max", "privacy_unit",
    "privacy.epsilon", "privacy.delta", "privacy.min_individuals", "privacy.estimation.epsilon",
    "privacy.estimation.delta", "approval.stewards.0",
]

# What a data owner fills in: public choices (the region list is deliberately the public one, without the canary).
FILLED = {
    "description": "Synthetic clinic visitors.", "owner": "data-platform", "purpose": "Tests.",
    "schema.region.categories": ["North", "South", "East", "West"],
    "schema.age.min": 0, "schema.age.max": 110, "schema.balance.min": -10000, "schema.balance.max": 1000000,
    "schema.capital_gain.min": 0, "schema.capital_gain.max": 99999, "schema.rating.min": 1, "schema.rating.max": 5,
    "schema.visit_date.min": "2000-01-01", "schema.visit_date.max": "2030-12-31", "privacy_unit": "row",
    "privacy.epsilon": 1.0, "privacy.delta": 1.0e-6, "privacy.min_individuals": 100,
    "privacy.estimation.epsilon": 0.1, "privacy.estimation.delta": 1.0e-7, "approval.stewards.0": "steward",
}


def _set(document, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        document = document[int(part)] if isinstance(document, list) else document[part]
    if isinstance(document, list):
        document[int(last)] = value
    else:
        document[last] = value


def _copy(project: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(project, tmp_path / "p")
    return tmp_path / "p"


@pytest.mark.parametrize("written", WRITTEN, ids=str)
def test_init_writes_the_spec_the_suite_scaffold_and_a_ledger_proposal(project, written):
    path = project / written
    assert path.is_file()
    text = path.read_text()
    if written.suffix == ".json":
        suite = json.loads(text)
        assert suite["name"] == "people"
        assert suite["expectations"][0]["kwargs"]["column_list"] == [
            "person_id", "first_name", "last_name", "email", "ssn", "region", "age", "balance", "capital_gain",
            "rating", "smoker", "visit_date"]
    elif "ledger" in written.name:
        entry = yaml.safe_load(text)["datasets"]["people"]
        assert entry["sources"] == [{"path": "data/people.csv"}]
        assert entry["epsilon"].startswith("TODO(") and entry["delta"].startswith("TODO(")
    else:
        assert "TODO(" in text


@pytest.mark.parametrize("what,value", sorted(CANARIES.items()))
def test_no_value_from_the_data_reaches_any_written_file(project, what, value):
    # As a token of its own: the rating canary 9 is a digit of "1900-01-01" in an explanation, not a leak.
    planted = re.compile(rf"(?<![\w.-]){re.escape(value)}(?![\w.])")
    for written in WRITTEN:
        assert not planted.search((project / written).read_text()), f"{what} leaked into {written}"


def test_no_level_or_value_of_the_data_is_written(project):
    """Beyond the canaries: no category level, no e-mail, no cell of any text column appears in the spec."""
    table = pd.read_csv(project / "data" / "people.csv", dtype=str)
    text = "\n".join((project / written).read_text() for written in WRITTEN)
    for column in ("last_name", "email", "ssn", "region", "balance", "Person ID"):
        leaked = sorted(value for value in set(table[column]) if value in text)
        assert leaked == [], f"{column}: {leaked[:3]}"


# (column, its schema entry as init writes it, its pii entry or None)
COLUMNS = [
    ("person_id", {"type": "string", "nullable": True}, {"class": "direct_identifier", "action": "drop"}),
    ("first_name", {"type": "string", "nullable": True}, {"class": "direct_identifier", "action": "drop"}),
    ("email", {"type": "string", "nullable": True}, {"class": "direct_identifier", "action": "drop"}),
    ("ssn", {"type": "string", "nullable": True}, {"class": "direct_identifier", "action": "drop"}),
    ("smoker", {"type": "boolean", "nullable": True}, None),
    ("age", {"type": "integer"}, {"class": "quasi_identifier", "action": "keep"}),
    ("balance", {"type": "float"}, None),
    ("region", {"type": "categorical"}, {"class": "quasi_identifier", "action": "keep"}),
    ("visit_date", {"type": "datetime"},
     {"class": "quasi_identifier", "action": "generalize", "generalize": {"to": "year"}}),
]


@pytest.mark.parametrize("column,schema,pii", COLUMNS, ids=[c[0] for c in COLUMNS])
def test_types_and_pii_classes_come_from_the_scan(project, column, schema, pii):
    document = yaml.safe_load((project / SPEC).read_text())
    assert schema.items() <= document["schema"][column].items()
    assert document["pii"]["columns"].get(column) == pii
    assert document["harmonize"]["sources"]["people"]["rename"] == {"Person ID": "person_id"}


def test_name_based_suggestions_are_comments_to_confirm(project):
    text = (project / SPEC).read_text()
    block = text[text.index("  capital_gain:"):text.index("  rating:")]
    assert "# atoms: [0]" in block and "suggested from the name" in block
    rating = text[text.index("  rating:"):text.index("  smoker:")]
    assert "# values: [1, 2, 3, 4, 5]" in rating


def test_validate_spec_on_fresh_init_output_lists_every_todo(project, capsys):
    assert cli(["validate-spec", str(project / SPEC)]) == 1
    err = capsys.readouterr().err
    listed = [line.split(": ")[1] for line in err.splitlines() if ": left to fill in: " in line]
    assert listed == EXPECTED_TODOS
    assert f"{len(EXPECTED_TODOS)} field(s) left to fill in" in err
    assert all(line.startswith(f"{project / SPEC}: ") for line in err.splitlines())


def test_init_command_prints_what_is_left(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    source = _people_csv(tmp_path / "data" / "t.csv")
    assert cli(["init", "visits", "--from", str(source), "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "releases/visits.yaml" in out and "privacy.epsilon: left to fill in" in out
    assert cli(["init", "visits", "--from", str(source), "--project", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("left", [[], ["privacy.epsilon"], ["schema.age.min", "approval.stewards.0"]],
                         ids=["all-filled", "one-left", "two-left"])
def test_filling_the_todos_makes_a_valid_spec(project, tmp_path, capsys, left):
    root = _copy(project, tmp_path)
    document = yaml.safe_load((root / SPEC).read_text())
    for path, value in FILLED.items():
        if path not in left:
            _set(document, path, value)
    (root / SPEC).write_text(yaml.safe_dump(document, sort_keys=False))
    code = cli(["validate-spec", str(root / SPEC)])
    out, err = capsys.readouterr()
    if not left:
        assert code == 0 and ": OK" in out, err
        loaded = load_spec(root / SPEC)
        assert loaded.spec.generator.name == "aim"
        assert not todo_problems(yaml.safe_load((root / SPEC).read_text()))
    else:
        assert code == 1
        assert [line.split(": ")[1] for line in err.splitlines() if ": left to fill in: " in line] == left


def test_estimate_is_an_explicit_choice_for_categories(project, tmp_path):
    root = _copy(project, tmp_path)
    document = yaml.safe_load((root / SPEC).read_text())
    for path, value in FILLED.items():
        _set(document, path, value)
    document["schema"]["region"]["categories"] = "estimate"
    (root / SPEC).write_text(yaml.safe_dump(document, sort_keys=False))
    loaded = load_spec(root / SPEC)
    assert loaded.spec.schema["region"].categories is None and loaded.spec.schema["region"].needs_estimation
    del document["schema"]["region"]["categories"]
    (root / SPEC).write_text(yaml.safe_dump(document, sort_keys=False))
    assert load_spec(root / SPEC).spec_hash == loaded.spec_hash


@pytest.mark.parametrize("name,problem", [("People", "release name"), ("1x", "release name"),
                                          ("people", "would overwrite")])
def test_init_refuses(project, name, problem):
    with pytest.raises(PipelineError, match=problem):
        initialise(name, project / "data" / "people.csv", project)


def test_a_file_outside_the_source_folders_is_named_in_a_warning(tmp_path):
    source = _people_csv(tmp_path / "elsewhere.csv")
    done = initialise("elsewhere", source, tmp_path / "project")
    assert "SYNTH_PIPELINE_SOURCE_ROOTS" in done["warnings"][0]


TYPES = [
    ("whole numbers", pd.Series(["1", "-2", "30", None]), "integer"),
    ("leading zeros are codes", pd.Series(["01234", "98765"]), "text"),
    ("decimals", pd.Series(["1.5", "2", "-3e2"]), "float"),
    ("flags", pd.Series(["yes", "No", "TRUE", ""]), "boolean"),
    ("0/1 stays a number", pd.Series(["0", "1"]), "integer"),
    ("ISO dates", pd.Series(["2024-01-31", "1999-12-01T10:00:00"]), "datetime"),
    ("other dates are text", pd.Series(["31/01/2024"]), "text"),
    ("mixed", pd.Series(["1", "x"]), "text"),
    ("empty", pd.Series([None, None], dtype=object), "text"),
    ("parquet ints", pd.Series([1, 2], dtype="int64"), "integer"),
    ("parquet whole floats", pd.Series([1.0, None]), "integer"),
    ("parquet floats", pd.Series([1.5, None]), "float"),
    ("parquet bools", pd.Series([True, False]), "boolean"),
    ("parquet datetimes", pd.Series(pd.to_datetime(["2024-01-01"])), "datetime"),
]


@pytest.mark.parametrize("series,expected", [c[1:] for c in TYPES], ids=[c[0] for c in TYPES])
def test_infer_type(series, expected):
    assert infer_type(series) == expected


SUGGESTIONS = [
    ("capital_gain", "integer", {"atoms", "estimate_bin_edges"}),
    ("loan_amount", "float", {"atoms", "estimate_bin_edges"}),
    ("balance", "float", {"atoms", "estimate_bin_edges"}),
    ("pdays", "integer", {"atoms"}),
    ("rating", "integer", {"values"}),
    ("risk_level", "integer", {"values"}),
    ("stars", "integer", {"values"}),
    ("score", "float", set()),  # values are proposed for whole numbers only
    ("income", "integer", {"estimate_bin_edges"}),
    ("age", "integer", set()),
    ("rating", "text", set()),  # a text column has no numeric choices
]


@pytest.mark.parametrize("name,kind,expected", SUGGESTIONS, ids=[f"{c[0]}-{c[1]}" for c in SUGGESTIONS])
def test_numeric_suggestions_come_from_the_name_and_type_only(name, kind, expected):
    assert {s.key for s in suggestions_for(name, kind)} == expected


@pytest.mark.parametrize("source,expected", [("Person ID", "person_id"), ("capital-gain", "capital_gain"),
                                             ("2nd visit", "col_2nd_visit"), ("  x  ", "x"), ("!!", "column")])
def test_target_names(source, expected):
    assert target_name(source) == expected


# A TODO anywhere (a value, a list item, a mapping key) is found; all of them are listed at once, before anything else.
TODO_CASES = [
    ("top-level value", {"owner": "TODO(who)"}, ["owner: left to fill in: who"]),
    ("nested", {"a": {"b": [1, "TODO(x (y))"]}}, ["a.b.1: left to fill in: x (y)"]),
    ("mapping key", {"recode": {"TODO(a level)": "x"}}, ["recode: left to fill in: a level"]),
    ("not a prefix", {"owner": "see TODO(x)"}, []),
    ("no placeholder", {"owner": "me", "n": 3}, []),
]


@pytest.mark.parametrize("raw,expected", [c[1:] for c in TODO_CASES], ids=[c[0] for c in TODO_CASES])
def test_todo_problems(raw, expected):
    assert todo_problems(raw) == expected


def test_todos_are_listed_before_other_problems(tmp_path):
    path = tmp_path / "releases" / "x.yaml"
    path.parent.mkdir()
    path.write_text('name: x\nowner: "TODO(the owner)"\nprivacy: {epsilon: "TODO(e)", delta: nonsense}\n')
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == ["owner: left to fill in: the owner", "privacy.epsilon: left to fill in: e",
                                     "2 field(s) left to fill in: replace each TODO(...) with your decision, then "
                                     "run validate-spec again"]


def test_many_long_todos_are_listed_in_bounded_lines_and_fast(tmp_path):
    """A hostile file of placeholders: a bounded message (the loader's first 50 problems, explanations cut at 300
    characters), an alias-expanded tree walked within the loader's bounds, in well under a second."""
    import time

    path = tmp_path / "releases" / "x.yaml"
    path.parent.mkdir()
    path.write_text("name: x\nlong: \"TODO(" + "y" * 5_000 + ")\"\nmany: &m [" + ", ".join(['"TODO(z)"'] * 1_000)
                    + "]\nagain: [" + ", ".join(["*m"] * 100) + "]\n")
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert time.perf_counter() - started < 2
    problems = caught.value.problems
    assert len(problems) == 52 and problems[-2] == "... and 100951 more"
    assert problems[0] == "long: left to fill in: " + "y" * 300 + "..."
    assert problems[-1].startswith("101001 field(s) left to fill in")


def test_init_from_parquet_keeps_its_types_and_names_the_file(tmp_path):
    (tmp_path / "data").mkdir()
    table = pd.DataFrame({"visits": [3, 1, 4] * 20, "score_level": [2, 5, 1] * 20, "flag": [True, False, True] * 20,
                          "when": pd.to_datetime(["2024-01-02", "2023-05-06", "2022-07-08"] * 20)})
    table.to_parquet(tmp_path / "data" / "t.parquet")
    done = initialise("pq", tmp_path / "data" / "t.parquet", tmp_path)
    document = yaml.safe_load(done["spec"].read_text())
    assert document["sources"] == {"t": {"format": "parquet", "path": "data/t.parquet"}}
    assert {name: column["type"] for name, column in document["schema"].items()} == {
        "visits": "integer", "score_level": "integer", "flag": "boolean", "when": "datetime"}
    assert "# values: [1, 2, 3, 4, 5]" in done["spec"].read_text()
