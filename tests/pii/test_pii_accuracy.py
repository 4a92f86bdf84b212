"""The scanner against the truth files in benchmarks/pii_truth (written from the datasets' documentation): every
direct identifier is found, and no plainly non-personal column gets a PII class. Figures: `python -m
synth_pipeline.bench.pii`. Febrl's five 5,000-row files take most of the time: they run with the slow tests."""

from __future__ import annotations

import pytest

from testsupport import SHARED_DATA
from synth_pipeline.bench.pii import load_truths, score_truth
from synth_pipeline.pii.engine import EngineConfig, analyzer_for

pytestmark = [pytest.mark.skipif(not (SHARED_DATA / "febrl").is_dir(), reason=f"shared data not found at {SHARED_DATA}"),
              pytest.mark.slow]  # scans every truth file: the benchmark's accuracy, pinned in `make test`
TRUTHS = {truth.name: truth for truth in load_truths()}


@pytest.fixture(scope="module", params=[pytest.param(name, marks=[pytest.mark.slow] if name == "febrl" else [])
                                        for name in TRUTHS])
def scores(request):
    analyzer = analyzer_for(EngineConfig(phone_regions=("US",)))
    return score_truth(TRUTHS[request.param], SHARED_DATA, analyzer=analyzer, sample_size=300)


def test_the_truth_files_cover_the_required_tables():
    tables = {(t.dataset, f) for t in TRUTHS.values() for f in t.files}
    required = {("synthea_nebraska_unmc", f"{t}.csv") for t in ("patients", "providers", "payers", "organizations")}
    required |= {("febrl", f"dataset{n}.csv") for n in ("1", "2", "3", "4a", "4b")}
    required |= {("presidio_samples", f) for f in ("fabric_sample_data.csv", "sample_data.csv", "test_structured.csv")}
    assert required <= tables
    assert sum(e.scored_class == "direct_identifier" for t in TRUTHS.values() for e in t.columns.values()) >= 30
    assert sum(e.scored_class == "none" for t in TRUTHS.values() for e in t.columns.values()) >= 20


def test_every_direct_identifier_is_found(scores):
    missed = [f"{s.table}:{s.column} -> {s.found_class}" for s in scores
              if s.expected.scored_class == "direct_identifier" and s.found_class != "direct_identifier"]
    assert missed == []


def test_no_pii_class_on_plainly_non_personal_columns(scores):
    flagged = [f"{s.table}:{s.column} -> {s.found_class} {sorted(s.found_entities)}" for s in scores
               if s.expected.scored_class == "none" and s.found_class != "none"]
    assert flagged == []


def test_free_text_is_recognised(scores):
    assert all(s.found_class == "free_text" for s in scores if s.expected.scored_class == "free_text")
