"""The steward's report states the rows each sampled check looked at (issue 15: checks on stated samples)."""

from __future__ import annotations

import pytest

from synth_pipeline.report.internal import build_internal_report

CAPPED = {"check_rows": 50_000, "sample_rows": {"synthetic": 50_000, "train": 50_000, "holdout": 12_000},
          "capped": {"synthetic": True, "train": True, "holdout": False}}


def _page(reports: dict) -> str:
    return build_internal_report(release="r", run_id="run", reports=reports, distributions={}, standing={},
                                 pii_classes={})


@pytest.mark.parametrize("reports, expected", [
    ({"reidentify": {"sampling": CAPPED, "gates": []}},
     ["These checks looked at: synthetic 50,000 (a random sample), train 50,000 (a random sample), "
      "holdout 12,000 (all rows). Each side is capped at check_rows = 50,000"]),
    ({"validate": {"utility": {"tstr": {"sampling": CAPPED}}, "gates": []}},
     ["The TSTR and TRTR models looked at: synthetic 50,000 (a random sample)"]),
])
def test_each_sampled_check_states_its_sample_sizes(reports, expected):
    page = _page(reports)
    assert all(text in page for text in expected), page


def test_a_report_without_sampling_says_nothing_about_it():
    assert "looked at" not in _page({"reidentify": {"gates": []}, "validate": {"utility": {}, "gates": []}})
