from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import TypeAdapter

from synth_pipeline.errors import HarmonizeError
from synth_pipeline.harmonize import canonical, harmonize
from synth_pipeline.sources import RunContext, read_sources
from synth_pipeline.spec import ColumnSpec, HarmonizeSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = TypeAdapter(dict[str, ColumnSpec])


def run(frames: dict[str, pd.DataFrame], schema: dict, **harmonize_options):
    return harmonize(
        frames,
        harmonize_spec=HarmonizeSpec.model_validate(harmonize_options),
        schema=SCHEMA.validate_python(schema),
    )


AGE = {"age": {"type": "integer", "min": 0, "max": 100}}
SEX = {"sex": {"type": "categorical", "categories": ["female", "male"]}}


@pytest.mark.parametrize(
    "value,expected",
    [(" 1.0", 1), ("1", 1), (1.0, 1), (2.5, 2.5), ("  x ", "x"), (float("nan"), None), (None, None), ("nan", "nan"),
     (True, True), ("1e3", 1000)],
)
def test_canonical_spellings(value, expected):
    assert canonical(value) == expected


def test_rename_recode_units_constants_across_sources():
    frames = {
        "a": pd.DataFrame({"AGE": ["30", "41"], "gender": ["M", "F"], "weight_lb": ["220.5", "110.25"]}),
        "b": pd.DataFrame({"age_years": [50.0, 62.0], "sex": ["male", "FEMALE"], "weight": [70.0, 80.0]}),
    }
    schema = {**AGE, **SEX, "weight": {"type": "float", "min": 0, "max": 300}, "site": {"type": "categorical", "categories": ["a", "b"]}}
    table, report = run(
        frames,
        schema,
        sources={
            "a": {"rename": {"AGE": "age", "gender": "sex", "weight_lb": "weight"}, "recode": {"sex": {"M": "male", "F": "female"}},
                  "units": {"weight": {"scale": 0.45359237}}, "constants": {"site": "a"}},
            "b": {"rename": {"age_years": "age"}, "constants": {"site": "b"}},
        },
    )
    assert table["age"].tolist() == [30, 41, 50, 62]
    assert table["sex"].tolist() == ["male", "female", "male", "female"]  # FEMALE matched case-insensitively
    assert table["weight"].round(3).tolist() == [100.017, 50.009, 70.0, 80.0]
    assert table["site"].tolist() == ["a", "a", "b", "b"]
    assert str(table["age"].dtype) == "Int64" and isinstance(table["sex"].dtype, pd.CategoricalDtype)
    assert report.values_recoded["sex"] == 2
    assert report.rows_per_source == {"a": 2, "b": 2}


def test_missing_markers_whitespace_and_source_specific_missing():
    frames = {"s": pd.DataFrame({"age": [" 30", "?", "0", " 45 "], "sex": [" male", "female ", " ?", "male"]})}
    schema = {"age": {"type": "integer", "min": 1, "max": 100, "nullable": True}, "sex": {**SEX["sex"], "nullable": True}}
    table, report = run(frames, schema, missing_markers=["?"], sources={"s": {"missing": {"age": [0]}}})
    assert table["age"].tolist() == [30, pd.NA, pd.NA, 45]
    assert table["sex"].tolist()[:2] == ["male", "female"] and pd.isna(table["sex"][2])
    assert report.values_marked_missing == {"age": 2, "sex": 1}


@pytest.mark.parametrize(
    "column,values,expected,counts",
    [
        ({"type": "integer", "min": 0, "max": 10, "out_of_domain": "clip"}, ["-3", "5", "12"], [0, 5, 10], {"clipped": 2}),
        ({"type": "integer", "min": 0, "max": 10, "out_of_domain": "reject"}, ["-3", "5", "12"], [5], {"rejected": 2}),
        ({"type": "integer", "min": 0, "max": 10, "out_of_domain": "null", "nullable": True}, ["-3", "5"], [pd.NA, 5], {"nulled": 1}),
        ({"type": "categorical", "categories": ["a", "other"], "out_of_domain": {"map_to": "other"}}, ["a", "zz"], ["a", "other"], {"mapped": 1}),
        ({"type": "categorical", "categories": ["a"], "out_of_domain": "reject"}, ["a", "zz", None], ["a"], {"rejected": 1, "missing_rejected": 1}),
        ({"type": "float", "min": 0, "max": 1, "out_of_domain": "clip"}, ["0.5", "1.5"], [0.5, 1.0], {"clipped": 1}),
        ({"type": "datetime", "min": "2000-01-01", "max": "2020-12-31", "out_of_domain": "reject"}, ["2010-05-01", "1999-01-01"],
         [pd.Timestamp("2010-05-01")], {"rejected": 1}),
        # declared values: another value is out of domain even inside the bounds; clip moves it to the nearest one
        ({"type": "float", "min": 0, "max": 1, "values": [0, 0.5, 1], "out_of_domain": "clip"}, ["0.5", "0.4", "7"],
         [0.5, 0.5, 1.0], {"clipped": 2}),
        ({"type": "float", "min": 0, "max": 1, "values": [0, 0.3, 1]}, ["0.30000000000000004", "0.31"], [0.3],
         {"rejected": 1}),
        ({"type": "integer", "min": 1, "max": 5, "values": [1, 3, 5], "out_of_domain": "null", "nullable": True},
         ["3", "4"], [3, pd.NA], {"nulled": 1}),
    ],
    ids=["clip", "reject", "null", "map_to", "reject-category-and-missing", "clip-float", "datetime-reject",
         "values-clip-to-nearest", "values-reject-snaps-float-noise", "values-null"],
)
def test_out_of_domain_policies(column, values, expected, counts):
    table, report = run({"s": pd.DataFrame({"x": values})}, {"x": column})
    assert table["x"].tolist() == expected
    assert dict(report.out_of_domain["x"]) == counts


