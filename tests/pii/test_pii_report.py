"""What the scan tells people: the suggested `pii:` entry per finding (secrets dropped, postcodes coarsened by their
country), and rules named without figures."""

from __future__ import annotations

import pytest

from synth_pipeline.pii.classify import ColumnFinding, EntityStats
from synth_pipeline.pii.report import columns_json, findings_table, suggested_block, suggestion_for
from synth_pipeline.spec import PiiSpec


def _finding(name, pii_class, entities=(), rules=(), regions=()):
    return ColumnFinding(name=name, dtype="object", rows=300, blank=0, sampled=300, pii_class=pii_class,
                         entities={e: EntityStats(280, 0.6, 0.6, "name") for e in entities}, rules=rules,
                         postcode_regions=regions)


@pytest.mark.parametrize(("finding", "suggestion"), [
    (_finding("Password", "secret", ["PASSWORD"]), "{class: secret, action: drop}"),
    (_finding("Number", "direct_identifier", rules=("near_unique",)), "{class: direct_identifier, action: drop}"),
    (_finding("zip", "quasi_identifier", ["ZIP_CODE"], regions=("US",)), "generalize: {zip_prefix: 3}"),
    (_finding("PLZ", "quasi_identifier", ["ZIP_CODE"], regions=("DE",)), "generalize: {zip_prefix: 2}"),
    (_finding("code_postal", "quasi_identifier", ["ZIP_CODE"], regions=("FR",)), "generalize: {zip_prefix: 2}"),
    (_finding("postcode", "quasi_identifier", ["ZIP_CODE"], regions=("NL",)), "generalize: {zip_prefix: 2}"),
    (_finding("postcode", "quasi_identifier", ["ZIP_CODE"], regions=("GB",)),
     "{class: quasi_identifier, action: drop}"),
    (_finding("ZipCode", "quasi_identifier", ["ZIP_CODE"], regions=("GB", "NL", "US")),
     "{class: quasi_identifier, action: drop}"),
    (_finding("postcode", "quasi_identifier", ["ZIP_CODE"], regions=("4-digit",)),
     "{class: quasi_identifier, action: drop}"),
    (_finding("amount", "none"), None),
])
def test_the_suggested_entry_per_finding(finding, suggestion):
    suggested = suggestion_for(finding)
    assert suggested == suggestion if suggestion is None else suggestion in suggested
    if finding.postcode_regions != ("US",):
        assert "zip_prefix: 3" not in (suggested or "")  # never a US ZIP3 for other countries' codes


def test_the_suggested_block_is_a_valid_pii_block_and_names_rules():
    import yaml

    findings = [_finding("Password", "secret", ["PASSWORD"]),
                _finding("Number", "direct_identifier", rules=("near_unique",)),
                _finding("ZipCode", "quasi_identifier", ["ZIP_CODE"], regions=("GB", "US")),
                _finding("amount", "none")]
    block = suggested_block(findings, source="people.csv")
    parsed = PiiSpec.model_validate(yaml.safe_load(block)["pii"])
    assert {n: (c.class_, c.action) for n, c in parsed.columns.items()} == {
        "Password": ("secret", "drop"), "Number": ("direct_identifier", "drop"),
        "ZipCode": ("quasi_identifier", "drop")}
    assert "rule near_unique" in block and "postcode shapes: GB, US" in block
    assert "rule near_unique" in findings_table(findings)
    assert columns_json(findings)["columns"][1]["rules"] == ["near_unique"]
