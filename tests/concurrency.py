"""Run one action on many threads released at the same instant, as concurrent requests would arrive."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection

from core.errors import ApplicationError


def at_once(count: int, action: Callable[[int], object]) -> list[object]:
    """``action(i)`` on ``count`` threads at once; a refusal is returned as its ``code``.

    Each thread has its own database connection and closes it, so tests using this need
    ``transaction=True`` (committed data) and PostgreSQL (real row locks).
    """
    barrier = threading.Barrier(count)
    results: list[object] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait()
            try:
                outcome = action(index)
            except ApplicationError as exc:
                outcome = exc.code
            with lock:
                results.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