def test_booleans_and_dedupe():
    frames = {"s": pd.DataFrame({"flag": ["1", "0", "yes", "FALSE", "1"], "k": ["a", "b", "c", "d", "a"]})}
    schema = {"flag": {"type": "boolean"}, "k": {"type": "categorical", "categories": list("abcd")}}
    table, report = run(frames, schema, dedupe={"keys": None})
    assert table["flag"].tolist() == [True, False, True, False]
    assert report.duplicates_removed == 1


@pytest.mark.parametrize(
    "frames,schema,options,message",
    [
        ({"s": pd.DataFrame({"age": ["30", "ninety"]})}, AGE, {}, "source 's', column 'age': some values cannot be read as a number"),
        ({"s": pd.DataFrame({"age": ["30.5"]})}, AGE, {}, "cannot be read as a whole number"),
        ({"s": pd.DataFrame({"flag": ["maybe"]})}, {"flag": {"type": "boolean"}}, {}, "cannot be read as true/false"),
        ({"s": pd.DataFrame({"d": ["not a date"]})}, {"d": {"type": "datetime", "min": "2000-01-01", "max": "2001-01-01"}}, {},
         "cannot be read as an ISO 8601 date/time"),
        ({"s": pd.DataFrame({"d": ["2000-01-05", "not a date"]})}, {"d": {"type": "datetime", "min": "2000-01-01", "max": "2001-01-01", "format": "%Y-%m-%d"}},
         {}, "cannot be read as a date/time in the format '%Y-%m-%d'"),
        ({"s": pd.DataFrame({"tags": pd.Series([["a", "not a date"], None], dtype=object)})},
         {"tags": {"type": "categorical", "nullable": True, "categories": ["a"]}}, {},
         "source 's', column 'tags': holds lists or structures, not single values"),
        ({"s": pd.DataFrame({"AGE": ["1"]})}, AGE, {"sources": {"s": {"rename": {"years": "age"}}}},
         "source 's' has no column(s) 'years' named in harmonize.sources.s.rename (it has: AGE)"),
        ({"s": pd.DataFrame({"other": ["1"]})}, AGE, {}, "source 's' provides no column for required schema column 'age'"),
        ({"s": pd.DataFrame({"age": ["300"]})}, AGE, {}, "no rows left after cleaning: check the schema's domain"),
    ],
    ids=["uncoercible", "fractional-integer", "bad-boolean", "bad-date", "not-the-declared-format", "nested-values",
         "rename-missing-column", "missing-required", "empty-result"],
)
def test_harmonize_errors_are_typed_and_carry_no_values(frames, schema, options, message):
    with pytest.raises(HarmonizeError) as caught:
        run(frames, schema, **options)
    assert message in str(caught.value)
    assert "ninety" not in str(caught.value) and "not a date" not in str(caught.value)


DAY = {"type": "datetime", "min": "2000-01-01", "max": "2030-12-31"}


