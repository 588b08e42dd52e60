"""Helpers for tests that call the REST API."""

from __future__ import annotations

import uuid


def idempotency_key() -> dict[str, str]:
    """A fresh ``Idempotency-Key`` header for a client call: every money POST needs one."""
    return {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
