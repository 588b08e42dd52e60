"""SMS senders behind one interface, chosen by ``settings.SMS_SENDER``.

``send(phone, text, *, reference) -> provider id`` either returns the provider's message id or raises
``RetryableSendError`` (busy, timeout, 5xx: try later) or ``PermanentSendError`` (invalid number,
rejected content, 4xx: never retry). ``reference`` is our message id; a provider that has seen it returns
the first id instead of delivering twice.

The simulated gateway is the provider for development and CI. Magic numbers (national number ending in):
``0000`` is always rejected as an invalid number (permanent); ``9999`` always fails as carrier busy
(retryable). ``SMS_SIMULATED_LATENCY_MS``, ``SMS_SIMULATED_FAILURE_RATE`` and
``SMS_SIMULATED_PERMANENT_FAILURE_RATE`` inject delay and failures; ``SMS_SIMULATED_SEED`` makes them
reproducible.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import ClassVar, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from accounts.masking import mask_phone

logger = logging.getLogger("notifications.sms")


class SendError(Exception):
    pass


class RetryableSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


class SmsSender(Protocol):
    def send(self, phone: str, text: str, *, reference: str = "") -> str: ...


class ConsoleSender:
    """Development: the message appears on the console of ``make run``, with the phone masked."""

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        logger.info("SMS to %s: %s", mask_phone(phone), text)
        return f"console-{uuid.uuid4().hex}"


class InMemorySender:
    """Tests: messages kept in a class-level list; failures injected with ``fail_next``."""

    outbox: ClassVar[list[tuple[str, str, str, str]]] = []
    _by_reference: ClassVar[dict[str, str]] = {}
    _failures: ClassVar[list[bool]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.outbox.clear()
            cls._by_reference.clear()
            cls._failures.clear()

    @classmethod
    def fail_next(cls, count: int, *, retryable: bool = True) -> None:
        with cls._lock:
            cls._failures.extend([retryable] * count)

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        with self._lock:
            if self._failures:
                if self._failures.pop(0):
                    raise RetryableSendError("injected retryable failure")
                raise PermanentSendError("injected permanent failure")
            if reference and reference in self._by_reference:
                return self._by_reference[reference]
            provider_id = f"mem-{uuid.uuid4().hex}"
            self.outbox.append((phone, text, reference, provider_id))
            if reference:
                self._by_reference[reference] = provider_id
            return provider_id


class SimulatedSmsGateway:
    """A provider of our own: records what it accepts in ``SimulatedSms`` and fails on request."""

    def __init__(
        self,
        *,
        latency_ms: int | None = None,
        failure_rate: float | None = None,
        permanent_failure_rate: float | None = None,
        seed: int | None = None,
    ) -> None:
        self.latency_ms = settings.SMS_SIMULATED_LATENCY_MS if latency_ms is None else latency_ms
        self.failure_rate = settings.SMS_SIMULATED_FAILURE_RATE if failure_rate is None else failure_rate
        self.permanent_failure_rate = (
            settings.SMS_SIMULATED_PERMANENT_FAILURE_RATE
            if permanent_failure_rate is None
            else permanent_failure_rate
        )
        self.random = random.Random(settings.SMS_SIMULATED_SEED if seed is None else seed)  # noqa: S311

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        from notifications.models import SimulatedSms

        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        digits = "".join(ch for ch in phone if ch.isdigit())
        if digits.endswith("0000"):
            raise PermanentSendError(f"invalid number {mask_phone(phone)}")
        if digits.endswith("9999"):
            raise RetryableSendError(f"carrier busy for {mask_phone(phone)}")
        if reference:
            existing = SimulatedSms.objects.filter(client_reference=reference).first()
            if existing:
                return existing.provider_message_id
        roll = self.random.random()
        if roll < self.permanent_failure_rate:
            raise PermanentSendError("simulated rejection")
        if roll < self.permanent_failure_rate + self.failure_rate:
            raise RetryableSendError("simulated provider busy")
        provider_id = f"sim-{uuid.uuid4().hex}"
        try:
            with transaction.atomic():
                SimulatedSms.objects.create(
                    provider_message_id=provider_id, phone=phone, text=text, client_reference=reference
                )
        except IntegrityError:
            # Another delivery of the same reference won the race: the provider answers with its id.
            return SimulatedSms.objects.get(client_reference=reference).provider_message_id
        return provider_id


class HttpSmsSender:
    """A real provider over HTTPS: JSON body, HMAC-SHA256 signature over timestamp and body."""

    def __init__(self, *, url: str | None = None, secret: str | None = None, timeout: float | None = None):
        self.url = url if url is not None else settings.SMS_HTTP_URL
        self.secret = secret if secret is not None else settings.SMS_HTTP_SECRET
        self.timeout = timeout if timeout is not None else settings.SMS_HTTP_TIMEOUT
        if not self.url or not self.secret:
            raise ImproperlyConfigured("SMS_SENDER=http needs SMS_HTTP_URL and SMS_HTTP_SECRET.")

    def signature(self, timestamp: str, body: bytes) -> str:
        return hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        body = json.dumps({"to": phone, "text": text, "reference": reference}, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's configured provider
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Timestamp": timestamp,
                "X-Signature": self.signature(timestamp, body),
                "Idempotency-Key": reference,
            },
        )
        masked = mask_phone(phone)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise RetryableSendError(f"provider answered {exc.code} for {masked}") from None
            raise PermanentSendError(f"provider refused ({exc.code}) the message to {masked}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RetryableSendError(f"provider unreachable for {masked}: {reason}") from None
        except ValueError:
            raise RetryableSendError(f"provider sent an unreadable answer for {masked}") from None
        provider_id = payload.get("id") if isinstance(payload, dict) else None
        if not provider_id:
            # Accepted without an id: retry, and the provider's idempotency key prevents a second SMS.
            raise RetryableSendError(f"provider gave no message id for {masked}")
        return str(provider_id)


SENDERS: dict[str, type] = {
    "console": ConsoleSender,
    "memory": InMemorySender,
    "simulated": SimulatedSmsGateway,
    "http": HttpSmsSender,
}


def get_sender() -> SmsSender:
    name = settings.SMS_SENDER
    if name in SENDERS:
        return SENDERS[name]()
    if "." in name:
        try:
            return import_string(name)()
        except ImportError as exc:
            raise ImproperlyConfigured(f"SMS_SENDER={name!r} cannot be imported: {exc}") from exc
    raise ImproperlyConfigured(
        f"Unknown SMS_SENDER {name!r}; use one of {', '.join(SENDERS)} or a dotted path."
    )
