"""Fixtures the repayments tests share."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api(customer) -> APIClient:
    """The API as the signed-in customer (authentication forced: the token flow has its own tests)."""
    client = APIClient()
    client.force_authenticate(customer)
    return client
