"""The `pii:` block: what it accepts, what it refuses (with the key path), and the released schema it implies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from synth_pipeline.errors import SpecError
from synth_pipeline.pii import output_schema
from synth_pipeline.spec import (
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    PiiSpec,
    StringColumn,
    parse_spec,
)

SCHEMA = {
    "born": {"type": "datetime", "min": "1931-05-17", "max": "2030-12-31"},
    "zip": {"type": "string"},
    "zip_number": {"type": "integer", "min": 0, "max": 99999},
    "age": {"type": "integer", "min": 0, "max": 120},
    "ssn": {"type": "string"},
    "note": {"type": "string", "nullable": True},
    "sex": {"type": "categorical", "categories": ["F", "M"]},
}


def _spec(pii: dict, **extra) -> dict:
    return {"name": "probe", "description": "d", "owner": "o", "purpose": "p",
            "sources": {"s": {"format": "csv", "path": "x.csv"}}, "schema": SCHEMA, "privacy": {"epsilon": 1, "delta": 1e-6},
            "quality": {"suite": "s.json"}, "pii": pii, **extra}


def _problems(pii: dict, **extra) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec(pii, **extra), "probe.yaml")
    return str(caught.value)


@pytest.mark.parametrize(("pii", "message"), [
    ({"columns": {"ssn": {"class": "direct_identifier", "action": "keep"}}},
     "class 'direct_identifier' allows actions drop, pseudonymize; not 'keep'"),
    ({"columns": {"note": {"class": "free_text", "action": "keep"}}}, "class 'free_text' allows actions drop, redact"),
    ({"columns": {"sex": {"class": "none", "action": "generalize", "generalize": {"to": "year"}}}},
     "class 'none' allows actions keep, drop"),
    ({"columns": {"ssn": {"class": "direct_identifier", "action": "pseudonymize"}}}, "name where its key comes from"),
    ({"columns": {"born": {"class": "quasi_identifier", "action": "generalize"}}}, "needs a 'generalize' rule"),
    ({"columns": {"born": {"class": "quasi_identifier", "action": "generalize",
                           "generalize": {"to": "year", "bands": [0, 1]}}}}, "exactly one of 'to', 'zip_prefix' or 'bands'"),
    ({"columns": {"age": {"class": "quasi_identifier", "action": "generalize", "generalize": {"bands": [0, 50, 20]}}}},
     "strictly increasing"),
    ({"columns": {"zip": {"class": "quasi_identifier", "action": "generalize",
                          "generalize": {"zip_prefix": 3, "categories": ["68", "abc"]}}}}, "3-digit prefixes; not: 68, abc"),
    ({"columns": {"age": {"class": "quasi_identifier", "action": "generalize",
                          "generalize": {"bands": [0, 5], "categories": ["1"]}}}}, "goes with zip_prefix only"),
    ({"key": {"env": "A", "conn_id": "b"}}, "exactly one of 'env' or 'conn_id'"),
    ({"key": {"env": "not a name"}}, "pii.key.env"),
    ({"phone_regions": ["us"]}, "two-letter ISO 3166 region codes"),
    ({"sample_size": 0}, "pii.sample_size"),
    ({"recognizers": [{"name": "mrn", "entity": "MRN", "patterns": [{"name": "p", "regex": "MRN-(\\d+"}]}]},
     "not a valid regular expression"),
    ({"recognizers": [{"name": "mrn", "entity": "mrn", "patterns": [{"name": "p", "regex": "x"}]}]},
     "pii.recognizers.0.entity"),
    # cross-checks against the schema
    ({"columns": {"nope": {"class": "none", "action": "keep"}}}, "pii.columns.nope: not a schema column"),
    ({"columns": {"age": {"class": "quasi_identifier", "action": "generalize", "generalize": {"to": "year"}}}},
     "pii.columns.age.generalize: 'to: year' generalizes dates; the column is integer"),
    ({"columns": {"zip_number": {"class": "quasi_identifier", "action": "generalize", "generalize": {"zip_prefix": 3}}}},
     "zip_prefix needs ZIP codes held as text"),
    ({"columns": {"born": {"class": "quasi_identifier", "action": "generalize", "generalize": {"bands": [0, 1]}}}},
     "bands generalize numbers; the column is datetime"),
    ({"columns": {"age": {"class": "quasi_identifier", "action": "generalize", "generalize": {"bands": [18, 65, 120]}}}},
     "bands [18, 120] do not cover the declared domain [0, 120]"),
    ({"columns": {"zip": {"class": "quasi_identifier", "action": "generalize", "generalize": {"zip_prefix": 3}}}},
     "the generalized column's levels must be estimated under DP"),
    ({"columns": {"sex": {"class": "free_text", "action": "redact"}}}, "redact rewrites free text, but the schema column"),
])
def test_refused_with_the_key_path(pii, message):
    assert message in _problems(pii)


def test_zip_prefixes_without_a_list_need_an_estimation_budget():
    pii = {"columns": {"zip": {"class": "quasi_identifier", "action": "generalize", "generalize": {"zip_prefix": 3}}}}
    spec = parse_spec(_spec(pii, privacy={"epsilon": 1, "delta": 1e-6, "estimation": {"epsilon": 0.1, "delta": 1e-7}}), "probe.yaml")
    released = output_schema(spec.schema, spec.pii)["zip"]
    # Rows in a prefix too rare to be released become null: they never fail training after the charge.
    assert released.needs_estimation and released.nullable and released.out_of_domain == "null"


def test_the_released_schema_follows_from_the_spec_alone():
    pii = {"key": {"env": "PSEUDONYM_KEY"}, "columns": {
        "born": {"class": "quasi_identifier", "action": "generalize", "generalize": {"to": "year"}},
        "zip": {"class": "quasi_identifier", "action": "generalize",
                "generalize": {"zip_prefix": 3, "categories": ["680", "681"]}},
        "age": {"class": "quasi_identifier", "action": "generalize", "generalize": {"bands": [0, 18, 65, 120]}},
        "ssn": {"class": "direct_identifier", "action": "pseudonymize"},
        "note": {"class": "free_text", "action": "drop"},
        "zip_number": {"class": "quasi_identifier", "action": "drop"},
        "sex": {"class": "quasi_identifier", "action": "keep"},
    }}
    spec = parse_spec(_spec(pii), "probe.yaml")
    released = output_schema(spec.schema, spec.pii)
    assert list(released) == ["born", "zip", "age", "ssn", "sex"]
    assert released["born"] == NumericColumn(type="integer", min=1931, max=2030)
    assert released["zip"] == CategoricalColumn(type="categorical", categories=("680", "681"), nullable=True,
                                                out_of_domain="null")
    assert released["age"].categories == ("[0, 18)", "[18, 65)", "[65, 120]") and not released["age"].nullable
    assert isinstance(released["ssn"], StringColumn)
    assert released["sex"] is spec.schema["sex"]

    month = parse_spec(_spec({"columns": {"born": {"class": "quasi_identifier", "action": "generalize",
                                                   "generalize": {"to": "month"}}}}), "probe.yaml")
    assert output_schema(month.schema, month.pii)["born"] == DatetimeColumn(type="datetime", min="1931-05-01",
                                                                            max="2030-12-01")


@pytest.mark.parametrize(("columns", "message"), [
    ({"pw": {"class": "secret", "action": "keep"}}, "class 'secret' allows actions drop; not 'keep'"),
    ({"pw": {"class": "secret", "action": "pseudonymize"}}, "class 'secret' allows actions drop"),
    ({"Password": {"class": "sensitive", "action": "keep"}}, "Password (its name says password; declared keep)"),
    ({"CVV2": {"class": "none", "action": "keep"}}, "CVV2 (its name says card verification code"),
    ({"Geheimzahl": {"class": "quasi_identifier", "action": "generalize", "generalize": {"bands": [0, 5000, 9999]}}},
     "Geheimzahl (its name says PIN; declared generalize)"),
    ({"mot_de_passe": {"class": "direct_identifier", "action": "pseudonymize"}}, "secrets are always dropped"),
])
def test_a_secret_is_never_kept_generalized_or_pseudonymized(columns, message):
    with pytest.raises(ValidationError) as caught:
        PiiSpec.model_validate({"key": {"env": "K"}, "columns": columns})
    assert message in str(caught.value)


@pytest.mark.parametrize("columns", [
    {"Password": {"class": "secret", "action": "drop"}},
    {"CVV2": {"class": "direct_identifier", "action": "drop"}},
    {"password_changed_at": {"class": "quasi_identifier", "action": "keep"}},  # describes a secret, holds none
    {"pin_attempts": {"class": "none", "action": "keep"}},
    {"amount": {"class": "none", "action": "keep"}},
])
def test_secret_names_dropped_and_look_alikes_kept_are_accepted(columns):
    assert PiiSpec.model_validate({"columns": columns}).columns.keys() == columns.keys()
