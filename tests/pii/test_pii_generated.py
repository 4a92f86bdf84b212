"""The generated table of fake people (Faker, seeded, five locales, column names in five languages), run small:
every direct identifier and secret is found, no plainly harmless column is called one, and each postcode column
gets its own country's coarsening (never a US ZIP3 for other countries' codes). Figures at full size:
`python -m synth_pipeline.bench.pii`."""

from __future__ import annotations

import pytest

from synth_pipeline.bench.pii_people import TABLES, generate, per_class, score_generated
from synth_pipeline.pii.engine import EngineConfig, analyzer_for

pytestmark = pytest.mark.slow  # generates and scans every table of fake people: seconds, pinned in `make test`
ROWS = 50  # the least the near-unique rule reads (50 sampled values); three sparse identifiers per column


@pytest.fixture(scope="module")
def scored():
    return score_generated(analyzer=analyzer_for(EngineConfig(phone_regions=("US",))), rows=ROWS, sample_size=ROWS)


def test_the_generation_is_seeded_and_covers_every_rule():
    assert generate(TABLES[0], rows=20, seed=4).equals(generate(TABLES[0], rows=20, seed=4))
    assert not generate(TABLES[0], rows=20, seed=4).equals(generate(TABLES[0], rows=20, seed=5))
    rules = {column.rule.split(":")[0] for table in TABLES for column in table.columns}
    assert {"name", "secret", "near_unique", "mangled_number", "sparse", "postcode", "harmless"} <= rules
    languages = {table.name for table in TABLES}
    assert {"people_mixed", "people_de", "people_fr", "people_nl", "people_gb", "people_es"} <= languages


def test_every_direct_identifier_and_secret_is_found(scored):
    missed = [f"{s.table}:{s.column.name} ({s.column.rule}) -> {s.found_class}" for s in scored
              if s.column.expected in ("secret", "direct_identifier") and s.found_class != s.column.expected]
    assert missed == []


def test_no_harmless_column_is_called_an_identifier_or_a_secret(scored):
    flagged = [f"{s.table}:{s.column.name} -> {s.found_class}" for s in scored
               if s.column.rule == "harmless" and s.found_class != "none"]
    assert flagged == []


def test_postcodes_get_their_countrys_coarsening(scored):
    wrong = [f"{s.table}:{s.column.name}: {s.suggestion}" for s in scored
             if s.column.postcode and s.column.postcode not in (s.suggestion or "")]
    assert wrong == []
    assert per_class(scored)["postcode_suggestions"] == "7/7"
