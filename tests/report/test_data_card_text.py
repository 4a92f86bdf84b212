"""The data card's words (issue 14, item 7): what DP guarantees and what it does not, its limitations from public
facts only, the generator's parameters as a table, the version and dates publication gives it, and a snippet that
loads the release through the catalog's real signature."""

from __future__ import annotations

import ast
import inspect
import json
import math
import re
from datetime import datetime, timezone

import pandas as pd
import pytest

from synth_pipeline import catalog
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.report.data_card import (
    build_data_card,
    guarantee,
    how_to_load,
    limitations,
    published_card,
    published_files,
    render_data_card,
)
from synth_pipeline.spec import load_spec

from testsupport import ROOT

SPEC = load_spec(ROOT / "releases" / "heart_disease.yaml").spec
AIM = {"name": "aim", "params": {"numeric_bins": 16, "workload_ways": 2, "target": None}}
PASSED = {"quality_gate": True, "pii_scan": True, "validate": True, "reidentify": True}
CREATED = datetime(2026, 12, 7, 10, 30, tzinfo=timezone.utc)
EXPIRES = datetime(2027, 6, 5, 10, 30, tzinfo=timezone.utc)
VERSION = "20261207T103000Z-0123abcd"


def _card(**changes) -> dict:
    schema, left_out = modelled_columns(SPEC)
    arguments = {"released_schema": schema, "not_released": left_out, "synthetic": pd.DataFrame(), "generator": AIM,
                 "privacy": {"epsilon_spent": 1.9}, "gates": PASSED, "estimated": {}, **changes}
    return build_data_card(SPEC, **arguments)


@pytest.mark.parametrize("epsilon,delta,unit", [(2.0, 1e-5, "one row"), (0.5, 1e-7, "one individual (column 'id')")])
def test_the_guarantee_says_what_dp_promises_and_what_it_does_not(epsilon, delta, unit):
    text = guarantee(epsilon, delta, unit)
    assert f"({epsilon:g}, {delta:g})-differentially private" in text and f"with {unit} as the unit" in text
    assert f"factor of e^{epsilon:g} (about {math.exp(epsilon):.3g})" in text and f"at most {delta:g}" in text
    assert "does not promise that no synthetic row resembles a real person" in text
    assert "no row describes a real person" not in text  # the over-claim the card used to make


@pytest.mark.parametrize("version", ["latest", VERSION])
def test_the_snippet_calls_the_catalog_with_keywords_its_signature_accepts(version):
    snippet = how_to_load("heart_disease", version=version, location="published")
    calls = [node for node in ast.walk(ast.parse(snippet)) if isinstance(node, ast.Call)]
    assert [call.func.attr for call in calls] == ["load", "data_card"]
    for call in calls:
        assert not call.args  # keyword arguments only: the reader sees what each value is
        arguments = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
        inspect.signature(getattr(catalog, call.func.attr)).bind(**arguments)
        assert arguments == {"release": "heart_disease", "version": version, "location": "published"}


LIMITATION_CASES = [
    # (what changes, text that must appear, text that must not)
    ({}, ["at most 2 columns", "16 bins", "a DP estimate of the source table's size", "Every automatic check passed",
          "Methods research on multi-site heart-disease prediction"], ["estimated under DP", "did not pass"]),
    ({"generator": {"name": "dpsgd", "params": {}}}, [], ["at most", "bins"]),
    ({"estimated": {"chol": "80 .. 700 (estimated under DP)"}}, ["The domains of chol were estimated under DP"], []),
    ({"gates": {**PASSED, "reidentify": False}}, ["Checks that did not pass: reidentify"], ["Every automatic check"]),
    ({"spec": SPEC.model_copy(update={"publish": SPEC.publish.model_copy(update={"rows": 1200})})},
     ["fixed by the spec (1,200)"], ["DP estimate"]),
    ({"not_released": {"email": "dropped (pii)"}}, ["columns left out of this release: email"], []),
]


