"""SMS senders: the one seam between the outbox and whatever delivers a text message.

The outbox (``notifications.services``) calls ``get_sender().send(phone, text, reference=...)`` with no
database lock held and maps the two error classes onto its retry policy: ``RetryableSendError`` (and any
unexpected exception) is tried again later with backoff, ``PermanentSendError`` fails the message at once.
``reference`` is our message id; every sender that can deduplicate by it does, so a retry after an
unknown outcome (a timeout after the provider accepted) never delivers the same message twice.

Which sender runs is ``settings.SMS_SENDER``:

``console``
    Development: logs ``SMS to 138****5678: <text>`` at INFO on the ``notifications.sms`` logger, with a
    one-time code as ``******`` (a log is not the phone).
``memory``
    Tests: stands for the phone itself, so it keeps the full text, codes included, of what was sent in
    ``InMemorySender.outbox`` (class level, shared by every instance) and
    can be told to fail the next sends with ``InMemorySender.fail_next(n, retryable=...)``.
``file``
    Development by hand: appends each message, codes included, to ``SMS_FILE_DIR/<number>.txt`` (default
    ``var/sms``): the folder is the phone, where a developer reads a code the console log hides.
``simulated``
    Dev and CI default for a realistic provider: records each accepted message as a ``SimulatedSms`` row
    and deduplicates by reference across processes through the database. It can be made slow and
    unreliable by configuration, deterministically when seeded:

    * ``SMS_SIMULATED_LATENCY_MS`` (default 0): sleep this long before answering, success or not.
    * ``SMS_SIMULATED_FAILURE_RATE`` (default 0.0): share of sends refused as retryable (provider busy).
    * ``SMS_SIMULATED_PERMANENT_FAILURE_RATE`` (default 0.0): share refused permanently (content rejected).
    * ``SMS_SIMULATED_SEED`` (default none, i.e. random): seeds ``random.Random`` so a run is reproducible.

    Magic numbers, checked before the random failures so a demo or a test can count on them:

    * a number ending in ``0000`` is always refused permanently (invalid number);
    * a number ending in ``9999`` always fails retryably (carrier busy).

    A number that is not E.164 (``+`` and 8 to 15 digits) is refused permanently, as a real provider would.
``http``
    A real provider: a signed JSON POST to ``SMS_HTTP_URL``; see ``HttpSmsSender``.
a dotted path
    Any class whose instances have ``send(phone, text, *, reference="") -> str``; built with no arguments.

``get_sender()`` keeps one instance per configuration, so a seeded simulated gateway draws one sequence
across sends instead of restarting it on every message; a change of any ``SMS_*`` setting (the
``settings`` fixture, ``override_settings``) drops the cached instance.

Full phone numbers never reach a log line or an exception message: both carry ``mask_phone(phone)``.
The text of a secret message (a one-time code) arrives as a ``notifications.sealing.SecretText``: a
sender that logs or stores what it sends keeps ``shown(text)``, the redacted form, and sends ``text``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import ClassVar, NamedTuple, Protocol, runtime_checkable

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils.module_loading import import_string

from core.masking import mask_phone
from notifications.models import SimulatedSms
from notifications.sealing import shown

sms_logger = logging.getLogger("notifications.sms")

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class SendError(Exception):
    """Base of every sender failure, so a caller can catch all of them in one clause."""


class RetryableSendError(SendError):
    """The provider may accept the same message later: busy, timeout, 5xx, network trouble."""


class PermanentSendError(SendError):
    """Sending the same message again cannot succeed: invalid number, rejected content, 4xx."""


@runtime_checkable
class SmsSender(Protocol):
    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        """Hand one message to the provider and return the provider's message id.

        ``phone`` is E.164. Sending the same non-empty ``reference`` twice returns the first id and does
        not deliver again, wherever the sender can ensure it.
        """
        ...


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


# --- console ------------------------------------------------------------------------------------


class ConsoleSender:
    """Development: the message shows up in the runserver/worker log instead of on a phone.

    It does not deduplicate by reference: nothing is delivered, so nothing can be delivered twice.
    """

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        # A log is no phone: a one-time code is logged as ******, whatever the log level or format.
        sms_logger.info("SMS to %s: %s", mask_phone(phone), shown(text))
        return f"console-{uuid.uuid4().hex}"


# --- a phone on disk (development) ----------------------------------------------------------------


class FilePhoneSender:
    """Development by hand: each number's messages, codes included, appended to a file of its own.

    The folder stands for the phones (as ``memory`` does in tests): it is where a developer reads the code
    a page asks for, since the console sender logs ``******`` instead. Not a log and not our database;
    production refuses it like every simulated provider. Folder: ``SMS_FILE_DIR`` (``var/sms``).
    """

    def __init__(self, *, directory: str | None = None) -> None:
        self.directory = Path(directory or getattr(settings, "SMS_FILE_DIR", "") or "var/sms")

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{_digits(phone) or 'unknown'}.txt"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with _file_lock, path.open("a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {text!s}\n")  # the phone gets the full text
        sms_logger.info("SMS to %s: %s (on the phone in SMS_FILE_DIR)", mask_phone(phone), shown(text))
        return f"file-{uuid.uuid4().hex}"


_file_lock = threading.Lock()


# --- in memory ----------------------------------------------------------------------------------


class SentSms(NamedTuple):
    phone: str
    text: str
    reference: str
    provider_id: str


class InMemorySender:
    """Tests: a process-wide outbox, so a test sees what any code path sent through any instance.

    State lives on the class because ``get_sender()`` may build a fresh instance; the lock keeps the
    outbox consistent when tests send from several threads.
    """

    outbox: ClassVar[list[SentSms]] = []
    _failures: ClassVar[list[bool]] = []  # queued injected failures: True = retryable
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        # Cleared in place, so a reference to ``outbox`` taken before a reset stays the live list.
        with cls._lock:
            cls.outbox.clear()
            cls._failures.clear()

    @classmethod
    def fail_next(cls, n: int = 1, *, retryable: bool = True) -> None:
        """Make the next ``n`` sends raise; calls queue up, so mixed failure sequences can be scripted."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with cls._lock:
            cls._failures.extend([retryable] * n)

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        cls = type(self)
        with cls._lock:
            # Injected failures come first: they stand for the provider being unreachable, which
            # happens whether or not it has seen the reference before.
            if cls._failures:
                if cls._failures.pop(0):
                    raise RetryableSendError(f"simulated retryable failure sending to {mask_phone(phone)}")
                raise PermanentSendError(f"simulated permanent failure sending to {mask_phone(phone)}")
            if reference:
                for sent in cls.outbox:
                    if sent.reference == reference:
                        return sent.provider_id
            provider_id = f"memory-{uuid.uuid4().hex}"
            cls.outbox.append(SentSms(phone, str(text), reference, provider_id))  # the phone: full text
            return provider_id


