"""Ledger backends for the privacy tests: real SQLite and real PostgreSQL (a throwaway database per test)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'ledger.sqlite'}"


@pytest.fixture
def pg_url(postgres_url):
    """A database of its own, dropped afterwards, so tests neither collide nor leave anything behind."""
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
