"""Fixtures the repayments tests share."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture
def api(customer) -> APIClient:
    """The API as the signed-in customer (authentication forced: the token flow has its own tests)."""
    client = APIClient()
    client.force_authenticate(customer)
    return client


@pytest.fixture
def fresh_throttles():
    """API throttles count in the cache: start and end each test with none spent."""
    cache.clear()
    yield
    cache.clear()
