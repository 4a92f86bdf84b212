"""The review's undeclared-PII rows (55-60 of /work/shared/reviews/hostile-inputs.md) on a heart-disease-sized
column: each is classed as something the policy refuses when undeclared, with the rule that found it. Row 57 (SSNs
in 5% of a column) passed silently in the review; the others must not regress. The step-level refusal (PIIFound,
naming the rule, no count) is pinned in tests/pii/test_pii_step.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.pii.classify import classify_column
from synth_pipeline.pii.engine import EngineConfig, analyzer_for

ROWS = 303  # the Cleveland table the review planted its columns in


@pytest.fixture(scope="module")
def analyzer():
    return analyzer_for(EngineConfig(phone_regions=("US",)))


def _ssn_share(share: float, rng: np.random.Generator) -> list[str]:
    notes = list(rng.choice(["stable", "follow-up", "referred", "discharged"], size=ROWS))
    for row in rng.choice(ROWS, size=round(share * ROWS), replace=False):
        notes[row] = f"{rng.integers(100, 600):03d}-{rng.integers(10, 99):02d}-{rng.integers(1000, 9999):04d}"
    return notes


FIRST = ["Maria", "James", "Aiko", "Olu", "Sven", "Priya", "Carlos", "Hannah"]
LAST = ["Garcia", "Smith", "Tanaka", "Adeyemi", "Larsen", "Sharma", "Lopez", "Becker"]

CASES = [  # (review row, column name, values made from a seeded rng, expected class, an entity or rule that says why)
    (55, "contact", lambda rng: [f"{FIRST[i % 8].lower()}.{LAST[i % 7].lower()}{i}@example.org" for i in range(ROWS)],
     "direct_identifier", "EMAIL_ADDRESS"),
    (56, "notes", lambda rng: _ssn_share(0.15, rng), "direct_identifier", "US_SSN"),
    (57, "notes", lambda rng: _ssn_share(0.05, rng), "direct_identifier", "US_SSN"),
    (58, "ref_code", lambda rng: [f"212-555-{int(n):04d}" for n in rng.integers(100, 9999, ROWS)],
     "direct_identifier", "PHONE_NUMBER"),
    (59, "comments", lambda rng: [f"Seen by Dr. {FIRST[i % 8]} {LAST[(i * 3) % 8]} who spoke with {FIRST[(i + 3) % 8]} "
                                  f"{LAST[i % 8]} about the follow-up visit next week." for i in range(ROWS)],
     "free_text", "PERSON"),
    (60, "visit_code", lambda rng: pd.Series([f"VC{100000 + i}" for i in range(ROWS)], dtype="category"),
     "direct_identifier", "near_unique"),
]


@pytest.mark.parametrize(("row", "name", "make", "pii_class", "because"), CASES, ids=[f"row{c[0]}" for c in CASES])
def test_undeclared_pii_of_the_review_is_classed_for_refusal(analyzer, row, name, make, pii_class, because):
    values = make(np.random.default_rng(row))
    finding = classify_column(name, pd.Series(values), analyzer=analyzer, sample_size=300,
                              rng=np.random.default_rng(0), custom_classes={}, numeric=False)
    assert finding.pii_class == pii_class, (finding.pii_class, finding.entities, finding.rules)
    assert because in finding.entities or because in finding.rules, (finding.entities, finding.rules)