@pytest.mark.parametrize("change,present,absent", LIMITATION_CASES,
                         ids=["defaults", "no-aim-params", "estimated", "failed-gate", "fixed-rows", "left-out"])
def test_limitations_come_from_the_spec_the_parameters_and_the_verdicts(change, present, absent):
    arguments = {"spec": SPEC, "generator": AIM, "not_released": {}, "estimated": {}, "gates": PASSED, **change}
    found = limitations(arguments.pop("spec"), **arguments)
    text = " ".join(found["not_fit_for"] + found["known_weaknesses"])
    assert found["not_fit_for"] and found["known_weaknesses"]
    assert [p for p in present if p not in text] == [] and [a for a in absent if a in text] == []
    # Public figures only: every number written is a declared parameter or the spec's fixed row count.
    public = {"2", "16", "1,200"}
    assert set(re.findall(r"\d[\d,]*", text)) <= public


def test_the_card_renders_parameters_as_a_table_and_limitations_and_the_snippet():
    page = render_data_card(_card())
    assert "<td>numeric_bins</td><td class=\"num\">16</td>" in page and "<td>workload_ways</td>" in page
    assert "<td>target</td>" not in page  # an unset parameter is not a row
    assert "{'" not in page and "{&#x27;" not in page  # no dict repr anywhere
    assert "<h2>Limitations</h2>" in page and "<h3>Not fit for</h3>" in page and "<h3>Known weaknesses</h3>" in page
    assert "catalog.load(release=&#x27;heart_disease&#x27;, version=&#x27;latest&#x27;" in page
    assert "draft: not published yet" in page and "set at publication" in page
    assert "does not promise" in page


def test_publication_stamps_the_version_and_dates_and_the_snippet_loads_that_version():
    card = _card()
    assert (card["version"], card["created_at"], card["expires_at"]) == (None, None, None)
    stamped = published_card(card, version=VERSION, created_at=CREATED, expires_at=EXPIRES)
    assert stamped["version"] == VERSION and stamped["created_at"] == CREATED.isoformat()
    assert stamped["expires_at"] == EXPIRES.isoformat() and f"version={VERSION!r}" in stamped["how_to_load"]
    page = render_data_card(stamped)
    assert VERSION in page and "2026-12-07" in page and "draft" not in page
    assert card["version"] is None  # the run folder's card is left as it was


def test_published_files_are_stamped_and_a_foreign_card_keeps_its_page(tmp_path):
    run, out = tmp_path / "report", tmp_path / "publish"
    run.mkdir()
    out.mkdir()
    (run / "data_card.json").write_text(json.dumps(_card()))
    (run / "data_card.html").write_text("<html>draft</html>")
    files = published_files(run, out, version=VERSION, created_at=CREATED, expires_at=EXPIRES)
    assert files == {"data_card.json": out / "data_card.json", "data_card.html": out / "data_card.html"}
    assert json.loads(files["data_card.json"].read_text())["version"] == VERSION
    assert VERSION in files["data_card.html"].read_text()
    for foreign in ({}, {"release": "heart_disease", "rows": 3}):  # not cards `build_data_card` wrote
        (run / "data_card.json").write_text(json.dumps(foreign))
        files = published_files(run, out, version=VERSION, created_at=CREATED, expires_at=EXPIRES)
        assert files == {"data_card.json": out / "data_card.json", "data_card.html": run / "data_card.html"}
        assert json.loads(files["data_card.json"].read_text()) == {**foreign, "version": VERSION,
                                                                    "created_at": CREATED.isoformat(),
                                                                    "expires_at": EXPIRES.isoformat()}


def test_a_card_from_before_these_sections_still_renders_without_them():
    old = {key: value for key, value in _card().items()
           if key not in {"limitations", "guarantee", "how_to_load", "location", "version", "created_at"}}
    page = render_data_card(old)
    assert "Limitations" not in page and "How to load it" not in page and "draft: not published yet" in page
