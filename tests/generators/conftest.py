"""Adult, harmonized the way the benchmark does it (each source file on its own), for the generator tests."""

from __future__ import annotations

import pytest

from synth_pipeline.bench.generators import DEFAULT_SPEC, load_dataset


@pytest.fixture(scope="session")
def adult():
    """(loaded spec, adult.data table, adult.test table)."""
    return load_dataset(DEFAULT_SPEC)


@pytest.fixture(scope="session")
def adult_slice(adult):
    """The first 1,500 training rows: enough to fit every generator in seconds."""
    loaded, train, _ = adult
    return loaded.spec.schema, train.iloc[:1500].reset_index(drop=True)
