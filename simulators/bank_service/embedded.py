"""The bank service inside the calling process for a moment, on the address and books the real process
will use: ``seed_demo`` binds and funds the demo cards through it when ``PAYMENT_GATEWAY=http`` and no bank
service runs yet (``make run`` seeds before it starts the processes). Same settings as ``__main__``:
``BANK_API_SECRET`` (else the development default), ``BANK_DATABASE_PATH``, ``BANK_DEFAULT_BALANCE``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from urllib.parse import urlsplit

from simulators.bank_service import DEV_SECRET, LOOPBACK
from simulators.bank_service.app import BankApp
from simulators.bank_service.books import Books
from simulators.bank_service.server import make_bank_server


@contextmanager
def embedded_bank(url: str) -> Iterator[None]:
    """Serve the bank on ``url`` (a loopback address) from a thread until the block ends. No webhooks: a
    seed charges nothing, and the outbox is the real process's business."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or parts.port is None:
        raise ValueError(f"the bank can only be started here on a loopback address with a port, not {url}")
    secret = os.environ.get("BANK_API_SECRET") or DEV_SECRET
    balance = Decimal(os.environ.get("BANK_DEFAULT_BALANCE") or "10000.00")
    books = Books(os.environ.get("BANK_DATABASE_PATH") or "var/bank.sqlite3", fingerprint_key=secret.encode())
    app = BankApp(books, secret=secret, default_balance_fen=int(balance * 100))
    server = make_bank_server(app, parts.hostname, parts.port, quiet=True)
    thread = threading.Thread(target=server.serve_forever, name="embedded-bank", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