# --- simulated gateway --------------------------------------------------------------------------


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


# --- HTTP provider ------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would turn a redirected POST into a GET without its body; a redirect is a wrong URL."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class HttpSmsSender:
    """A real provider behind a signed JSON API.

    Request: ``POST SMS_HTTP_URL`` with body ``{"to": phone, "text": text, "reference": reference}``
    (UTF-8, compact separators) and headers ``Content-Type: application/json``, ``X-Timestamp`` (unix
    seconds), ``X-Signature`` (hex HMAC-SHA256 with ``SMS_HTTP_SECRET`` over ``f"{timestamp}.".encode()
    + body``, so the provider can refuse replays of old requests) and ``Idempotency-Key: reference``.

    Outcomes:

    * 2xx with JSON ``{"id": "<non-empty string>"}``: that id.
    * 2xx without a usable id: ``RetryableSendError``. The provider probably accepted the message, so
      failing it permanently could drop a message that was never really taken, and inventing an id would
      mark it sent with nothing to trace; a retry with the same ``Idempotency-Key`` gets the provider's
      id back without a second delivery.
    * 408, 429 and 5xx: ``RetryableSendError``. Other 4xx (and 3xx: redirects are not followed, the URL
      is wrong): ``PermanentSendError``.
    * Timeout, refused or dropped connection: ``RetryableSendError``. A timeout is an unknown outcome;
      the idempotency key makes the retry safe.

    Error messages carry the status and up to 200 characters of the response body, with the phone
    masked in case the provider echoes it.
    """

    MAX_RESPONSE_BYTES = 64 * 1024

    def __init__(
        self, *, url: str | None = None, secret: str | None = None, timeout: float | None = None
    ) -> None:
        self.url = url if url is not None else getattr(settings, "SMS_HTTP_URL", "")
        self.secret = secret if secret is not None else getattr(settings, "SMS_HTTP_SECRET", "")
        self.timeout = float(timeout if timeout is not None else getattr(settings, "SMS_HTTP_TIMEOUT", 5.0))
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ImproperlyConfigured("SMS_HTTP_URL must be an http:// or https:// URL")
        if not self.secret:
            raise ImproperlyConfigured("SMS_HTTP_SECRET is required to sign requests to the SMS provider")
        if self.timeout <= 0:
            raise ImproperlyConfigured("SMS_HTTP_TIMEOUT must be > 0")
        self._opener = urllib.request.build_opener(_NoRedirect)

    def sign(self, timestamp: str, body: bytes) -> str:
        return hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        masked = mask_phone(phone)
        body = json.dumps(
            {"to": phone, "text": text, "reference": reference}, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Timestamp": timestamp,
            "X-Signature": self.sign(timestamp, body),
        }
        if reference:
            headers["Idempotency-Key"] = reference
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
                payload = response.read(self.MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                detail = exc.read(self.MAX_RESPONSE_BYTES)
            except (OSError, http.client.HTTPException):
                detail = b""
            finally:
                exc.close()
            message = f"SMS provider answered {status} for {masked}: {_scrub(detail, phone)}".rstrip(": ")
            if status in (408, 429) or status >= 500:
                raise RetryableSendError(message) from None
            raise PermanentSendError(message) from None
        except TimeoutError:
            raise RetryableSendError(
                f"SMS provider timed out after {self.timeout:g} s sending to {masked}"
            ) from None
        except urllib.error.URLError as exc:
            reason = "timed out" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
            raise RetryableSendError(f"SMS provider unreachable sending to {masked}: {reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise RetryableSendError(
                f"SMS provider connection failed sending to {masked}: {type(exc).__name__}"
            ) from None
        try:
            provider_id = json.loads(payload).get("id")
        except (ValueError, AttributeError):
            provider_id = None
        if not isinstance(provider_id, str) or not provider_id:
            raise RetryableSendError(
                f"SMS provider answered {status} without a message id for {masked}: {_scrub(payload, phone)}"
            )
        return provider_id


def _scrub(raw: bytes, phone: str) -> str:
    """A short, single-line excerpt of a provider response with every form of the phone masked."""
    text = raw.decode("utf-8", errors="replace")[:200]
    masked = mask_phone(phone)
    forms = {phone, _digits(phone)}
    try:
        forms.add(phonenumbers.national_significant_number(phonenumbers.parse(phone, None)))
    except phonenumbers.NumberParseException:
        pass
    for form in sorted((f for f in forms if len(f) >= 7), key=len, reverse=True):
        text = text.replace(form, masked)
        if form.isdigit():
            # Also a formatted echo: "+86 138 1234 5678", "138-1234-5678".
            text = re.sub(r"[\s().-]*".join(form), masked, text)
    return " ".join(text.split())


# --- choosing one -------------------------------------------------------------------------------

SENDERS: dict[str, type] = {
    "console": ConsoleSender,
    "memory": InMemorySender,
    "file": FilePhoneSender,
    "simulated": SimulatedSmsGateway,
    "http": HttpSmsSender,
}

_cache: dict[str, SmsSender] = {}
_cache_lock = threading.Lock()


def get_sender() -> SmsSender:
    """The configured sender, built once per configuration (see the module docstring for why)."""
    name = getattr(settings, "SMS_SENDER", "simulated") or "simulated"
    with _cache_lock:
        sender = _cache.get(name)
        if sender is None:
            sender = _build_sender(name)
            _cache.clear()
            _cache[name] = sender
    return sender


def _build_sender(name: str) -> SmsSender:
    if name in SENDERS:
        return SENDERS[name]()
    if "." not in name:
        raise ImproperlyConfigured(
            f"SMS_SENDER={name!r} is neither one of {', '.join(SENDERS)} nor a dotted path to a class"
        )
    try:
        cls = import_string(name)
    except ImportError as exc:
        raise ImproperlyConfigured(f"SMS_SENDER={name!r} cannot be imported: {exc}") from exc
    sender = cls()
    if not callable(getattr(sender, "send", None)):
        raise ImproperlyConfigured(f"SMS_SENDER={name!r} has no send(phone, text, *, reference) method")
    return sender


def reset_sender_cache() -> None:
    """Forget the built sender, so the next ``get_sender()`` reads the settings again."""
    with _cache_lock:
        _cache.clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("SMS_"):
        reset_sender_cache()
