"""Locks that are not row locks: a periodic task that must not run twice at once."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache


@contextmanager
def single_run(name: str, ttl_seconds: int) -> Iterator[bool]:
    """A lock in the cache (Redis in production) so a periodic task never runs twice at once.

    Yields whether this caller holds the lock; the lock expires by itself if the worker dies.
    """
    key = f"lock:{name}"
    token = uuid.uuid4().hex
    acquired = cache.add(key, token, timeout=ttl_seconds)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)
