"""Sealing the secret part of an SMS: a one-time code is readable only on the phone it is sent to.

An outbox row of a secret template (``MessageTemplate.secret_keys``, e.g. ``otp``) keeps in ``text`` only
the redacted text (the code replaced by ``******``): that is what the inbox pages, the API, the admin and
any export can show. The full text travels in ``sealed_text``, encrypted with Fernet (AES-128-CBC +
HMAC-SHA256, from ``cryptography``) under a key derived from ``SECRET_KEY``; the sender call is the only
place it is opened, and the column is wiped once the message is sent or given up on. A database copy
alone (a backup, a replica, a support query) therefore never shows a live code, and staff with every
view permission still cannot read one.

Keys: one per entry of ``[SECRET_KEY, *SECRET_KEY_FALLBACKS]`` (HMAC-SHA256 derivation with a salt of
its own, so the key is never the one that signs sessions), tried in that order: a rotated
``SECRET_KEY`` with the old one in the fallbacks still opens what was sealed before the rotation.

What the sender receives is a ``SecretText``: the full text as a ``str`` (what the phone must get), with
the redacted text beside it, so a sender that logs or stores what it sent (the console sender, the
simulated provider's table) keeps the redacted form; see ``shown``.
"""

from __future__ import annotations

import base64
import json
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.crypto import salted_hmac

REDACTED = "******"

_KEY_SALT = "notifications.sealing.sms-outbox"

_lock = threading.Lock()
_cache: dict[tuple[str, ...], MultiFernet] = {}


class SealBroken(Exception):
    """A sealed text cannot be opened: tampered with, or sealed under a key no longer configured."""


class SecretText(str):
    """The full text of a secret SMS, as a ``str``, with what may be shown of it (``redacted``).

    ``repr`` shows the redacted text, so a traceback or a debugger never prints the code.
    """

    redacted: str
    secrets: tuple[str, ...]

    def __new__(cls, text: str, *, redacted: str, secrets: tuple[str, ...] = ()) -> SecretText:
        obj = super().__new__(cls, text)
        obj.redacted = redacted
        obj.secrets = tuple(s for s in secrets if s)
        return obj

    def __repr__(self) -> str:
        return repr(self.redacted)

    def scrub(self, message: str) -> str:
        """``message`` (a provider's error, say) with every secret value of this text replaced."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            message = message.replace(secret, REDACTED)
        return message


def shown(text: str) -> str:
    """What may be logged or stored of a text handed to a sender: the redacted form of a secret one."""
    return text.redacted if isinstance(text, SecretText) else text


def _derive(secret: str | bytes) -> bytes:
    """A Fernet key of its own from one SECRET_KEY: HMAC-SHA256 under this module's salt."""
    digest = salted_hmac(_KEY_SALT, "fernet", secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest)


def _fernet() -> MultiFernet:
    secrets = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    with _lock:
        fernet = _cache.get(secrets)
        if fernet is None:
            fernet = MultiFernet([Fernet(_derive(secret)) for secret in secrets])
            _cache.clear()
            _cache[secrets] = fernet
    return fernet


def seal(text: str, *, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """The full text (and its secret values, to scrub them from error messages) as one Fernet token."""
    payload = json.dumps({"text": text, "secrets": list(secrets)}, ensure_ascii=False).encode()
    return _fernet().encrypt(payload).decode("ascii")


def unseal(token: str, *, redacted: str) -> SecretText:
    """Open a sealed text for the sender call; ``redacted`` is the row's ``text``."""
    try:
        payload = json.loads(_fernet().decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError, UnicodeError) as exc:
        raise SealBroken("the sealed text cannot be opened (SECRET_KEY changed without a fallback?)") from exc
    return SecretText(payload["text"], redacted=redacted, secrets=tuple(payload.get("secrets", ())))


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: object) -> None:
    if setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        with _lock:
            _cache.clear()