@pytest.mark.parametrize(
    "values,column,expected",
    [
        (["2020-01-05", "2020-01-05T10:30:00", "2020-01-05 10:30"], DAY, ["2020-01-05", "2020-01-05 10:30", "2020-01-05 10:30"]),
        (["05/01/2020", "31/12/2020"], {**DAY, "format": "%d/%m/%Y"}, ["2020-01-05", "2020-12-31"]),
        (["5.1.2020"], {**DAY, "format": "%d.%m.%Y"}, ["2020-01-05"]),
        (["05/01/2020"], DAY, None),
        (["5.1.2020"], DAY, None),
        (["Jan 5 2020"], DAY, None),
        (["2020-01-05", "05/01/2020"], DAY, None),
        (["2020-01-05T00:00:00+01:00", "2020-01-05"], DAY, None),
    ],
    ids=["iso", "declared-day-first", "declared-dotted", "slashes-undeclared", "dots-undeclared", "month-name-undeclared",
         "mixed-undeclared", "mixed-time-zones"],
)
def test_dates_are_read_only_when_unambiguous(values, column, expected):
    # `05/01/2020` is 5 January or 1 May depending on who wrote it: read with the declared format, or refused.
    if expected is None:
        with pytest.raises(HarmonizeError, match="column 'd': some values cannot be read as an ISO 8601 date/time") as caught:
            run({"s": pd.DataFrame({"d": values})}, {"d": column})
        assert not any(value in str(caught.value) for value in values)
        return
    table, _ = run({"s": pd.DataFrame({"d": values})}, {"d": column})
    assert table["d"].tolist() == [pd.Timestamp(day) for day in expected]


def test_a_nested_parquet_column_is_a_harmonize_error(tmp_path):
    pd.DataFrame({"thal": [["normal", "fixed"], ["normal"]], "age": [40, 50]}).to_parquet(tmp_path / "t.parquet")
    frames = {"s": pd.read_parquet(tmp_path / "t.parquet")}
    with pytest.raises(HarmonizeError, match="column 'thal': holds lists or structures"):
        run(frames, {**AGE, "thal": {"type": "categorical", "categories": ["normal", "fixed"]}})


def test_nullable_column_missing_from_a_source_is_filled_and_reported():
    frames = {"a": pd.DataFrame({"age": ["1"], "note": ["x"]}), "b": pd.DataFrame({"age": ["2"]})}
    schema = {**AGE, "note": {"type": "string", "nullable": True}}
    table, report = run(frames, schema)
    assert table["note"].isna().tolist() == [False, True]
    assert report.filled_missing_columns == {"b": ["note"]}


def _real(release: str):
    loaded = load_spec(ROOT / "releases" / f"{release}.yaml")
    frames = read_sources(loaded, context=RunContext("test"))
    return frames, harmonize(frames, harmonize_spec=loaded.spec.harmonize, schema=loaded.spec.schema)


def test_adult_two_files_become_one_clean_table():
    frames, (table, report) = _real("adult_income")
    assert report.rows_per_source == {"train": 32561, "test": 16281}  # junk first line and trailing blank line skipped
    # 48,842 rows less 52 exact duplicates (counted independently with sort | uniq -d on the raw files).
    assert len(table) == 48790 and report.duplicates_removed == 52 and report.rows_rejected == 0
    assert set(table["income"].astype(str)) == {"<=50K", ">50K"}
    text = table.select_dtypes(include=["category", "string", "object"]).astype("string")
    assert not text.apply(lambda c: c.str.contains(r"^\s|\?", regex=True, na=False)).any().any()
    # UCI's '?' became missing: 1,836 + 963 rows, of which 4 are duplicates (independently: sort -u, then awk $2=="?").
    assert table["workclass"].isna().sum() == 2795
    assert table["native_country"].isna().sum() > 0 and table["age"].notna().all()


def test_heart_disease_four_hospitals():
    frames, (table, report) = _real("heart_disease")
    assert report.rows_per_source == {"cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200}
    assert report.duplicates_removed == 2 and len(table) == 918
    counts = table["source_hospital"].value_counts().to_dict()
    assert counts == {"cleveland": 303, "hungarian": 293, "switzerland": 123, "long_beach_va": 199}
    swiss = table[table["source_hospital"] == "switzerland"]
    assert swiss["chol"].isna().all()  # chol = 0 means "not measured"
    assert (table["chol"].dropna() > 0).all()
    cleveland = table[table["source_hospital"] == "cleveland"]
    assert cleveland["age"].iloc[0] == 63 and cleveland["cp"].iloc[0] == "typical_angina"  # '63.0' and '1.0' read
    assert set(table["sex"].astype(str)) == {"female", "male"}


def test_categories_to_be_estimated_stay_text_and_are_not_matched_against_a_domain():
    frames = {"a": pd.DataFrame({"zip3": [" 681", "680", None]})}
    schema = {"zip3": {"type": "categorical", "nullable": True}}
    table, report = run(frames, schema)
    assert table["zip3"].tolist()[:2] == ["681", "680"] and pd.isna(table["zip3"].iloc[2])
    assert str(table["zip3"].dtype) == "string" and report.rows_rejected == 0
