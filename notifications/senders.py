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
    Dev and CI default for a realistic provider: the simulated SMS gateway, a plugin in its own app
    (``simulators.sms.SimulatedSmsGateway``): latency, failures and magic numbers on demand, and a record
    of what it accepted.
``http``
    A real provider: a signed JSON POST to ``SMS_HTTP_URL``; see ``HttpSmsSender``.
a dotted path
    Any class whose instances have ``send(phone, text, *, reference="") -> str``; built with no arguments.
    The short names above stand for dotted paths (config/providers.py).

``get_sender()`` keeps one instance per configuration (``core.providers``), so a seeded simulated gateway
draws one sequence across sends instead of restarting it on every message; a change of any ``SMS_*``
setting (the ``settings`` fixture, ``override_settings``) drops the cached instance.

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

from core.masking import mask_phone
from core.providers import forget_provider, load_provider
from notifications.sealing import shown

sms_logger = logging.getLogger("notifications.sms")


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


def get_sender() -> SmsSender:
    """The configured sender, built once per configuration (``core.providers``; see the module docstring)."""
    return load_provider("SMS_SENDER", default="simulated", methods=("send",), reads=("SMS_",))


def reset_sender_cache() -> None:
    """Forget the built sender, so the next ``get_sender()`` reads the settings again."""
    forget_provider("SMS_SENDER")
