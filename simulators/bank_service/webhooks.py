"""The bank's result notifications: a thread that delivers the outbox (books.py) to our webhook URL.

Each event is POSTed as JSON with ``X-Timestamp`` (unix seconds) and ``X-Signature``, the hex
HMAC-SHA256 with the webhook secret over ``f"{timestamp}\\n".encode() + body`` (signed again at every
attempt, so a retry is never stale). A 2xx delivers it; anything else (an error status, no answer, a
refused connection) is tried again after ``backoff_seconds * 2 ** attempts``, at most
``max_backoff_seconds``, for ever: at-least-once delivery, as a real acquirer's. Faults, drawn per
attempt (``POST /v1/admin/webhook-faults``): ``duplicate_rate`` sends the event twice, ``reorder_rate``
holds it back ``reorder_seconds`` once so later events overtake it, ``drop_rate`` loses it on the way
(the bank sees no answer and retries).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from simulators.bank_service.books import Books

logger = logging.getLogger(__name__)


@dataclass
class WebhookFaults:
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    reorder_seconds: float = 1.0
    drop_rate: float = 0.0


def webhook_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}\n".encode() + body, hashlib.sha256).hexdigest()


class WebhookSender(threading.Thread):
    def __init__(
        self,
        books: Books,
        *,
        url: str,
        secret: str,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        poll_seconds: float = 0.1,
        timeout_seconds: float = 10.0,
        faults: WebhookFaults | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(name="bank-webhooks", daemon=True)
        self.books = books
        self.url = url
        self._secret = secret.encode()
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.faults = faults or WebhookFaults()
        self._random = random.Random(seed)  # noqa: S311 - fault draws, not security
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                due = self.books.outbox_due()
            except Exception:  # a locked or busy database: the next round tries again
                logger.exception("reading the webhook outbox failed")
                due = []
            for event, payload, attempts, held in due:
                if self._stopping.is_set():
                    return
                self._deliver(event, payload.encode(), attempts, held)
            if not due:
                self._stopping.wait(self.poll_seconds)

    def _deliver(self, event: int, body: bytes, attempts: int, held: bool) -> None:
        faults = self.faults
        if not held and self._random.random() < faults.reorder_rate:
            self.books.outbox_later(event, at=time.time() + faults.reorder_seconds, attempted=False)
            return
        if self._random.random() < faults.drop_rate:
            delivered = False  # lost on the way: as if the receiver never answered
        else:
            delivered = self._post(body)
            if delivered and self._random.random() < faults.duplicate_rate:
                self._post(body)
        if delivered:
            self.books.outbox_delivered(event)
        else:
            delay = min(self.backoff_seconds * 2**attempts, self.max_backoff_seconds)
            self.books.outbox_later(event, at=time.time() + delay, attempted=True)

    def _post(self, body: bytes) -> bool:
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Timestamp": timestamp,
                "X-Signature": webhook_signature(self._secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError) as exc:  # HTTPError (a non-2xx status) is a URLError
            logger.info("webhook delivery failed: %r", exc)
            return False
