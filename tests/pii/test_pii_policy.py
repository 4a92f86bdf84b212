"""The gate, the actions and the key: pure functions, with the real analyzer where text is redacted."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from synth_pipeline.errors import ConfigError
from synth_pipeline.pii import output_schema, policy
from synth_pipeline.pii.classify import ColumnFinding, EntityStats
from synth_pipeline.pii.engine import EngineConfig, analyzer_for
from synth_pipeline.pii.keys import MIN_KEY_BYTES, env_secret_resolver, pseudonym_key
from synth_pipeline.spec import KeySource, PiiSpec, parse_spec

KEY = b"k" * 32


@pytest.fixture(scope="module")
def analyzer():
    return analyzer_for(EngineConfig(phone_regions=("US",)))


def test_pseudonyms_are_hmac_sha256_deterministic_and_keyed():
    # RFC 4231, test case 1: HMAC-SHA256(0x0b * 20, "Hi There").
    [token] = policy.pseudonymize(pd.Series(["Hi There"]), key=b"\x0b" * 20)
    assert token == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    values = pd.Series(["999-49-3983", None, "999-49-3983", "999-17-9786"], dtype="string")
    first, again, other = (policy.pseudonymize(values, key=k) for k in (KEY, KEY, b"o" * 32))
    assert first.equals(again) and first[0] == first[2] != first[3] and pd.isna(first[1])
    assert (first.dropna() != other.dropna()).all()
    assert str(first.dtype) == "string" and not first.dropna().str.contains("999").any()


def _finding(name, pii_class, entities=(), unscannable=None, sampled=300):
    stats = {e: EntityStats(n, 0.9, 0.9, "values") for e, n in entities}
    return ColumnFinding(name=name, dtype="object", rows=sampled, blank=0, sampled=sampled, pii_class=pii_class,
                         entities=stats, unscannable=unscannable)


def _pii(**columns) -> PiiSpec:
    return PiiSpec.model_validate({"columns": {k: {"class": c, "action": a} for k, (c, a) in columns.items()}})


@pytest.mark.parametrize(("finding", "pii", "reason"), [
    (_finding("note", "direct_identifier", [("US_SSN", 300)]), _pii(), "direct_identifier, not in pii.columns"),
    (_finding("note", "quasi_identifier", [("LOCATION", 280)]), _pii(note=("none", "keep")),
     "declared class none in pii.columns"),
    (_finding("blob", None, unscannable="binary values"), _pii(), "cannot be scanned (binary values)"),
    (_finding("city", "direct_identifier", [("US_SSN", 40), ("LOCATION", 260)]),
     _pii(city=("quasi_identifier", "keep")), "declared quasi_identifier with action keep, but it holds direct"),
    (_finding("notes", "free_text", [("PERSON", 3)]), _pii(notes=("sensitive", "keep")), "but it holds free text"),
    (_finding("ok", None, unscannable="binary values"), _pii(ok=("none", "keep")), "cannot be scanned"),
])
def test_the_gate_refuses(finding, pii, reason):
    [violation] = policy.gate([finding], pii, custom_classes={})
    assert violation.column == finding.name and reason in violation.reason
    assert violation.entities == finding.entity_counts() or "holds direct" in reason
    assert f"{finding.name}: " in violation.line(with_counts=True)


@pytest.mark.parametrize(("finding", "pii"), [
    (_finding("age", "none"), _pii()),
    (_finding("ssn", "direct_identifier", [("US_SSN", 300)]), _pii(ssn=("direct_identifier", "drop"))),
    (_finding("city", "quasi_identifier", [("LOCATION", 300)]), _pii(city=("quasi_identifier", "keep"))),
    (_finding("blob", None, unscannable="binary values"), _pii(blob=("direct_identifier", "drop"))),
    (_finding("notes", "free_text", [("US_SSN", 2)]), _pii(notes=("free_text", "redact"))),
    (_finding("mrn", "sensitive", [("MRN", 300)]), _pii(mrn=("sensitive", "keep"))),  # a custom class, below
])
def test_the_gate_passes(finding, pii):
    assert policy.gate([finding], pii, custom_classes={"MRN": "sensitive"}) == []


SCHEMA_DOC = {
    "born": {"type": "datetime", "min": "1930-01-01", "max": "2030-12-31", "nullable": True},
    "visit": {"type": "datetime", "min": "2000-01-15", "max": "2030-12-31"},
    "zip": {"type": "string"},
    "zip_any": {"type": "string"},
    "income": {"type": "integer", "min": 0, "max": 1000},
    "ssn": {"type": "string"},
    "name": {"type": "string", "nullable": True},
    "sex": {"type": "categorical", "categories": ["F", "M"]},
}
PII_DOC = {"key": {"env": "K"}, "columns": {
    "born": {"class": "quasi_identifier", "action": "generalize", "generalize": {"to": "year"}},
    "visit": {"class": "quasi_identifier", "action": "generalize", "generalize": {"to": "month"}},
    "zip": {"class": "quasi_identifier", "action": "generalize", "generalize": {"zip_prefix": 3, "categories": ["685", "681"]}},
    "zip_any": {"class": "quasi_identifier", "action": "generalize", "generalize": {"zip_prefix": 2}},
    "income": {"class": "sensitive", "action": "generalize", "generalize": {"bands": [0, 100, 500, 1000]}},
    "ssn": {"class": "direct_identifier", "action": "pseudonymize"},
    "name": {"class": "direct_identifier", "action": "drop"},
    "sex": {"class": "quasi_identifier", "action": "keep"},
}}


def _harmonized() -> pd.DataFrame:
    # Typed as the harmonizer types each schema column.
    return pd.DataFrame({
        "born": pd.to_datetime(["1981-11-07", None, "2022-07-20"]),
        "visit": pd.to_datetime(["2021-03-31 10:00", "2021-04-01 00:00", "2030-12-31 23:59"]),
        "zip": pd.Series(["68504", "00000", "68114"], dtype="string"),
        "zip_any": pd.Series(["68504", "x1", "9"], dtype="string"),
        "income": pd.Series([0, 100, 1000], dtype="Int64"),
        "ssn": pd.Series(["999-49-3983", "999-17-9786", "999-49-3983"], dtype="string"),
        "name": pd.Series(["Alice368", None, "Lou594"], dtype="string"),
        "sex": pd.Categorical(["F", "M", "F"], categories=["F", "M"]),
    })


def test_the_actions_give_the_output_schema_and_count_what_they_did(analyzer):
    spec = parse_spec({"name": "probe", "description": "d", "owner": "o", "purpose": "p",
                       "sources": {"s": {"format": "csv", "path": "x.csv"}}, "schema": SCHEMA_DOC,
                       "privacy": {"epsilon": 1, "delta": 1e-6, "estimation": {"epsilon": 0.1, "delta": 1e-7}},
                       "quality": {"suite": "s.json"}, "pii": PII_DOC}, "probe.yaml")
    table, summary = policy.apply_actions(_harmonized(), spec.schema, spec.pii, key=KEY, analyzer=analyzer)
    released = output_schema(spec.schema, spec.pii)
    assert policy.schema_mismatches(table, released) == []
    assert table["born"].tolist()[0::2] == [1981, 2022] and pd.isna(table["born"][1])
    assert [str(d.date()) for d in table["visit"]] == ["2021-03-01", "2021-04-01", "2030-12-01"]
    assert table["zip"].tolist()[0::2] == ["685", "681"] and pd.isna(table["zip"][1])
    assert table["zip_any"][0] == "68" and table["zip_any"][1:].isna().all()
    assert table["income"].tolist() == ["[0, 100)", "[100, 500)", "[500, 1000]"]  # the maximum has a band
    assert table["ssn"][0] == table["ssn"][2] and len(table["ssn"][0]) == 64
    assert summary["dropped"] == ["name"] and summary["pseudonymized"] == ["ssn"] and summary["kept"] == ["sex"]
    assert summary["generalized"]["zip"]["nulled"] == 1 and summary["generalized"]["zip_any"]["nulled"] == 2
    assert "999-49" not in json.dumps(summary) + table.to_csv()


def test_schema_mismatches_are_named():
    table = pd.DataFrame({"a": pd.Series([1, None], dtype="Float64"), "b": ["x", "y"]})
    spec = parse_spec({"name": "probe", "description": "d", "owner": "o", "purpose": "p",
                       "sources": {"s": {"format": "csv", "path": "x.csv"}},
                       "schema": {"a": {"type": "integer", "min": 0, "max": 9}, "c": {"type": "string"}},
                       "privacy": {"epsilon": 1, "delta": 1e-6}, "quality": {"suite": "s.json"}}, "probe.yaml")
    problems = " | ".join(policy.schema_mismatches(table, spec.schema))
    assert "columns ['a', 'b'] != schema ['a', 'c']" in problems
    assert "a: dtype Float64 does not fit a integer column" in problems and "a: nulls in a column" in problems


def test_redaction_replaces_every_entity(analyzer, monkeypatch):
    notes = pd.Series(["Call Jane Smith at 212-555-0101 or jane.smith@example.com.", None,
                       "SSN 536-90-4399 on file.", "nothing to see here"], dtype="string")
    redacted, counts = policy.redact(notes, analyzer=analyzer)
    text = " ".join(redacted.dropna())
    for canary in ("212-555-0101", "jane.smith@example.com", "536-90-4399", "Jane Smith"):
        assert canary not in text
    assert "<PHONE_NUMBER>" in text and "<EMAIL_ADDRESS>" in text and "<US_SSN>" in text
    assert pd.isna(redacted[1]) and redacted[3] == "nothing to see here" and counts["cells_changed"] == 2
    assert counts["entities"]["US_SSN"] == 1

    monkeypatch.setattr(policy, "REDACT_CHUNK_CHARS", 200)  # a cell longer than one piece: each piece is redacted
    long_cell = pd.Series([("filler words here " * 30) + "SSN 536-90-4399 end"], dtype="string")
    [out], _ = policy.redact(long_cell, analyzer=analyzer)
    assert "536-90-4399" not in out and out.endswith("<US_SSN> end") and out.startswith("filler words here")


@pytest.mark.parametrize(("source", "env", "expected"), [
    (KeySource(env="PSEUDONYM_KEY"), {"PSEUDONYM_KEY": "e" * 20}, b"e" * 20),
    (KeySource(conn_id="pk"), {"AIRFLOW_CONN_PK": "generic://:s3cr%40t-0123456789abc@"}, b"s3cr@t-0123456789abc"),
    (KeySource(conn_id="pk"), {"AIRFLOW_CONN_PK": json.dumps({"conn_type": "generic", "password": "j" * 16})}, b"j" * 16),
])
def test_the_key_comes_from_the_environment_or_a_connection(monkeypatch, source, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert pseudonym_key(source, resolve_secret=env_secret_resolver) == expected


def _raises(exc):
    raise exc


@pytest.mark.parametrize(("source", "env", "resolver", "message"), [
    (KeySource(env="PSEUDONYM_KEY"), {}, env_secret_resolver, "key is missing: set environment variable PSEUDONYM_KEY"),
    (KeySource(env="PSEUDONYM_KEY"), {"PSEUDONYM_KEY": "short-secret"}, env_secret_resolver, f"shorter than {MIN_KEY_BYTES}"),
    (KeySource(conn_id="pk"), {}, env_secret_resolver, "connection 'pk' is not defined (set AIRFLOW_CONN_PK)"),
    (KeySource(conn_id="pk"), {"AIRFLOW_CONN_PK": "generic://host"}, env_secret_resolver, "has no password"),
    (KeySource(conn_id="pk"), {"AIRFLOW_CONN_PK": "{not json"}, env_secret_resolver, "neither a connection URI nor"),
    (KeySource(conn_id="pk"), {}, lambda conn_id: _raises(LookupError("short-secret")), "cannot read connection 'pk' (LookupError)"),
    (KeySource(conn_id="pk"), {}, lambda conn_id: "", "key is missing: set connection 'pk'"),
])
def test_a_missing_or_weak_key_is_a_config_error_that_does_not_show_it(monkeypatch, source, env, resolver, message):
    monkeypatch.delenv("PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_PK", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        pseudonym_key(source, resolve_secret=resolver)
    assert message in str(caught.value) and "short-secret" not in str(caught.value)


def _ruled(name, rules):
    return ColumnFinding(name=name, dtype="object", rows=300, blank=0, sampled=300, pii_class="direct_identifier",
                         rules=rules)


@pytest.mark.parametrize(("finding", "pii", "reason"), [
    (_finding("Password", "secret", [("PASSWORD", 300)]), _pii(), "secret, not in pii.columns"),
    (_finding("answer", "secret", [("SECURITY_ANSWER", 300)]), _pii(answer=("none", "keep")),
     "secret, declared class none"),
    (_finding("secret_code", "secret", [("PIN", 300)]), _pii(secret_code=("quasi_identifier", "keep")),
     "holds secrets (passwords, PINs, card codes, security answers, keys), which are always dropped"),
    (_finding("pw", "secret", [("PASSWORD", 300)]),
     PiiSpec.model_validate({"key": {"env": "K"}, "columns": {"pw": {"class": "direct_identifier",
                                                                      "action": "pseudonymize"}}}),
     "which are always dropped"),
    (_ruled("Number", ("near_unique",)), _pii(),
     "direct_identifier (near-unique values: a likely record key or row number), not in pii.columns"),
    (_ruled("Number", ("near_unique",)), _pii(Number=("quasi_identifier", "keep")),
     "holds direct identifiers (near-unique values"),
])
def test_the_gate_refuses_secrets_and_near_unique_keys(finding, pii, reason):
    [violation] = policy.gate([finding], pii, custom_classes={})
    assert reason in violation.reason
    if finding.rules:  # the rule is named, never the share of distinct values behind it
        assert not any(c.isdigit() for c in violation.line(with_counts=True))


@pytest.mark.parametrize(("finding", "pii"), [
    (_finding("Password", "secret", [("PASSWORD", 300)]), _pii(Password=("secret", "drop"))),
    (_finding("cvv", "secret", [("CARD_VERIFICATION_CODE", 300)]), _pii(cvv=("direct_identifier", "drop"))),
    (_ruled("record", ("near_unique",)), _pii(record=("direct_identifier", "drop"))),
    (_finding("amount", "none"), _pii()),
])
def test_the_gate_passes_secrets_dropped_and_harmless_columns(finding, pii):
    assert policy.gate([finding], pii, custom_classes={}) == []
