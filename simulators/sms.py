"""The simulated SMS gateway: an ``SmsSender`` (notifications/senders.py) with a memory of its own.

Chosen with ``SMS_SENDER=simulated`` (the alias of ``simulators.sms.SimulatedSmsGateway``); dev and CI's
realistic provider. It records each accepted message as a ``SimulatedSms`` row and deduplicates by
reference across processes through the database. It can be made slow and unreliable by configuration,
deterministically when seeded:

* ``SMS_SIMULATED_LATENCY_MS`` (default 0): sleep this long before answering, success or not.
* ``SMS_SIMULATED_FAILURE_RATE`` (default 0.0): share of sends refused as retryable (provider busy).
* ``SMS_SIMULATED_PERMANENT_FAILURE_RATE`` (default 0.0): share refused permanently (content rejected).
* ``SMS_SIMULATED_SEED`` (default none, i.e. random): seeds ``random.Random`` so a run is reproducible.

Magic numbers, checked before the random failures so a demo or a test can count on them:

* a number ending in ``0000`` is always refused permanently (invalid number);
* a number ending in ``9999`` always fails retryably (carrier busy).

A number that is not E.164 (``+`` and 8 to 15 digits) is refused permanently, as a real provider would.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from core.masking import mask_phone
from notifications.sealing import shown
from notifications.senders import PermanentSendError, RetryableSendError
from simulators.models import SimulatedSms

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


class SimulatedSmsGateway:
    """Dev and CI: a provider with a memory (the ``SimulatedSms`` table), latency and failures on demand.

    The rows are the provider's side of the story, so tests and the admin can check what was "delivered"
    independently of our outbox's own status.
    """

    REJECT_SUFFIX = "0000"
    BUSY_SUFFIX = "9999"

    def __init__(
        self,
        *,
        latency_ms: int | None = None,
        failure_rate: float | None = None,
        permanent_failure_rate: float | None = None,
        seed: int | None = None,
    ) -> None:
        self.latency_ms = int(
            latency_ms if latency_ms is not None else getattr(settings, "SMS_SIMULATED_LATENCY_MS", 0)
        )
        self.failure_rate = float(
            failure_rate if failure_rate is not None else getattr(settings, "SMS_SIMULATED_FAILURE_RATE", 0.0)
        )
        self.permanent_failure_rate = float(
            permanent_failure_rate
            if permanent_failure_rate is not None
            else getattr(settings, "SMS_SIMULATED_PERMANENT_FAILURE_RATE", 0.0)
        )
        if seed is None:
            seed = getattr(settings, "SMS_SIMULATED_SEED", None)
        if self.latency_ms < 0:
            raise ImproperlyConfigured("SMS_SIMULATED_LATENCY_MS must be >= 0")
        for name, rate in (
            ("SMS_SIMULATED_FAILURE_RATE", self.failure_rate),
            ("SMS_SIMULATED_PERMANENT_FAILURE_RATE", self.permanent_failure_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ImproperlyConfigured(f"{name} must be between 0 and 1, not {rate}")
        # Not for security: a reproducible sequence of simulated failures.
        self._random = random.Random(seed)  # noqa: S311
        self._random_lock = threading.Lock()

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        masked = mask_phone(phone)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if not _E164.match(phone):
            raise PermanentSendError(f"invalid number {masked}: not E.164")
        digits = _digits(phone)
        if digits.endswith(self.REJECT_SUFFIX):
            raise PermanentSendError(f"invalid number {masked} (simulated: ends in {self.REJECT_SUFFIX})")
        if digits.endswith(self.BUSY_SUFFIX):
            raise RetryableSendError(f"carrier busy for {masked} (simulated: ends in {self.BUSY_SUFFIX})")
        if not text:
            raise PermanentSendError(f"empty text to {masked}")
        if len(reference) > 100:
            raise PermanentSendError("reference longer than 100 characters")
        # One draw per send keeps a seeded sequence stable whatever the rates are set to.
        with self._random_lock:
            draw = self._random.random()
        if draw < self.permanent_failure_rate:
            raise PermanentSendError(f"content rejected for {masked} (simulated)")
        if draw < self.permanent_failure_rate + self.failure_rate:
            raise RetryableSendError(f"provider busy for {masked} (simulated)")
        return self._accept(phone, text, reference)

    def _find_accepted(self, reference: str) -> str | None:
        return (
            SimulatedSms.objects.filter(client_reference=reference)
            .values_list("provider_message_id", flat=True)
            .first()
        )

    def _accept(self, phone: str, text: str, reference: str) -> str:
        if reference:
            existing = self._find_accepted(reference)
            if existing is not None:
                return existing
        provider_id = f"sim-{uuid.uuid4().hex}"
        try:
            # A savepoint, so a lost race does not poison a caller's transaction on PostgreSQL.
            with transaction.atomic():
                # Our own database: the provider's record keeps what may be shown, never a live code.
                SimulatedSms.objects.create(
                    provider_message_id=provider_id, phone=phone, text=shown(text), client_reference=reference
                )
        except IntegrityError:
            # Another send with the same reference committed between our lookup and our insert.
            existing = self._find_accepted(reference) if reference else None
            if existing is None:
                raise
            return existing
        return provider_id
