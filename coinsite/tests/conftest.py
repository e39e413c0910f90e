"""Fixtures for the project-level tests, which span every app."""

import pytest

from gifting.tests.support import catalogue_reseed, ensure_countries


@pytest.fixture
def catalogue(db):
    """The test countries, coin prices and the gift catalogue (re-seeded if a transactional test flushed them)."""
    ensure_countries()
    catalogue_reseed()
